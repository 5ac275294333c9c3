from datetime import datetime, timezone

import pytest

from core import aggregates


def add(store, i, created, language="en", total=1.0):
    store.insert_generation({
        "id": f"{i:032x}", "created_at": created, "transcript": "t", "prompt": "p", "image_path": f"images/{i}.png",
        "audio_path": f"audio/{i}.wav", "language": language, "t_total": total, "t_generate": total / 2,
    })


def test_totals_count_all_today_and_this_week(store):
    now = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)  # a Wednesday
    add(store, 1, "2026-11-25T09:00:00+00:00")
    add(store, 2, "2026-11-23T09:00:00+00:00")  # Monday: this week
    add(store, 3, "2026-11-20T09:00:00+00:00")  # last week
    assert aggregates.totals(store, now) == {"all": 3, "today": 1, "this_week": 2}


def test_median_and_p95_per_day(store):
    now = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)
    for i, total in enumerate([1.0, 2.0, 3.0, 10.0]):
        add(store, i, f"2026-11-25T0{i}:00:00+00:00", total=total)
    rows = aggregates.stage_timings(store, now=now)
    assert aggregates.percentile_by_day(rows, "t_total", 0.5) == {"2026-11-25": 2.5}
    assert aggregates.percentile_by_day(rows, "t_total", 0.95)["2026-11-25"] == pytest.approx(8.95)


def test_languages_are_counted_most_spoken_first(store):
    for i, language in enumerate(["en", "fr", "en", None]):
        add(store, i, "2026-11-25T09:00:00+00:00", language=language)
    assert aggregates.languages(store) == [("en", 2), ("fr", 1), ("unknown", 1)]


def test_only_listed_columns_have_value_lists(store):
    with pytest.raises(ValueError, match="no list of values"):
        aggregates.distinct_values(store, "id; DROP TABLE generations")
