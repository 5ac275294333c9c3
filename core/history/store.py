"""SQLite storage through sqlite-utils: one write path, in ``BEGIN IMMEDIATE`` transactions, WAL mode.

Each thread gets its own connection (sqlite3 connections are bound to the thread that opened them,
and Streamlit runs every script run in a new thread).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlite_utils

from ..errors import InvalidOptionError, NotFoundError, StorageError
from ..generation.stages import timings_of
from .migrations import migrate, pending_migrations
from .paths import FOLDERS, SWEEP_GRACE_S, check_id, inside, older_than, remove_quietly, sweep_temp_files
from .query import HistoryFilter, HistoryPage, sort_key

DB_NAME = "v2i.db"
READ_ONLY = ("the data folder is read-only: the history can be browsed, but nothing can be saved or changed. "
             "Ask whoever runs the server to check its permissions or free space")
log = logging.getLogger("v2i.store")


def _without_paths(err: BaseException, store: "Store") -> str:
    """An error's text with the data folder's absolute path taken out (it is the server's business)."""
    return str(err).replace(str(store.data_dir.resolve()), "<data folder>").replace(str(store.data_dir), "<data folder>")


def environmental(err: BaseException) -> bool:
    """What the machine does to a database (full, read-only, busy, damaged): shown as a StorageError in plain
    words. A constraint or programming error is a bug and stays what it is."""
    return isinstance(err, sqlite3.DatabaseError) and not isinstance(
        err, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.DataError, sqlite3.NotSupportedError))
BUSY_TIMEOUT_MS = 30_000
# A filter matching at least this many rows pages by walking the sort's index, testing each row (a page of 25 is
# found within a few hundred rows); fewer matches are gathered and sorted, which is then cheaper than a walk that
# may pass most of the table (bench.history: a search matching 42% of 300,000 rows, 474 -> 27 ms a page).
WALK_FROM = 2_000
# Tables whose rows are computed from one generation (by its id), erased with it.
DERIVED = ("alignment", "novelty", "map_points", "embedding_skips", "review_skips")


def _vectors_of(db, row: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(kind, key, still used by another stored or trashed generation) of each CLIP vector ``row`` has: its image's
    (keyed by the image's SHA-256) and its transcript's and prompt's (by the text's UTF-8 SHA-256, as
    ``core.analytics.embeddings`` keys them)."""
    out = []
    if row.get("image_sha256"):
        shared = db.execute("SELECT 1 FROM generations WHERE image_sha256 = ? UNION ALL SELECT 1 FROM trash WHERE "
                            "json_extract(payload, '$.row.image_sha256') = ? LIMIT 1",
                            [row["image_sha256"], row["image_sha256"]]).fetchone()
        out.append(("image", row["image_sha256"], shared is not None))
    for text in {row.get("transcript"), row.get("prompt")} - {None, ""}:
        shared = db.execute("SELECT 1 FROM generations WHERE transcript = ? OR prompt = ? UNION ALL SELECT 1 FROM "
                            "trash WHERE json_extract(payload, '$.row.transcript') = ? OR "
                            "json_extract(payload, '$.row.prompt') = ? LIMIT 1", [text] * 4).fetchone()
        out.append(("text", hashlib.sha256(text.encode("utf-8")).hexdigest(), shared is not None))
    return out


class Store:
    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self._local = threading.local()
        self.read_only = False
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            migrate(self.db)
        except (sqlite3.OperationalError, OSError, StorageError) as err:
            if not self._open_read_only():
                log.error("cannot open the database %s: %s", self.path, err)
                raise StorageError(f"cannot open the database in the data folder ({_without_paths(err, self)})") from None

    def _open_read_only(self) -> bool:
        """A data folder that cannot be written (a read-only mount, no permission): open its database read-only,
        so the history can still be browsed; every write says why it cannot happen. False when that fails too."""
        if not self.path.is_file() or os.access(self.data_dir, os.W_OK) and os.access(self.path, os.W_OK):
            return False
        self.close()
        self.read_only = True
        try:
            if pending_migrations(self.db):
                raise StorageError("the database needs an upgrade, but the data folder is read-only: make it "
                                   "writable once, then it can be browsed read-only again")
        except sqlite3.Error:
            self.read_only = False
            return False
        log.warning("the data folder %s is read-only: the history can be browsed, nothing can be changed",
                    self.data_dir)
        return True

    # -- connections and the one write path --------------------------------------------------------

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            with self.plain_errors():
                if self.read_only:  # nobody can change the file while its folder is read-only
                    conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                           check_same_thread=True)
                    self._local.db = sqlite_utils.Database(conn)
                    return self._local.db
                conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000)
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed: deleted text leaves the file
            db = self._local.db = sqlite_utils.Database(conn)
        return db

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """The only way to change the database: one ``BEGIN IMMEDIATE`` transaction, all or nothing."""
        if self.read_only:
            raise StorageError(READ_ONLY)
        db = self.db
        try:
            db.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise StorageError(self.explain(err)) from None
        try:
            yield db
        except BaseException as err:
            db.rollback()
            if environmental(err):
                raise StorageError(self.explain(err)) from None
            raise
        try:
            db.conn.execute("COMMIT")
        except sqlite3.Error as err:
            db.rollback()
            raise StorageError(self.explain(err)) from None

    def explain(self, err: sqlite3.Error) -> str:
        """A database error in words a person can act on (the server log keeps the original)."""
        text = str(err).lower()
        log.warning("the database %s: %s", self.path, err)  # the log keeps the path; people are not shown it
        if "full" in text:
            return "the disk is full: the database cannot grow. Free some space, then try again"
        if "readonly" in text or "read-only" in text:
            return READ_ONLY
        if "locked" in text or "busy" in text:
            return "the database is busy with another write: try again in a moment"
        if "malformed" in text or "not a database" in text:
            return "the database file is damaged: restore it from a backup"
        return f"the database could not be used ({_without_paths(err, self)})"

    @contextlib.contextmanager
    def plain_errors(self) -> Iterator[None]:
        """Inside: what the machine does to the database becomes a :class:`StorageError` in plain words."""
        try:
            yield
        except sqlite3.Error as err:
            if not environmental(err):
                raise
            raise StorageError(self.explain(err)) from None

    def execute(self, sql: str, params: list[Any] | tuple = ()) -> sqlite3.Cursor:
        """A read, with :meth:`plain_errors`."""
        with self.plain_errors():
            return self.db.execute(sql, list(params))

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- generations ------------------------------------------------------------------------------

    def insert_generation(self, row: dict[str, Any], also: Callable[[sqlite_utils.Database], None] | None = None) -> None:
        """Insert the row; ``also`` runs in the same transaction (the job queue marks its job done there)."""
        with self.write() as db:
            db["generations"].insert(row)
            if also is not None:
                also(db)

    def query(self, sql: str, params: list[Any] | tuple = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts, keyed by the names the query gives its columns."""
        with self.plain_errors():
            cursor = self.db.execute(sql, list(params))
            columns = [c[0] for c in cursor.description]
            return [dict(zip(columns, r)) for r in cursor.fetchall()]

    def resolve_id(self, text: str, table: str = "generations", what: str = "generation", column: str = "id") -> str:
        """A full id from what a person typed or pasted: the whole 32 characters, or any unique prefix of 6 or more
        (as History shows them: the first 8). An unknown one is a NotFoundError; a prefix two ids share is refused
        with the candidates."""
        text = str(text or "").strip().lower()
        if len(text) == 32:
            return check_id(text, what)
        if not (6 <= len(text) < 32 and all(c in "0123456789abcdef" for c in text)):
            return check_id(text, what)  # the usual message for a malformed id
        rows = self.query(f"SELECT {column} AS id FROM {table} WHERE {column} >= ? AND {column} < ? ORDER BY 1 LIMIT 6",
                          [text, text + "g"])
        if not rows:
            raise NotFoundError(f"no {what} id starts with {text}")
        if len(rows) > 1:
            raise InvalidOptionError(f"{text} is the start of several {what} ids ({', '.join(r['id'] for r in rows[:5])}"
                                     f"{'...' if len(rows) > 5 else ''}): type more of it")
        return rows[0]["id"]

    def get_generation(self, generation_id: str) -> dict[str, Any]:
        check_id(generation_id)
        rows = self.query("SELECT * FROM generations WHERE id = ?", [generation_id])
        if not rows:
            raise NotFoundError(f"no generation with id {generation_id}")
        return rows[0]

    def query_generations(
        self, where: HistoryFilter = HistoryFilter(), *, sort: str = "created_at", descending: bool = True,
        limit: int = 50, offset: int = 0, after: tuple[Any, str] | None = None, walk: bool = False,
    ) -> list[dict[str, Any]]:
        """Generations in order, each with ``rating_mean`` and ``rating_count``: the ``limit`` rows after the row
        whose (sort key, id) is ``after`` (keyset: a seek in the sort's index however deep), else after
        ``offset`` rows (kept for callers that page a few rows; deep pages should pass ``after``). ``walk``: the
        filter matches many rows, so walk the sort's index and test each row (a page of matches is soon found)
        rather than gather every match and sort them all (:data:`WALK_FROM`)."""
        key = sort_key(sort)
        clause, params = where.where()
        table = f"generations g INDEXED BY generations_sort_{sort}" if walk and clause else "generations g"
        if after is not None:  # (key, id) beyond after's, spelt so that SQLite seeks in the expression's index
            beyond = "<" if descending else ">"
            clause += f"{' AND' if clause else ' WHERE'} {key} {beyond}= ? AND ({key} {beyond} ? OR g.id {beyond} ?)"
            params += [after[0], after[0], after[1]]
        order = "DESC" if descending else "ASC"
        return self.query(f"SELECT g.* FROM {table}{clause} ORDER BY {key} {order}, g.id {order} "
                          "LIMIT ? OFFSET ?", [*params, int(limit), int(offset)])

    def page_generations(
        self, where: HistoryFilter = HistoryFilter(), *, sort: str = "created_at", descending: bool = True,
        limit: int = 50, page: int = 1,
    ) -> "HistoryPage":
        """Page ``page`` (from 1; clamped to the pages there are) of the generations that match, by keyset.

        The first and the last page are one seek each (the last read backwards); a page in between starts after
        the row found by walking the sort's index alone (no row is read), from whichever end is nearer."""
        total = self.count_generations(where)
        walk = total >= WALK_FROM  # many matches: walking the sort's index finds a page at once
        pages = max(1, -(-total // limit))
        page = min(max(1, int(page)), pages)
        skipped = (page - 1) * limit  # rows before this page
        after_it = max(0, total - skipped - limit)  # rows after it
        if skipped <= after_it:
            anchor = self._key_at(where, sort, descending, skipped - 1, walk) if skipped else None
            rows = self.query_generations(where, sort=sort, descending=descending, limit=limit, after=anchor, walk=walk)
        else:
            anchor = self._key_at(where, sort, not descending, after_it - 1, walk) if after_it else None
            rows = self.query_generations(where, sort=sort, descending=not descending, limit=min(limit, total - skipped),
                                          after=anchor, walk=walk)[::-1]
        return HistoryPage(rows, total, page, pages)

    def _key_at(self, where: HistoryFilter, sort: str, descending: bool, index: int,
                walk: bool = False) -> tuple[Any, str] | None:
        """The (sort key, id) of the row at ``index`` in this order, read from the sort's index (covering); None
        when rows went away meanwhile (the page then starts at that end)."""
        key, (clause, params) = sort_key(sort), where.where()
        order = "DESC" if descending else "ASC"
        table = f"generations g INDEXED BY generations_sort_{sort}" if walk and clause else "generations g"
        row = self.execute(f"SELECT {key}, g.id FROM {table}{clause} ORDER BY {key} {order}, g.id {order} "
                           "LIMIT 1 OFFSET ?", [*params, index]).fetchone()
        return None if row is None else tuple(row)

    def count_generations(self, where: HistoryFilter = HistoryFilter()) -> int:
        clause, params = where.where()
        return self.query(f"SELECT count(*) AS n FROM generations g{clause}", params)[0]["n"]

    def delete_generation(self, generation_id: str) -> dict[str, Any]:
        """Delete the row, then its files (a file without a row is swept; a row without files never exists).

        The words go from the database file too: freed pages are zeroed (``secure_delete``), the full-text
        index is merged so no old segment keeps them (SQLite 3.40 has no FTS5 ``secure-delete`` option), the
        job that made it forgets its request, and the write-ahead log is emptied into the database. So does every
        row derived from it (:data:`DERIVED`): its alignment, novelty, place on the map, skips, and the CLIP vectors
        of its image and texts, whose keys are the SHA-256 of what they embed (a hash anyone holding the file could
        confirm a guessed transcript with), unless another stored generation has the same image or text."""
        row = self.get_generation(generation_id)
        with self.write() as db:
            db["generations"].delete(generation_id)
            for table in DERIVED:
                db.execute(f"DELETE FROM {table} WHERE generation_id = ?", [generation_id])
            for kind, sha, shared in _vectors_of(db, row):
                if not shared:
                    db.execute("DELETE FROM embeddings WHERE sha256 = ? AND kind = ?", [sha, kind])
            # The job that made it forgets its request, and so do the failed jobs it was submitted again from.
            db.execute("WITH RECURSIVE chain(id) AS (SELECT id FROM jobs WHERE generation_id = ? UNION "
                       "SELECT j.retry_of FROM jobs j JOIN chain c ON j.id = c.id WHERE j.retry_of IS NOT NULL) "
                       "UPDATE jobs SET options = '{}', audio_filename = NULL WHERE id IN (SELECT id FROM chain)",
                       [generation_id])
            db.execute("DELETE FROM ratings WHERE generation_id = ?", [generation_id])
            # A vote for an image that is gone would count as a loss for the other arms of its A/B run.
            db.execute("DELETE FROM ab_votes WHERE generation_id = ?", [generation_id])
            db.execute("DELETE FROM collection_items WHERE generation_id = ?", [generation_id])
            db.execute("INSERT INTO generations_fts (generations_fts) VALUES ('optimize')")
        with self.plain_errors():
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # best effort: a reader may hold older frames
        for key in ("image_path", "audio_path"):
            if row.get(key):
                remove_quietly(self.file_path(row[key]))
        return row

    def file_path(self, relative: str) -> Path:
        return inside(self.data_dir, relative)

    def sweep(self, grace_s: float = SWEEP_GRACE_S) -> dict[str, int]:
        """Remove temp files and files that no row refers to (left by a run killed between the two), once they
        are older than ``grace_s``: a younger one may be another process's write in flight."""
        removed_temp = sweep_temp_files(self.data_dir, grace_s)
        referenced = set()
        for image, audio in self.execute("SELECT image_path, audio_path FROM generations UNION ALL "
                                         "SELECT image_path, audio_path FROM trash"):  # the trash keeps its files
            referenced.update((image, audio))
        for upload in self.execute("SELECT upload_path FROM jobs WHERE upload_path IS NOT NULL"):
            referenced.add(upload[0])
        orphans = 0
        for folder in FOLDERS:
            directory = self.data_dir / folder
            if directory.is_dir():
                for path in directory.iterdir():
                    if path.is_file() and f"{folder}/{path.name}" not in referenced and older_than(path, grace_s):
                        remove_quietly(path)
                        orphans += 1
        return {"temp_files": removed_temp, "orphan_files": orphans}


def utc_now(timespec: str = "milliseconds") -> str:
    """Timestamps as stored: ISO 8601 in UTC, so they sort as text."""
    return datetime.now(timezone.utc).isoformat(timespec=timespec)


def public_record(row: dict[str, Any], collections: list[str] | None = None) -> dict[str, Any]:
    """A stored generation as the CLI's JSON and the pages show it: models and timings grouped, with who made
    it, its ratings (mean and count) and the collections it is in."""
    record = {k: v for k, v in row.items()
              if not k.startswith("t_") and k not in ("whisper_model", "sd_model", "clip_model", "model_revisions")}
    record["models"] = {"whisper": row["whisper_model"], "sd": row["sd_model"], "clip": row["clip_model"]}
    record["model_revisions"] = json.loads(row["model_revisions"]) if row.get("model_revisions") else None
    record["timings"] = timings_of(row)
    record["created_by"] = row.get("created_by")
    record["rating_mean"] = row.get("rating_mean")
    record["rating_count"] = row.get("rating_count") or 0
    record["collections"] = list(collections or [])
    record["words"] = json.loads(row["words"]) if row.get("words") else []
    record["speech_cut"] = json.loads(row["speech_cut"]) if row.get("speech_cut") else []
    record["edited"] = row.get("heard") is not None  # the person changed what whisper heard (``heard``)
    return record
