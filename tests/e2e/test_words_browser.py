"""Click a word, hear it: the real tiny.en transcribes espeak-ng speech in a real server, and picking a word in the
browser plays the recording from the second that word was said."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import running_dashboard
from playwright.sync_api import expect
from test_browser import open_page
from waiting import JOB_S, settle

ESPEAK = shutil.which("espeak-ng")
SAID = "I want a picture of a lighthouse on a cliff at sunset"


@pytest.fixture(scope="module")
def server(tiny_models_dir, tmp_path_factory):
    """This module's dashboard hears with the real English whisper (the tiny profile's other models)."""
    with running_dashboard(tiny_models_dir, tmp_path_factory.mktemp("e2e-words"),
                           env={"V2I_WHISPER_MODEL": "tiny.en"}) as running:
        yield running


@pytest.mark.skipif(ESPEAK is None and not __import__("os").environ.get("CI"), reason="espeak-ng is not installed")
def test_picking_a_word_plays_the_recording_from_that_word(page, server, tmp_path):
    wav = tmp_path / "said.wav"
    subprocess.run([ESPEAK or "espeak-ng", "-w", str(wav), SAID], check=True, capture_output=True)
    open_page(page, server, "/generate")
    page.locator('input[type="file"]').first.set_input_files(wav)
    page.get_by_role("button", name="Transcribe", exact=True).click()
    settle(page, timeout_s=JOB_S)  # the run loads whisper and hears the recording
    words = page.get_by_role("radiogroup", name="Play from a word").get_by_role("radio")  # "sunset. · 2.4s"
    expect(words.first).to_be_visible()
    labels = words.all_inner_texts()
    assert len(labels) >= 8, labels
    word, at = labels[-1].rsplit(" · ", 1)  # the last word said, and where
    start = float(at.rstrip("s"))
    assert start > 1.5, labels
    audio = page.locator("audio").first
    assert audio.evaluate("a => a.currentTime") < 0.5  # nothing picked yet: from the beginning
    words.last.click()
    settle(page)
    second = int(start)  # Streamlit's player seeks to whole seconds: the second the word was said in
    page.wait_for_function(f"() => document.querySelector('audio').currentTime >= {second - 0.05}", timeout=15_000)
    played = audio.evaluate("a => a.currentTime")
    assert second - 0.05 <= played < second + 0.8, (word, start, played)
