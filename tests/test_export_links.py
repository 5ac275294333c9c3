"""Exports written to files and served behind short-lived links (core.history.export.ExportLinks)."""

from core import HistoryFilter
from core.history.export import EXPORTS, ExportLinks, export_csv


def test_a_link_serves_its_file_until_it_expires_then_the_file_goes(store, make_generation):
    make_generation("a fox")
    now = [1000.0]
    links = ExportLinks(ttl_s=60, clock=lambda: now[0])
    link = links.create(export_csv, store, HistoryFilter(), "generations.csv", "text/csv")
    assert link.path.parent == store.data_dir / EXPORTS and b"a fox" in link.path.read_bytes()
    assert links.get(link.token) == link and len(link.token) >= 43  # 256 random bits
    assert links.get("not-a-token") is None
    now[0] += 61
    assert links.get(link.token) is None and not link.path.exists()


def test_a_failed_export_leaves_no_file_and_a_new_server_sweeps_old_exports(store):
    folder = store.data_dir / EXPORTS
    folder.mkdir()
    (folder / "left-by-an-earlier-server.zip").write_bytes(b"x")

    def broken(store, where, target):
        target.write(b"half")
        raise OSError("the disk is full")

    links = ExportLinks()
    try:
        links.create(broken, store, HistoryFilter(), "images.zip", "application/zip")
    except OSError:
        pass
    assert list(folder.iterdir()) == []
