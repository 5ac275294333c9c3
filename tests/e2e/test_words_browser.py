"""Click a word, hear it: the real tiny.en transcribes espeak-ng speech in a real server, and picking a word in the
browser plays the recording from the second that word was said. The doubt guard in the browser: words whisper
doubted, joined by a hyphen, hold the job back until the person edits them."""

from __future__ import annotations

import shutil
import sqlite3
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


@pytest.mark.skipif(ESPEAK is None and not __import__("os").environ.get("CI"), reason="espeak-ng is not installed")
def test_hyphen_joined_doubted_words_queue_nothing_until_the_person_edits_them(page, server, tmp_path):
    def jobs() -> int:
        path = server.data_dir / "v2i.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM jobs WHERE audio_filename = 'fox.wav'").fetchone()[0]

    wav = tmp_path / "fox.wav"  # tiny.en hears "rent-box sleeping in the snow.", doubting "rent" and "-box"
    subprocess.run([ESPEAK or "espeak-ng", "-w", str(wav), "a red fox sleeping in the snow"], check=True,
                   capture_output=True)
    open_page(page, server, "/generate")
    page.locator('input[type="file"]').first.set_input_files(wav)
    settle(page)
    page.get_by_role("button", name="Generate", exact=True).click()  # without Transcribe: heard first, then held
    settle(page, shows=page.get_by_text("2 words may be misheard: rent, box").first, timeout_s=JOB_S)
    expect(page.get_by_text("fox.wav: Nothing was queued: 2 words may be misheard: rent, box")).to_be_visible()
    assert jobs() == 0
    transcript = page.get_by_label("Transcript")
    expect(transcript).to_have_value("rent-box sleeping in the snow.")
    transcript.fill("a red fox sleeping in the snow")
    transcript.press("Control+Enter")  # a text area's value reaches the app when it is applied
    settle(page)
    page.get_by_role("button", name="Rebuild the prompt from the transcript").click()
    settle(page, shows=page.get_by_text("You changed the words: they are yours now"))
    expect(page.get_by_text("may be misheard")).to_have_count(0)
    page.get_by_role("button", name="Generate", exact=True).click()
    settle(page, shows=page.get_by_text("Queued", exact=True))
    assert jobs() == 1
