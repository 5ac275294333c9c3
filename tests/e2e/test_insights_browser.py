"""Insights and the map in a real browser, on a history this module builds: three people, two recipes, two
spoken languages (five images each), ratings. The numbers the page draws are checked against the report's."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from test_browser import no_exception_box, open_page
from waiting import eventually, settle, steady_box

PEOPLE = {"ann@example.com": "Ann", "bob@example.com": "Bob", "cat@example.com": "Cat"}


@pytest.fixture(scope="module")
def team_history(server, models):
    from core import GenerationOptions, GenerationRequest, Person, load_settings, rate, remember_person, run_generation
    from core.generation.synth import recording

    store = server.store()
    for person_id, name in PEOPLE.items():
        remember_person(store, Person(person_id, name))
    settings = load_settings({"V2I_PROFILE": "tiny", "V2I_DATA_DIR": str(server.data_dir),
                              "V2I_TINY_MODELS_DIR": str(models.settings.tiny_models_dir),
                              "V2I_WHISPER_MODEL": models.settings.whisper_model})
    # Five images a language: three against three is too few for a rank test to call anything at 5%.
    plan = [("ann@example.com", "default", "en", 5), ("ann@example.com", "fast", "en", 4),
            ("bob@example.com", "default", "en", 5), ("bob@example.com", "fast", "en", 4),
            ("cat@example.com", "default", "en", 5), ("bob@example.com", "fast", "fr", 1),
            ("cat@example.com", "default", "fr", 2), ("cat@example.com", "fast", "fr", 1),
            ("cat@example.com", "default", "fr", 2), ("bob@example.com", "default", "fr", 1)]
    made = []
    for i, (person_id, recipe, language, stars) in enumerate(plan):
        request = GenerationRequest(f"take{i}.wav", transcript=f"a harbour at dusk number {i}", language=language,
                                    options=GenerationOptions.from_recipe(recipe, steps=2, width=64, height=64, seed=i))
        row = run_generation(recording("wav", frequency=300 + 50 * i), request, settings=settings, models=models,
                             store=store, created_by=person_id)
        rate(store, row["id"], "rater@example.com", stars=stars)
        made.append(row)
    return made


def test_insights_shows_what_works_and_flags_the_weaker_language(page, server, models, team_history):
    from core import factors

    open_page(page, server, "/insights")
    no_exception_box(page)
    report = factors.report(server.store(), models.settings.clip_embedding_id)
    assert report.aligned == report.generations  # the page scored every image as it opened
    recipes = {row.key: row for row in report.sections["recipes"]}
    # The interval chart labels every group with its n, as the report counts them.
    for key in ("default", "fast"):
        expect(page.get_by_text(f"{key} (n={recipes[key].n})").first).to_be_visible()
    page.get_by_test_id("stRadioGroup").get_by_text("Person", exact=True).click()
    settle(page)
    expect(page.get_by_text("ann@example.com (n=2)").first).to_be_visible()
    page.get_by_role("tab", name="Languages").click()
    languages = {row.key: row for row in report.sections["languages"]}
    assert languages["fr"].flagged and not languages["en"].flagged
    expect(page.get_by_text(re.compile(r"Spoken language fr does significantly worse than the rest"))).to_be_visible()
    page.get_by_role("tab", name="Stage blame").click()
    expect(page.get_by_text("Causes over time (select points to open them)")).to_be_visible()
    no_exception_box(page)


def test_the_map_shows_a_thumbnail_on_hover_and_a_box_selection_opens_history(page, server, team_history):
    open_page(page, server, "/similarity")
    page.get_by_role("tab", name="Map", exact=True).click()
    chart = page.get_by_role("tabpanel", name="Map").get_by_test_id("stVegaLiteChart")
    expect(chart).to_be_visible()
    canvas = chart.locator(".marks").first  # Vega draws into a canvas or an svg of class "marks"
    area = steady_box(canvas)
    # Hover across the plot until the pointer is over an image: Vega's tooltip shows its thumbnail and words.
    tooltip = page.locator("#vg-tooltip-element")
    found = False
    for y in range(5, int(area["height"]), 10):
        for x in range(5, int(area["width"]), 20):
            page.mouse.move(area["x"] + x, area["y"] + y)
            if tooltip.count() and tooltip.is_visible():
                found = True
                break
        if found:
            break
    assert found, "no tooltip anywhere over the map"
    expect(tooltip.locator("img")).to_be_visible()
    assert tooltip.locator("img").first.get_attribute("src").startswith("data:image/png;base64,")
    expect(tooltip).to_contain_text("a harbour at dusk number")
    # Box-select every image: drag across the whole plot.
    page.mouse.move(area["x"] + 3, area["y"] + 3)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] / 2, area["y"] + 300, steps=5)
    page.mouse.move(area["x"] + area["width"] - 3, area["y"] + 603, steps=5)
    page.mouse.up()
    settle(page)
    expect(page.get_by_text(re.compile(r"^\d+ picked$"))).to_be_visible()
    picked = int(page.get_by_text(re.compile(r"^\d+ picked$")).inner_text().split()[0])
    assert picked >= len(team_history)
    page.get_by_text(re.compile(r"Open the \d+ picked in History")).click()
    expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible()
    settle(page)
    expect(page.get_by_text(f"Showing only the {picked} generations the link picked")).to_be_visible()
    assert "ids=" in page.url
    no_exception_box(page)


def test_a_colleagues_vote_appears_on_an_open_page_within_seconds(page, server, models):
    """Issue 39, 2: figures others change refresh while the page is open, without a reload (the runs redraw every
    few seconds as a fragment, which takes no focus)."""
    from core import GenerationOptions, GenerationRequest, abtest, sweep
    from core.execution.jobs import JobQueue
    from core.generation.synth import recording

    store = server.store()
    request = GenerationRequest("ab.wav", transcript="a lighthouse in the fog", language="en",
                                options=GenerationOptions(steps=2, width=64, height=64, seed=7))
    run_id = abtest.start(JobQueue(store), recording("wav"), request, "style", ["none", "watercolor"],
                          "ann@example.com")
    assert eventually(page, lambda: len(store.query("SELECT id FROM generations WHERE ab_run = ?", [run_id])) == 2,
                      seconds=300)
    open_page(page, server, "/insights")
    page.get_by_role("tab", name="Sweeps and A/B runs").click()
    settle(page)
    expect(page.get_by_text("votes: 1", exact=True)).to_have_count(0)
    first = store.query("SELECT id FROM generations WHERE ab_run = ? ORDER BY created_at", [run_id])[0]["id"]
    sweep.vote(store, run_id, first, "bob@example.com")  # bob votes, on his own page
    expect(page.get_by_text("votes: 1", exact=True)).to_be_visible(timeout=15_000)  # no reload: the fragment
    no_exception_box(page)
