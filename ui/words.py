"""Whisper's words, one by one: the doubtful ones highlighted (and announced so), each a button that plays the
recording from it (Generate, after Transcribe, and History's detail)."""

from __future__ import annotations

import streamlit as st

from core import DOUBTFUL_WORD, counted
from ui import render


def _doubtful(word: dict) -> bool:
    return word["probability"] < DOUBTFUL_WORD


# Hidden from sight, read by screen readers: the highlight's meaning is spoken, not carried by colour alone.
_SPOKEN_ONLY = ("position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0,0,0,0);"
                "white-space:nowrap;border:0")


def marked_text(words: list[dict]) -> str:
    """The words as HTML, the doubtful ones highlighted, each announced "unsure: rent" by a screen reader."""
    return " ".join(f'<mark class="v2i-unsure" title="whisper was unsure of this word ({w["probability"]:.0%})">'
                    f'<span style="{_SPOKEN_ONLY}">unsure: </span>{render.html_text(w["word"])}</mark>'
                    if _doubtful(w) else render.html_text(w["word"]) for w in words)


def word_player(words: list[dict], audio: bytes | None, key: str, *, heard: str | None = None) -> None:
    """The words as heard, doubtful ones highlighted; picking a word plays the recording from its start. ``heard``:
    what whisper heard, when the person changed it (shown beside the words used)."""
    if not words:
        return
    doubted = sum(_doubtful(w) for w in words)
    st.markdown(marked_text(words), unsafe_allow_html=True)
    if doubted:
        st.caption(f"{counted(doubted, 'word')} whisper was unsure of {'is' if doubted == 1 else 'are'} highlighted "
                   f"(confidence under {DOUBTFUL_WORD:.0%}). Pick a word to hear it.")
    if heard:
        render.labelled_text("What whisper heard (before your changes)", heard)
    if audio is None:
        return
    picked = st.pills("Play from a word", list(range(len(words))), key=f"seek-{key}",
                      format_func=lambda i: f"{'unsure: ' if _doubtful(words[i]) else ''}{words[i]['word']} · "
                                            f"{words[i]['start']:.1f}s")
    # Streamlit's player seeks to whole seconds: the second the word was said in.
    start = 0 if picked is None else int(words[picked]["start"])
    st.audio(audio, start_time=start, autoplay=picked is not None)
