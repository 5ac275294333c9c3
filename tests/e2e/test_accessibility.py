"""axe-core (through axe-playwright-python) on every page and tab with a populated history (issue 29, 1): no
critical or serious violation. Images carry alternative text (their words); captions meet WCAG AA contrast in the
project's theme (.streamlit/config.toml)."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from waiting import JOB_S, drawn, settle

# What comes from the libraries' own markup and cannot be fixed from the app: (rule, a marker in the node's HTML)
# -> the upstream issue. Only those nodes are let through; the rule still checks every other node.
UPSTREAM = {
    # Vega-Lite's interval-selection brush (the map's box selection) is a graphics-symbol with no accessible name.
    ("svg-img-alt", "box_brush"): "https://github.com/vega/vega-lite/issues/9623",
}


def serious(page) -> list[str]:
    found = Axe().run(page).response["violations"]
    problems = []
    for violation in found:
        if violation["impact"] not in ("critical", "serious"):
            continue
        nodes = [n for n in violation["nodes"] if not any(rule == violation["id"] and marker in n["html"]
                                                          for rule, marker in UPSTREAM)]
        problems += [f"{violation['id']} ({violation['impact']}): {n['html'][:160]}" for n in nodes]
    return problems


@pytest.fixture(scope="module")
def populated(server, models):
    from core import rate

    for i in range(3):
        made = server.add_generation(models, f"a fox number {i} in the snow", frequency=300 + 100 * i)
        for person, stars in (("ann", 1 + i), ("bob", 3 + i)):  # the Agreement tab's offsets and disagreements
            rate(server.store(), made["id"], person, stars=min(stars, 5), blind=True)
    return server


@pytest.mark.parametrize("path", ["/", "/generate", "/history", "/similarity", "/review", "/insights"])
def test_every_page_and_tab_has_no_critical_or_serious_violation(page, populated, path):
    page.goto(f"{populated.url}{path}")
    settle(page)
    drawn(page)
    problems = [f"{path}: {p}" for p in serious(page)]
    tabs = page.get_by_role("tab")
    for index in range(tabs.count()):
        tab = tabs.nth(index)
        name = tab.inner_text()
        tab.click()
        settle(page)
        drawn(page)
        problems += [f"{path} [{name}]: {p}" for p in serious(page)]
    assert problems == []


@pytest.mark.parametrize("path", ["/", "/history", "/review", "/insights"])
def test_the_dark_theme_has_no_critical_or_serious_violation_either(browser, populated, path):
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, color_scheme="dark")
    page = context.new_page()
    page.goto(f"{populated.url}{path}")
    settle(page)
    drawn(page)
    background = page.evaluate("getComputedStyle(document.querySelector('.stApp')).backgroundColor")
    assert background != "rgb(255, 255, 255)", "the browser's dark preference did not reach the app"
    assert serious(page) == []
    context.close()


def test_generate_is_operable_by_keyboard_alone(browser, populated, tmp_path):
    """After the recording is chosen, Tab reaches Transcribe and Generate, and Enter presses them."""
    from core.generation.synth import recording

    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(f"{populated.url}/generate")
    settle(page)
    memo = tmp_path / "keys.wav"
    memo.write_bytes(recording("wav", seconds=1.5))
    page.locator('input[type="file"]').first.set_input_files(memo)
    expect(page.get_by_role("button", name="Transcribe", exact=True)).to_be_visible(timeout=60_000)  # its panel
    settle(page)
    before = len(populated.store().query("SELECT id FROM jobs"))
    # Each press is seen to be done before the next key, as a person would see it: the transcript, then "Queued" (a
    # press on Generate while the transcription still runs lands in that run). Only a button counts: the sidebar's
    # "Generate" is a link to this page.
    for label, done in (("Transcribe", page.get_by_label("Transcript", exact=True)),
                        ("Generate", page.get_by_text("Queued", exact=True))):
        for _ in range(120):  # Tab through the page until the button has the focus
            page.keyboard.press("Tab")
            focused = page.evaluate("document.activeElement && document.activeElement.tagName === 'BUTTON'"
                                    " && document.activeElement.innerText")
            if (focused or "").strip() == label:
                break
        else:
            raise AssertionError(f"Tab never reached the {label} button")
        page.keyboard.press("Enter")
        settle(page, timeout_s=JOB_S)  # Transcribe's run loads whisper; Generate's queues the job
        expect(done.first).to_be_visible()
    assert len(populated.store().query("SELECT id FROM jobs")) == before + 1
    context.close()


def test_history_finds_an_image_again_by_keyboard_and_shows_the_exact_time_on_hover(browser, populated):
    """Tab to "Open a generation", type the start of an id, Enter: that generation opens below."""
    wanted = populated.store().query_generations(limit=10)[-1]  # not the one opened by default
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(f"{populated.url}/history")
    # The page's whole first run, not just its start: on a cold server the status widget appears only once the
    # script has begun, so settle() alone can return before anything on the page can take the focus.
    expect(page.get_by_text("Open a generation")).to_be_visible(timeout=60_000)
    settle(page)
    for _ in range(160):  # the filters (a spoken search among them), the table, the exports come first
        page.keyboard.press("Tab")
        label = page.evaluate("document.activeElement && (document.activeElement.closest('[data-testid=stSelectbox]')"
                              " || {}).innerText || ''")
        if label.startswith("Open a generation"):
            break
    else:
        raise AssertionError("Tab never reached 'Open a generation'")
    page.keyboard.type(wanted["id"][:8])
    expect(page.get_by_role("option")).to_have_count(1)  # the list narrows to that generation
    page.keyboard.press("Enter")
    settle(page)
    # the detail's transcript (the table's hidden grid cells hold the same words)
    expect(page.get_by_test_id("stText").filter(has_text=wanted["transcript"]).first).to_be_visible()
    from core import timefmt

    made = page.get_by_test_id("stText").filter(has_text=timefmt.readable(wanted["created_at"])).last
    made.get_by_test_id("stTooltipIcon").hover()  # the exact time, on hover
    expect(page.get_by_text(timefmt.exact(wanted["created_at"]), exact=False).last).to_be_visible()
    context.close()
