"""Insights and the map in a real browser, on a history this module builds: three people, two recipes, two
spoken languages, ratings. The numbers the page draws are checked against the report's."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from test_browser import no_exception_box, open_page, settle

PEOPLE = {"ann@example.com": "Ann", "bob@example.com": "Bob", "cat@example.com": "Cat"}


@pytest.fixture(scope="module")
def team_history(server, models):
    from core import GenerationOptions, GenerationRequest, Person, load_settings, rate, remember_person, run_generation
    from core.synth import recording

    store = server.store()
    for person_id, name in PEOPLE.items():
        remember_person(store, Person(person_id, name))
    settings = load_settings({"V2I_PROFILE": "tiny", "V2I_DATA_DIR": str(server.data_dir),
                              "V2I_TINY_MODELS_DIR": str(models.settings.tiny_models_dir),
                              "V2I_WHISPER_MODEL": models.settings.whisper_model})
    plan = [("ann@example.com", "default", "en", 5), ("ann@example.com", "fast", "en", 4),
            ("bob@example.com", "default", "en", 5), ("bob@example.com", "fast", "fr", 1),
            ("cat@example.com", "default", "fr", 2), ("cat@example.com", "fast", "fr", 1)]
    made = []
    for i, (person_id, recipe, language, stars) in enumerate(plan):
        request = GenerationRequest(f"take{i}.wav", transcript=f"a harbour at dusk number {i}", language=language,
                                    options=GenerationOptions.from_recipe(recipe, steps=2, width=64, height=64, seed=i))
        row = run_generation(recording("wav", frequency=300 + 50 * i), request, settings=settings, models=models,
                             store=store, created_by=person_id)
        rate(store, row["id"], "rater@example.com", stars=stars)
        made.append(row)
    return made


def test_insights_shows_what_works_and_flags_the_weaker_language(page, server, team_history):
    from core import insights, load_settings

    open_page(page, server, "/insights")
    no_exception_box(page)
    report = insights.report(server.store(), load_settings({"V2I_PROFILE": "tiny"}).clip_embedding_id)
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


def test_the_map_colours_by_person_and_a_box_selection_opens_history(page, server, team_history):
    open_page(page, server, "/similarity")
    page.get_by_role("tab", name="Map", exact=True).click()
    chart = page.get_by_test_id("stPlotlyChart").filter(has=page.get_by_text("Ann (n=2)"))
    expect(chart).to_be_visible()
    for name in ("Ann (n=2)", "Bob (n=2)", "Cat (n=2)"):
        expect(chart.get_by_text(name)).to_be_visible()
    # Box-select every point: switch Plotly's drag mode to box and drag across the whole plot area.
    chart.hover()
    chart.locator('[data-title="Box Select"]').click()
    area = chart.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + 2, area["y"] + 2)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2, steps=5)
    page.mouse.move(area["x"] + area["width"] - 2, area["y"] + area["height"] - 2, steps=5)
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
