import json

"""The Insights page: what works, A/B runs, stage blame and languages, showing the report's own numbers."""

from apptest import button, errors, generate_with_a_recording, no_exception, open_app, texts
from helpers import wait_until

from core import Store, factors, local_person, rate
from core.execution.jobs import DONE, JobQueue


def history(make_generation, store):
    """Two languages, two styles, two people; the French ones rated low (five of each: three against three is too
    few for a rank test to call anything at 5%)."""
    made = []
    for i, (language, style, person, stars) in enumerate([
            ("en", "none", "ann", 5), ("en", "watercolor", "ann", 4), ("en", "none", "bob", 5),
            ("en", "watercolor", "ann", 4), ("en", "none", "bob", 5),
            ("fr", "watercolor", "bob", 1), ("fr", "none", "bob", 2), ("fr", "none", "ann", 1),
            ("fr", "watercolor", "ann", 2), ("fr", "none", "bob", 1)]):
        row = make_generation(f"picture number {i}", language=language, style=style, seed=i, created_by=person)
        rate(store, row["id"], "rater", stars=stars)
        made.append(row)
    return made


def test_with_no_generations_the_page_says_what_to_do(app_env):
    at = open_app("pages/insights.py")
    assert "No generations yet" in at.info[0].value


def test_what_works_shows_the_reports_numbers_for_each_dimension(app_env, settings, make_generation, store):
    history(make_generation, store)
    at = open_app("pages/insights.py")
    assert [m.value for m in at.metric] == ["10", "10", "10"]
    report = factors.report(store, settings.clip_embedding_id)
    for dimension, label in [("recipes", "Recipe"), ("styles", "Style"), ("people", "Person")]:
        at.radio[0].set_value(dimension)
        no_exception(at.run())
        table = at.dataframe[0].value
        expected = report.sections[dimension]
        assert list(table[label]) == [row.key for row in expected]
        assert list(table["n"]) == [row.n for row in expected]
        assert list(table["rating"]) == [row.rating.text() for row in expected]
        assert list(table["rating vs rest"]) == [row.rating_vs_rest for row in expected]
    assert len(at.tabs[0].get("plotly_chart")) == 2  # mean rating and mean alignment, with intervals


def test_a_language_that_does_worse_is_flagged_with_its_counts(app_env, make_generation, store):
    history(make_generation, store)
    at = open_app("pages/insights.py")
    warnings = [w.value.replace("\\", "") for w in at.tabs[3].warning]
    assert len(warnings) == 1 and warnings[0].startswith("Spoken language fr does significantly worse")
    assert "(n=5)" in warnings[0]
    languages = at.tabs[3].dataframe[0].value
    assert sorted(zip(languages["Spoken language"], languages["n"])) == [("en", 5), ("fr", 5)]


def test_stage_blame_lists_the_weak_images_with_a_link_to_each(app_env, make_generation, store):
    made = history(make_generation, store)
    at = open_app("pages/insights.py")
    counts = at.tabs[2].dataframe[0].value
    assert list(counts["cause"]) == ["transcription", "prompt", "generation"]
    items = at.tabs[2].dataframe[1].value
    # The five rated 2 stars or less, and (ten images are aligned) the lowest fifth of alignment.
    assert {f"history?id={row['id']}" for row in made[5:]} <= set(items["open"])
    assert counts["n"].sum() == len(items) <= 7


def test_an_ab_run_from_generate_is_voted_on_insights(app_env, data_dir):
    at = generate_with_a_recording()
    no_exception(button(at, "Start the A/B run").click().run())  # nothing chosen yet: refused, nothing queued
    assert errors(at) == ["speech.wav: an A/B run needs 2 to 4 different recipes, not 0: choose from default, fast, "
                          "original, turbo"]
    next(r for r in at.radio if r.label == "Compare").set_value("style")
    no_exception(at.run())
    at.multiselect[0].set_value(["none", "watercolor"])
    no_exception(button(at, "Start the A/B run").click().run())
    store = Store(data_dir)
    assert wait_until(lambda: [j["status"] for j in JobQueue(store).list()] == [DONE, DONE], timeout=30), \
        [(j["status"], j["error"]) for j in JobQueue(store).list()]
    run_id = store.query("SELECT id FROM ab_runs")[0]["id"]
    assert any(link.proto.label.startswith("Queued: vote on Insights") for link in at.get("page_link"))

    at.switch_page("pages/insights.py")
    at.query_params["run"] = run_id
    no_exception(at.run())
    assert len(at.image) == 3  # the two arms side by side, and the slider's view of both
    no_exception(button(at, "This one is better", index=1).click().run())
    [vote] = store.query("SELECT * FROM ab_votes")
    assert vote["run_id"] == run_id and vote["person"] == local_person().id
    assert [b.label for b in at.button if b.key and b.key.startswith("vote-")] == ["This one is better", "Your pick"]
    assert sorted(t for t in texts(at) if t.startswith("votes: ")) == ["votes: 0", "votes: 1"]  # at once
    table = at.tabs[1].dataframe[0].value
    assert sorted(zip(table["arm"], table["wins"], table["votes (n)"])) == [("none", 0, 1), ("watercolor", 1, 1)]


def test_history_opens_the_generations_a_link_picks(app_env, make_generation):
    rows = [make_generation(f"picture {i}", seed=i) for i in range(3)]
    at = open_app()
    at.switch_page("pages/history.py")
    at.query_params["ids"] = f"{rows[0]['id']},{rows[2]['id']},../etc"
    no_exception(at.run())
    assert sorted(at.dataframe[0].value["id"]) == sorted([rows[0]["id"][:8], rows[2]["id"][:8]])
    assert "malformed" in at.warning[0].value


def test_a_persons_name_on_the_person_axis_is_text_never_a_link(app_env, make_generation, store):
    hostile = '<a href="https://evil.example/login">Alice (IT)</a>'
    for i in range(3):
        row = make_generation(f"picture {i}", seed=i, created_by=hostile)
        rate(store, row["id"], "rater", stars=4)
    at = open_app("pages/insights.py")
    at.radio[0].set_value("people")
    figures = [json.loads(chart.proto.spec) for chart in no_exception(at.run()).tabs[0].get("plotly_chart")]
    labels = [label for figure in figures for label in figure["data"][0]["y"]]
    assert labels and all(label.startswith("&lt;a href=&quot;https://evil.example/login&quot;&gt;") for label in labels)
