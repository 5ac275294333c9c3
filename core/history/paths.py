"""Files under the data folder: server-chosen names, atomic writes, and paths that never leave the folder."""

from __future__ import annotations

import errno
import logging
import os
import time
import re
import uuid
from pathlib import Path

from ..errors import NotFoundError, StorageError

IMAGES = "images"  # the generated PNGs
AUDIO = "audio"  # the recordings of stored generations
UPLOADS = "uploads"  # the recordings of jobs still queued (and of failed ones, kept)
FOLDERS = (IMAGES, AUDIO, UPLOADS)
TMP_PREFIX = ".tmp-"
log = logging.getLogger("v2i.store")
_ID = re.compile(r"^[0-9a-f]{32}$")
_EXT = re.compile(r"^[a-z0-9]{1,8}$")


def new_id() -> str:
    return uuid.uuid4().hex


def check_id(value: str, what: str = "generation") -> str:
    """Return ``value`` if it is a well-formed id; the error names the bad value without echoing paths."""
    if not isinstance(value, str) or not _ID.match(value):
        shown = value if isinstance(value, str) and len(value) <= 40 else f"{str(value)[:40]}..."
        raise NotFoundError(f"{shown!r} is not a {what} id (ids are 32 hexadecimal characters)")
    return value


def inside(data_dir: Path, relative: str) -> Path:
    """Resolve a stored relative path, refusing anything that would land outside ``data_dir``."""
    root = Path(data_dir).resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or candidate == root:
        raise StorageError(f"refusing a path outside the data folder: {relative!r}")
    return candidate


def relative_name(folder: str, file_id: str, ext: str) -> str:
    if not _EXT.match(ext):
        raise StorageError(f"refusing an unusual file extension: {ext!r}")
    return f"{folder}/{check_id(file_id, 'file')}.{ext}"


def write_atomic(data_dir: Path, relative: str, data: bytes) -> Path:
    """Write to a temporary name beside the target, fsync, then rename: a reader sees all or nothing."""
    target = inside(data_dir, relative)
    tmp = target.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{target.name}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as err:
        remove_quietly(tmp)
        log.error("cannot write %s: %s", target, err)  # the log keeps the server's path; people see relative names
        raise StorageError(f"cannot write {relative} in the data folder: {_describe(err)}") from None
    return target


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # best effort: a leftover temp file is swept on the next start


# A file younger than this may belong to a write still in flight in another process (a temp file being written,
# or a file renamed into place whose row is not committed yet): sweeps leave it alone.
SWEEP_GRACE_S = 3600.0


def older_than(path: Path, seconds: float, now: float | None = None) -> bool:
    try:
        return (time.time() if now is None else now) - path.stat().st_mtime > seconds
    except OSError:
        return False


def sweep_temp_files(data_dir: Path, grace_s: float = SWEEP_GRACE_S) -> int:
    """Delete temporary files left by a run that was killed mid-write (older than ``grace_s``); returns how many."""
    count = 0
    for folder in FOLDERS:
        directory = Path(data_dir) / folder
        if directory.is_dir():
            for leftover in directory.glob(f"{TMP_PREFIX}*"):
                if older_than(leftover, grace_s):
                    remove_quietly(leftover)
                    count += 1
    return count


def _describe(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "the disk is full"
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "the folder is read-only or not writable"
    return err.strerror or str(err)
