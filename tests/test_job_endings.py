"""A job always ends (issue 32, 10-11): an ending the store cannot take yet is kept and stored once it answers,
cancel still works meanwhile; a second worker recovers only the jobs of workers that are gone."""

import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from core.config.recipes import GenerationOptions
from core.execution.jobs import CANCELLED, FAILED, RUNNING, JobQueue
from core.execution.worker import Worker
from core.generation.request import GenerationRequest

FAST = GenerationOptions(steps=2, width=64, height=64)


@pytest.fixture
def quick_lock(monkeypatch):
    """Writes give up after 0.2 s of a lock (not 30 s), as they would after a long one."""
    import core.history.store

    monkeypatch.setattr(core.history.store, "BUSY_TIMEOUT_MS", 200)


def running_job_that_fails(store, wav, worker) -> dict:
    queue = JobQueue(store)
    job_id = queue.submit(wav, GenerationRequest(options=FAST), created_by="ana")
    job = queue.claim_next(worker.worker_id)
    with store.write() as db:  # options that cannot be read: the job fails at once, with the reason
        db.execute("UPDATE jobs SET options = '{broken' WHERE id = ?", [job_id])
    return {**job, "options": "{broken"}


def locked(store) -> sqlite3.Connection:
    other = sqlite3.connect(store.path, timeout=0, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database, longer than writes wait
    return other


def test_a_job_whose_ending_cannot_be_stored_ends_failed_once_the_store_answers(quick_lock, settings, models, data_dir,
                                                                                  wav):
    from core.history.store import Store

    store = Store(data_dir)
    worker = Worker(settings, models, store, embed=False)
    job = running_job_that_fails(store, wav, worker)
    other = locked(store)
    worker.run_jobs([job])  # raised StorageError out of the worker before: the job stayed "running" for ever
    other.rollback()
    queue = JobQueue(store)
    assert queue.get(job["id"])["status"] == RUNNING and len(worker.endings) == 1
    assert worker.run_pending() == 0  # the ending is stored first
    ended = queue.get(job["id"])
    assert ended["status"] == FAILED and "stored request cannot be read" in ended["error"]
    assert not worker.endings
    assert queue.store.query("SELECT count(*) AS n FROM jobs WHERE status IN ('queued', 'running')")[0]["n"] == 0
    queue.check_quota("ana", 1)  # no longer counts against her quota


def test_cancel_works_while_an_ending_waits_for_the_store(quick_lock, settings, models, data_dir, wav):
    from core.history.store import Store

    store = Store(data_dir)
    worker = Worker(settings, models, store, embed=False)
    job = running_job_that_fails(store, wav, worker)
    other = locked(store)
    worker.run_jobs([job])
    other.rollback()
    queue = JobQueue(store)
    assert queue.cancel(job["id"]) == RUNNING  # asked while the worker could not store the ending
    worker.run_pending()
    assert queue.get(job["id"])["status"] == CANCELLED and queue.get(job["id"])["upload_path"] is None


def test_a_second_worker_leaves_a_live_workers_running_job_alone(settings, models, store, wav):
    queue = JobQueue(store)
    first = Worker(settings, models, store, embed=False)
    job_id = queue.submit(wav, GenerationRequest(options=FAST))
    queue.claim_next(first.worker_id)
    second = Worker(settings, models, store, embed=False).start()  # `python -m core worker` beside the server
    second.stop()
    assert queue.get(job_id)["status"] == RUNNING and queue.get(job_id)["error"] is None
    first.queue.heartbeat(first.worker_id)
    assert queue.recover() == 0


def test_a_job_whose_worker_went_quiet_past_its_lease_is_recovered(settings, models, store, wav):
    queue = JobQueue(store)
    job_id = queue.submit(wav, GenerationRequest(options=FAST))
    queue.claim_next("another-host:123:abcd")  # a worker elsewhere: only its heartbeat tells
    stale = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    with store.write() as db:
        db.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ?", [stale, job_id])
    assert queue.recover() == 1
    assert queue.get(job_id)["status"] == FAILED and "server stopped" in queue.get(job_id)["error"]


def test_a_job_whose_worker_process_ended_on_this_machine_is_recovered_at_once(settings, models, store, wav):
    import socket

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    queue = JobQueue(store)
    job_id = queue.submit(wav, GenerationRequest(options=FAST))
    queue.claim_next(f"{socket.gethostname()}:{int(gone.stdout)}:dead")
    assert queue.recover() == 1 and queue.get(job_id)["status"] == FAILED


def test_the_heartbeat_renews_a_running_jobs_lease(settings, models, store, wav, monkeypatch):
    import core.execution.worker

    monkeypatch.setattr(core.execution.worker, "HEARTBEAT_S", 0.05)
    queue = JobQueue(store)
    worker = Worker(settings, models, store, embed=False)
    job_id = queue.submit(wav, GenerationRequest(options=FAST))
    queue.claim_next(worker.worker_id)
    with store.write() as db:
        db.execute("UPDATE jobs SET heartbeat_at = '2000-01-01' WHERE id = ?", [job_id])
    worker._beat_thread = None
    import threading
    import time

    beat = threading.Thread(target=worker._beat, daemon=True)
    beat.start()
    time.sleep(0.3)
    worker._stop.set()
    beat.join(2)
    assert queue.get(job_id)["heartbeat_at"] > "2026" and queue.recover() == 0


def test_an_admin_pauses_resumes_and_moves_a_job_to_the_front_members_may_not(settings, models, store, wav):
    from core import Person
    from core.people.roles import ForbiddenError

    ada, bob = Person("ada", "Ada", "admin", "cli"), Person("bob", "Bob", "member", "cli")
    queue = JobQueue(store)
    first, second = (queue.submit(wav, GenerationRequest(options=FAST), created_by="cy") for _ in range(2))
    with pytest.raises(ForbiddenError, match="only admins may pause, resume or reorder the queue"):
        queue.set_paused(True, bob)
    queue.set_paused(True, ada)
    assert queue.claim_next("w") is None and queue.get(first)["status"] == "queued"  # paused: nothing starts
    queue.move_to_front(second, ada)
    assert [job["id"] for job in queue.order()] == [second, first]
    queue.set_paused(False, ada)
    assert queue.claim_next("w")["id"] == second
    with pytest.raises(Exception, match="not queued"):
        queue.move_to_front(second, ada)
    actions = [r["action"] for r in store.query("SELECT action FROM audit ORDER BY id")]
    assert actions == ["role refusal", "queue pause", "queue reorder", "queue resume"]


def test_a_job_waits_for_disk_space_with_a_reason_and_an_upload_is_refused_leaving_nothing(settings, models, store,
                                                                                          wav, monkeypatch, data_dir):
    import core.history.disk
    from core.errors import StorageError

    free = [10 * 2**30]
    monkeypatch.setattr(core.history.disk, "free_bytes", lambda folder: free[0])
    queue = JobQueue(store, min_free_mb=500)
    job_id = queue.submit(wav, GenerationRequest(options=FAST), created_by="ana")
    free[0] = 400 * 2**20  # the disk fills up: less than the margin
    assert "the data folder's disk has 400 MB free" in queue.waiting_for_room()
    worker = Worker(settings.with_overrides(min_free_mb=500), models, store, embed=False)
    assert worker.run_pending() == 0 and queue.get(job_id)["status"] == "queued"  # it waits, nothing half-written
    uploads = sorted((data_dir / "uploads").iterdir())
    with pytest.raises(StorageError, match="not enough room to accept it"):
        queue.submit(wav, GenerationRequest(options=FAST), created_by="ana")
    assert sorted((data_dir / "uploads").iterdir()) == uploads and len(queue.list()) == 1
    free[0] = 10 * 2**30
    assert queue.waiting_for_room() == "" and worker.run_pending() == 1
    assert queue.get(job_id)["status"] == "done"
