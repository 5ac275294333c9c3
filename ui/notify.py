"""Tell a person about their jobs wherever they are: a toast when one finishes or fails (with a link to
the result), and how many are running in the browser tab's title."""

from __future__ import annotations

import json

import streamlit as st

from core import ACTIVE, DONE, FAILED, RUNNING

from . import render, resources

TITLE = "Voice to Image"


def tab_title(running: int) -> str:
    return f"({running} running) {TITLE}" if running else TITLE


@st.fragment(run_every=2.0)
@render.shows_errors
def job_notifications() -> None:
    """Every 2 s on every page (call it in the sidebar): compares this person's jobs with what it saw last time."""
    jobs = resources.queue().list(resources.person().id, limit=20)
    now = {job["id"]: job["status"] for job in jobs}
    before = st.session_state.get("job-statuses")
    if before is not None:
        for job in jobs:
            if before.get(job["id"]) in ACTIVE and job["status"] in (DONE, FAILED):
                name = render.escape_markdown(job["audio_filename"] or "recording")
                if job["status"] == DONE:
                    st.toast(f"{name} is ready: [open it](/history?id={job['generation_id']})", icon=":material/image:")
                else:
                    st.toast(f"{name} failed: {render.escape_markdown(job['error'] or 'no reason given')}. "
                             "It is kept on [Generate](/generate) to submit again.", icon=":material/error:")
    st.session_state["job-statuses"] = now
    set_tab_title(tab_title(sum(status == RUNNING for status in now.values())))


def set_tab_title(title: str) -> None:
    """The tab's title from a one-pixel iframe of our own HTML (it shares the page's origin, so it may set the
    title). ``title`` is built here from a number, never from user text."""
    st.iframe(f"<script>window.parent.document.title = {json.dumps(title)};</script>", height=1)
