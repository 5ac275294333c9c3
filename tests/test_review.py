"""Blind review: images dealt oldest first to people who did not make them, until each has its ratings."""

import pytest

from core import rate, review
from core.errors import InvalidOptionError, NotFoundError
from core.team.shared import rating_of


def add(store, i, person):
    gid = f"{i:032x}"
    store.insert_generation({"id": gid, "created_at": f"2026-11-{1 + i:02d}T09:00:00+00:00", "transcript": "a fox",
                             "prompt": "a fox", "image_path": f"images/{gid}.png", "audio_path": f"a/{gid}.wav",
                             "created_by": person})
    return gid


def test_a_person_is_dealt_the_oldest_image_someone_else_made(store):
    mine = add(store, 0, "ann")
    older, newer = add(store, 1, "bob"), add(store, 2, "cat")
    assert review.next_image(store, "ann", 3)["id"] == older
    assert review.next_image(store, "bob", 3)["id"] == mine
    review.review(store, older, "ann", 4)
    assert review.next_image(store, "ann", 3)["id"] == newer  # rated: not dealt again
    review.skip(store, newer, "ann")
    assert review.next_image(store, "ann", 3) is None  # skipped: not dealt again; her own never


def test_each_image_reaches_its_ratings_from_different_people_and_then_leaves_the_deal(store):
    image = add(store, 0, "ann")
    dealt = []
    for person in ("bob", "cat", "dan", "eve"):
        row = review.next_image(store, person, 3)
        dealt.append(row and row["id"])
        if row:
            review.review(store, row["id"], person, 3)
    assert dealt == [image, image, image, None]  # the fourth reviewer has nothing left
    raters = store.query("SELECT person, blind FROM ratings WHERE generation_id = ? ORDER BY person", [image])
    assert raters == [{"person": p, "blind": 1} for p in ("bob", "cat", "dan")]
    assert review.progress(store, "eve", 3) == review.Progress(needed=0, for_me=0, rated_blind=0, per_image=3)


def test_a_rating_given_after_seeing_others_is_no_longer_blind(store):
    image = add(store, 0, "ann")
    review.review(store, image, "bob", 2, note="too dark")
    assert rating_of(store, image, "bob") == {"stars": 2, "favourite": False, "blind": True, "note": "too dark"}
    rate(store, image, "bob", favourite=True)  # a favourite mark alone keeps the stars blind
    assert rating_of(store, image, "bob")["blind"] is True
    rate(store, image, "bob", stars=4)  # new stars given on History, where names and stars show
    assert rating_of(store, image, "bob") == {"stars": 4, "favourite": True, "blind": False, "note": "too dark"}


def test_what_is_revealed_after_rating_is_the_maker_and_everyones_stars(store):
    image = add(store, 0, "ann")
    review.review(store, image, "bob", 5)
    review.review(store, image, "cat", 1, note="not a fox")
    shown = review.revealed(store, image)
    assert shown["created_by"] == "ann"
    assert [(r["person"], r["stars"], r["note"]) for r in shown["ratings"]] == [("bob", 5, None),
                                                                              ("cat", 1, "not a fox")]


@pytest.mark.parametrize("call, error, message", [
    (lambda s, g: review.review(s, g, "ann", 4), InvalidOptionError, "someone else made"),
    (lambda s, g: review.review(s, g, "bob", 6), InvalidOptionError, "stars must be a whole number from 1 to 5"),
    (lambda s, g: review.review(s, g, "bob", 4, note="x" * 501), InvalidOptionError, "at most 500 characters"),
    (lambda s, g: review.skip(s, "f" * 32, "bob"), NotFoundError, "no generation"),
    (lambda s, g: review.next_image(s, "bob", 0), InvalidOptionError, "at least 1, not 0"),
])
def test_bad_reviews_are_refused_and_change_nothing(store, call, error, message):
    image = add(store, 0, "ann")
    with pytest.raises(error, match=message):
        call(store, image)
    assert store.query("SELECT * FROM ratings") == [] and store.query("SELECT * FROM review_skips") == []


def test_every_review_and_skip_leaves_a_trace(store):
    image, other = add(store, 0, "ann"), add(store, 1, "ann")
    review.review(store, image, "bob", 4)
    review.skip(store, other, "bob")
    trail = store.query("SELECT who, action, target, detail FROM audit ORDER BY rowid")
    assert [(t["who"], t["action"], t["target"]) for t in trail] == [("bob", "rate", image), ("bob", "skip", other)]
    assert trail[0]["detail"].endswith("blind")
