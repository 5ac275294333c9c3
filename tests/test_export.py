import csv
import io
import zipfile

from core.export import export_csv, export_zip
from core.store import HistoryFilter


def test_csv_holds_the_filtered_rows_with_a_header(make_generation, store):
    make_generation("a lighthouse at dusk")
    fox = make_generation("a red fox")
    rows = list(csv.DictReader(io.StringIO(export_csv(store, HistoryFilter(search="fox")).decode())))
    assert [r["id"] for r in rows] == [fox["id"]]
    assert rows[0]["transcript"] == "a red fox" and rows[0]["seed"] == str(fox["seed"])


def test_csv_cells_cannot_run_as_spreadsheet_formulas(make_generation, store):
    make_generation("=HYPERLINK(\"http://x\")")
    (row,) = csv.DictReader(io.StringIO(export_csv(store).decode()))
    assert row["transcript"].startswith("'=")


def test_an_empty_selection_exports_an_empty_csv(store):
    assert export_csv(store) == b""


def test_zip_holds_the_filtered_images_and_lists_missing_ones(make_generation, store, data_dir):
    kept, gone = make_generation("kept"), make_generation("gone")
    (data_dir / gone["image_path"]).unlink()
    with zipfile.ZipFile(io.BytesIO(export_zip(store))) as archive:
        names = archive.namelist()
        assert f"{kept['created_at'][:10]}_{kept['id']}.png" in names
        assert archive.read("MISSING.txt").decode().split() == [gone["id"]]
        assert archive.read(f"{kept['created_at'][:10]}_{kept['id']}.png")[:4] == b"\x89PNG"
