"""History at scale: keyset pages equal the plain ORDER BY's slices in every sort, every page is a seek in an index,
and the ratings' mean and count that History sorts by are kept by triggers (and upgraded in place)."""

import re
import sqlite3

import pytest

from core.history.migrations import MIGRATIONS, SORT_KEYS_0014
from core.history.columns import SORTABLE
from core.history.query import HistoryFilter, sort_key
from core.history.store import Store

from test_store import row


def fill(store: Store, n: int) -> None:
    with store.write() as db:
        db["generations"].insert_all(
            row(i, created_at=f"2026-11-{1 + i % 28:02d}T12:{i % 60:02d}:00+00:00",
                language=None if i % 5 == 0 else row(i)["language"],  # some missing values in a sort column
                t_total=None if i % 7 == 0 else float(i % 11), seed=i % 4, created_by=["ann", "bob", None][i % 3])
            for i in range(n))
        db["ratings"].insert_all({"generation_id": f"{i:032x}", "person": p, "stars": 1 + (i * 7 + len(p)) % 5,
                                  "favourite": 0, "updated_at": "x"} for i in range(0, n, 3) for p in ("ann", "bob"))


def every_row(store: Store, sort: str, descending: bool, where: HistoryFilter = HistoryFilter()) -> list[str]:
    """The reference order, without keyset: SQLite's own ORDER BY over the whole table."""
    order = "DESC" if descending else "ASC"
    clause, params = where.where()
    return [r[0] for r in store.execute(f"SELECT g.id FROM generations g{clause} ORDER BY {sort_key(sort)} {order}, "
                                        f"g.id {order}", params)]


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("sort", SORTABLE)
def test_every_page_in_every_sort_is_the_slice_of_the_whole_order(store, sort, descending):
    fill(store, 230)
    expected = every_row(store, sort, descending)
    for number in (1, 2, 4, 5, 9, 10):  # first, near the start, the middle, near the end, the short last page
        page = store.page_generations(HistoryFilter(), sort=sort, descending=descending, limit=25, page=number)
        assert [r["id"] for r in page.rows] == expected[(number - 1) * 25:number * 25], (sort, number)
        assert (page.total, page.pages) == (230, 10)


def test_pages_under_a_filter_and_a_search_are_slices_too(store):
    fill(store, 230)
    where = HistoryFilter(search="fox", language="en", created_by="ann")
    expected = every_row(store, "t_total", True, where)
    pages = store.page_generations(where, sort="t_total", limit=7).pages
    got = [r["id"] for n in range(1, pages + 1)
           for r in store.page_generations(where, sort="t_total", limit=7, page=n).rows]
    assert got == expected and len(expected) > 14


@pytest.mark.parametrize("sort", SORTABLE)
def test_a_filter_matching_many_rows_walks_its_sorts_index_and_gives_the_same_slices(store, sort, monkeypatch):
    """Issue 43, 2: many matches (at least WALK_FROM) are paged by walking the sort's index, never by gathering and
    sorting every match; every page is still the slice of SQLite's own order."""
    import core.history.store

    fill(store, 230)
    monkeypatch.setattr(core.history.store, "WALK_FROM", 20)
    where = HistoryFilter(search="fox", language="en")
    expected = every_row(store, sort, True, where)
    seen = []
    query = store.query
    monkeypatch.setattr(store, "query", lambda sql, params=(): (sql.startswith("SELECT g.*") and seen.append(
        plan(store, sql, params))) or query(sql, params))
    pages = store.page_generations(where, sort=sort, limit=7).pages
    got = [r["id"] for n in range(1, pages + 1) for r in store.page_generations(where, sort=sort, limit=7, page=n).rows]
    assert got == expected and len(expected) >= 20
    assert seen and all(f"INDEX generations_sort_{sort}" in p and "TEMP B-TREE" not in p for p in seen), seen


def test_walking_on_with_after_visits_every_row_once_in_order(store):
    fill(store, 230)
    seen, after = [], None
    while rows := store.query_generations(sort="language", descending=False, limit=40, after=after):
        seen += [r["id"] for r in rows]
        after = (store.execute(f"SELECT {sort_key('language')} FROM generations WHERE id = ?", [rows[-1]["id"]])
                 .fetchone()[0], rows[-1]["id"])
    assert seen == every_row(store, "language", False)


def plan(store: Store, sql: str, params) -> str:
    return " | ".join(r[3] for r in store.execute(f"EXPLAIN QUERY PLAN {sql}", params))


@pytest.mark.parametrize("sort", SORTABLE)
def test_a_deep_page_is_a_seek_in_its_sorts_index_and_never_a_sort_of_the_table(store, sort, monkeypatch):
    fill(store, 50)
    seen = []
    query = store.query
    monkeypatch.setattr(store, "query", lambda sql, params=(): (sql.startswith("SELECT g.*") and seen.append(
        plan(store, sql, params))) or query(sql, params))  # the pages' row queries (not the count)
    store.page_generations(sort=sort, limit=10, page=3)  # the middle: its start is found from the index alone
    store.page_generations(sort=sort, limit=10, page=5)  # the last: read backwards
    assert len(seen) == 2 and all(f"INDEX generations_sort_{sort}" in p and "TEMP B-TREE" not in p for p in seen)
    key_at = plan(store, f"SELECT {sort_key(sort)}, g.id FROM generations g ORDER BY {sort_key(sort)} DESC, g.id DESC "
                         "LIMIT 1 OFFSET 20", [])
    assert f"COVERING INDEX generations_sort_{sort}" in key_at  # walking it reads no row


def test_every_sortable_column_has_the_index_its_key_uses(store):
    indexes = {name: sql for name, sql in store.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")}
    for column in SORTABLE:  # a column made sortable later needs a migration that makes its index
        assert re.search(re.escape(f"({sort_key(column)}, id"), indexes[f"generations_sort_{column}"])
    for column, key in SORT_KEYS_0014.items():  # what migration 0014 wrote is still how History sorts
        assert key == sort_key(column)


def test_the_mean_and_count_of_stars_follow_every_change_of_ratings(store):
    store.insert_generation(row(1))
    gid = f"{1:032x}"

    def figures():
        got = store.get_generation(gid)
        return got["rating_mean"], got["rating_count"]

    assert figures() == (None, 0)
    with store.write() as db:
        db["ratings"].insert_all([{"generation_id": gid, "person": "ann", "stars": 5, "favourite": 0, "updated_at": "x"},
                                  {"generation_id": gid, "person": "bob", "stars": 2, "favourite": 0, "updated_at": "x"},
                                  {"generation_id": gid, "person": "cat", "stars": None, "favourite": 1,
                                   "updated_at": "x"}])  # a favourite mark alone gives no stars
    assert figures() == (3.5, 2)
    with store.write() as db:
        db.execute("UPDATE ratings SET stars = 4 WHERE person = 'bob'")
    assert figures() == (4.5, 2)
    with store.write() as db:
        db.execute("DELETE FROM ratings WHERE person = 'ann'")
    assert figures() == (4.0, 1)
    assert store.query_generations(HistoryFilter(min_rating=4))[0]["id"] == gid
    assert store.query_generations(HistoryFilter(min_rating=4.5)) == []


def test_an_older_database_gets_its_ratings_counted_and_its_indexes_in_place(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    db_file = path / "v2i.db"
    import sqlite_utils

    db = sqlite_utils.Database(db_file)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, apply in MIGRATIONS[:-1]:  # the database as it was before 0014
        apply(db)
        db.execute("INSERT INTO migrations VALUES (?, 'then')", [name])
    db["generations"].insert(row(1))
    db["ratings"].insert_all([{"generation_id": f"{1:032x}", "person": p, "stars": s, "favourite": 0, "updated_at": "x"}
                              for p, s in (("ann", 1), ("bob", 4))])
    db.conn.commit()
    db.close()
    store = Store(path)
    got = store.get_generation(f"{1:032x}")
    assert (got["rating_mean"], got["rating_count"]) == (2.5, 2)
    names = {r[0] for r in store.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {f"generations_sort_{c}" for c in SORTABLE} <= names
    with pytest.raises(sqlite3.IntegrityError):  # the count is a number, never missing
        store.db.execute("UPDATE generations SET rating_count = NULL")
