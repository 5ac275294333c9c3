"""A job queue in SQLite, in a fair order (the worker that runs it: :mod:`core.execution.worker`).

Why: on a CPU an image takes minutes, several people share one server, the diffusers pipeline is not
thread-safe, and a Streamlit script run stops when its person navigates away. Jobs survive a restart:
one left ``running`` by a crashed server is marked failed with a reason (``recover``: only jobs whose worker is
gone, by its process or its lease, never another live worker's).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..config import Settings
from ..errors import CancelledError, InvalidOptionError, NoSpeechError, NotFoundError, V2IError
from ..generation.audio import AudioLimits, decode_audio
from ..generation.diffusion import batch_key
from ..generation.request import GenerationRequest
from ..history import disk
from ..history.audit import record_in, require
from ..history.paths import UPLOADS, check_id, new_id, relative_name, remove_quietly, write_atomic
from ..history.store import Store, utc_now
from ..hooks import webhooks
from ..people.person import UNKNOWN

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
INTERRUPTED = "the server stopped while this job was running; its recording is kept, submit it again"
# A worker renews the lease of its running jobs every HEARTBEAT_S; a job whose lease is LEASE_S old has lost its
# worker (another process recovers it). Generous: a model's first load can hold the job's thread for minutes,
# but the heartbeat runs on a thread of its own.
HEARTBEAT_S = 10.0
LEASE_S = 120.0
log = logging.getLogger("v2i.jobs")


def new_worker_id() -> str:
    """``host:pid:random``: unique per worker, and telling which process on which machine runs a job."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def worker_gone(worker_id: str) -> bool:
    """True when ``worker_id`` names a process on this machine that no longer runs (elsewhere: unknown, False)."""
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def ending_of(err: BaseException) -> tuple[str, str | None, tuple[str, ...]]:
    """How a job that raised ``err`` ends: cancelled, failed with its plain reason (and the words whisper doubted,
    when that was the reason), or failed unexpectedly (a bug, whose traceback goes to the log). The one
    classification, for every executor."""
    if isinstance(err, CancelledError):
        return CANCELLED, None, ()
    if isinstance(err, (V2IError, ValueError, OSError)):
        return FAILED, str(err), getattr(err, "doubtful_words", ())
    log.error("a job failed unexpectedly", exc_info=err)
    return FAILED, f"unexpected error: {type(err).__name__}: {err}", ()


def _batch_key_of(job: dict[str, Any]) -> tuple | None:
    """A queued job's batch key, or None when its options cannot be read (it runs alone and fails saying why)."""
    try:
        return batch_key(GenerationRequest.from_json(job["options"]).options)
    except V2IError:
        return None


@dataclass(frozen=True)
class Quota:
    """What one person may have waiting at once (queued or running)."""

    max_jobs: int = 20
    max_bytes: int = 500 * 2**20


class QuotaError(V2IError, ValueError):
    """A person reached their limit of waiting jobs or bytes."""


class JobQueue:
    """Jobs in SQLite, taken in a fair order: people take turns (round-robin, the person served least
    recently first), and each person's own jobs run oldest first."""

    def __init__(self, store: Store, limits: AudioLimits = AudioLimits(), quota: Quota = Quota(),
                 min_free_mb: float = 0.0):
        self.store = store
        self.limits = limits
        self.quota = quota
        self.min_free_mb = min_free_mb  # the disk's margin (V2I_MIN_FREE_MB)

    @classmethod
    def for_settings(cls, store: Store, settings: Settings) -> "JobQueue":
        return cls(store, settings.audio_limits, Quota(settings.max_queued_per_person,
                                                       int(settings.max_queued_mb_per_person * 2**20)),
                   settings.min_free_mb)

    def submit(self, audio: bytes, request: GenerationRequest, created_by: str = UNKNOWN) -> str:
        """Check the request up front, keep the recording, queue the job; returns its id."""
        request.check()
        self.check_quota(created_by, len(audio))  # before decoding: a person over their quota costs nothing
        decoded = decode_audio(audio, self.limits)  # refuse a bad recording now, not minutes later in the worker
        if request.transcript is None and decoded.is_silent:
            raise NoSpeechError("no speech was heard in the recording (it is silent)")
        disk.require_room(self.store.data_dir, len(audio), self.min_free_mb)  # the upload, before a byte is written
        job_id = new_id()
        upload = relative_name(UPLOADS, job_id, decoded.extension)
        path = write_atomic(self.store.data_dir, upload, audio)
        try:
            with self.store.write() as db:
                self.check_quota(created_by, len(audio))  # again inside the write lock: two tabs at once
                db["jobs"].insert({
                    "id": job_id, "created_at": utc_now(), "created_by": created_by, "status": QUEUED,
                    "options": request.to_json(), "audio_filename": request.filename, "upload_path": upload,
                    "upload_bytes": len(audio), "recipe": request.options.recipe, "stage": "queued",
                })
        except BaseException:
            remove_quietly(path)
            raise
        return job_id

    def check_quota(self, person: str, size: int) -> None:
        jobs, waiting = self.store.execute(
            "SELECT count(*), coalesce(sum(upload_bytes), 0) FROM jobs WHERE created_by = ? AND status IN (?, ?)",
            [person, QUEUED, RUNNING]).fetchone()
        if jobs >= self.quota.max_jobs:
            raise QuotaError(f"you already have {jobs} jobs waiting, the most one person may have: "
                             "wait for some to finish, or cancel some")
        if waiting + size > self.quota.max_bytes:
            raise QuotaError(f"your waiting recordings would come to {(waiting + size) / 2**20:.0f} MB, over the "
                             f"{self.quota.max_bytes / 2**20:.0f} MB one person may have waiting: wait for some jobs "
                             "to finish")

    def get(self, job_id: str) -> dict[str, Any]:
        check_id(job_id, "job")
        rows = self.store.query("SELECT * FROM jobs WHERE id = ?", [job_id])
        if not rows:
            raise NotFoundError(f"no job with id {job_id}")
        return rows[0]

    def list(self, created_by: str | None = None, *, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first; only this person's when ``created_by`` is given."""
        sql, params = "SELECT * FROM jobs", []
        if created_by is not None:
            sql += " WHERE created_by = ?"
            params.append(created_by)
        return self.store.query(sql + " ORDER BY created_at DESC, id DESC LIMIT ?", [*params, limit])

    def counts(self) -> dict[str, int]:
        rows = self.store.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
        return {status: 0 for status in (QUEUED, RUNNING, DONE, FAILED, CANCELLED)} | dict(rows)

    def order(self) -> list[dict[str, Any]]:
        """The queued jobs in the order they will run: people take turns, the one served least recently
        (never, first) going first; within a person, oldest first."""
        queued = self.store.query(
            "SELECT id, created_by, created_at, recipe, front_at FROM jobs WHERE status = ? ORDER BY created_at, id",
            [QUEUED])
        front = sorted((job for job in queued if job["front_at"]), key=lambda job: job["front_at"], reverse=True)
        queued = [job for job in queued if not job["front_at"]]
        served = dict(self.store.execute(
            "SELECT created_by, max(started_at) FROM jobs WHERE started_at IS NOT NULL GROUP BY created_by").fetchall())
        lines: dict[str, deque] = {}
        for job in queued:
            lines.setdefault(job["created_by"], deque()).append(job)
        turns = sorted(lines, key=lambda person: (served.get(person) or "", lines[person][0]["created_at"]))
        order = list(front)  # moved to the front by an admin, the latest move first
        while len(order) < len(front) + len(queued):
            for person in turns:
                if lines[person]:
                    order.append(lines[person].popleft())
        return order

    def has_startable(self) -> bool:
        """A queued job could start now (one is queued and the queue is not paused): what the worker's idle upkeep
        yields to. One indexed read, cheap enough to ask between batches."""
        return not self.paused and bool(self.store.query("SELECT 1 FROM jobs WHERE status = ? LIMIT 1", [QUEUED]))

    def waiting_for_room(self, order: list[dict[str, Any]] | None = None) -> str:
        """Why the next job waits for disk space ("" when it need not): what it will write, plus the margin.
        ``order``: the queue's order when the caller has it already."""
        order = self.order() if order is None else order
        if not order:
            return ""
        job = self.get(order[0]["id"])
        try:
            options = GenerationRequest.from_json(job["options"]).options
            size = (options.width, options.height)
        except V2IError:
            size = (1024, 1024)  # its failure will say why; the room check assumes a large image
        return disk.shortage(self.store.data_dir, disk.job_bytes(*size, job["upload_bytes"] or 0), self.min_free_mb)

    # -- an admin's hand on the queue (core.people.roles: admins only; each change audited) --------------------------

    @property
    def paused(self) -> bool:
        rows = self.store.query("SELECT value FROM queue_control WHERE key = 'paused'")
        return bool(rows) and rows[0]["value"] == "1"

    def set_paused(self, paused: bool, person) -> None:
        """Pause (no job starts; running ones finish) or resume the queue."""
        require(self.store, person, "queue", target="queue")
        with self.store.write() as db:
            db["queue_control"].insert({"key": "paused", "value": "1" if paused else "0", "changed_by": person.id,
                                        "changed_at": utc_now()}, replace=True)
            record_in(db, person, "queue pause" if paused else "queue resume", "queue")

    def move_to_front(self, job_id: str, person) -> None:
        """Run this queued job next (before everyone's turns)."""
        require(self.store, person, "queue", target=job_id)
        with self.store.write() as db:
            if self.get(job_id)["status"] != QUEUED:
                raise InvalidOptionError(f"job {job_id} is not queued: only a queued job can move to the front")
            db.execute("UPDATE jobs SET front_at = ? WHERE id = ?", [utc_now(), job_id])
            record_in(db, person, "queue reorder", job_id, "moved to the front")

    def position(self, job_id: str) -> int | None:
        """1 for the next job to run; None once it is no longer queued."""
        for place, job in enumerate(self.order(), start=1):
            if job["id"] == job_id:
                return place
        self.get(job_id)  # a clear error for an unknown id
        return None

    def outlook(self, typical: dict[str, float]) -> dict[str, tuple[int, float | None]]:
        """Every queued job's place (1 runs next) and seconds until it is done, from one reading of the queue:
        what is left of the running jobs, the jobs ahead, then its own, at ``typical`` seconds per recipe (this
        server's medians). The seconds are None from the first job whose recipe has no figure on."""
        now = datetime.now(timezone.utc)
        total: float | None = 0.0
        for running in self.store.query("SELECT recipe, started_at FROM jobs WHERE status = ?", [RUNNING]):
            if total is None or running["recipe"] not in typical:
                total = None
                continue
            started = datetime.fromisoformat(running["started_at"]) if running["started_at"] else now
            total += max(0.0, typical[running["recipe"]] - (now - started).total_seconds())
        outlook = {}
        for place, job in enumerate(self.order(), start=1):
            total = None if total is None or job["recipe"] not in typical else total + typical[job["recipe"]]
            outlook[job["id"]] = (place, total)
        return outlook

    def eta_seconds(self, job_id: str, typical: dict[str, float]) -> float | None:
        """Seconds until this queued job is done (see :meth:`outlook`); None when it is not queued."""
        return self.outlook(typical).get(job_id, (None, None))[1]

    def resubmit(self, job_id: str, person: str, request: GenerationRequest | None = None) -> str:
        """Queue a failed (or cancelled) job of ``person`` again from its kept recording (asking for ``request``
        when given: its words fixed); returns the new job's id."""
        job = self.get(job_id)
        if job["created_by"] != person:
            raise NotFoundError(f"no job of yours with id {job_id}")
        if job["status"] not in (FAILED, CANCELLED) or not job["upload_path"]:
            raise InvalidOptionError(f"job {job_id} cannot be submitted again: it is {job['status']}"
                                     + ("" if job["upload_path"] else " and its recording is no longer kept"))
        new_id_ = self.submit(self.upload_bytes(job), request or GenerationRequest.from_json(job["options"]),
                              created_by=person)
        with self.store.write() as db:
            db.execute("UPDATE jobs SET retry_of = ? WHERE id = ?", [job_id, new_id_])
        self.release_upload(job)
        return new_id_

    def expire_failed_uploads(self, days: float) -> int:
        """Drop the kept recordings of jobs that failed more than ``days`` ago, and their requests' words (the
        transcript and prompt a person typed, the file's name); returns how many recordings went."""
        cutoff = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
        expired = self.store.query("SELECT * FROM jobs WHERE status IN (?, ?) AND upload_path IS NOT NULL "
                                   "AND finished_at < ?", [FAILED, CANCELLED, cutoff])
        for job in expired:
            self.release_upload(job)
        with self.store.write() as db:
            db.execute("UPDATE jobs SET options = '{}', audio_filename = NULL WHERE status IN (?, ?) "
                       "AND finished_at < ? AND options != '{}'", [FAILED, CANCELLED, cutoff])
        return len(expired)

    def cancel(self, job_id: str) -> str:
        """A queued job is cancelled at once; a running one stops at its next step. Returns the new status."""
        with self.store.write() as db:
            job = self.get(job_id)
            if job["status"] == QUEUED:
                db["jobs"].update(job_id, {"status": CANCELLED, "finished_at": utc_now(), "stage": "cancelled"})
                webhooks.job_ended(db, job, CANCELLED, None, None)
                status = CANCELLED
            elif job["status"] == RUNNING:
                db["jobs"].update(job_id, {"cancel_requested": 1})
                status = RUNNING
            else:
                return job["status"]
        if status == CANCELLED:
            self.release_upload(job)
        return status

    def claim_next(self, worker_id: str | None = None) -> dict[str, Any] | None:
        """Take the next job in the fair order and mark it running for ``worker_id``, atomically (two workers
        never take the same job)."""
        claimed = self.claim_batch(worker_id, 1)
        return claimed[0] if claimed else None

    def claim_batch(self, worker_id: str | None = None, limit: int = 1) -> list[dict[str, Any]]:
        """Take the next job in the fair order and, up to ``limit`` in all, the jobs right after it in that order
        whose images can be painted with it as one batch (:func:`core.generation.diffusion.batch_key`); stop at the first
        that cannot, so nobody's turn is passed over. All marked running for ``worker_id`` in one transaction."""
        with self.store.write() as db:
            order = [] if self.paused else self.order()  # the fair order, read once per claim
            if order and self.waiting_for_room(order):
                order = []
            if not order:
                return []
            ids = [order[0]["id"]]
            if limit > 1:
                key = _batch_key_of(self.get(ids[0]))
                for queued in order[1:limit]:
                    if key is None or _batch_key_of(self.get(queued["id"])) != key:
                        break
                    ids.append(queued["id"])
            now = utc_now()
            for job_id in ids:
                db["jobs"].update(job_id, {"status": RUNNING, "started_at": now, "stage": "starting",
                                           "worker_id": worker_id, "heartbeat_at": now})
        return [self.get(job_id) for job_id in ids]

    def progress(self, job_id: str, stage: str, step: int, total: int) -> bool:
        """Record progress (a heartbeat too); returns True when the person asked to cancel."""
        with self.store.write() as db:
            db.execute("UPDATE jobs SET stage = ?, step = ?, total_steps = ?, heartbeat_at = ? WHERE id = ?",
                       [stage, step, total, utc_now(), job_id])
        return bool(self.store.execute("SELECT cancel_requested FROM jobs WHERE id = ?", [job_id]).fetchone()[0])

    def heartbeat(self, worker_id: str) -> None:
        """``worker_id`` is alive: its running jobs' leases are renewed, and its own heartbeat (busy or idle)."""
        now = utc_now()
        with self.store.write() as db:
            db.execute("UPDATE jobs SET heartbeat_at = ? WHERE worker_id = ? AND status = ?", [now, worker_id, RUNNING])
            db.execute("INSERT INTO workers (id, heartbeat_at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET "
                       "heartbeat_at = excluded.heartbeat_at", [worker_id, now])

    def worker_gone_away(self, worker_id: str) -> None:
        """``worker_id`` stopped: it no longer counts as alive."""
        with self.store.write() as db:
            db.execute("DELETE FROM workers WHERE id = ?", [worker_id])

    def live_workers(self, within_s: float = 3 * HEARTBEAT_S) -> int:
        """How many workers on this data folder said they were alive in the last ``within_s`` seconds."""
        since = (datetime.now(timezone.utc) - timedelta(seconds=within_s)).isoformat()
        return self.store.execute("SELECT count(*) FROM workers WHERE heartbeat_at > ?", [since]).fetchone()[0]

    def mark_done_in(self, db, job_id: str, generation_id: str) -> None:
        """Runs inside the transaction that stores the generation: the job, its row and its notifications land
        together."""
        db.execute(
            "UPDATE jobs SET status = ?, finished_at = ?, stage = ?, generation_id = ?, step = total_steps WHERE id = ?",
            [DONE, utc_now(), DONE, generation_id, job_id],
        )
        job = dict(zip(("id", "created_by", "audio_filename"), db.execute(
            "SELECT id, created_by, audio_filename FROM jobs WHERE id = ?", [job_id]).fetchone()))
        webhooks.job_ended(db, job, DONE, generation_id, None)

    def finish(self, job: dict[str, Any], status: str, error: str | None = None,
               doubtful_words: tuple[str, ...] = ()) -> None:
        with self.store.write() as db:
            db["jobs"].update(job["id"], {"status": status, "finished_at": utc_now(), "stage": status, "error": error,
                                          "doubtful_words": json.dumps(list(doubtful_words)) if doubtful_words else None})
            webhooks.job_ended(db, job, status, None, error)
        if status != FAILED:  # a failed job keeps its recording so nothing the person gave is lost
            self.release_upload(job)

    def recover(self, lease_s: float = LEASE_S) -> int:
        """Jobs whose worker is gone are marked failed with the reason: its process on this machine has ended,
        or it has not said it is alive for ``lease_s`` seconds. Another live worker's jobs are left alone."""
        cutoff = (datetime.now(timezone.utc) - timedelta(seconds=lease_s)).isoformat()
        with self.store.write() as db:
            running = db.execute("SELECT id, worker_id, heartbeat_at, created_by, audio_filename FROM jobs "
                                 "WHERE status = ?", [RUNNING]).fetchall()
            gone = [(job_id, owner, filename) for job_id, worker, beat, owner, filename in running
                    if worker is None or beat is None or beat < cutoff or worker_gone(worker)]
            for job_id, owner, filename in gone:
                db.execute("UPDATE jobs SET status = ?, error = ?, finished_at = ?, stage = ? WHERE id = ? AND status = ?",
                           [FAILED, INTERRUPTED, utc_now(), FAILED, job_id, RUNNING])
                # Every ending notifies, once: this one too (its worker could not).
                webhooks.job_ended(db, {"id": job_id, "created_by": owner, "audio_filename": filename}, FAILED, None,
                                   INTERRUPTED)
            return len(gone)

    def requeue(self, job_id: str) -> None:
        """Put a running job back in the queue, in its old place (its executor went away before it ended)."""
        with self.store.write() as db:
            db.execute("UPDATE jobs SET status = ?, started_at = NULL, stage = NULL, step = 0 WHERE id = ? AND status = ?",
                       [QUEUED, job_id, RUNNING])

    def upload_bytes(self, job: dict[str, Any]) -> bytes:
        return self.store.file_path(job["upload_path"]).read_bytes()

    def release_upload(self, job: dict[str, Any]) -> None:
        """The job is over and its generation (if any) keeps its own copy: drop the queued recording."""
        if job.get("upload_path"):
            remove_quietly(self.store.file_path(job["upload_path"]))
            with self.store.write() as db:
                db["jobs"].update(job["id"], {"upload_path": None})
