"""What a person sees: the real server in a real browser. The scenarios share one server; each stores the\ngenerations it needs itself, so none depends on another having run."""

from __future__ import annotations

import re

import pytest
from core.generation.synth import recording
from playwright.sync_api import expect
from waiting import JOB_MS, JOB_S, settle, steady_box

PAGES = {"/": "Voice to Image", "/generate": "Generate", "/history": "History", "/similarity": "Similarity",
         "/insights": "Insights"}


def open_page(page, server, path: str):
    page.goto(server.url + path)
    expect(page.get_by_role("heading", name=PAGES[path], exact=True)).to_be_visible()
    settle(page)
    return page


def set_steps(page, steps: int, size: int | None = None) -> None:
    """Open Generate's image settings and type the number of denoising steps (and choose the image's side)."""
    page.get_by_text("Image settings").click()
    field = page.get_by_label("Steps (empty: the recipe's)")
    field.fill(str(steps))
    field.press("Enter")
    settle(page)
    if size is not None:
        page.get_by_role("combobox", name="Size").click()
        page.get_by_role("option", name=str(size), exact=True).click()
        settle(page)


def no_exception_box(page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recordings")
    files = {"speech.wav": recording("wav", seconds=2.0), "phone.m4a": recording("m4a", seconds=2.0, frequency=330),
             "broken.wav": b"these are meeting notes, not a recording\n" * 20}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_every_page_loads_with_no_exception_box(page, server):
    for path in PAGES:
        open_page(page, server, path)
        no_exception_box(page)
    open_page(page, server, "/")
    expect(page.get_by_text("No generations yet")).to_be_visible()
    expect(page.get_by_text("images are noise")).to_be_visible()  # the tiny profile says so


def test_generate_from_a_wav_and_an_m4a_with_progress_then_the_image(page, server, recordings):
    open_page(page, server, "/generate")
    page.locator('input[type="file"]').first.set_input_files([recordings / "speech.wav", recordings / "phone.m4a"])
    expect(page.get_by_role("button", name="Transcribe", exact=True)).to_have_count(2)
    for index in range(2):
        page.get_by_role("button", name="Transcribe", exact=True).nth(index).click()
        settle(page, timeout_s=JOB_S)  # the run loads whisper and hears the recording
        expect(page.get_by_label("Prompt", exact=True)).to_have_count(index + 1)
    prompt = page.get_by_label("Prompt", exact=True).first
    prompt.fill("a lighthouse at dusk, watercolor")
    prompt.press("Tab")
    settle(page)
    set_steps(page, 60, size=256)  # long enough to watch it paint; a quarter of 512's work a step

    page.get_by_role("button", name="Generate", exact=True).first.click()
    # live progress, once the models are loaded
    expect(page.get_by_text(re.compile(r"painting: step \d+ of 60"))).to_be_visible(timeout=JOB_MS)
    expect(page.get_by_text("as it forms")).to_be_visible()  # and the image forming, refreshed every second
    expect(page.get_by_text("speech.wav  ·  done")).to_be_visible(timeout=JOB_MS)
    expect(page.get_by_test_id("stImage")).to_have_count(1)  # the image (the preview went with the run)
    expect(page.get_by_text("a lighthouse at dusk, watercolor").last).to_be_visible()
    expect(page.get_by_role("button", name="Download PNG")).to_be_visible()

    page.get_by_role("button", name="Generate", exact=True).nth(1).click()
    expect(page.get_by_text("phone.m4a  ·  done")).to_be_visible(timeout=JOB_MS)
    expect(page.get_by_test_id("stImage")).to_have_count(2)
    no_exception_box(page)
    rows = server.store().query_generations()
    assert sorted(r["audio_filename"] for r in rows) == ["phone.m4a", "speech.wav"]
    assert "a lighthouse at dusk, watercolor" in [r["prompt"] for r in rows]
    assert {r["audio_path"].rsplit(".", 1)[1] for r in rows} == {"wav", "m4a"}


def test_history_shows_the_row_plays_its_audio_filters_and_deletes_after_confirmation(page, server, models):
    store = server.store()
    own = server.add_generation(models, "a quokka on a bicycle")
    before = store.count_generations()
    open_page(page, server, "/history")
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    expect(page.get_by_test_id("stImage")).to_have_count(1)
    audio = page.locator("audio").first
    audio.evaluate("a => a.play()")
    page.wait_for_function("a => a.currentTime > 0", arg=audio.element_handle())

    page.get_by_text("Filters", exact=True).click()  # the results first; the filters behind one control
    search = page.get_by_label("Search transcripts and prompts")
    search.fill("quokka")
    search.press("Enter")
    settle(page, shows="1 generations match")
    expect(page.get_by_text("Filters (1 active)", exact=True)).to_be_visible()  # it stays open, and counts
    search.fill("zebra")
    search.press("Enter")
    expect(page.get_by_text("No generations match.")).to_be_visible()
    search.fill("")
    search.press("Enter")
    expect(page.get_by_text(f"{before} generations match")).to_be_visible()  # the run that shows them all, not before
    settle(page)

    newest = store.query_generations(limit=1)[0]
    assert newest["id"] == own["id"]
    chooser = page.get_by_test_id("stMultiSelect").get_by_role("combobox")
    chooser.click()
    chooser.press_sequentially(newest["id"][:8])  # the option list narrows to that one generation
    expect(page.get_by_role("option")).to_have_count(1)
    page.get_by_role("option").click()
    page.keyboard.press("Escape")
    settle(page)
    page.get_by_role("button", name="Move 1 to the trash").click()
    expect(page.get_by_text("They can be restored for", exact=False)).to_be_visible()
    assert store.count_generations() == before  # nothing yet
    page.get_by_role("button", name="Yes, move them to the trash").click()
    settle(page)
    assert store.count_generations() == before - 1
    assert newest["id"] not in [r["id"] for r in store.query_generations()]
    assert (server.data_dir / newest["image_path"]).exists()  # its files wait in the trash
    no_exception_box(page)


def test_similarity_shows_the_heatmap_and_compares_two_images(page, server, models):
    store = server.store()
    for i in range(3 - store.count_generations()):
        server.add_generation(models, f"a red fox number {i}", frequency=500 + 100 * i)
    assert store.count_generations() >= 3
    open_page(page, server, "/similarity")
    heatmap = page.get_by_test_id("stVegaLiteChart").first.locator(".marks").first
    # The hover over a cell shows its row's image and both transcripts (once Vega has drawn it where it stays).
    area, tooltip = steady_box(heatmap), page.locator("#vg-tooltip-element")
    for step in range(1, 20):
        page.mouse.move(area["x"] + area["width"] * step / 20, area["y"] + area["height"] * step / 20)
        if tooltip.count() and tooltip.is_visible():
            break
    expect(tooltip.locator("img")).to_be_visible()
    expect(tooltip).to_contain_text("row said")
    page.get_by_role("tab", name="Compare").click()
    expect(page.get_by_text("Cosine similarity")).to_be_visible()
    expect(page.get_by_text(re.compile(r"In plain words: (near-identical|very similar|moderately similar|different)"))).to_be_visible()
    no_exception_box(page)


def test_a_broken_upload_shows_a_clear_error_and_stores_nothing(page, server, recordings):
    store = server.store()
    generations, jobs = store.count_generations(), len(store.db.execute("SELECT id FROM jobs").fetchall())
    uploads = sorted((server.data_dir / "uploads").glob("*")) if (server.data_dir / "uploads").exists() else []
    open_page(page, server, "/generate")
    page.locator('input[type="file"]').first.set_input_files(recordings / "broken.wav")
    page.get_by_role("button", name="Transcribe", exact=True).click()
    expect(page.get_by_text("broken.wav: not an audio file")).to_be_visible()
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.get_by_text("broken.wav: not an audio file")).to_be_visible()
    no_exception_box(page)
    assert store.count_generations() == generations
    assert len(store.db.execute("SELECT id FROM jobs").fetchall()) == jobs
    after = sorted((server.data_dir / "uploads").glob("*")) if (server.data_dir / "uploads").exists() else []
    assert after == uploads


def test_every_page_shows_the_stored_work_with_no_exception_box(page, server, models):
    server.add_generation(models, "a heron in the reeds")  # its own stored work, whichever scenarios ran before
    open_page(page, server, "/")
    expect(page.get_by_text("All generations")).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    for path in ("/history", "/similarity", "/generate", "/"):
        open_page(page, server, path)
        no_exception_box(page)
