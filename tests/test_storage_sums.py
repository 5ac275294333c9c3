"""Overview's storage per person at any size (issue 43, 1): each row keeps its image's and recording's bytes, so the
page sums an index instead of reading the size of every file on every run (at 1,000,000 rows that took minutes);
an older database is measured once, by its migration, reading nothing outside the data folder."""

import sqlite_utils

from core import Person, Store, aggregates, trash
from core.history.migrations import MIGRATIONS


def on_disk(store, row) -> tuple[int, int]:
    return store.file_path(row["image_path"]).stat().st_size, store.file_path(row["audio_path"]).stat().st_size


def test_a_stored_generation_keeps_its_files_sizes_and_storage_sums_them_trash_included(make_generation, store):
    kept = make_generation("a fox", created_by="ana")
    trashed = make_generation("a cat", created_by="ana", seed=2)
    bob = make_generation("a dog", created_by="bob", seed=3)
    assert (kept["image_bytes"], kept["audio_bytes"]) == on_disk(store, kept)
    trash.delete(store, trashed["id"], Person("ana", "Ana"))
    held = aggregates.storage(store)["people"]
    sizes = [on_disk(store, r) for r in (kept, trashed)]
    assert held["ana"] == {"images": sizes[0][0] + sizes[1][0], "audio": sizes[0][1] + sizes[1][1]}
    assert held["bob"] == dict(zip(("images", "audio"), on_disk(store, bob)))


def test_storage_reads_no_file(make_generation, store, monkeypatch):
    make_generation("a fox", created_by="ana")
    monkeypatch.setattr(Store, "file_path", lambda *a: (_ for _ in ()).throw(AssertionError("a file was read")))
    assert aggregates.storage(store)["people"]["ana"]["images"] > 0


def test_an_older_database_is_measured_once_by_its_migration(tmp_path):
    path = tmp_path / "v2i.db"
    old = sqlite_utils.Database(path)
    old.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, apply in MIGRATIONS[:[n for n, _ in MIGRATIONS].index("0022_file_bytes")]:
        apply(old)
        old.execute("INSERT INTO migrations VALUES (?, '2026-01-01')", [name])
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / f"{1:032x}.png").write_bytes(b"x" * 1234)
    (tmp_path.parent / "secret.txt").write_bytes(b"y" * 99)
    (tmp_path / "images" / "linked.png").symlink_to(tmp_path.parent / "secret.txt")  # a link out of the folder
    rows = [(1, "images/" + f"{1:032x}.png", "audio/gone.wav"), (2, "../secret.txt", "/etc/hostname"),
            (3, "images/linked.png", "audio/gone.wav")]
    for i, image, audio in rows:
        old["generations"].insert({"id": f"{i:032x}", "created_at": f"2026-01-0{i}", "created_by": "ana",
                                   "transcript": "x", "prompt": "x", "image_path": image, "audio_path": audio},
                                  alter=False)
    old.conn.commit()
    old.close()
    store = Store(tmp_path)
    measured = {r["id"][-1]: (r["image_bytes"], r["audio_bytes"]) for r in
                store.query("SELECT id, image_bytes, audio_bytes FROM generations")}
    assert measured == {"1": (1234, 0), "2": (0, 0), "3": (0, 0)}  # a path outside the folder is never read
    assert aggregates.storage(store)["people"]["ana"] == {"images": 1234, "audio": 0}
