import csv
import io
import zipfile

import pytest

from core.history.export import export_csv, export_to_temp, export_zip
from core.history.query import HistoryFilter


def csv_of(store, where=HistoryFilter()) -> bytes:
    with export_to_temp(export_csv, store, where) as exported:
        return exported.read()


def zip_of(store, where=HistoryFilter()) -> bytes:
    with export_to_temp(export_zip, store, where) as exported:
        return exported.read()


def test_csv_holds_the_filtered_rows_with_a_header(make_generation, store):
    make_generation("a lighthouse at dusk")
    fox = make_generation("a red fox")
    rows = list(csv.DictReader(io.StringIO(csv_of(store, HistoryFilter(search="fox")).decode())))
    assert [r["id"] for r in rows] == [fox["id"]]
    assert rows[0]["transcript"] == "a red fox" and rows[0]["seed"] == str(fox["seed"])


def test_csv_cells_cannot_run_as_spreadsheet_formulas(make_generation, store):
    make_generation("=HYPERLINK(\"http://x\")")
    (row,) = csv.DictReader(io.StringIO(csv_of(store).decode()))
    assert row["transcript"].startswith("'=")


def test_an_empty_selection_exports_an_empty_csv(store):
    assert csv_of(store) == b""


def test_zip_holds_the_filtered_images_and_lists_missing_ones(make_generation, store, data_dir):
    kept, gone = make_generation("kept"), make_generation("gone")
    (data_dir / gone["image_path"]).unlink()
    with zipfile.ZipFile(io.BytesIO(zip_of(store))) as archive:
        names = archive.namelist()
        assert f"{kept['created_at'][:10]}_{kept['id']}.png" in names
        assert archive.read("MISSING.txt").decode().split() == [gone["id"]]
        assert archive.read(f"{kept['created_at'][:10]}_{kept['id']}.png")[:4] == b"\x89PNG"


HOSTILE_CELLS = [
    "=HYPERLINK(\"http://x\")", "hello;=HYPERLINK(\"http://x\")", "a,=1+1", "tab\t=cmd|' /C calc'!A0",
    "+1", "-1+2", "@SUM(A1)", "line\n=2+2", "note; @me", "  =spaced", "pipe|=x", "\t=x", "\r+y",
]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_no_cell_starts_a_formula_whatever_separator_a_spreadsheet_reads_it_with(make_generation, store, delimiter):
    for text in HOSTILE_CELLS:
        make_generation(text, prompt=text)
    exported = csv_of(store).decode()
    reader = csv.reader(io.StringIO(exported, newline=""), delimiter=delimiter)
    cells = [cell for line in reader for cell in line]
    for cell in cells:
        start = cell.lstrip(" \"")  # a spreadsheet skips the spaces and a quote left by splitting a quoted cell
        assert start[:1] not in ("=", "+", "-", "@"), (delimiter, cell)
    # ... and the words are still all there, read back with the separator it was written with.
    rows = list(csv.DictReader(io.StringIO(exported, newline="")))
    stored = {r["transcript"] for r in store.query_generations(limit=100)}  # as cleaned when stored
    assert {r["transcript"].replace("'", "") for r in rows} == {t.replace("'", "") for t in stored}
