"""A phone is a first-class recorder (issue 29, 2): at 390x844, Generate records in the browser (Chromium's fake
microphone) and uploads a voice memo (M4A as iOS makes it), the job is followed to its image, the image is
downloaded and opened in History, and no page overflows sideways. A screenshot of each step."""

from __future__ import annotations

from conftest import SCREENSHOTS
from playwright.sync_api import expect
from test_browser import set_steps
from waiting import JOB_MS, settle

from core.generation.synth import recording

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def snap(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"phone-{name}.png"), full_page=True)


def no_sideways_overflow(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow} px wider than the phone"


def test_a_phone_records_uploads_generates_and_finds_the_image(browser, server, tmp_path):
    context = browser.new_context(**PHONE)
    context.grant_permissions(["microphone"])
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{server.url}/generate")
    settle(page)
    no_sideways_overflow(page)
    snap(page, "1-generate")

    page.get_by_role("button", name="Record").first.click()  # Streamlit's recorder, on the fake microphone
    page.wait_for_timeout(2500)  # two and a half seconds of the fake microphone's tone
    page.get_by_role("button", name="Stop recording").first.click()
    settle(page)
    expect(page.get_by_role("button", name="Transcribe", exact=True)).to_have_count(1)  # the recording's panel
    snap(page, "2-recorded")

    memo = tmp_path / "Voice Memo 12.m4a"
    memo.write_bytes(recording("m4a", seconds=2.0, frequency=330))
    page.locator('input[type="file"]').first.set_input_files(memo)
    settle(page)
    expect(page.get_by_role("button", name="Transcribe", exact=True)).to_have_count(2)
    set_steps(page, 2)
    page.get_by_role("button", name="Generate", exact=True).first.click()  # the memo's panel comes first
    expect(page.get_by_text("Voice Memo 12.m4a  ·  done")).to_be_visible(timeout=JOB_MS)
    expect(page.get_by_role("button", name="Download PNG")).to_be_visible()
    no_sideways_overflow(page)
    snap(page, "3-done")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download PNG").click()
    assert download.value.suggested_filename.endswith(".png")
    (row,) = [r for r in server.store().query_generations(limit=100) if r["audio_filename"] == "Voice Memo 12.m4a"]
    page.goto(f"{server.url}/history?id={row['id'][:8]}")
    settle(page)
    expect(page.get_by_text("Linked generation")).to_be_visible()
    expect(page.get_by_role("img", name=f"image for: {row['prompt'][:40]}", exact=False).first).to_be_visible()
    no_sideways_overflow(page)
    snap(page, "4-history")

    # Issue 39, 11: History's results come first, its filters behind one closed control.
    page.goto(f"{server.url}/history")
    settle(page, shows=page.get_by_test_id("stDataFrame"))
    expect(page.get_by_text("Filters", exact=True)).to_be_visible()
    expect(page.get_by_label("Search transcripts and prompts")).not_to_be_visible()
    assert page.get_by_test_id("stDataFrame").bounding_box()["y"] < PHONE["viewport"]["height"]  # on the first screen
    no_sideways_overflow(page)
    snap(page, "5-history-results-first")
    context.close()
