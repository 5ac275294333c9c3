"""Judging on the pages: a sweep from Generate voted on Insights, the Agreement tab, blind and adjusted readings."""

import io
import json
import zipfile

from apptest import generate_with_a_recording, button, errors, no_exception, open_app
from helpers import wait_until

from core import Store, contact_sheet, factors, rate, sweep
from core.execution.jobs import DONE, JobQueue

AGREEMENT = 4  # the Agreement tab's place on Insights


def test_a_sweep_from_generate_is_a_labelled_grid_on_insights_with_votes_and_a_sheet(app_env, data_dir):
    at = generate_with_a_recording()
    key = next(m.key for m in at.multiselect if m.key and m.key.startswith("sweep-axes-")).removeprefix("sweep-axes-")
    no_exception(button(at, "Start the sweep").click().run())  # nothing chosen: refused, nothing queued
    assert errors(at) == ["speech.wav: a sweep varies 1 to 3 settings, not 0"]
    at.multiselect(key=f"sweep-axes-{key}").set_value(["steps", "seed"])
    no_exception(at.run())
    at.text_input(key=f"sweep-steps-{key}").set_value("1, 2")
    at.text_input(key=f"sweep-seed-{key}").set_value("5, 6")
    no_exception(button(at, "Start the sweep").click().run())
    store = Store(data_dir)
    assert wait_until(lambda: [j["status"] for j in JobQueue(store).list()] == [DONE] * 4, timeout=60), \
        [(j["status"], j["error"]) for j in JobQueue(store).list()]
    run_id = store.query("SELECT id FROM ab_runs")[0]["id"]

    at.switch_page("pages/insights.py")
    at.query_params["run"] = run_id
    no_exception(at.run())
    shown = [t.value for t in at.tabs[1].text]
    assert "steps 1" in shown and "steps 2" in shown  # the rows' labels; the columns' are the captions
    best = store.query("SELECT id FROM generations WHERE ab_run = ? AND steps = 2 AND seed = 6", [run_id])[0]["id"]
    no_exception(next(b for b in at.button if b.key == f"vote-{best}").click().run())
    assert store.query("SELECT generation_id FROM ab_votes") == [{"generation_id": best}]
    table = at.tabs[1].dataframe[0].value
    assert sorted(zip(table["compares"], table["arm"], table["wins"])) == [
        ("seed", "5", 0), ("seed", "6", 1), ("steps", "1", 0), ("steps", "2", 1)]
    [sheet] = [d for d in at.get("download_button") if d.proto.label.startswith("Download the contact sheet")]
    assert sheet.proto.label == "Download the contact sheet (PNG)"
    grid = contact_sheet.grid_of_sheet(contact_sheet.contact_sheet(store, sweep.run_of(store, run_id)))
    assert grid["rows"] == ["steps 1", "steps 2"] and grid["columns"] == ["seed 5", "seed 6"]


def two_raters(make_generation, store):
    """Six of alice's images rated blind by bob and carol, carol a star harsher; two more rated by dan, seen."""
    made = [make_generation(f"picture {i}", seed=i, created_by="alice") for i in range(6)]
    for i, row in enumerate(made):
        rate(store, row["id"], "bob", stars=2 + i % 4, blind=True)
        rate(store, row["id"], "carol", stars=1 + i % 4, blind=True)
    for row in made[:2]:
        rate(store, row["id"], "dan", stars=5)
    return made


def test_the_agreement_tab_reads_alpha_in_plain_words_with_each_raters_offset(app_env, make_generation, store,
                                                                              settings):
    two_raters(make_generation, store)
    at = open_app("pages/insights.py")
    tab = at.tabs[AGREEMENT]
    report = factors.report(store, settings.clip_embedding_id)
    overall = report.agreement.overall
    assert overall.alpha is not None and tab.metric[0].value == f"{overall.alpha:.2f}"
    assert any(m.value.replace("\\", "").startswith(f"**{overall.reading.capitalize()}**") for m in tab.markdown)
    offsets = {p: o for p, o in zip(tab.dataframe[-2].value["person"], tab.dataframe[-2].value["offset (stars)"])}
    assert offsets["carol"] < 0 < offsets["bob"]
    assert any(d.proto.label == "Download the preference data (ZIP)" for d in tab.get("download_button"))


def test_blind_only_and_adjusted_readings_change_the_numbers_the_way_they_say(app_env, make_generation, store,
                                                                             settings):
    two_raters(make_generation, store)
    at = open_app("pages/insights.py")
    assert [m.value for m in at.metric][:2] == ["6", "6"]
    at.toggle(key="reading-blind").set_value(True)
    no_exception(at.run())
    blind = factors.report(store, settings.clip_embedding_id, factors.Reading(blind_only=True))
    assert blind.agreement.overall.n_raters == 2  # dan's seen ratings are left out
    assert at.tabs[0].dataframe[0].value["rating"][0] == blind.sections["recipes"][0].rating.text()
    at.toggle(key="reading-adjusted").set_value(True)
    no_exception(at.run())
    adjusted = factors.report(store, settings.clip_embedding_id, factors.Reading(True, True))
    assert at.tabs[0].dataframe[0].value["rating"][0] == adjusted.sections["recipes"][0].rating.text()
    plain = factors.report(store, settings.clip_embedding_id)
    assert adjusted.sections["recipes"][0].rating.mean != plain.sections["recipes"][0].rating.mean


def test_the_preference_download_holds_the_blind_pairs_two_stars_apart(app_env, make_generation, store):
    made = two_raters(make_generation, store)
    from core.judging.preferences import preferences_zip

    with zipfile.ZipFile(io.BytesIO(preferences_zip(store))) as archive:
        rows = [json.loads(line) for line in archive.read("metadata.jsonl").decode().splitlines()]
    # bob gave 2, 3, 4, 5, 2, 3 and carol 1, 2, 3, 4, 1, 2 to one recording's images: the pairs two stars apart
    stars = {"bob": [2, 3, 4, 5, 2, 3], "carol": [1, 2, 3, 4, 1, 2]}
    expected = sum(abs(s[i] - s[j]) >= 2 for s in stars.values() for i in range(6) for j in range(i + 1, 6))
    assert len(rows) == expected and {r["how"] for r in rows} == {"blind ratings"}
    assert {r["who"] for r in rows} == {"bob", "carol"}  # dan's ratings were not blind
    assert {r["chosen_id"] for r in rows} <= {m["id"] for m in made}
