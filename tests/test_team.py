"""A team on one server: who made what, fair turns, limits, ratings, favourites and collections."""

import io
import zipfile

import pytest
from helpers import files_under

from core import (
    DONE, FAILED, QUEUED, HistoryFilter, InvalidOptionError, JobQueue, NotFoundError, Person, Quota, QuotaError,
    Worker, collect, collections, collections_of, export_collection, names_of, rate, rating_of, remember_person,
    uncollect,
)
from core.config.recipes import GenerationOptions
from core.generation.request import GenerationRequest

FAST = GenerationOptions(steps=2, width=64, height=64)


def request(name="clip.wav", **kw):
    return GenerationRequest(filename=name, options=FAST, transcript=kw.pop("transcript", "a red fox"),
                             language="en", **kw)


@pytest.fixture
def queue(store):
    return JobQueue(store)


def test_alice_submits_ten_then_bob_one_and_bobs_runs_second(queue, settings, models, store, wav):
    alice = [queue.submit(wav, request(f"alice-{i}.wav"), created_by="alice") for i in range(10)]
    bob = queue.submit(wav, request("bob.wav"), created_by="bob")
    assert queue.position(bob) == 2 and queue.position(alice[1]) == 3
    started = []
    worker = Worker(settings, models, store, embed=False)
    while (job := worker.queue.claim_next()) is not None:
        started.append(job["id"])
        worker.run_jobs([job])
    assert started[0] == alice[0] and started[1] == bob
    assert started[2:] == alice[1:]  # alice's own jobs keep their order
    generations = {r["audio_filename"]: r["created_by"] for r in store.query_generations(limit=20)}
    assert generations["bob.wav"] == "bob" and generations["alice-3.wav"] == "alice"


def test_people_take_turns_with_whoever_was_served_least_recently_first(queue, store, wav):
    first = queue.submit(wav, request(), created_by="ana")
    queue.claim_next()  # ana has just been served
    ben = [queue.submit(wav, request(), created_by="ben") for _ in range(2)]
    ana = queue.submit(wav, request(), created_by="ana")
    cleo = queue.submit(wav, request(), created_by="cleo")
    assert [j["id"] for j in queue.order()] == [ben[0], cleo, ana, ben[1]]
    assert queue.position(first) is None  # running, no longer queued


def test_a_person_over_the_job_limit_is_told_plainly_and_nothing_is_kept(store, data_dir, wav):
    queue = JobQueue(store, quota=Quota(max_jobs=2, max_bytes=10**9))
    queue.submit(wav, request(), created_by="ana")
    queue.submit(wav, request(), created_by="ana")
    with pytest.raises(QuotaError, match="already have 2 jobs waiting"):
        queue.submit(wav, request(), created_by="ana")
    assert queue.submit(wav, request(), created_by="ben")  # others are not held back
    assert len(files_under(data_dir / "uploads")) == 3


def test_a_person_over_the_byte_limit_is_told_plainly(store, wav):
    queue = JobQueue(store, quota=Quota(max_jobs=100, max_bytes=int(len(wav) * 1.5)))
    queue.submit(wav, request(), created_by="ana")
    with pytest.raises(QuotaError, match="MB one person may have waiting"):
        queue.submit(wav, request(), created_by="ana")


def test_a_failed_job_can_be_submitted_again_by_its_owner_only(queue, store, data_dir, wav):
    job_id = queue.submit(wav, request(), created_by="ana")
    job = queue.claim_next()
    queue.finish(job, FAILED, "the model fell over")
    with pytest.raises(NotFoundError, match="no job of yours"):
        queue.resubmit(job_id, "ben")
    again = queue.resubmit(job_id, "ana")
    assert queue.get(again)["status"] == QUEUED and queue.get(again)["created_by"] == "ana"
    assert queue.get(job_id)["upload_path"] is None  # the kept recording moved to the new job
    with pytest.raises(InvalidOptionError, match="no longer kept"):
        queue.resubmit(job_id, "ana")
    assert len(files_under(data_dir / "uploads")) == 1


def test_kept_recordings_of_failed_jobs_expire(queue, store, data_dir, wav):
    job_id = queue.submit(wav, request(), created_by="ana")
    queue.finish(queue.claim_next(), FAILED, "broken")
    assert queue.expire_failed_uploads(days=7) == 0
    with store.write() as db:
        db.execute("UPDATE jobs SET finished_at = '2020-01-01T00:00:00+00:00' WHERE id = ?", [job_id])
    assert queue.expire_failed_uploads(days=7) == 1
    assert queue.get(job_id)["upload_path"] is None and files_under(data_dir / "uploads") == []


def test_eta_adds_this_servers_typical_seconds_of_the_jobs_ahead(queue, wav):
    ids = [queue.submit(wav, request(), created_by=p) for p in ("ana", "ben", "cleo")]
    assert [queue.eta_seconds(i, {"default": 10.0}) for i in ids] == [10.0, 20.0, 30.0]
    assert queue.eta_seconds(ids[0], {}) is None  # no figure for the recipe yet


def test_ratings_have_a_mean_and_count_and_filter_and_sort(make_generation, store):
    a, b, c = (make_generation(t, seed=i) for i, t in enumerate(["a fox", "a cat", "a dog"]))
    rate(store, a["id"], "ana", stars=5)
    rate(store, a["id"], "ben", stars=4)
    rate(store, b["id"], "ana", stars=2, favourite=True)
    rate(store, b["id"], "ana", stars=3)  # a change of mind keeps the favourite mark
    assert rating_of(store, b["id"], "ana") == {"stars": 3, "favourite": True, "blind": False, "note": None}
    rows = {r["id"]: r for r in store.query_generations()}
    assert (rows[a["id"]]["rating_mean"], rows[a["id"]]["rating_count"]) == (4.5, 2)
    assert (rows[c["id"]]["rating_mean"], rows[c["id"]]["rating_count"]) == (None, 0)
    assert [r["id"] for r in store.query_generations(HistoryFilter(min_rating=3))] == [b["id"], a["id"]]
    assert [r["id"] for r in store.query_generations(HistoryFilter(favourites_of="ana"))] == [b["id"]]
    assert [r["id"] for r in store.query_generations(sort="rating_mean")] == [a["id"], b["id"], c["id"]]


@pytest.mark.parametrize("stars", [0, 6, -1, 2.5, True, "5"])
def test_stars_outside_1_to_5_are_refused_and_nothing_changes(make_generation, store, stars):
    row = make_generation()
    with pytest.raises(InvalidOptionError, match="stars must be a whole number from 1 to 5"):
        rate(store, row["id"], "ana", stars=stars)
    assert store.query("SELECT * FROM ratings") == []


def test_collections_are_shared_filter_history_and_export_with_a_manifest(make_generation, store):
    fox, cat = make_generation("a fox", seed=1), make_generation("a cat", seed=2)
    assert collect(store, fox["id"], "  Launch   ideas ", "ana") == "Launch ideas"
    assert collect(store, cat["id"], "launch IDEAS", "ben") == "Launch ideas"  # one collection, any case
    assert [(c["name"], c["size"]) for c in collections(store)] == [("Launch ideas", 2)]
    assert collections_of(store, [fox["id"]]) == {fox["id"]: ["Launch ideas"]}
    uncollect(store, cat["id"], "Launch ideas")
    where = HistoryFilter(collection="launch ideas")
    assert [r["id"] for r in store.query_generations(where)] == [fox["id"]]
    target = io.BytesIO()
    assert export_collection(store, where, target) == 1
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == sorted([f"{fox['created_at'][:10]}_{fox['id']}.png", "manifest.csv"])
        assert fox["id"] in archive.read("manifest.csv").decode()


@pytest.mark.parametrize("name, why", [("", "empty"), ("x" * 101, "at most 100")])
def test_a_bad_collection_name_is_refused_and_nothing_changes(make_generation, store, name, why):
    row = make_generation()
    with pytest.raises(InvalidOptionError, match=why):
        collect(store, row["id"], name, "ana")
    assert collections(store) == []


def test_deleting_a_generation_takes_its_ratings_and_memberships_with_it(make_generation, store):
    row = make_generation()
    rate(store, row["id"], "ana", stars=4)
    collect(store, row["id"], "best", "ana")
    store.delete_generation(row["id"])
    assert store.query("SELECT * FROM ratings") == [] and store.query("SELECT * FROM collection_items") == []


def test_names_are_shown_for_ids(store):
    remember_person(store, Person("ana@example.com", "Ana"))
    remember_person(store, Person("ana@example.com", "Ana María"))  # a new name replaces the old
    assert names_of(store, ["ana@example.com", "ghost"]) == {"ana@example.com": "Ana María", "ghost": "ghost"}


def test_a_database_written_before_people_upgrades_with_every_row_kept(tmp_path):
    """As written by the main branch before this change: migrations 1 to 4, a generation and a job."""
    from helpers import old_database

    from core.history.store import Store

    old = old_database(tmp_path, 4)
    old["generations"].insert({"id": "1" * 32, "created_at": "2026-11-01T10:00:00+00:00", "transcript": "a fox",
                               "prompt": "a fox, detailed", "image_path": "images/x.png", "audio_path": "audio/x.wav",
                               "scheduler": "pndm", "steps": 50, "deepcache_interval": 0})
    old["jobs"].insert({"id": "2" * 32, "created_at": "2026-11-01T09:00:00+00:00", "owner": "a-browser-tab",
                        "status": DONE, "options": "{}", "generation_id": "1" * 32})
    old.conn.commit()
    old.close()
    store = Store(tmp_path)
    (row,) = store.query_generations()
    assert (row["transcript"], row["created_by"], row["recipe"], row["rating_count"]) == ("a fox", "unknown", "original", 0)
    (job,) = JobQueue(store).list()
    assert job["created_by"] == "unknown" and job["status"] == DONE
    assert store.query("SELECT name FROM people") == [{"name": "unknown"}]


def test_the_outlook_gives_every_queued_jobs_place_and_eta_from_one_reading(queue, wav):
    ids = [queue.submit(wav, request(), created_by=p) for p in ("ana", "ben")]
    queue.submit(wav, GenerationRequest("c.wav", transcript="a fox", options=GenerationOptions.from_recipe(
        "fast", steps=2, width=64, height=64)), created_by="cleo")
    outlook = queue.outlook({"default": 10.0})
    assert [outlook[i] for i in ids] == [(1, 10.0), (2, 20.0)]
    assert [place for place, _ in outlook.values()] == [1, 2, 3]
    assert list(outlook.values())[2] == (3, None)  # no figure for the fast recipe yet


def test_deleting_a_resubmitted_jobs_generation_forgets_the_failed_jobs_words_too(queue, store, data_dir, wav):
    """The words once survived delete in the failed job that was submitted again (issue 32, 14)."""
    from core.generation.request import GenerationRequest

    failed = queue.submit(wav, GenerationRequest(transcript="the zanzibar merger", language="en",
                                                 options=request().options, filename="zanzibar.wav"), created_by="ana")
    queue.finish(queue.claim_next(), FAILED, "the model fell over")
    again = queue.resubmit(failed, "ana")
    assert queue.get(again)["retry_of"] == failed
    generation_id = "a" * 32
    with store.write() as db:  # what the worker stores when the new job is done
        db["generations"].insert({"id": generation_id, "created_at": "2026-11-29", "transcript": "the zanzibar merger",
                                  "prompt": "zanzibar", "image_path": "images/x.png", "audio_path": "audio/x.wav"})
        db.execute("UPDATE jobs SET status = 'done', generation_id = ? WHERE id = ?", [generation_id, again])
    store.delete_generation(generation_id)
    for job_id in (failed, again):
        job = queue.get(job_id)
        assert job["options"] == "{}" and job["audio_filename"] is None
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"zanzibar" not in b"".join(p.read_bytes() for p in sorted(data_dir.glob("v2i.db*")))


def test_a_failed_jobs_request_is_forgotten_after_the_keep_days(queue, store, wav):
    from core.generation.request import GenerationRequest

    job_id = queue.submit(wav, GenerationRequest(prompt="the zanzibar merger", options=request().options),
                          created_by="ana")
    queue.finish(queue.claim_next(), FAILED, "broken")
    queue.expire_failed_uploads(days=7)
    assert "zanzibar" in queue.get(job_id)["options"]  # within the keep days: "Submit again" still works
    with store.write() as db:
        db.execute("UPDATE jobs SET finished_at = '2020-01-01T00:00:00+00:00' WHERE id = ?", [job_id])
    queue.expire_failed_uploads(days=7)
    assert queue.get(job_id)["options"] == "{}" and queue.get(job_id)["audio_filename"] is None
