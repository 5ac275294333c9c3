"""Room on the disk: before an upload is accepted and before a job starts, the data folder's disk must have what
they will write plus a margin (``V2I_MIN_FREE_MB``); short of it, the upload is refused and the job waits, with a
plain reason, and nothing half-written is left."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import StorageError

MB = 2 ** 20


def free_bytes(folder: Path) -> int:
    """Free bytes on the disk that holds ``folder`` (the probe the tests replace)."""
    return shutil.disk_usage(folder).free


def job_bytes(width: int, height: int, upload_bytes: int) -> int:
    """What a job writes: its recording again (the generation's copy), an image (a PNG of noise is at most the raw
    pixels), and room for the database's write-ahead log."""
    return upload_bytes + width * height * 3 + 4 * MB


def shortage(folder: Path, need: int, min_free_mb: float) -> str:
    """A plain reason when the disk has less than ``need`` bytes plus the margin free ("" when there is room)."""
    free = free_bytes(folder)
    wanted = need + int(min_free_mb * MB)
    if free >= wanted:
        return ""
    return (f"the data folder's disk has {free / MB:.0f} MB free, and this needs {need / MB:.0f} MB plus a "
            f"{min_free_mb:g} MB margin: ask whoever runs the server to free some space")


def require_room(folder: Path, need: int, min_free_mb: float) -> None:
    if reason := shortage(folder, need, min_free_mb):
        raise StorageError(f"not enough room to accept it: {reason}")
