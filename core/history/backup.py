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

What a restore trusts: a backup folder is data from outside, read as hostile. Its manifest must have the shape
``backup`` writes, and may name only the files a backup holds (``db/<stamp>.db`` and
``images|audio|uploads/<server id>.<ext>``); every target is resolved and must lie inside ``--into``; a link or
special file in the backup is refused, and each refusal names the entry. Without a key that is all: whoever can
write the backup folder can change what a restore brings back (rows, images) within those bounds. With
``V2I_BACKUP_KEY`` (a file outside the data folder holding a secret), each manifest is signed with HMAC-SHA256 and
an unsigned or wrongly signed one is refused, so a restore brings back only what this server wrote.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sqlite3
import stat
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InvalidOptionError, StorageError
from ..people.person import Person
from .audit import record, require
from .migrations import MIGRATIONS
from .paths import FOLDERS, TMP_PREFIX, inside
from .store import DB_NAME, Store

FORMAT = 1
MANIFEST = "manifest.json"
SNAPSHOT_TRIES = 3  # a snapshot whose files vanished meanwhile (a purge) is taken again, this many times in all
MIN_KEY_BYTES = 16
# The only names a backup holds: the database snapshot and the server's own file names (core.history.paths).
DATABASE_NAME = re.compile(r"^db/[0-9]{8}T[0-9]{12}Z\.db$")
FILE_NAME = re.compile(rf"^({'|'.join(FOLDERS)})/[0-9a-f]{{32}}\.[a-z0-9]{{1,8}}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# What a snapshot's files are: every column of the database that names a file in the data folder.
FILE_COLUMNS = ("SELECT image_path FROM generations UNION SELECT audio_path FROM generations UNION "
                "SELECT image_path FROM trash UNION SELECT audio_path FROM trash UNION "
                "SELECT upload_path FROM jobs WHERE upload_path IS NOT NULL")
# The files a data folder must have, with the checksum its row keeps (None where it keeps none): generations,
# the trash's items, and the recordings of jobs that still need them (waiting, running, or failed and kept). A
# database from before the trash (pending migrations) has only the generations'.
GENERATION_FILES = ("SELECT image_path, image_sha256 FROM generations UNION ALL "
                    "SELECT audio_path, audio_sha256 FROM generations")
REQUIRED_FILES = (GENERATION_FILES + " UNION ALL SELECT image_path, NULL FROM trash UNION ALL "
                  "SELECT audio_path, NULL FROM trash UNION ALL SELECT upload_path, NULL FROM jobs "
                  "WHERE upload_path IS NOT NULL AND status IN ('queued', 'running', 'failed')")


@dataclass(frozen=True)
class BackupResult:
    stamp: str
    database_size: int
    files: int  # files the snapshot refers to
    copied: int  # of those, copied now (the others were in the backup already)
    missing: tuple[str, ...]  # referred to by the snapshot but absent from the data folder
    pruned: int  # older snapshots removed (beyond ``keep``)
    signed: bool = False  # the manifest carries an HMAC of V2I_BACKUP_KEY

    @property
    def whole(self) -> bool:
        """Every file the snapshot refers to is in the backup."""
        return not self.missing


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


def load_key(path: str | Path | None, data_dir: Path) -> bytes | None:
    """The backup key from its file (``V2I_BACKUP_KEY``), or None when none is configured. A key inside the data
    folder is refused: it would travel with every backup it is meant to authenticate."""
    if not path:
        return None
    path = Path(path)
    if path.resolve().is_relative_to(Path(data_dir).resolve()):
        raise InvalidOptionError("V2I_BACKUP_KEY is inside the data folder: keep the key somewhere a backup of the "
                                 "data folder does not reach")
    try:
        key = path.read_bytes().strip()
    except OSError as err:
        raise InvalidOptionError(f"V2I_BACKUP_KEY cannot be read ({err.strerror or err}): point it at a file "
                                 "holding a secret") from None
    if len(key) < MIN_KEY_BYTES:
        raise InvalidOptionError(f"V2I_BACKUP_KEY's file holds {len(key)} bytes: at least {MIN_KEY_BYTES}, e.g. "
                                 "`head -c 32 /dev/urandom | base64 > FILE`")
    return key


def _signature(manifest: dict, key: bytes) -> str:
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    body = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
    return "hmac-sha256:" + hmac.new(key, body, hashlib.sha256).hexdigest()


def backup(store: Store, dest: str | Path, person: Person, *, keep: int | None = None,
           key: bytes | None = None) -> BackupResult:
    """A consistent copy of the database and the files it refers to, into ``dest`` (admins only). A snapshot
    whose files vanished while it was copied (a purge meanwhile) is taken again; when files are still missing
    the result is not ``whole`` and says which. ``key``: sign the manifest (``load_key``)."""
    require(store, person, "backup", target=str(dest))
    dest = Path(dest)
    if dest.resolve().is_relative_to(store.data_dir.resolve()):
        raise InvalidOptionError("back up to a folder outside the data folder (a backup inside it would be lost "
                                 "with it)")
    for folder in ("db", "manifests", "files"):
        (dest / folder).mkdir(parents=True, exist_ok=True)
    previous = _manifest_or_none(dest)
    known = previous["files"] if previous and isinstance(previous.get("files"), dict) else {}
    files, copied = {}, 0
    for attempt in range(1, SNAPSHOT_TRIES + 1):
        # 1. The database, as one consistent snapshot; 2. the files it refers to (until none went missing).
        stamp, snapshot, wanted, applied = _snapshot_database(store, dest)
        missing, newly = _copy_files(store.data_dir, dest, wanted, known, files)
        copied += newly
        if not missing or attempt == SNAPSHOT_TRIES:
            break
        snapshot.unlink()  # taken again: the rows whose files were purged meanwhile are gone from the next one
    files = {relative: files[relative] for relative in wanted if relative in files}

    # 3. The manifest, last: until it is replaced, the previous backup is the one that restores.
    manifest = {"format": FORMAT, "stamp": stamp, "created_at": datetime.now(timezone.utc).isoformat(),
                "by": person.id, "database": f"db/{snapshot.name}", "database_size": snapshot.stat().st_size,
                "database_sha256": sha256_of(snapshot), "migrations": applied, "files": files, "missing": missing}
    if key:
        manifest["signature"] = _signature(manifest, key)
    _write_json_atomic(dest / "manifests" / f"{stamp}.json", manifest)
    _write_json_atomic(dest / MANIFEST, manifest)
    pruned = _prune(dest, keep) if keep else 0
    _drop_unnamed_snapshots(dest)
    record(store, person, "backup", str(dest), f"{len(files)} files, {copied} copied, {len(missing)} missing")
    return BackupResult(stamp, manifest["database_size"], len(files), copied, tuple(missing), pruned, bool(key))


def _snapshot_database(store: Store, dest: Path) -> tuple[str, Path, list[str], list[str]]:
    """The database copied into ``dest/db`` in one transaction (VACUUM INTO); its stamp, path, the files it refers
    to and its migrations."""
    stamp = _now_stamp()
    snapshot = dest / "db" / f"{stamp}.db"
    tmp = snapshot.with_name(f"{TMP_PREFIX}{snapshot.name}")
    tmp.unlink(missing_ok=True)
    with store.plain_errors():
        store.db.execute("VACUUM INTO ?", [str(tmp)])
    os.replace(tmp, snapshot)
    with sqlite3.connect(f"{snapshot.resolve().as_uri()}?mode=ro", uri=True) as db:
        wanted = sorted({row[0] for row in db.execute(FILE_COLUMNS) if row[0]})
        applied = [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY name")]
    return stamp, snapshot, wanted, applied


def _copy_files(data_dir: Path, dest: Path, wanted: list[str], known: dict, files: dict) -> tuple[list[str], int]:
    """Copy into ``dest/files`` each wanted file not there yet (same name and size: kept as it is), adding its
    size and checksum to ``files``; returns the wanted files missing from the data folder, and how many were
    copied."""
    missing, copied = [], 0
    for relative in wanted:
        if relative in files:
            continue
        source, target = inside(data_dir, relative), dest / "files" / relative
        if not source.is_file():
            missing.append(relative)
            continue
        size = source.stat().st_size
        if relative in known and known[relative]["size"] == size and target.is_file() and target.stat().st_size == size:
            files[relative] = known[relative]
            continue
        files[relative] = {"size": size, "sha256": _copy_hashing(source, target)}
        copied += 1
    return missing, copied


def _manifest_or_none(folder: Path) -> dict | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


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


def _drop_unnamed_snapshots(dest: Path) -> None:
    """Database copies no manifest names (a backup killed between its copy and its manifest) go."""
    named = {path.stem for path in (dest / "manifests").glob("*.json")}
    for copy in (dest / "db").glob("*.db"):
        if copy.stem not in named:
            copy.unlink(missing_ok=True)


def read_manifest(src: str | Path, key: bytes | None = None) -> dict:
    """The manifest of the backup in ``src``, refused with one plain line unless it has the shape ``backup``
    writes, names only what a backup holds, and (with ``key``) carries this key's signature."""
    src = Path(src)
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except (OSError, ValueError):
        raise InvalidOptionError(f"{src} is not a backup made by `python -m core backup` (no readable {MANIFEST})") \
            from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidOptionError(f"{src}/{MANIFEST} is not a backup manifest of format {FORMAT}")
    files = manifest.get("files")
    shape = [("database", str, "a name"), ("database_size", int, "a size"), ("database_sha256", str, "a checksum"),
             ("stamp", str, "a stamp")]
    for name, kind, what in shape:
        if not isinstance(manifest.get(name), kind):
            raise InvalidOptionError(f"the backup's manifest has no {name} ({what}): it is damaged or not a backup")
    if not isinstance(files, dict):
        raise InvalidOptionError("the backup's manifest has no list of files: it is damaged or not a backup")
    if not isinstance(manifest.get("missing", []), list):
        raise InvalidOptionError("the backup's manifest has a malformed list of missing files")
    if not DATABASE_NAME.match(manifest["database"]) or not SHA256.match(manifest["database_sha256"]):
        raise InvalidOptionError(f"the backup's manifest names the database {manifest['database'][:80]!r}: refused, "
                                 "a backup holds only db/<stamp>.db")
    for relative, meta in files.items():
        if not FILE_NAME.match(relative):
            raise InvalidOptionError(f"the backup's manifest names the file {relative[:80]!r}: refused, a backup "
                                     "holds only images/, audio/ and uploads/ files with the server's own names")
        if not (isinstance(meta, dict) and isinstance(meta.get("size"), int) and isinstance(meta.get("sha256"), str)
                and SHA256.match(meta["sha256"])):
            raise InvalidOptionError(f"the backup's manifest has no size and checksum for {relative}")
    if key is not None:
        signature = manifest.get("signature")
        if not isinstance(signature, str):
            raise InvalidOptionError("the backup's manifest is not signed, and V2I_BACKUP_KEY is set: only a signed "
                                     "backup is restored")
        if not hmac.compare_digest(signature, _signature(manifest, key)):
            raise InvalidOptionError("the backup's manifest does not carry V2I_BACKUP_KEY's signature: it was changed, "
                                     "or signed with another key")
    return manifest


def _entries(manifest: dict) -> list[tuple[str, int, str]]:
    """(path in the backup, size, checksum) of the database and every file."""
    return [(manifest["database"], manifest["database_size"], manifest["database_sha256"])] + [
        (f"files/{rel}", meta["size"], meta["sha256"]) for rel, meta in manifest["files"].items()]


def _plain_file(src: Path, relative: str) -> Path | None:
    """``src/relative`` when it is a plain file lying inside ``src`` (no link on the way); else None."""
    path = src / relative
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if not stat.S_ISREG(mode) or not path.resolve().is_relative_to(src.resolve()):
        return None
    return path


def verify_backup(src: str | Path, key: bytes | None = None) -> tuple[dict, list[str]]:
    """The manifest of the backup in ``src`` and a sentence for each entry that is wrong (missing, a link or
    special file, another size, another checksum)."""
    src = Path(src)
    manifest = read_manifest(src, key)
    wrong = []
    for relative, size, digest in _entries(manifest):
        path = src / relative
        if not os.path.lexists(path):
            wrong.append(f"{relative} is missing")
        elif _plain_file(src, relative) is None:
            wrong.append(f"{relative} is a link or a special file: refused")
        elif path.stat().st_size != size:
            wrong.append(f"{relative} is {path.stat().st_size} bytes, the manifest says {size}")
        elif sha256_of(path) != digest:
            wrong.append(f"{relative} does not match its checksum")
    return manifest, wrong


def restore(src: str | Path, into: str | Path, person: Person, store: Store | None = None, *,
            key: bytes | None = None) -> CheckReport:
    """Restore the backup in ``src`` into the empty folder ``into`` (never over or inside a data folder); every
    entry's name and checksum is checked first and each wrong one named, and every file lands inside ``into``.
    Returns the check of the restored folder. Admins only."""
    require(store, person, "restore backup", target=str(into))
    into = Path(into)
    if store is not None and into.resolve().is_relative_to(store.data_dir.resolve()):
        raise InvalidOptionError(f"{into} is inside the data folder: restore into a folder outside it (the live "
                                 "server would take the restored files for its own)")
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise InvalidOptionError(f"{into} is not empty: restore into a new or empty folder, then point "
                                 "V2I_DATA_DIR at it")
    manifest, wrong = verify_backup(src, key)
    if wrong:
        raise StorageError("the backup is damaged, nothing was restored: " + "; ".join(wrong))
    into.mkdir(parents=True, exist_ok=True)
    try:
        targets = [(manifest["database"], DB_NAME)] + [(f"files/{rel}", rel) for rel in manifest["files"]]
        digests = dict((entry, digest) for entry, _, digest in _entries(manifest))
        for entry, relative in targets:
            if _copy_hashing(Path(src) / entry, inside(into, relative)) != digests[entry]:
                raise StorageError(f"{entry} changed while it was restored: nothing was restored")
    except BaseException:
        _empty_folder(into)
        raise
    if store is not None:
        record(store, person, "restore backup", str(into), f"from {src}, snapshot {manifest['stamp']}")
    return check(into)


def _empty_folder(folder: Path) -> None:
    """What a failed restore wrote into ``folder`` goes (the folder was empty before)."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)


def check(data_dir: str | Path) -> CheckReport:
    """Is this data folder whole? The database's integrity, its migrations, every file a row needs (present, and
    the same bytes where the row keeps a checksum: generations, the trash's items, the recordings of waiting and
    failed jobs), and the files no row refers to."""
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
        required = db.execute(REQUIRED_FILES if trash else GENERATION_FILES).fetchall()
        referenced = set(r[0] for r in db.execute(FILE_COLUMNS if trash else
                                                  "SELECT image_path FROM generations UNION SELECT audio_path FROM "
                                                  "generations UNION SELECT upload_path FROM jobs"))
    for relative, digest in required:
        if not relative:
            continue
        try:
            file = inside(data_dir, relative)
        except StorageError:
            report.damaged.append(relative)  # a row naming a path outside the folder: never read
            continue
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
