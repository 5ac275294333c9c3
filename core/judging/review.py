"""Blind review: images dealt one at a time to people who did not make them, without the maker's name or anyone's
stars until they have rated, so that every image gathers ``V2I_REVIEWS_PER_IMAGE`` ratings from different people.

The deal is oldest first among the images that still need ratings; a person is never dealt an image they made,
rated or skipped. Ratings made here are stored with ``blind = 1`` (Insights can read blind ratings only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidOptionError
from ..history.audit import record_in
from ..history.store import Store, utc_now
from ..people.person import Person, id_of
from ..team.shared import rate


@dataclass(frozen=True)
class Progress:
    """How far the team's review has come: images still needing ratings, and this person's own share."""

    needed: int  # images with fewer ratings than the target
    for_me: int  # of those, the ones this person may still be dealt
    rated_blind: int  # blind ratings this person gave
    per_image: int


def _open_to(person: str, per_image: int) -> tuple[str, list[Any]]:
    """The images ``person`` may be dealt: made by someone else, short of ``per_image`` ratings, neither rated nor
    skipped by them."""
    return ("FROM generations g WHERE g.rating_count < ? AND coalesce(g.created_by, '') != ? "
            "AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.generation_id = g.id AND r.person = ? "
            "AND r.stars IS NOT NULL) "
            "AND NOT EXISTS (SELECT 1 FROM review_skips s WHERE s.generation_id = g.id AND s.person = ?)",
            [per_image, person, person, person])


def check_per_image(per_image: Any) -> int:
    if isinstance(per_image, bool) or not isinstance(per_image, int) or per_image < 1:
        raise InvalidOptionError(f"reviews per image must be a whole number of at least 1, not {per_image!r}")
    return per_image


def next_image(store: Store, person: str, per_image: int) -> dict[str, Any] | None:
    """The oldest image ``person`` may review (see the module's note), or None when there is none left."""
    clause, params = _open_to(person, check_per_image(per_image))
    rows = store.query(f"SELECT g.* {clause} ORDER BY g.created_at, g.id LIMIT 1", params)
    return rows[0] if rows else None


def progress(store: Store, person: str, per_image: int) -> Progress:
    clause, params = _open_to(person, check_per_image(per_image))
    needed = store.execute("SELECT count(*) FROM generations WHERE rating_count < ?", [per_image]).fetchone()[0]
    for_me = store.execute(f"SELECT count(*) {clause}", params).fetchone()[0]
    mine = store.execute("SELECT count(*) FROM ratings WHERE person = ? AND blind = 1 AND stars IS NOT NULL",
                         [person]).fetchone()[0]
    return Progress(needed, for_me, mine, per_image)


def review(store: Store, generation_id: str, person: Person | str, stars: int, note: str | None = None) -> dict[str, Any]:
    """``person``'s blind stars (and note) for an image they did not make; returns their rating."""
    return rate(store, generation_id, person, stars=stars, blind=True, note=note)


def skip(store: Store, generation_id: str, person: Person | str) -> None:
    """``person`` passes on this image: it is not dealt to them again (others still get it)."""
    store.get_generation(generation_id)
    with store.write() as db:
        db["review_skips"].insert({"generation_id": generation_id, "person": id_of(person),
                                   "skipped_at": utc_now("seconds")},
                                  replace=True)
        record_in(db, person, "skip", generation_id, "blind review")


def revealed(store: Store, generation_id: str) -> dict[str, Any]:
    """What the reviewer sees once they have rated: who made the image and everyone's stars and notes."""
    row = store.get_generation(generation_id)
    ratings = store.query("SELECT person, stars, blind, note FROM ratings WHERE generation_id = ? AND stars IS NOT NULL "
                          "ORDER BY updated_at, person", [generation_id])
    return {"created_by": row.get("created_by"), "ratings": ratings}
