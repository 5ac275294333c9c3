"""Whisper's words, one by one: the doubtful ones marked, each a button that plays the recording from it (Generate,
after Transcribe, and History's detail)."""

from __future__ import annotations

import streamlit as st

from core import DOUBTFUL_WORD
from ui import render


def _doubtful(word: dict) -> bool:
    return word["probability"] < DOUBTFUL_WORD


def marked_text(words: list[dict]) -> str:
    """The words as Markdown, the doubtful ones highlighted (and spoken as such: their mark is text, not colour
    alone)."""
    return " ".join(f":orange-background[{render.escape_markdown(w['word'])} (?)]" if _doubtful(w)
                    else render.escape_markdown(w["word"]) for w in words)


def word_player(words: list[dict], audio: bytes | None, key: str, *, heard: str | None = None) -> None:
    """The words as heard, doubtful ones marked; picking a word plays the recording from its start. ``heard``: what
    whisper heard, when the person changed it (shown beside the words used)."""
    if not words:
        return
    doubted = [w["word"] for w in words if _doubtful(w)]
    st.markdown(marked_text(words))
    if doubted:
        st.caption(f"{len(doubted)} word(s) whisper was unsure of are marked (?) (confidence under "
                   f"{DOUBTFUL_WORD:.0%}). Pick a word to hear it.")
    if heard:
        render.labelled_text("What whisper heard (before your changes)", heard)
    if audio is None:
        return
    picked = st.pills("Play from a word", list(range(len(words))), key=f"seek-{key}",
                      format_func=lambda i: f"{words[i]['word']} · {words[i]['start']:.1f}s")
    # Streamlit's player seeks to whole seconds: the second the word was said in.
    start = 0 if picked is None else int(words[picked]["start"])
    st.audio(audio, start_time=start, autoplay=picked is not None)
