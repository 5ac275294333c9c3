"""Insights: intervals, verdicts, stage blame and the report, on rows written straight into the database."""

import pytest

from core import factors
from core.judging.factors import blame, cause_of, kept_share, proportion_interval
from core.judging.statistics import STARS, bounded_mean
from core.team.shared import rate

MODEL = "clip-test"


def add(store, i, *, recipe="default", style="none", language="en", task="transcribe", person="ann",
        stars=None, alignment=None, t_total=1.0, transcript="a red fox in the snow", prompt=None, **extra):
    gid = f"{i:032x}"
    store.insert_generation({
        "id": gid, "created_at": f"2026-11-{1 + i % 28:02d}T09:00:{i % 60:02d}+00:00", "transcript": transcript,
        "prompt": prompt or f"{transcript}, detailed", "image_path": f"images/{gid}.png", "audio_path": f"a/{gid}.wav",
        "recipe": recipe, "style": style, "language": language, "task": task, "created_by": person,
        "scheduler": "dpmpp-2m", "steps": 20, "t_total": t_total, "avg_logprob": -0.3, "no_speech_prob": 0.05,
        "prompt_truncated": 0, **extra})
    if stars is not None:
        rate(store, gid, "rater", stars=stars)
    if alignment is not None:
        with store.write() as db:
            db["alignment"].insert({"generation_id": gid, "model": MODEL, "transcript": alignment,
                                    "prompt": alignment, "computed_at": "x"})
    return gid


def test_what_works_groups_by_recipe_with_counts_intervals_and_verdicts(store):
    for i in range(6):
        add(store, i, recipe="turbo", stars=1 + i % 2, alignment=0.20, t_total=2.0)
    for i in range(6, 12):
        add(store, i, recipe="default", stars=4 + i % 2, alignment=0.30, t_total=10.0 + i)
    add(store, 12, recipe="default")  # unrated, no alignment: counted, not in the means
    report = factors.report(store, MODEL)
    recipes = {row.key: row for row in report.sections["recipes"]}
    assert recipes["default"].n == 7 and recipes["default"].rating.n == 6 and recipes["turbo"].n == 6
    assert recipes["turbo"].rating.mean == pytest.approx(1.5)
    assert recipes["turbo"].rating == bounded_mean([1, 2, 1, 2, 1, 2], STARS)
    assert recipes["turbo"].rating_vs_rest == "lower" and recipes["default"].rating_vs_rest == "higher"
    assert recipes["turbo"].alignment_vs_rest == "lower" and recipes["turbo"].flagged
    assert recipes["turbo"].seconds_p50 == 2.0
    assert recipes["default"].seconds_p50 == 18.0  # 16..21 and the unrated one's 1.0: the median of 7 values
    people = report.sections["people"]
    assert [(row.key, row.n, row.rating_vs_rest) for row in people] == [("ann", 13, "too few")]


def test_a_language_that_does_significantly_worse_is_flagged(store):
    for i in range(8):
        add(store, i, language="en", stars=4 + i % 2, alignment=0.3 + 0.01 * (i % 3))
    for i in range(8, 14):
        add(store, i, language="de", stars=1 + i % 2, alignment=0.2 + 0.01 * (i % 3), task="translate")
    add(store, 14, language="fr", stars=4)
    report = factors.report(store, MODEL)
    languages = {row.key: row for row in report.sections["languages"]}
    assert languages["de"].flagged and not languages["en"].flagged
    assert languages["fr"].rating_vs_rest == "too few" and not languages["fr"].flagged
    tasks = {row.key: row for row in report.sections["tasks"]}
    assert tasks["translate"].n == 6 and tasks["translate"].alignment_vs_rest == "lower"


def test_blame_points_at_the_stage_most_likely_at_fault():
    base = {"no_speech_prob": 0.1, "avg_logprob": -0.2, "prompt_truncated": 0,
            "transcript": "a lighthouse at dusk over the harbour", "prompt": "a lighthouse at dusk over the harbour, oil"}
    assert cause_of({**base, "no_speech_prob": 0.8})[0] == "transcription"
    assert cause_of({**base, "avg_logprob": -1.4})[0] == "transcription"
    assert cause_of({**base, "prompt_truncated": 1})[0] == "prompt"
    drifted = cause_of({**base, "prompt": "a cat on a sofa"})
    assert drifted[0] == "prompt" and "keeps 0%" in drifted[1]
    assert cause_of(base)[0] == "generation"
    assert kept_share("the fox and the snow", "a fox, detailed") == 0.25  # the, fox, and, snow: fox kept


def test_blame_takes_low_rated_and_the_lowest_fifth_of_alignment(store):
    good = [add(store, i, stars=5, alignment=0.30 + 0.001 * i) for i in range(9)]
    low_rated = add(store, 9, stars=2, alignment=0.35, no_speech_prob=0.9)
    poorly_aligned = add(store, 10, alignment=0.05, prompt="a cat on a sofa")
    report = factors.report(store, MODEL)
    blamed = {b.id: b for b in report.blamed}
    # The 20th percentile of the 11 alignments is the third lowest (0.301): below it, 0.05 and 0.300.
    assert set(blamed) == {low_rated, poorly_aligned, good[0]}
    assert blamed[low_rated].cause == "transcription" and blamed[poorly_aligned].cause == "prompt"
    counts = {row["cause"]: row for row in report.blame}
    assert [counts[c]["n"] for c in ("transcription", "prompt", "generation")] == [1, 1, 1]
    assert counts["generation"]["of"] == 3 and counts["generation"]["share"] == pytest.approx(1 / 3, abs=1e-4)
    assert counts["generation"]["share_lo"] == pytest.approx(proportion_interval(1, 3).lo, abs=1e-4)


def test_without_ten_aligned_images_only_ratings_decide_blame(store):
    add(store, 1, alignment=0.01)
    add(store, 2, stars=1)
    assert [b.cause for b in blame(factors.observations(store, MODEL))] == ["generation"]


def test_the_mean_rating_of_a_generation_counts_once_whoever_rated_it(store):
    gid = add(store, 1, stars=5)
    rate(store, gid, "bob", stars=1)
    rows = factors.observations(store, MODEL)
    assert rows[0]["stars"] == 3.0 and rows[0]["raters"] == 2


def test_record_alignment_scores_stored_embeddings_without_a_model(store):
    import numpy as np

    from core.analytics.embeddings import IMAGE, TEXT, EmbeddingCache, text_sha256

    def no_model():
        raise AssertionError("compute=False must not load CLIP")

    gid = add(store, 1, image_sha256="ab" * 32, transcript="a fox", prompt="a fox, detailed")
    add(store, 2, image_sha256="cd" * 32)  # no embedding stored: not scored
    image = np.array([1.0, 0.0], np.float32)
    said, prompted = np.array([0.6, 0.8], np.float32), np.array([0.8, 0.6], np.float32)
    with store.write() as db:
        for sha, kind, vector in [("ab" * 32, IMAGE, image), (text_sha256("a fox"), TEXT, said),
                                  (text_sha256("a fox, detailed"), TEXT, prompted)]:
            db["embeddings"].insert({"sha256": sha, "model": MODEL, "kind": kind, "dim": 2,
                                     "vector": vector.tobytes(), "created_at": "x"})
    cache = EmbeddingCache(store, no_model, model_id=MODEL)
    assert factors.record_alignment(store, cache) == 1
    stored = store.query("SELECT generation_id, transcript, prompt FROM alignment")
    assert stored == [{"generation_id": gid, "transcript": pytest.approx(0.6), "prompt": pytest.approx(0.8)}]
    assert factors.record_alignment(store, cache) == 0  # nothing new: nothing written


def test_the_json_report_has_the_sections_the_command_line_promises(store):
    add(store, 1, stars=4, alignment=0.3)
    data = factors.report(store, MODEL).to_json()
    for section in ("recipes", "styles", "languages", "people", "blame"):
        assert section in data
    row = data["recipes"][0]
    assert {"key", "n", "rating_mean", "rating_lo", "rating_hi", "alignment_mean", "alignment_lo",
            "alignment_hi"} <= set(row)


def test_a_database_written_before_insights_upgrades_in_place_with_every_row_kept(tmp_path):
    """As the main branch wrote it before this change (migrations 1 to 9): a rated generation."""
    from helpers import old_database

    from core.history.store import Store

    old = old_database(tmp_path, 9)
    old["generations"].insert({"id": "1" * 32, "created_at": "2026-11-01T10:00:00+00:00", "transcript": "a fox",
                               "prompt": "a fox, detailed", "image_path": "images/x.png", "audio_path": "audio/x.wav",
                               "recipe": "default", "created_by": "ann", "language": "en"})
    old["ratings"].insert({"generation_id": "1" * 32, "person": "bob", "stars": 4, "updated_at": "x"})
    old.conn.commit()
    old.close()
    store = Store(tmp_path)
    (row,) = store.query_generations()
    assert (row["transcript"], row["ab_run"], row["rating_mean"]) == ("a fox", None, 4.0)
    for table in ("ab_runs", "ab_votes", "alignment", "map_points"):
        assert store.query(f"SELECT count(*) AS n FROM {table}") == [{"n": 0}]
    report = factors.report(store, MODEL)
    assert (report.generations, report.rated, report.sections["people"][0].key) == (1, 1, "ann")
