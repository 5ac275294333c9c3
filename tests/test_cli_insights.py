"""``python -m core report`` and ``map``: the same numbers as the library (and so as the pages)."""

import json

from core import image_map, factors
from core.cli import main
from core.team.shared import rate


def test_report_json_gives_every_section_with_counts_and_intervals(settings, make_generation, store, capsys):
    first = make_generation("a red fox in the snow", style="watercolor")
    second = make_generation("a lighthouse at dusk", language="fr", seed=2)
    make_generation("a quiet harbour", seed=3)
    rate(store, first["id"], "ann", stars=5)
    rate(store, second["id"], "bob", stars=1)
    assert main(["report", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["generations"] == 3 and printed["rated"] == 2 and printed["aligned"] == 3
    assert printed == json.loads(json.dumps(factors.report(store, settings.clip_embedding_id).to_json()))
    languages = {row["key"]: row for row in printed["languages"]}
    assert (languages["en"]["n"], languages["fr"]["n"], languages["fr"]["rating_mean"]) == (2, 1, 1.0)
    styles = {row["key"] for row in printed["styles"]}
    assert "watercolor" in styles
    assert {row["cause"] for row in printed["blame"]} == {"transcription", "prompt", "generation"}
    assert [b["id"] for b in printed["blamed"]] == [second["id"]]  # rated 1 star


def test_report_json_keeps_intervals_on_the_scale_and_says_too_few_with_agreement_and_offsets(
        settings, make_generation, store, capsys):
    """Two people and a handful of ratings: what used to print "4.50 [-1.85, 10.85]" for 1-to-5 stars."""
    made = [make_generation(f"picture {i}", seed=i, created_by="ann", style=("watercolor" if i < 5 else "none"))
            for i in range(7)]
    for i, row in enumerate(made):
        rate(store, row["id"], "bob", stars=[5, 4, 5, 4, 5, 2, 1][i], blind=True)
        rate(store, row["id"], "cat", stars=[4, 4, 5, 3, 4, 1, 2][i], blind=True)
    assert main(["report", "--json", "--blind-only"]) == 0
    printed = json.loads(capsys.readouterr().out)
    rows = [row for name in factors.DIMENSIONS for row in printed[name]]
    for row in rows:
        if row["rating_lo"] is not None:
            assert 1 <= row["rating_lo"] <= row["rating_mean"] <= row["rating_hi"] <= 5, row
        if row["rated"] < 3:
            assert row["rating_vs_rest"] == "too few" and row["rating_lo"] is None and row["rating_hi"] is None
    styles = {row["key"]: row for row in printed["styles"]}
    assert styles["none"]["rated"] == 2 and styles["none"]["rating_vs_rest"] == "too few"
    agreement = printed["agreement"]
    assert set(agreement) >= {"alpha", "lo", "hi", "n_items", "n_raters"}
    assert (agreement["n_items"], agreement["n_raters"]) == (7, 2) and agreement["lo"] <= agreement["alpha"]
    offsets = {r["person"]: r["offset"] for r in printed["raters"]}
    assert offsets["cat"] < 0 < offsets["bob"]  # cat is the harsher, by about half a star
    assert printed["reading"] == {"blind_only": True, "adjusted": False}


def test_report_in_words_names_each_section(settings, make_generation, capsys):
    make_generation()
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    for title in ("Recipe", "Style", "Spoken language", "Task", "Person",
                  "Stage blame (low-rated or poorly aligned images)"):
        assert f"\n{title}\n" in out


def test_map_json_places_every_image_and_matches_the_stored_map(settings, make_generation, store, capsys):
    made = [make_generation(f"picture number {i}", seed=i)["id"] for i in range(3)]
    assert main(["map", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(p["id"] for p in printed) == sorted(made)
    assert set(printed[0]) == {"id", "x", "y", "cluster"}
    stored = {p["id"]: (round(p["x"], 4), round(p["y"], 4)) for p in image_map.points(store, settings.clip_embedding_id)}
    assert {p["id"]: (p["x"], p["y"]) for p in printed} == stored
    assert main(["map", "--refit"]) == 0
    assert capsys.readouterr().out.startswith("3 images on the map (3 laid out now")


def test_an_empty_history_has_an_empty_report_and_map(tiny_env, capsys):
    assert main(["report", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["generations"] == 0
    assert main(["map", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
