"""What a team does with the generations: people's names, ratings and favourites, shared collections.
Every change goes through the store's one write path; bad input raises an error naming it and changes nothing."""

from __future__ import annotations

from typing import Any, Iterable

from ..errors import InvalidOptionError, NotFoundError
from ..generation.speech import check_terms
from ..history.audit import record_in
from ..history.store import Store, utc_now
from ..people.person import Person, check_name, clean_text, fold_name, id_of

MAX_NOTE = 500  # characters of a reviewer's note


def remember_person(store: Store, person: Person) -> None:
    """Record (or refresh) a person's display name, so others see names rather than ids."""
    now = utc_now("seconds")
    with store.write() as db:
        db.execute("INSERT INTO people (id, name, first_seen, last_seen) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT(id) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen",
                   [person.id, person.name, now, now])


def names_of(store: Store, ids: Iterable[str]) -> dict[str, str]:
    """Display names by person id (an id nobody named stands for itself)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    found = {r["id"]: r["name"] for r in store.query(
        f"SELECT id, name FROM people WHERE id IN ({', '.join('?' for _ in wanted)})", wanted)}
    return {i: found.get(i, i) for i in wanted}


def resolve_person(store: Store, text: str) -> str:
    """A person's id from what someone typed: their id (an email, a name) or their display name."""
    rows = store.query("SELECT id FROM people WHERE id = ? UNION ALL SELECT id FROM people WHERE name = ? LIMIT 1",
                       [text, text])
    return rows[0]["id"] if rows else text


def known_people(store: Store) -> list[dict[str, Any]]:
    """Everyone who made something, with their name: what "made by" filters offer."""
    return store.query("SELECT DISTINCT g.created_by AS id, coalesce(p.name, g.created_by) AS name FROM generations g "
                       "LEFT JOIN people p ON p.id = g.created_by WHERE g.created_by IS NOT NULL ORDER BY name")


def vocabulary(store: Store) -> tuple[str, ...]:
    """The team's names and jargon, in the order they were added."""
    return tuple(r["term"] for r in store.query("SELECT term FROM vocabulary ORDER BY added_at, rowid"))


def set_vocabulary(store: Store, terms, person: Person | str) -> tuple[str, ...]:
    """Replace the team's vocabulary (a term kept keeps who added it and when); returns it as stored."""
    wanted = check_terms(terms)
    now = utc_now("seconds")
    with store.write() as db:
        db.execute(f"DELETE FROM vocabulary WHERE term NOT IN ({', '.join('?' for _ in wanted) or 'NULL'})", list(wanted))
        for term in wanted:
            db.execute("INSERT OR IGNORE INTO vocabulary (term, added_by, added_at) VALUES (?, ?, ?)",
                       [term, id_of(person), now])
        record_in(db, person, "vocabulary", None, ", ".join(wanted)[:500])
    return vocabulary(store)


def check_stars(stars: Any) -> int:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InvalidOptionError(f"stars must be a whole number from 1 to 5, not {stars!r}")
    return stars


def rate(store: Store, generation_id: str, person: Person | str, *, stars: int | None = None,
         favourite: bool | None = None, blind: bool = False, note: str | None = None) -> dict[str, Any]:
    """Set this person's stars (1 to 5) and/or favourite mark on a generation; returns their rating (``person``: a
    Person, so the audit trail knows where they acted from, or a bare id). ``blind``: the
    stars were given without seeing who made the image or how others rated it (the Review page, ``rate --blind``);
    stars given any other way mark the rating seen. ``note``: a short remark kept with the rating."""
    if stars is not None:
        check_stars(stars)
    if blind and stars is None:
        raise InvalidOptionError("a blind rating needs stars (1 to 5)")
    if note is not None:
        if len(note) > MAX_NOTE:
            raise InvalidOptionError(f"a note is at most {MAX_NOTE} characters, not {len(note)}")
        note = clean_text(note, MAX_NOTE) or None
    row = store.get_generation(generation_id)  # a clear error for an unknown id
    who = id_of(person)
    if blind and fold_name(row.get("created_by") or "") == fold_name(who):
        raise InvalidOptionError(f"a blind rating is of an image someone else made; {who} made {generation_id}")
    with store.write() as db:
        db.execute("INSERT INTO ratings (generation_id, person, stars, favourite, updated_at, blind, note) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(generation_id, person) DO UPDATE SET "
                   "stars = coalesce(?, stars), favourite = coalesce(?, favourite), updated_at = excluded.updated_at, "
                   "blind = CASE WHEN ? IS NULL THEN blind ELSE excluded.blind END, note = coalesce(?, note)",
                   [generation_id, who, stars, int(bool(favourite)), utc_now("seconds"), int(blind), note,
                    stars, None if favourite is None else int(favourite), stars, note])
        record_in(db, person, "rate", generation_id,
                  f"stars {stars}, favourite {favourite}" + (", blind" if blind else ""))
    return rating_of(store, generation_id, who)


def rating_of(store: Store, generation_id: str, person: str) -> dict[str, Any]:
    rows = store.query("SELECT stars, favourite, blind, note FROM ratings WHERE generation_id = ? AND person = ?",
                       [generation_id, person])
    if not rows:
        return {"stars": None, "favourite": False, "blind": False, "note": None}
    return {"stars": rows[0]["stars"], "favourite": bool(rows[0]["favourite"]), "blind": bool(rows[0]["blind"]),
            "note": rows[0]["note"]}


def collections(store: Store) -> list[dict[str, Any]]:
    """Every collection with how many generations it holds, by name."""
    return store.query("SELECT c.name, c.created_by, c.created_at, count(i.generation_id) AS size FROM collections c "
                       "LEFT JOIN collection_items i ON i.collection = c.name GROUP BY c.name ORDER BY c.name")


def collections_of(store: Store, generation_ids: Iterable[str]) -> dict[str, list[str]]:
    """The collections each generation is in."""
    wanted = list(dict.fromkeys(generation_ids))
    out: dict[str, list[str]] = {gid: [] for gid in wanted}
    for start in range(0, len(wanted), 900):
        chunk = wanted[start:start + 900]
        for row in store.query(f"SELECT generation_id, collection FROM collection_items WHERE generation_id IN "
                               f"({', '.join('?' for _ in chunk)}) ORDER BY collection", chunk):
            out[row["generation_id"]].append(row["collection"])
    return out


def collect(store: Store, generation_id: str, collection: str, person: Person | str) -> str:
    """Add a generation to a collection, creating the collection on first use; returns its name as stored."""
    return collect_all(store, [generation_id], collection, person)


def collect_all(store: Store, generation_ids: list[str], collection: str, person: Person | str) -> str:
    """Add generations to a collection in one transaction (all or none), creating it on first use; returns
    its name as stored. An unknown id raises NotFoundError naming it, and nothing is added."""
    name = check_name(collection, "collection name")
    for generation_id in generation_ids:
        store.get_generation(generation_id)
    now = utc_now("seconds")
    with store.write() as db:
        db.execute("INSERT OR IGNORE INTO collections (name, created_by, created_at) VALUES (?, ?, ?)",
                   [name, id_of(person), now])
        stored = db.execute("SELECT name FROM collections WHERE name = ?", [name]).fetchone()[0]
        db.conn.executemany(
            "INSERT OR IGNORE INTO collection_items (collection, generation_id, added_by, added_at) VALUES (?, ?, ?, ?)",
            [[stored, generation_id, id_of(person), now] for generation_id in generation_ids])
        for generation_id in generation_ids:
            record_in(db, person, "collect", generation_id, stored)
    return stored


def uncollect(store: Store, generation_id: str, collection: str, person: Person | str | None = None) -> None:
    """Take a generation out of a collection (the collection stays, even when empty)."""
    name = check_name(collection, "collection name")
    store.get_generation(generation_id)
    with store.write() as db:
        removed = db.execute("DELETE FROM collection_items WHERE collection = ? COLLATE NOCASE AND generation_id = ?",
                             [name, generation_id]).rowcount
        if removed:
            record_in(db, person, "uncollect", generation_id, name)
    if not removed:
        raise NotFoundError(f"generation {generation_id} is not in a collection named {name!r}")
