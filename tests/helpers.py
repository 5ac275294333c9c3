"""Small helpers the tests share (imported by name; fixtures live in conftest.py)."""

from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder`` (the tiny models excluded): what a run left behind."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and "tiny-models" not in p.parts)


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def random_whisper(tiny_models_dir: Path) -> str:
    """The random-weight whisper: the tests pin it, so tones decode quickly and the same way every time (the
    tiny profile's default is the real English tiny.en; tests/test_real_whisper.py uses that)."""
    from core.models.tiny import tiny_model_paths

    return str(tiny_model_paths(tiny_models_dir).whisper)


def old_database(folder: Path, migrations: int):
    """A database as an older version wrote it: only the first ``migrations`` migrations applied and recorded.
    Returns it open (sqlite_utils), for the test to add rows and close before opening a Store on ``folder``."""
    import sqlite_utils

    from core.history.migrations import MIGRATIONS

    old = sqlite_utils.Database(folder / "v2i.db")
    old.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, apply in MIGRATIONS[:migrations]:
        apply(old)
        old.execute("INSERT INTO migrations VALUES (?, '2026-01-01')", [name])
    return old
