"""Helpers for driving the dashboard with ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

DASHBOARD = str(Path(__file__).resolve().parent.parent / "dashboard.py")
TIMEOUT = 60  # model loads take longer than AppTest's default 3 s


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, label: str, index: int = 0):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button labelled {label!r}; there are {[b.label for b in at.button]}"
    return matches[index]


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def no_exception(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at: AppTest) -> list[str]:
    """The error boxes' messages as a person reads them (the pages escape markdown in them)."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]


def generate_with_a_recording(name: str = "speech.wav", seconds: float = 2.0) -> AppTest:
    """Generate, set for quick images (2 steps, 64 px), with one synthesized recording uploaded."""
    from core.generation.synth import recording

    at = open_app("pages/generate.py")
    at.number_input(key="opt-steps").set_value(2)
    at.selectbox(key="opt-size").set_value(64)
    at.file_uploader[0].set_value([(name, recording("wav", seconds=seconds), "audio/wav")])
    return no_exception(at.run())
