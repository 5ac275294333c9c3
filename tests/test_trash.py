"""Nothing a team makes is lost (issue 26): roles decide who may delete and restore, deleting moves a generation
to the trash with everything that pointed at it, restoring brings it all back exactly, and every action leaves a
row in an append-only audit trail."""

import sqlite3

import pytest

from core import Person, Store, abtest, collect, rate
from core.history.audit import trail
from core.errors import NotFoundError
from core.people.roles import ADMIN, MEMBER, VIEWER, ForbiddenError, role_for
from core import trash

ALICE = Person("alice@team.org", "Alice", MEMBER, "10.0.0.5")
BOB = Person("bob@team.org", "Bob", MEMBER, "10.0.0.6")
ADA = Person("ada@team.org", "Ada", ADMIN, "cli")
VERA = Person("vera@team.org", "Vera", VIEWER, "10.0.0.7")


def state(store):
    return [store.query(f"SELECT * FROM {t} ORDER BY 1, 2") for t in ("generations", "ratings", "collection_items",
                                                                        "ab_votes", "trash")]


def test_roles_come_from_the_lists_by_email_or_name_case_folded():
    assert role_for(Person("ana@team.org", "Ana"), "ANA@team.org, x", "").role == ADMIN
    assert role_for(Person("bo@team.org", "Bo"), [], ["bo"]).role == VIEWER
    assert role_for(Person("cy@team.org", "Cy"), "", "").role == MEMBER
    assert role_for(Person("local", "local"), "", "", default=ADMIN).role == ADMIN


def test_a_member_cannot_delete_someone_elses_image_and_is_told_why(store, make_generation):
    row = make_generation("alice's fox", created_by=ALICE.id)
    before = state(store)
    with pytest.raises(ForbiddenError, match="Bob may delete generations only for what they made themselves"):
        trash.delete(store, row["id"], BOB)
    with pytest.raises(ForbiddenError, match="Vera is a viewer here, and only admins and members may delete"):
        trash.delete(store, row["id"], VERA)
    assert state(store) == before  # nothing changed...
    refusals = trail(store, action="role refusal")
    assert [r["who"] for r in refusals] == [VERA.id, BOB.id] and refusals[1]["source"] == "10.0.0.6"  # ...but noted


def test_delete_then_restore_brings_back_the_row_ratings_votes_and_collections_exactly(store, make_generation,
                                                                                       settings, models, wav, data_dir):
    from core import JobQueue, Worker
    from core.config.recipes import GenerationOptions
    from core.generation.request import GenerationRequest

    run_id = abtest.start(JobQueue(store), wav, GenerationRequest(transcript="a fox", language="en", options=
                          GenerationOptions(steps=2, width=64, height=64)), "style", ["none", "watercolor"], ALICE.id)
    Worker(settings, models, store, embed=False).run_pending()
    row = store.query("SELECT * FROM generations WHERE style = 'none'")[0]
    with store.write() as db:
        db.execute("UPDATE generations SET created_by = ? WHERE ab_run = ?", [ALICE.id, run_id])
    rate(store, row["id"], BOB.id, stars=4, favourite=True)
    collect(store, row["id"], "Launch ideas", BOB.id)
    abtest.vote(store, run_id, row["id"], BOB.id)
    before = state(store)
    files = sorted(p.name for p in data_dir.rglob("*") if p.is_file() and p.parent.name in ("images", "audio"))

    trash.delete(store, row["id"], ALICE)
    assert row["id"] not in [r["id"] for r in store.query_generations()]  # gone from History...
    assert store.count_generations() == 1 and not store.query("SELECT * FROM ratings")
    assert not store.query("SELECT * FROM collection_items") and not store.query("SELECT * FROM ab_votes")
    (item,) = trash.items(store, days=30)
    assert (item["deleted_by"], item["created_by"]) == (ALICE.id, ALICE.id) and item["purge_at"] > item["deleted_at"]
    assert sorted(p.name for p in data_dir.rglob("*") if p.is_file() and p.parent.name in ("images", "audio")) == files
    assert store.sweep(grace_s=0)["orphan_files"] == 0  # the trash's files are not orphans

    with pytest.raises(ForbiddenError):
        trash.restore(store, row["id"], BOB)
    trash.restore(store, row["id"], ALICE)
    assert state(store) == before
    assert [(r["who"], r["action"]) for r in reversed(trail(store))][-3:] == [
        (ALICE.id, "delete"), (BOB.id, "role refusal"), (ALICE.id, "restore")]


def test_an_admin_may_delete_anyones_and_empty_the_trash_a_member_may_not(store, make_generation, data_dir):
    row = make_generation("bob's fox", created_by=BOB.id)
    trash.delete(store, row["id"], ADA)
    with pytest.raises(ForbiddenError, match="only admins may empty the trash"):
        trash.empty(store, BOB)
    assert trash.empty(store, ADA) == 1
    assert not store.query("SELECT * FROM trash") and not (data_dir / row["image_path"]).exists()
    with pytest.raises(NotFoundError):
        trash.restore(store, row["id"], ADA)
    assert [r["action"] for r in reversed(trail(store))] == ["delete", "role refusal", "purge"]


def test_the_trash_is_purged_after_its_days(store, make_generation):
    row = make_generation("old fox", created_by=ALICE.id)
    trash.delete(store, row["id"], ALICE)
    assert trash.purge_expired(store, days=30) == 0
    with store.write() as db:
        db.execute("UPDATE trash SET deleted_at = '2020-01-01T00:00:00+00:00'")
    assert trash.purge_expired(store, days=30) == 1 and not store.query("SELECT * FROM trash")
    assert trail(store)[0]["who"] == "system" and trail(store)[0]["action"] == "purge"


def test_the_audit_trail_refuses_update_and_delete(store, make_generation):
    row = make_generation("a fox", created_by=ALICE.id)
    trash.delete(store, row["id"], ALICE)
    for sql in ("UPDATE audit SET who = 'nobody'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            with store.write() as db:
                db.execute(sql)
    assert [r["who"] for r in trail(store)] == [ALICE.id]
