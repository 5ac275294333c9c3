import os
import time
import sqlite3

import pytest

from core.errors import NotFoundError, StorageError
from core.history.migrations import MIGRATIONS, migrate
from core.history.query import HistoryFilter
from core.history.store import Store


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


@pytest.mark.parametrize("text, matches", [
    ('"', []), ("*", []), ("NEAR(", []), ("fox OR 1=1", []),  # "1" matches no word: no row
    ("fox OR", []),  # OR is a word here, and no row has it
    ("'; DROP TABLE generations; --", []), ("fox AND red", []), ("fox) OR (red", []),
    ('fox" OR "lighthouse', []),  # quotes cannot close the term: "or" is searched as a word
    ("red fox", [1]), ("FOX -snow", []), ("numb*", [1]), ("fox^2", []),
])
def test_search_text_is_never_fts_or_sql_syntax(store, text, matches):
    store.insert_generation(row(1))
    store.insert_generation(row(2, transcript="a lighthouse at dusk", prompt="a lighthouse"))
    found = [int(r["id"], 16) for r in store.query_generations(HistoryFilter(search=text))]
    assert found == matches  # each word must match (a prefix), none is an operator
    assert store.count_generations() == 2


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
    assert store.sweep() == {"temp_files": 0, "orphan_files": 0}  # fresh: maybe another process's write in flight
    for path in (data_dir / "images").iterdir():
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    assert store.sweep() == {"temp_files": 1, "orphan_files": 1}
    assert [p.name for p in (data_dir / "images").iterdir()] == [kept.name]


def test_the_sweep_leaves_another_processs_fresh_upload_alone(store, data_dir):
    """A second worker's start-up sweep once deleted an upload another process had just written (issue 32, 11)."""
    (data_dir / "uploads").mkdir()
    fresh = data_dir / "uploads" / f"{3:032x}.wav"
    fresh.write_bytes(b"RIFF")  # written, its job row not committed yet
    (data_dir / "uploads" / ".tmp-abc-y.wav").write_bytes(b"RIFF")
    assert store.sweep() == {"temp_files": 0, "orphan_files": 0}
    assert fresh.exists()


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

    from core.history.migrations import MIGRATIONS

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


def test_a_long_search_is_deduplicated_and_capped_and_says_so(store):
    from core.history.query import MAX_SEARCH_TERMS, SearchTerms

    store.insert_generation(row(1))
    repeated = SearchTerms.of("fox " * 10_000)  # 40 KB of one word
    assert repeated.words == ("fox",) and repeated.shortened
    many = SearchTerms.of(" ".join(f"w{i}" for i in range(40)))
    assert len(many.words) == MAX_SEARCH_TERMS and many.shortened and "first 16 distinct words" in many.note
    plain = SearchTerms.of("Red fox red FOX")
    assert plain.words == ("red", "fox") and not plain.shortened and plain.note == ""
    page = store.page_generations(HistoryFilter(search="fox number " * 4000))
    assert page.total == 1 and [r["id"] for r in page.rows] == [f"{1:032x}"]


def test_a_page_comes_with_the_count_of_all_that_match_and_a_page_past_the_end_is_the_last(store):
    for i in range(7):
        store.insert_generation(row(i))
    page = store.page_generations(HistoryFilter(search="fox"), limit=3, page=2)
    assert (page.total, page.number, page.pages, len(page.rows)) == (7, 2, 3, 3)
    past = store.page_generations(HistoryFilter(search="fox"), limit=3, page=30)
    assert (past.number, [r["id"] for r in past.rows]) == (3, [f"{0:032x}"])  # newest first: the oldest is last
    nothing = store.page_generations(HistoryFilter(search="zebra"))
    assert (nothing.rows, nothing.total, nothing.pages) == ([], 0, 1)


def test_a_full_database_is_a_storage_error_in_plain_words(store):
    store.insert_generation(row(1))
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # as a disk with no room left
    with pytest.raises(StorageError, match="the disk is full"):
        for i in range(2, 200):
            store.insert_generation(row(i, transcript="x" * 4000))
    assert store.count_generations() >= 1


def test_a_damaged_database_file_is_a_storage_error_in_plain_words(data_dir):
    store = Store(data_dir)
    store.close()
    for suffix in ("", "-wal", "-shm"):
        path = data_dir / f"v2i.db{suffix}"
        if path.exists():
            path.write_bytes(b"this is not a database file at all" * 200)
    with pytest.raises(StorageError, match="damaged"):
        Store(data_dir).count_generations()


def database_bytes(data_dir) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("v2i.db*")))


def test_a_deleted_generations_words_are_gone_from_the_database_file(store, data_dir):
    from core.execution.jobs import JobQueue

    for i in range(30):
        store.insert_generation(row(i))
    secret = row(99, transcript="the zanzibar merger closes on friday", prompt="zanzibar quokkas, detailed")
    store.insert_generation(secret)
    with store.write() as db:  # the job that made it keeps its request as JSON
        db["jobs"].insert({"id": "1" * 32, "created_at": "2026-11-25", "status": "done", "generation_id": secret["id"],
                           "options": '{"transcript": "the zanzibar merger closes on friday"}'})
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"zanzibar" in database_bytes(data_dir)
    store.delete_generation(secret["id"])
    assert b"zanzibar" not in database_bytes(data_dir) and b"quokka" not in database_bytes(data_dir)
    assert store.count_generations() == 30 and store.count_generations(HistoryFilter(search="fox")) == 30
    assert JobQueue(store).get("1" * 32)["options"] == "{}"


def test_a_migration_is_registered_once_by_its_decorator_and_only_after_the_last_one(monkeypatch):
    from core.history import migrations

    monkeypatch.setattr(migrations, "MIGRATIONS", list(migrations.MIGRATIONS))
    with pytest.raises(ValueError, match="'0003_late' must sort after '0022_file_bytes'"):
        migrations.migration("0003_late")(lambda db: None)

    @migrations.migration("0099_next")
    def _next(db):
        pass

    assert migrations.MIGRATIONS[-1] == ("0099_next", _next)
