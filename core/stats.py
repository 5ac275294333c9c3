"""Aggregates for the Overview page, computed in SQL (the table is never loaded whole)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from .stages import TIMING_COLUMNS
from .store import Store


def totals(store: Store, now: datetime | None = None) -> dict[str, int]:
    now = now or datetime.now(timezone.utc)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    row = store.execute(
        "SELECT count(*), sum(created_at >= ?), sum(created_at >= ?) FROM generations",
        [today.isoformat(), week.isoformat()],
    ).fetchone()
    return {"all": row[0], "today": row[1] or 0, "this_week": row[2] or 0}


def stage_timings(store: Store, days: int = 90, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per-stage seconds of the generations of the last ``days`` days (only the columns a chart needs)."""
    since = ((now or datetime.now(timezone.utc)) - timedelta(days=days)).isoformat()
    return store.query(
        f"SELECT substr(created_at, 1, 10) AS day, {', '.join(TIMING_COLUMNS)} FROM generations "
        "WHERE created_at >= ? ORDER BY created_at", [since],
    )


def percentile_by_day(rows: list[dict[str, Any]], column: str, q: float) -> dict[str, float]:
    """The ``q`` quantile (0..1) of ``column`` per day, by linear interpolation as numpy does."""
    import numpy as np

    by_day: dict[str, list[float]] = {}
    for row in rows:
        if row[column] is not None:
            by_day.setdefault(row["day"], []).append(row[column])
    return {day: float(np.quantile(values, q)) for day, values in by_day.items()}


def languages(store: Store) -> list[tuple[str, int]]:
    return [tuple(r) for r in store.execute(
        "SELECT coalesce(language, 'unknown'), count(*) AS n FROM generations GROUP BY 1 ORDER BY n DESC, 1"
    ).fetchall()]


def distinct_values(store: Store, column: str) -> list[Any]:
    if column not in ("language", "sd_model", "steps", "scheduler", "style"):
        raise ValueError(f"no list of values for column {column!r}")
    return [r[0] for r in store.execute(
        f"SELECT DISTINCT {column} FROM generations WHERE {column} IS NOT NULL ORDER BY 1"
    ).fetchall()]
