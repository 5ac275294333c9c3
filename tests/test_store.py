import sqlite3

import pytest

from core.errors import NotFoundError, StorageError
from core.migrations import MIGRATIONS, migrate
from core.store import HistoryFilter, Store


def row(i: int, **extra) -> dict:
    base = {
        "id": f"{i:032x}", "created_at": f"2026-11-{10 + i % 10:02d}T12:00:{i % 60:02d}+00:00",
        "audio_filename": f"clip{i}.wav", "audio_path": f"audio/{i:032x}.wav", "transcript": f"a red fox number {i}",
        "language": "en" if i % 2 else "fr", "prompt": f"a red fox number {i}, detailed", "image_path": f"images/{i:032x}.png",
        "steps": 25 if i % 3 else 50, "sd_model": "sd", "t_total": float(i),
    }
    return {**base, **extra}


def test_the_schema_is_created_by_migrations_and_reapplying_them_changes_nothing(store):
    names = {name for name, _ in MIGRATIONS}
    assert {r[0] for r in store.db.execute("SELECT name FROM migrations")} == names
    assert migrate(store.db) == []
    assert {"generations", "jobs", "generations_fts"} <= set(store.db.table_names())


def test_the_database_lives_in_the_data_folder_in_wal_mode(store, data_dir):
    assert store.path == data_dir / "v2i.db"
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_generation_round_trips(store):
    store.insert_generation(row(1))
    assert store.get_generation(f"{1:032x}")["transcript"] == "a red fox number 1"


def test_full_text_search_covers_transcript_and_prompt(store):
    store.insert_generation(row(1, transcript="a lighthouse at dusk", prompt="lighthouse, detailed"))
    store.insert_generation(row(2, transcript="a red fox", prompt="a red fox, watercolor painting"))
    assert [r["id"] for r in store.query_generations(HistoryFilter(search="lighthouse"))] == [f"{1:032x}"]
    assert [r["id"] for r in store.query_generations(HistoryFilter(search="watercol"))] == [f"{2:032x}"]


def test_search_text_is_never_fts_or_sql_syntax(store):
    store.insert_generation(row(1))
    for text in ['"', "fox OR 1=1", "'; DROP TABLE generations; --", "NEAR(", "*"]:
        store.query_generations(HistoryFilter(search=text))
    assert store.count_generations() == 1


def test_filters_narrow_by_language_steps_model_and_dates(store):
    for i in range(10):
        store.insert_generation(row(i))
    assert store.count_generations(HistoryFilter(language="en")) == 5
    assert store.count_generations(HistoryFilter(steps=50)) == 4
    assert store.count_generations(HistoryFilter(sd_model="other")) == 0
    assert store.count_generations(HistoryFilter(since="2026-11-15", until="2026-11-17")) == 2


def test_pages_are_newest_first_and_can_sort_by_any_listed_column(store):
    for i in range(5):
        store.insert_generation(row(i))
    assert [r["t_total"] for r in store.query_generations(limit=2)] == [4.0, 3.0]
    assert [r["t_total"] for r in store.query_generations(limit=2, offset=2)] == [2.0, 1.0]
    assert [r["t_total"] for r in store.query_generations(sort="t_total", descending=False, limit=2)] == [0.0, 1.0]


def test_sorting_by_an_unlisted_column_is_refused(store):
    with pytest.raises(ValueError, match="cannot sort"):
        store.query_generations(sort="id; DROP TABLE generations")


def test_delete_removes_the_row_and_its_files(store, data_dir):
    store.insert_generation(row(1))
    for rel in ("audio/" + f"{1:032x}.wav", "images/" + f"{1:032x}.png"):
        (data_dir / rel).parent.mkdir(exist_ok=True)
        (data_dir / rel).write_bytes(b"x")
    store.delete_generation(f"{1:032x}")
    assert store.count_generations() == 0
    assert not list((data_dir / "audio").iterdir()) and not list((data_dir / "images").iterdir())


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "1' OR '1'='1", "", "x" * 500])
def test_malformed_ids_are_refused_before_any_query(store, bad):
    with pytest.raises(NotFoundError, match="not a generation id"):
        store.get_generation(bad)


def test_an_unknown_id_is_not_found(store):
    with pytest.raises(NotFoundError, match="no generation"):
        store.get_generation("0" * 32)


@pytest.mark.parametrize("relative", ["../outside.png", "/etc/passwd", "images/../../x", "."])
def test_no_path_outside_the_data_folder_is_ever_resolved(store, relative):
    with pytest.raises(StorageError, match="outside the data folder"):
        store.file_path(relative)


def test_a_failed_write_rolls_back_the_whole_transaction(store):
    with pytest.raises(sqlite3.IntegrityError):
        with store.write() as db:
            db["generations"].insert(row(1))
            db["generations"].insert(row(1))  # same id: the whole transaction goes
    assert store.count_generations() == 0


def test_the_sweep_removes_temp_files_and_files_without_a_row(store, data_dir):
    store.insert_generation(row(1))
    (data_dir / "images").mkdir()
    kept = data_dir / "images" / f"{1:032x}.png"
    kept.write_bytes(b"x")
    (data_dir / "images" / ".tmp-abc-x.png").write_bytes(b"x")
    (data_dir / "images" / f"{2:032x}.png").write_bytes(b"x")
    assert store.sweep() == {"temp_files": 1, "orphan_files": 1}
    assert [p.name for p in (data_dir / "images").iterdir()] == [kept.name]


def test_each_thread_gets_its_own_connection(store):
    import threading

    store.insert_generation(row(1))
    counts = []
    thread = threading.Thread(target=lambda: counts.append(store.count_generations()))
    thread.start()
    thread.join()
    assert counts == [1]


def test_an_unwritable_data_folder_is_a_clear_error(tmp_path):
    target = tmp_path / "file-not-folder"
    target.write_text("x")
    with pytest.raises(StorageError, match="cannot open the database"):
        Store(target)


def test_an_older_database_is_upgraded_in_place_and_keeps_its_rows(tmp_path):
    import sqlite_utils

    from core.migrations import MIGRATIONS

    path = tmp_path / "v2i.db"
    old = sqlite_utils.Database(path)
    old.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    name, first = MIGRATIONS[0]
    first(old)
    old.execute("INSERT INTO migrations VALUES (?, '2026-01-01')", [name])
    old["generations"].insert(row(1))
    old.conn.commit()
    old.close()

    store = Store(tmp_path)
    assert {r[0] for r in store.db.execute("SELECT name FROM migrations")} == {n for n, _ in MIGRATIONS}
    upgraded = store.get_generation(f"{1:032x}")
    assert upgraded["transcript"] == "a red fox number 1"
    assert upgraded["deepcache_interval"] == 0 and upgraded["image_sha256"] is None
    assert "jobs" in store.db.table_names() and "embeddings" in store.db.table_names()
