"""Sums of the history, computed in SQL (the table is never loaded whole): totals, stage timings by day,
languages, waits and storage (the Overview page and the API's stats read them)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from ..generation.stages import TIMING_COLUMNS
from ..history.store import Store


def totals(store: Store, now: datetime | None = None) -> dict[str, int]:
    now = now or datetime.now(timezone.utc)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    row = store.execute(
        "SELECT count(*), sum(created_at >= ?), sum(created_at >= ?) FROM generations",
        [today.isoformat(), week_start(now)],
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


def typical_seconds(store: Store, recent: int = 50) -> dict[str, float]:
    """Median seconds per image for each recipe, over its ``recent`` latest generations on this server."""
    rows = store.query(
        "SELECT recipe, t_total FROM (SELECT recipe, t_total, row_number() OVER (PARTITION BY recipe "
        "ORDER BY created_at DESC) AS n FROM generations WHERE recipe IS NOT NULL AND t_total IS NOT NULL) "
        "WHERE n <= ?", [recent])
    by_recipe: dict[str, list[float]] = {}
    for row in rows:
        by_recipe.setdefault(row["recipe"], []).append(row["t_total"])
    return {recipe: float(np.median(values)) for recipe, values in by_recipe.items()}


def per_person_per_day(store: Store, days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
    """Generations per person per day over the last ``days`` days: ``{"day", "created_by", "n"}``."""
    since = ((now or datetime.now(timezone.utc)) - timedelta(days=days)).isoformat()
    return store.query(
        "SELECT substr(created_at, 1, 10) AS day, coalesce(created_by, 'unknown') AS created_by, count(*) AS n "
        "FROM generations WHERE created_at >= ? GROUP BY 1, 2 ORDER BY 1, 2", [since])


def waits_per_person(store: Store) -> list[dict[str, Any]]:
    """Per person, over their finished jobs: how many, median seconds waiting (queued to started) and running
    (started to finished)."""
    rows = store.query(
        "SELECT created_by, (julianday(started_at) - julianday(created_at)) * 86400 AS wait, "
        "(julianday(finished_at) - julianday(started_at)) * 86400 AS run FROM jobs "
        "WHERE started_at IS NOT NULL AND finished_at IS NOT NULL AND status = 'done'")
    by_person: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        by_person.setdefault(row["created_by"] or "unknown", []).append((row["wait"], row["run"]))
    return [{"created_by": person, "jobs": len(values), "median_wait_s": float(np.median([w for w, _ in values])),
             "median_run_s": float(np.median([r for _, r in values]))}
            for person, values in sorted(by_person.items())]


def week_start(now: datetime | None = None) -> str:
    """Monday 00:00 UTC of this week, as stored timestamps compare."""
    today = (now or datetime.now(timezone.utc)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=today.weekday())).isoformat()


def storage(store: Store) -> dict[str, Any]:
    """What the data folder holds: the database's bytes, and the bytes of images and recordings per person (the
    trash's included, under whoever made them)."""
    per_person: dict[str, dict[str, int]] = {}
    # The sizes kept with each row (migration 0022): sums over an index, never a stat of every file.
    rows = store.query("SELECT coalesce(created_by, 'unknown') AS who, sum(image_bytes) AS images, "
                       "sum(audio_bytes) AS audio FROM generations GROUP BY created_by UNION ALL "
                       "SELECT coalesce(created_by, 'unknown'), sum(image_bytes), sum(audio_bytes) FROM trash "
                       "GROUP BY created_by")
    for row in rows:
        sizes = per_person.setdefault(row["who"], {"images": 0, "audio": 0})
        sizes["images"] += row["images"] or 0
        sizes["audio"] += row["audio"] or 0
    database = sum(p.stat().st_size for p in store.data_dir.glob("v2i.db*") if p.is_file())
    return {"database": database, "people": per_person}


def sources(store: Store) -> dict[str, int]:
    """How many generations came from each entry point (dashboard, cli, api; "unknown" for rows from before)."""
    return dict(store.execute("SELECT coalesce(source, 'unknown'), count(*) FROM generations GROUP BY 1 "
                              "ORDER BY 2 DESC, 1").fetchall())
