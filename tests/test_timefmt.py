"""Readable times and ids (issue 29, 3)."""

from datetime import datetime, timezone

import pytest

from core.timefmt import exact, readable

NOW = datetime(2026, 11, 29, 17, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("stamp, tz, shown", [
    ("2026-11-29T17:29:31.333+00:00", None, "just now"),
    ("2026-11-29T17:25:00+00:00", None, "5 min ago"),
    ("2026-11-29T14:30:00+00:00", None, "3 h ago"),
    ("2026-11-29T08:02:00+00:00", None, "today 08:02"),
    ("2026-11-28T14:02:00+00:00", None, "yesterday 14:02"),
    ("2026-11-28T14:02:00+00:00", "Europe/Paris", "yesterday 15:02"),  # the viewer's own zone
    ("2026-11-28T23:30:00+00:00", "Asia/Tokyo", "yesterday 08:30"),  # the 29th in Tokyo, where it is the 30th now
    ("2026-11-24T09:15:00+00:00", None, "Tue 09:15"),
    ("2026-11-12T14:02:00+00:00", None, "12 Nov 14:02"),
    ("2025-11-12T14:02:00+00:00", None, "12 Nov 2025"),
    (None, None, ""),
])
def test_times_read_as_words_in_the_viewers_zone(stamp, tz, shown):
    assert readable(stamp, NOW, tz) == shown


def test_the_exact_time_keeps_the_second_and_names_the_zone():
    assert exact("2026-11-29T17:29:31.333+00:00", "Europe/Paris") == "2026-11-29 18:29:31 CET"
    assert exact("2026-11-29T17:29:31+00:00", "Not/AZone") == "2026-11-29 17:29:31 UTC"
