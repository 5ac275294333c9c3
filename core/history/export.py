"""Export filtered generations as CSV rows and as a ZIP of their images, reading the table in pages and
writing straight into a file: nothing is built whole in memory."""

from __future__ import annotations

import csv
import io
import re
import secrets
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .query import HistoryFilter
from .store import Store

PAGE = 500


def iter_generations(store: Store, where: HistoryFilter) -> Iterator[dict]:
    """Every matching generation, newest first, a page at a time by keyset (each page a seek, however deep)."""
    after = None
    while True:
        rows = store.query_generations(where, limit=PAGE, after=after)
        yield from rows
        if len(rows) < PAGE:
            return
        after = (rows[-1]["created_at"], rows[-1]["id"])


def export_csv(store: Store, where: HistoryFilter, target: BinaryIO) -> int:
    """Write the rows as UTF-8 CSV into ``target``; returns how many. Text cells cannot run as formulas."""
    text = io.TextIOWrapper(target, encoding="utf-8", newline="", write_through=True)
    writer, count = None, 0
    try:
        for row in iter_generations(store, where):
            if writer is None:
                writer = csv.DictWriter(text, fieldnames=list(row))
                writer.writeheader()
            writer.writerow({k: no_formula(v) for k, v in row.items()})
            count += 1
    finally:
        text.detach()  # leave ``target`` open for the caller
    return count


def export_zip(store: Store, where: HistoryFilter, target: BinaryIO, *, manifest: bool = False) -> int:
    """Write the images into a ZIP in ``target``; returns how many. Missing files are listed in
    ``MISSING.txt`` rather than failing; with ``manifest``, their rows go in ``manifest.csv`` beside them."""
    missing, count = [], 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for row in iter_generations(store, where):
            path = store.file_path(row["image_path"])
            if path.is_file():
                archive.write(path, arcname=f"{row['created_at'][:10]}_{row['id']}.png")
                count += 1
            else:
                missing.append(row["id"])
        if missing:
            archive.writestr("MISSING.txt", "\n".join(missing) + "\n")
        if manifest:
            with archive.open("manifest.csv", "w") as rows:
                export_csv(store, where, rows)
    return count


def export_collection(store: Store, where: HistoryFilter, target: BinaryIO) -> int:
    """A collection (or any filtered set) as one ZIP: its images and a ``manifest.csv`` of their rows."""
    return export_zip(store, where, target, manifest=True)


def export_to_temp(export: Callable[[Store, HistoryFilter, BinaryIO], int], store: Store,
                   where: HistoryFilter) -> io.BufferedReader:
    """Run ``export`` into a temporary file (gone when closed) and return it for reading from the start
    (a reader, the kind of file Streamlit's download button reads)."""
    target = tempfile.TemporaryFile()
    try:
        export(store, where, target)
    except BaseException:
        target.close()
        raise
    reader = io.BufferedReader(target.detach())
    reader.seek(0)
    return reader


# A spreadsheet runs a cell that starts with one of these; in a CSV read with another separator (";" in many
# locales, or a tab) a "cell" may start anywhere after a separator, so those positions are guarded too.
_FORMULA = re.compile(r"(^|[,;\t\r\n|])(\s*)(?=[=+\-@])")


def no_formula(value):
    """Put an apostrophe wherever a text cell could start a formula, under any separator (and before a
    leading tab or carriage return, which some spreadsheets also read as the start of one)."""
    if not isinstance(value, str):
        return value
    value = _FORMULA.sub(r"\1\2'", value)
    return "'" + value if value[:1] in ("\t", "\r") else value


# -- exports served from disk --------------------------------------------------------------------------------------

EXPORTS = ".exports"  # in the data folder, on the same disk as what it exports
LINK_TTL_S = 15 * 60


@dataclass(frozen=True)
class ExportLink:
    token: str  # 256 random bits: whoever holds the link may download it, until it expires
    path: Path
    filename: str
    mime: str
    size: int
    expires: float


class ExportLinks:
    """Exports written to files in the data folder, each behind a short-lived link that the server streams from
    disk (``app.py``'s ``/exports/{token}``): nothing of an export is held in the server's memory. An export is
    removed when its link expires (``ttl_s``), or when the server restarts (its links die with it)."""

    def __init__(self, ttl_s: float = LINK_TTL_S, clock: Callable[[], float] = time.time):
        self.ttl_s, self.clock = ttl_s, clock
        self._links: dict[str, ExportLink] = {}
        self._lock = threading.Lock()
        self._swept: set[Path] = set()

    def create(self, export: Callable[[Store, HistoryFilter, BinaryIO], int], store: Store, where: HistoryFilter,
               filename: str, mime: str) -> ExportLink:
        """Run ``export`` into a new file of the data folder and return its link."""
        folder = store.data_dir / EXPORTS
        folder.mkdir(exist_ok=True)
        self._sweep(folder)
        token = secrets.token_urlsafe(32)
        path = folder / f"{token}{Path(filename).suffix}"
        try:
            with open(path, "xb") as target:
                export(store, where, target)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        link = ExportLink(token, path, filename, mime, path.stat().st_size, self.clock() + self.ttl_s)
        with self._lock:
            self._links[token] = link
        return link

    def get(self, token: str) -> ExportLink | None:
        """The live link of ``token`` (None when unknown or expired)."""
        self.expire()
        with self._lock:
            return self._links.get(token)

    def expire(self) -> int:
        """Forget expired links and remove their files; returns how many."""
        now = self.clock()
        with self._lock:
            gone = [link for link in self._links.values() if link.expires <= now]
            for link in gone:
                del self._links[link.token]
        for link in gone:
            link.path.unlink(missing_ok=True)
        return len(gone)

    def _sweep(self, folder: Path) -> None:
        """Once per folder: exports left by an earlier server (their links died with it)."""
        self.expire()
        if folder in self._swept:
            return
        self._swept.add(folder)
        live = {link.path for link in self._links.values()}
        for leftover in folder.iterdir():
            if leftover not in live:
                leftover.unlink(missing_ok=True)


LINKS = ExportLinks()  # one per server process: the route that streams them lives in the same process
