"""The trash: deleting moves a generation here (hidden from every page, report and export; its files kept) with
everything that pointed at it (ratings, A/B votes, collection memberships); restoring brings all of it back
exactly. After ``V2I_TRASH_DAYS`` it is purged for good, with the store's secure erase (``delete_generation``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import NotFoundError
from ..people.person import Person
from .audit import record_in, require
from .paths import check_id
from .store import Store, utc_now

# What points at a generation, moved with it: table -> its column naming the generation.
LINKED = {"ratings": "generation_id", "ab_votes": "generation_id", "collection_items": "generation_id"}


def delete(store: Store, generation_id: str, person: Person) -> dict[str, Any]:
    """Move a generation to the trash; a member only what they made. Returns the trashed row."""
    row = store.get_generation(generation_id)
    require(store, person, "delete", owner=row.get("created_by"), target=generation_id)
    with store.write() as db:
        linked = {table: [dict(r) for r in _rows(db, f"SELECT * FROM {table} WHERE {column} = ?", generation_id)]
                  for table, column in LINKED.items()}
        db["trash"].insert({"generation_id": generation_id, "created_by": row.get("created_by"),
                            "deleted_by": person.id, "deleted_at": utc_now(), "image_path": row["image_path"],
                            "audio_path": row["audio_path"], "image_bytes": row.get("image_bytes"),
                            "audio_bytes": row.get("audio_bytes"), "payload": json.dumps({"row": row, **linked})})
        for table, column in LINKED.items():
            db.execute(f"DELETE FROM {table} WHERE {column} = ?", [generation_id])
        db["generations"].delete(generation_id)
        record_in(db, person, "delete", generation_id)
    return row


def restore(store: Store, generation_id: str, person: Person) -> dict[str, Any]:
    """Bring a trashed generation back exactly: its row, ratings, votes and collections (files never left)."""
    item = _item(store, generation_id)
    require(store, person, "restore", owner=item["created_by"], target=generation_id)
    payload = json.loads(item["payload"])
    with store.write() as db:
        db["generations"].insert(payload["row"])
        for table in LINKED:
            for linked in payload.get(table, []):
                # A row that conflicts was made since the delete (a voter changed their vote): the newer one stands.
                db[table].insert(linked, ignore=True)
        db["trash"].delete(generation_id)
        record_in(db, person, "restore", generation_id)
    return payload["row"]


def purge(store: Store, generation_id: str, person: Person | None = None) -> None:
    """Erase a trashed generation for good: its row, its words in the database file and its files."""
    item = _item(store, generation_id)
    payload = json.loads(item["payload"])
    with store.write() as db:  # back in place for one transaction, so the store's one erase path removes it all
        db["generations"].insert(payload["row"])
        db["trash"].delete(generation_id)
        record_in(db, person, "purge", generation_id)
    store.delete_generation(generation_id)


def empty(store: Store, person: Person) -> int:
    """Purge everything in the trash (admins only); returns how many."""
    require(store, person, "empty trash")
    ids = [r["generation_id"] for r in store.query("SELECT generation_id FROM trash")]
    for generation_id in ids:
        purge(store, generation_id, person)
    return len(ids)


def purge_expired(store: Store, days: float) -> int:
    """Purge what has been in the trash longer than ``days``; returns how many."""
    cutoff = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
    ids = [r["generation_id"] for r in store.query("SELECT generation_id FROM trash WHERE deleted_at < ?", [cutoff])]
    for generation_id in ids:
        purge(store, generation_id)
    return len(ids)


def items(store: Store, days: float) -> list[dict[str, Any]]:
    """What is in the trash, newest first: who made it, who deleted it and when, when it will be purged."""
    out = []
    for item in store.query("SELECT generation_id, created_by, deleted_by, deleted_at, payload FROM trash "
                            "ORDER BY deleted_at DESC"):
        row = json.loads(item.pop("payload"))["row"]
        purge_at = datetime.fromisoformat(item["deleted_at"]) + timedelta(days=days)
        out.append({**item, "transcript": row.get("transcript"), "prompt": row.get("prompt"),
                    "image_path": row.get("image_path"), "purge_at": purge_at.isoformat(timespec="seconds")})
    return out


def _item(store: Store, generation_id: str) -> dict[str, Any]:
    check_id(generation_id)
    rows = store.query("SELECT * FROM trash WHERE generation_id = ?", [generation_id])
    if not rows:
        raise NotFoundError(f"no generation with id {generation_id} in the trash")
    return rows[0]


def _rows(db, sql: str, generation_id: str):
    cursor = db.execute(sql, [generation_id])
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, values)) for values in cursor.fetchall()]
