"""Backups that restore, and a check of a data folder.

A backup folder holds snapshots of the database and the files they refer to:

    DEST/manifest.json              the latest snapshot's manifest (replaced atomically, last)
    DEST/manifests/<stamp>.json     every kept snapshot's manifest
    DEST/db/<stamp>.db              the database at that moment (SQLite's VACUUM INTO: consistent while others write)
    DEST/files/<folder>/<name>      every image, recording and kept upload a kept snapshot refers to

Files are named by the server (UUIDs) and never change, so a second backup into the same place copies only new
ones. A backup killed part way leaves the previous one whole: its manifest, database and files are untouched until
the new manifest replaces it in one rename. ``restore`` checks every checksum before it writes anything and names
each file that is wrong; ``check`` verifies a live data folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InvalidOptionError, StorageError
from ..team import roles
from ..team.people import Person
from .audit import record
from .migrations import MIGRATIONS
from .paths import FOLDERS, TMP_PREFIX
from .store import DB_NAME, Store

FORMAT = 1
MANIFEST = "manifest.json"
# What a snapshot's files are: every column of the database that names a file in the data folder.
FILE_COLUMNS = ("SELECT image_path FROM generations UNION SELECT audio_path FROM generations UNION "
                "SELECT image_path FROM trash UNION SELECT audio_path FROM trash UNION "
                "SELECT upload_path FROM jobs WHERE upload_path IS NOT NULL")


@dataclass(frozen=True)
class BackupResult:
    stamp: str
    database_size: int
    files: int  # files the snapshot refers to
    copied: int  # of those, copied now (the others were in the backup already)
    missing: tuple[str, ...]  # referred to by the snapshot but absent from the data folder
    pruned: int  # older snapshots removed (beyond ``keep``)


@dataclass
class CheckReport:
    integrity: str = "ok"
    pending_migrations: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # files a row refers to that are not there
    damaged: list[str] = field(default_factory=list)  # files whose checksum differs from their row's
    orphans: list[str] = field(default_factory=list)  # files no row refers to

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and not (self.pending_migrations or self.missing or self.damaged)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(2 ** 22):
            digest.update(chunk)
    return digest.hexdigest()


def _now_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _copy_hashing(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` through a temporary name (all or nothing); returns the SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{TMP_PREFIX}{target.name}")
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(tmp, "wb") as dst:
        while chunk := src.read(2 ** 22):
            digest.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, target)
    return digest.hexdigest()


def backup(store: Store, dest: str | Path, person: Person, *, keep: int | None = None) -> BackupResult:
    """A consistent copy of the database and the files it refers to, into ``dest`` (admins only)."""
    roles.require(store, person, "backup", target=str(dest))
    dest = Path(dest)
    if dest.resolve().is_relative_to(store.data_dir.resolve()):
        raise InvalidOptionError("back up to a folder outside the data folder (a backup inside it would be lost "
                                 "with it)")
    for folder in ("db", "manifests", "files"):
        (dest / folder).mkdir(parents=True, exist_ok=True)
    previous = _manifest_or_none(dest)
    known = previous["files"] if previous else {}
    stamp = _now_stamp()

    # 1. The database, as one consistent snapshot (VACUUM INTO reads it in one transaction).
    snapshot = dest / "db" / f"{stamp}.db"
    tmp = snapshot.with_name(f"{TMP_PREFIX}{snapshot.name}")
    tmp.unlink(missing_ok=True)
    with store.plain_errors():
        store.db.execute("VACUUM INTO ?", [str(tmp)])
    os.replace(tmp, snapshot)

    # 2. The files that snapshot refers to; those already in the backup (same name, same size) are kept as they are.
    with sqlite3.connect(f"{snapshot.resolve().as_uri()}?mode=ro", uri=True) as db:
        wanted = sorted({row[0] for row in db.execute(FILE_COLUMNS) if row[0]})
        applied = [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY name")]
    files, missing, copied = {}, [], 0
    for relative in wanted:
        source, target = store.data_dir / relative, dest / "files" / relative
        if not source.is_file():
            missing.append(relative)
            continue
        size = source.stat().st_size
        if relative in known and known[relative]["size"] == size and target.is_file() and target.stat().st_size == size:
            files[relative] = known[relative]
            continue
        files[relative] = {"size": size, "sha256": _copy_hashing(source, target)}
        copied += 1

    # 3. The manifest, last: until it is replaced, the previous backup is the one that restores.
    manifest = {"format": FORMAT, "stamp": stamp, "created_at": datetime.now(timezone.utc).isoformat(),
                "by": person.id, "database": f"db/{snapshot.name}", "database_size": snapshot.stat().st_size,
                "database_sha256": sha256_of(snapshot), "migrations": applied, "files": files, "missing": missing}
    _write_json_atomic(dest / "manifests" / f"{stamp}.json", manifest)
    _write_json_atomic(dest / MANIFEST, manifest)
    pruned = _prune(dest, keep) if keep else 0
    record(store, person, "backup", str(dest), f"{len(files)} files, {copied} copied, {len(missing)} missing")
    return BackupResult(stamp, manifest["database_size"], len(files), copied, tuple(missing), pruned)


def _manifest_or_none(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _prune(dest: Path, keep: int) -> int:
    """Keep the newest ``keep`` snapshots; files no kept snapshot refers to go too."""
    manifests = sorted((dest / "manifests").glob("*.json"))
    old, kept = manifests[:-keep], manifests[-keep:]
    for path in old:
        (dest / "db" / f"{path.stem}.db").unlink(missing_ok=True)
        path.unlink()
    referenced = set()
    for path in kept:
        referenced.update(json.loads(path.read_text())["files"])
    for file in (dest / "files").rglob("*"):
        if file.is_file() and file.relative_to(dest / "files").as_posix() not in referenced:
            file.unlink()
    return len(old)


def verify_backup(src: str | Path) -> tuple[dict, list[str]]:
    """The manifest of the backup in ``src`` and a sentence for each file that is wrong (missing, another size,
    another checksum)."""
    src = Path(src)
    manifest = _manifest_or_none(src)
    if manifest is None or manifest.get("format") != FORMAT:
        raise InvalidOptionError(f"{src} is not a backup made by `python -m core backup` (no readable {MANIFEST})")
    wrong = []
    entries = [(manifest["database"], manifest["database_size"], manifest["database_sha256"])]
    entries += [(f"files/{rel}", meta["size"], meta["sha256"]) for rel, meta in manifest["files"].items()]
    for relative, size, digest in entries:
        path = src / relative
        if not path.is_file():
            wrong.append(f"{relative} is missing")
        elif path.stat().st_size != size:
            wrong.append(f"{relative} is {path.stat().st_size} bytes, the manifest says {size}")
        elif sha256_of(path) != digest:
            wrong.append(f"{relative} does not match its checksum")
    return manifest, wrong


def restore(src: str | Path, into: str | Path, person: Person, store: Store | None = None) -> CheckReport:
    """Restore the backup in ``src`` into the empty folder ``into`` (never over a data folder); every checksum is
    checked first and each wrong file named. Returns the check of the restored folder. Admins only."""
    roles.require(store, person, "restore backup", target=str(into))
    into = Path(into)
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise InvalidOptionError(f"{into} is not empty: restore into a new or empty folder, then point "
                                 "V2I_DATA_DIR at it")
    manifest, wrong = verify_backup(src)
    if wrong:
        raise StorageError("the backup is damaged, nothing was restored: " + "; ".join(wrong))
    into.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(src) / manifest["database"], into / DB_NAME)
    for relative in manifest["files"]:
        _copy_hashing(Path(src) / "files" / relative, into / relative)
    if store is not None:
        record(store, person, "restore backup", str(into), f"from {src}, snapshot {manifest['stamp']}")
    return check(into)


def check(data_dir: str | Path) -> CheckReport:
    """Is this data folder whole? The database's integrity, its migrations, every row's files (present, and the
    same bytes where the row keeps a checksum), and the files no row refers to."""
    data_dir = Path(data_dir)
    path = data_dir / DB_NAME
    if not path.is_file():
        raise InvalidOptionError(f"there is no database in {data_dir}")
    report = CheckReport()
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        report.integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        applied = {row[0] for row in db.execute("SELECT name FROM migrations")}
        report.pending_migrations = [name for name, _ in MIGRATIONS if name not in applied]
        trash = "trash" in {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rows = db.execute("SELECT image_path, image_sha256, audio_path, audio_sha256 FROM generations").fetchall()
        referenced = set(r[0] for r in db.execute(FILE_COLUMNS if trash else
                                                  "SELECT image_path FROM generations UNION SELECT audio_path FROM "
                                                  "generations UNION SELECT upload_path FROM jobs"))
    for image, image_sha, audio, audio_sha in rows:
        for relative, digest in ((image, image_sha), (audio, audio_sha)):
            file = data_dir / relative
            if not file.is_file():
                report.missing.append(relative)
            elif digest and sha256_of(file) != digest:
                report.damaged.append(relative)
    for folder in FOLDERS:
        for file in sorted((data_dir / folder).glob("*")) if (data_dir / folder).is_dir() else ():
            relative = f"{folder}/{file.name}"
            if file.is_file() and not file.name.startswith(TMP_PREFIX) and relative not in referenced:
                report.orphans.append(relative)
    return report
