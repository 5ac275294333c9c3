"""A generation's columns are described once (core/history/columns.py): the list and the migrated table agree, the
pipeline writes every column it computes, History sorts and lists from the same list."""

import pytest
import sqlite_utils

from core import SORTABLE, TABLE_COLUMNS
from core.history.columns import COLUMNS, column
from core.history.migrations import migrate
from core.history.query import sort_key

SQL_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL"}


def migrated_columns():
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    return {name: (kind, bool(notnull or pk)) for _, name, kind, notnull, _, pk in
            db.execute("PRAGMA table_info(generations)").fetchall()}


def test_the_list_of_columns_is_the_migrated_table_column_for_column():
    table = migrated_columns()
    described = {c.name: (SQL_TYPES[c.kind], c.required) for c in COLUMNS}
    assert described == table
    assert len(COLUMNS) == len(described)  # no column described twice


def test_a_column_the_list_does_not_know_is_named_with_the_ones_it_knows():
    with pytest.raises(KeyError, match="no column 'colour' in generations; the columns are: id, created_at, "):
        column("colour")


def test_history_sorts_and_lists_what_the_list_says():
    assert SORTABLE[0] == "created_at"  # the default order: newest first
    assert set(SORTABLE) == {c.name for c in COLUMNS if c.sortable}
    assert sort_key("language") == "ifnull(language, '')" and sort_key("steps") == "ifnull(steps, -1e308)"
    assert sort_key("rating_count") == "rating_count"  # never missing: no sentinel
    assert [c.heading for c in TABLE_COLUMNS][:3] == ["file", "language", "transcript"]
    assert all(c.heading for c in TABLE_COLUMNS) and len({c.heading for c in TABLE_COLUMNS}) == len(TABLE_COLUMNS)


def test_a_new_column_is_a_migration_and_one_line_in_the_list(tmp_path, monkeypatch, settings, models):
    """README's worked example, "Adding a History column": a migration adds ``mood`` and one Column describes it; a
    generation then stores it (computed from what the pipeline made) and History pages sort by it."""
    from core import GenerationOptions, GenerationRequest, Store, run_generation
    from core.generation.synth import recording
    from core.history import columns, migrations

    def _v99_mood(db):
        db["generations"].add_column("mood", str)
        db.execute("CREATE INDEX generations_sort_mood ON generations (ifnull(mood, ''), id, mood)")

    mood = columns.Column("mood", str, lambda m: "calm" if m.decoded.duration > 1 else "brisk", sortable=True,
                          heading="mood")
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("0099_mood", _v99_mood)])
    monkeypatch.setattr(columns, "COLUMNS", (*columns.COLUMNS, mood))

    store = Store(tmp_path / "data")
    try:
        options = GenerationOptions(steps=2, width=64, height=64, seed=1)
        for seconds in (0.5, 1.5):
            run_generation(recording("wav", seconds=seconds), GenerationRequest(transcript="a fox", options=options),
                           settings=settings, models=models, store=store)
        rows = store.page_generations(sort="mood", descending=False).rows
        assert [r["mood"] for r in rows] == ["brisk", "calm"]
        assert sort_key("mood") == "ifnull(mood, '')"
    finally:
        store.close()
