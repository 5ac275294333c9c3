"""Search by voice: a spoken query, transcribed by the same whisper, becomes the text of a search box."""

from __future__ import annotations

import hashlib

import streamlit as st

from core import V2IError, transcribe_recording
from ui import render, resources


def spoken_query(target: str, key: str, label: str = "Or search by voice") -> None:
    """Record a query; once per recording, its words fill the search box whose widget key is ``target`` (call this
    before that box is drawn)."""
    recorded = st.audio_input(label, key=key)
    if recorded is None:
        return
    data = recorded.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    if st.session_state.get(f"{key}-heard") == digest:
        return  # this recording was turned into words already; the person may have edited them since
    try:
        with st.spinner("Listening..."):
            heard = transcribe_recording(data, settings=resources.settings(), models=resources.models())
    except V2IError as err:
        render.error(f"The spoken search was not understood: {err}")
        return
    st.session_state[f"{key}-heard"] = digest
    st.session_state[target] = heard.transcript.text
    st.caption("Heard: " + render.escape_markdown(heard.transcript.text))
