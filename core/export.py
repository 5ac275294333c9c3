"""Export filtered generations as CSV rows and as a ZIP of their images, reading the table in pages."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Iterator

from .store import HistoryFilter, Store

PAGE = 500


def iter_generations(store: Store, where: HistoryFilter) -> Iterator[dict]:
    offset = 0
    while True:
        rows = store.query_generations(where, limit=PAGE, offset=offset)
        yield from rows
        if len(rows) < PAGE:
            return
        offset += PAGE


def export_csv(store: Store, where: HistoryFilter = HistoryFilter()) -> bytes:
    buffer = io.StringIO()
    writer = None
    for row in iter_generations(store, where):
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row))
            writer.writeheader()
        writer.writerow({k: _no_formula(v) for k, v in row.items()})
    return buffer.getvalue().encode("utf-8")


def export_zip(store: Store, where: HistoryFilter = HistoryFilter()) -> bytes:
    """The images of the filtered generations; missing files are listed in ``MISSING.txt`` rather than failing."""
    buffer = io.BytesIO()
    missing = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for row in iter_generations(store, where):
            path = store.file_path(row["image_path"])
            if path.is_file():
                archive.write(path, arcname=f"{row['created_at'][:10]}_{row['id']}.png")
            else:
                missing.append(row["id"])
        if missing:
            archive.writestr("MISSING.txt", "\n".join(missing) + "\n")
    return buffer.getvalue()


def _no_formula(value):
    # A transcript starting with "=" must not run as a formula when the CSV is opened in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
