"""A job queue in SQLite, and the one worker per process that runs jobs in order, one at a time.

Why: on a CPU an image takes minutes, several people share one server, the diffusers pipeline is not
thread-safe, and a Streamlit script run stops when its person navigates away. Jobs survive a restart:
one left ``running`` by a crashed server is marked failed with a reason (``recover``: only jobs whose worker is
gone, by its process or its lease, never another live worker's).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from . import trash
from . import disk, roles, webhooks
from .audit import record, record_in
from .backup import backup
from .audio import AudioLimits, decode_audio
from .config import Settings, gpu_batch
from .diffusion import batch_key
from .errors import CancelledError, InvalidOptionError, NoSpeechError, NotFoundError, StorageError, V2IError
from .models import ModelCache
from .paths import UPLOADS, check_id, new_id, relative_name, remove_quietly, write_atomic
from .pipeline import Job, compute_generations, save_generation
from .people import UNKNOWN, Person
from .request import GenerationRequest
from .store import Store, utc_now

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
INTERRUPTED = "the server stopped while this job was running; its recording is kept, submit it again"
# A worker renews the lease of its running jobs every HEARTBEAT_S; a job whose lease is LEASE_S old has lost its
# worker (another process recovers it). Generous: a model's first load can hold the job's thread for minutes,
# but the heartbeat runs on a thread of its own.
HEARTBEAT_S = 10.0
LEASE_S = 120.0
log = logging.getLogger("v2i.jobs")
SERVER = Person("server", "the server", "admin", "server")  # who scheduled upkeep acts as, in the audit trail


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


def ending_of(err: BaseException) -> tuple[str, str | None]:
    """How a job that raised ``err`` ends: cancelled, failed with its plain reason, or failed unexpectedly (a bug,
    whose traceback goes to the log). The one classification, for every executor."""
    if isinstance(err, CancelledError):
        return CANCELLED, None
    if isinstance(err, (V2IError, ValueError, OSError)):
        return FAILED, str(err)
    log.error("a job failed unexpectedly", exc_info=err)
    return FAILED, f"unexpected error: {type(err).__name__}: {err}"


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
        decoded = decode_audio(audio, self.limits)  # refuse a bad recording now, not minutes later in the worker
        if request.transcript is None and decoded.is_silent:
            raise NoSpeechError("no speech was heard in the recording (it is silent)")
        self._check_quota(created_by, len(audio))
        disk.require_room(self.store.data_dir, len(audio), self.min_free_mb)  # the upload, before a byte is written
        job_id = new_id()
        upload = relative_name(UPLOADS, job_id, decoded.extension)
        path = write_atomic(self.store.data_dir, upload, audio)
        try:
            with self.store.write() as db:
                self._check_quota(created_by, len(audio))  # again inside the write lock: two tabs at once
                db["jobs"].insert({
                    "id": job_id, "created_at": utc_now(), "created_by": created_by, "status": QUEUED,
                    "options": request.to_json(), "audio_filename": request.filename, "upload_path": upload,
                    "upload_bytes": len(audio), "recipe": request.options.recipe, "stage": "queued",
                })
        except BaseException:
            remove_quietly(path)
            raise
        return job_id

    def _check_quota(self, person: str, size: int) -> None:
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

    # -- an admin's hand on the queue (core.roles: admins only; each change audited) --------------------------

    @property
    def paused(self) -> bool:
        rows = self.store.query("SELECT value FROM queue_control WHERE key = 'paused'")
        return bool(rows) and rows[0]["value"] == "1"

    def set_paused(self, paused: bool, person) -> None:
        """Pause (no job starts; running ones finish) or resume the queue."""
        roles.require(self.store, person, "queue", target="queue")
        with self.store.write() as db:
            db["queue_control"].insert({"key": "paused", "value": "1" if paused else "0", "changed_by": person.id,
                                        "changed_at": utc_now()}, replace=True)
            record_in(db, person, "queue pause" if paused else "queue resume", "queue")

    def move_to_front(self, job_id: str, person) -> None:
        """Run this queued job next (before everyone's turns)."""
        roles.require(self.store, person, "queue", target=job_id)
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

    def resubmit(self, job_id: str, person: str) -> str:
        """Queue a failed (or cancelled) job of ``person`` again from its kept recording; returns the new job's id."""
        job = self.get(job_id)
        if job["created_by"] != person:
            raise NotFoundError(f"no job of yours with id {job_id}")
        if job["status"] not in (FAILED, CANCELLED) or not job["upload_path"]:
            raise InvalidOptionError(f"job {job_id} cannot be submitted again: it is {job['status']}"
                                     + ("" if job["upload_path"] else " and its recording is no longer kept"))
        new_id_ = self.submit(self.upload_bytes(job), GenerationRequest.from_json(job["options"]), created_by=person)
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
        whose images can be painted with it as one batch (:func:`core.diffusion.batch_key`); stop at the first
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
        """``worker_id`` is alive: its running jobs' leases are renewed."""
        with self.store.write() as db:
            db.execute("UPDATE jobs SET heartbeat_at = ? WHERE worker_id = ? AND status = ?",
                       [utc_now(), worker_id, RUNNING])

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

    def finish(self, job: dict[str, Any], status: str, error: str | None = None) -> None:
        with self.store.write() as db:
            db["jobs"].update(job["id"], {"status": status, "finished_at": utc_now(), "stage": status, "error": error})
            webhooks.job_ended(db, job, status, None, error)
        if status != FAILED:  # a failed job keeps its recording so nothing the person gave is lost
            self.release_upload(job)

    def recover(self, lease_s: float = LEASE_S) -> int:
        """Jobs whose worker is gone are marked failed with the reason: its process on this machine has ended,
        or it has not said it is alive for ``lease_s`` seconds. Another live worker's jobs are left alone."""
        cutoff = (datetime.now(timezone.utc) - timedelta(seconds=lease_s)).isoformat()
        with self.store.write() as db:
            running = db.execute("SELECT id, worker_id, heartbeat_at FROM jobs WHERE status = ?", [RUNNING]).fetchall()
            gone = [job_id for job_id, worker, beat in running
                    if worker is None or beat is None or beat < cutoff or worker_gone(worker)]
            for job_id in gone:
                db.execute("UPDATE jobs SET status = ?, error = ?, finished_at = ?, stage = ? WHERE id = ? AND status = ?",
                           [FAILED, INTERRUPTED, utc_now(), FAILED, job_id, RUNNING])
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


class Previews:
    """The image of each running job as it forms, in this process's memory only (never stored): the latest
    one per job, as PNG bytes, gone when the job ends."""

    def __init__(self):
        self._latest: dict[str, bytes] = {}
        self._guard = threading.Lock()

    def update(self, job_id: str, rgb) -> None:
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="PNG")
        with self._guard:
            self._latest[job_id] = buffer.getvalue()

    def get(self, job_id: str) -> bytes | None:
        with self._guard:
            return self._latest.get(job_id)

    def drop(self, job_id: str) -> None:
        with self._guard:
            self._latest.pop(job_id, None)


PREVIEWS = Previews()


class Downloads:
    """What each running job is downloading before it can load its models, in this process's memory only:
    per model, bytes done of the total; gone when the job ends."""

    def __init__(self):
        self._bytes: dict[str, dict[str, tuple[int, int]]] = {}
        self._guard = threading.Lock()

    def update(self, job_id: str, label: str, done: int, total: int) -> None:
        with self._guard:
            self._bytes.setdefault(job_id, {})[label] = (done, total)

    def get(self, job_id: str) -> dict[str, tuple[int, int]]:
        with self._guard:
            return dict(self._bytes.get(job_id, {}))

    def drop(self, job_id: str) -> None:
        with self._guard:
            self._bytes.pop(job_id, None)


DOWNLOADS = Downloads()


class Worker:
    """Runs queued jobs one at a time in a background thread, for the life of the process."""

    def __init__(self, settings: Settings, models: ModelCache, store: Store, *, poll_seconds: float = 0.5,
                 embed: bool = True, embed_after_idle_s: float = 10.0):
        self.settings, self.models, self.store = settings, models, store
        self.queue = JobQueue.for_settings(store, settings)
        self.poll_seconds = poll_seconds
        self.embed = embed  # compute CLIP embeddings of new (and older, unembedded) images when idle
        self._embed_pending = embed
        # Backfill only once the queue has been quiet a while, so it never competes with a person's first clicks.
        self.embed_after_idle_s = embed_after_idle_s
        self._idle_since = time.monotonic()
        self._swept_at = time.monotonic()
        self._recovered_at = time.monotonic()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat_thread: threading.Thread | None = None
        self.worker_id = new_worker_id()
        # Same-recipe jobs painted as one batch: on CUDA by default, never on the CPU unless V2I_GPU_BATCH says so.
        self.batch = gpu_batch(settings, models.device)
        # Endings the store could not take yet (a full disk, a long lock): stored as soon as it answers again.
        self.endings: list[tuple[dict[str, Any], str, str | None]] = []

    def start(self) -> "Worker":
        if self._thread is None or not self._thread.is_alive():
            try:
                self.queue.recover()
                self.sweep()
            except StorageError as err:  # a full disk or a read-only folder: the loop tries again later
                log.warning("the worker's start-up upkeep waits: %s", err)
            self._thread = threading.Thread(target=self._loop, name="v2i-worker", daemon=True)
            self._thread.start()
            self._beat_thread = threading.Thread(target=self._beat, name="v2i-heartbeat", daemon=True)
            self._beat_thread.start()
            # Notifications go out on a thread of their own: a slow receiver never holds the queue.
            self.dispatcher = webhooks.Dispatcher(self.store, self.settings.public_url).start()
        return self

    def backup_due(self) -> bool:
        """A scheduled backup is configured and the last one (by this server or another) is old enough."""
        if not self.settings.backup_dir:
            return False
        last = self.store.query("SELECT at FROM audit WHERE action = 'backup' AND who = ? ORDER BY id DESC LIMIT 1",
                                [SERVER.id])
        due = (datetime.now(timezone.utc) - timedelta(hours=self.settings.backup_every_hours)).isoformat()
        return not last or last[0]["at"] < due

    def scheduled_backup(self) -> None:
        """Back up into ``V2I_BACKUP_DIR``, keeping ``V2I_BACKUP_KEEP``; a failure is recorded (Overview shows it)."""
        try:
            backup(self.store, self.settings.backup_dir, SERVER, keep=self.settings.backup_keep)
        except (V2IError, OSError) as err:
            log.error("the scheduled backup failed: %s", err)
            record(self.store, SERVER, "backup", self.settings.backup_dir, f"failed: {err}")

    def _beat(self) -> None:
        """Renew the lease of this worker's running jobs, on a thread of its own (a job's step may take minutes)."""
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.queue.heartbeat(self.worker_id)
            except V2IError:  # the store is busy or full: the next beat tries again, well within the lease
                pass

    def end(self, job: dict[str, Any], status: str, error: str | None = None) -> None:
        """Store how a job ended; when the store cannot take it now, keep it and try again before anything else
        (``store_endings``): the job never stays "running" for ever."""
        try:
            self.queue.finish(job, status, error)
        except StorageError as err:
            log.warning("job %s ended %s but the store cannot record it yet (%s): will retry", job["id"], status, err)
            self.endings.append((job, status, error))

    def store_endings(self) -> bool:
        """Store the endings kept by :meth:`end`; returns True when none is left. A job whose person asked to
        cancel meanwhile ends cancelled."""
        while self.endings:
            job, status, error = self.endings[0]
            try:
                row = self.store.query("SELECT cancel_requested FROM jobs WHERE id = ?", [job["id"]])
                if row and row[0]["cancel_requested"]:
                    status, error = CANCELLED, None
                self.queue.finish(job, status, error)
            except StorageError:
                return False
            self.endings.pop(0)
        return True

    def sweep(self) -> None:
        """Housekeeping, at start and hourly: leftover files, and recordings of failed jobs past their keep."""
        self.store.sweep()
        self.queue.expire_failed_uploads(self.settings.failed_keep_days)
        trash.purge_expired(self.store, self.settings.trash_days)
        self._swept_at = time.monotonic()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if getattr(self, "dispatcher", None) is not None:
            self.dispatcher.stop()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Call after submitting, so the job starts now rather than at the next poll."""
        self._wake.set()

    def run_pending(self) -> int:
        """Run every queued job now, in this thread (tests and the CLI); returns how many ran. Endings the store
        could not take come first; while any is left, no new job starts."""
        count = 0
        while self.store_endings() and (jobs := self.queue.claim_batch(self.worker_id, self.batch)):
            self.run_jobs(jobs)
            count += len(jobs)
        return count

    def tick(self) -> int:
        """One round of the background loop: here, run every queued job; returns how many ended."""
        return self.run_pending()

    @property
    def busy(self) -> bool:
        """Jobs in flight elsewhere (an executor's actors): the loop polls again at once rather than sleeping."""
        return False

    @property
    def health(self) -> str | None:
        """A plain message when jobs cannot run now (an executor out of reach), else None."""
        return None

    def embed_missing(self, batch: int = 32) -> int:
        """Embed the images that have no CLIP embedding yet, in batches, then store their novelty and alignment
        and place them on the map; returns how many embeddings were computed. An image whose file cannot be read
        is skipped and recorded, not retried."""
        from .embeddings import EmbeddingCache
        from . import atlas
        from .insights import record_alignment
        from .similarity import missing_embeddings, record_novelty, skip_unreadable, texts_of

        # CLIP loads only when an image or a text must be embedded (upkeep with nothing new reads what is stored).
        cache = EmbeddingCache(self.store, self.models.clip, model_id=self.settings.clip_embedding_id, batch_size=batch)
        total = 0
        while rows := missing_embeddings(self.store, cache.model_id, limit=batch):
            embedded, computed = cache.image_embeddings(rows)
            cache.text_embeddings(texts_of(rows))
            total += computed
            unreadable = [row["id"] for row in rows if row["id"] not in embedded]
            if unreadable:
                skip_unreadable(self.store, cache.model_id, unreadable, "the image file is missing or unreadable")
        record_novelty(self.store, cache)
        record_alignment(self.store, cache)  # what the Insights report reads
        atlas.update(self.store, cache.model_id)  # new images placed on the map (a refit when many are new)
        return total

    def _loop(self) -> None:
        try:
            self.models.warm_up()  # GPU only: the first person should not pay for compilation
        except Exception:  # a model that cannot load is reported when a job needs it
            traceback.print_exc()
        while not self._stop.is_set():
            try:
                if time.monotonic() - self._swept_at > 3600:
                    self.sweep()
                if self.backup_due():
                    self.scheduled_backup()
                if time.monotonic() - self._recovered_at > LEASE_S / 2:  # jobs of workers gone since
                    self._recovered_at = time.monotonic()
                    self.queue.recover()
                ran = self.tick()
                if ran:
                    self._idle_since = time.monotonic()
                    self._embed_pending = self.embed
                elif self._embed_pending and time.monotonic() - self._idle_since >= self.embed_after_idle_s:
                    self._embed_pending = False
                    self.embed_missing()
            except Exception:  # a broken database or model must not kill the worker for good
                traceback.print_exc()
                ran = 0
            if not ran and not self.busy:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def run_jobs(self, jobs: list[dict[str, Any]]) -> None:
        """Run these claimed jobs now (as one batch when several), in this thread, and store how each ended."""
        try:
            self._run_jobs(jobs)
        finally:
            for job in jobs:  # previews and download progress live only while the job runs
                PREVIEWS.drop(job["id"])
                DOWNLOADS.drop(job["id"])

    def _run_jobs(self, jobs: list[dict[str, Any]]) -> None:
        """Compute the jobs (one batch when several), then store each: a job's failure or cancel is its own."""
        computed: list[Any] = [None] * len(jobs)
        work: dict[int, Job] = {}
        for i, job in enumerate(jobs):
            try:
                work[i] = self._job_of(job)
            except Exception as err:  # noqa: BLE001 (unreadable options: that job fails, saying why)
                computed[i] = err
        try:
            made = compute_generations(list(work.values()), settings=self.settings, models=self.models,
                                       recipes_ahead=[queued["recipe"] for queued in self.queue.order()])
        except Exception as err:  # noqa: BLE001 (the batch itself broke: each of its jobs ends saying why)
            made = [err] * len(work)
        for i, result in zip(work, made):
            computed[i] = result
        for job, result in zip(jobs, computed):
            self._store(job, result)

    def _job_of(self, job: dict[str, Any]) -> Job:
        def progress(stage: str, step: int, total: int) -> None:
            if self.queue.progress(job["id"], stage, step, total):
                raise CancelledError("cancelled by the person who asked for it")

        return Job(self.queue.upload_bytes(job), GenerationRequest.from_json(job["options"]), progress,
                   preview=lambda rgb: PREVIEWS.update(job["id"], rgb),
                   download=lambda label, done, total: DOWNLOADS.update(job["id"], label, done, total))

    def _store(self, job: dict[str, Any], result: Any) -> None:
        """A job's ending: its generation stored with the job marked done in the same transaction, or how it ended
        (cancelled, failed with a reason, or a bug: the worker stays alive and says which)."""
        try:
            if isinstance(result, BaseException):
                raise result
            if self.queue.progress(job["id"], "save", result.fields["steps"], result.fields["steps"]):
                raise CancelledError("cancelled by the person who asked for it")
            save_generation(result, self.store, created_by=job["created_by"] or UNKNOWN,
                            on_stored=lambda db, row: self.queue.mark_done_in(db, job["id"], row["id"]))
        except Exception as err:
            self.end(job, *ending_of(err))
            return
        try:
            self.queue.release_upload(job)
        except StorageError:  # the job and its row are stored; the next sweep removes the recording
            pass


_workers: dict[Any, Worker] = {}
_workers_guard = threading.Lock()


def worker_for(settings: Settings, models: ModelCache, store: Store, **kwargs) -> Worker:
    """The worker ``V2I_EXECUTOR`` asks for: this process's own (local), or a dispatcher to Ray actors."""
    if settings.executor == "ray":
        from .cluster import RayWorker

        return RayWorker(settings, models, store, **kwargs)
    return Worker(settings, models, store, **kwargs)


def start_worker(settings: Settings, models: ModelCache) -> Worker:
    """The one worker of this process for this data folder, started on first call."""
    with _workers_guard:
        key = (settings, str(settings.data_dir.resolve()))
        worker = _workers.get(key)
        if worker is None:
            worker = _workers[key] = worker_for(settings, models, Store(settings.data_dir)).start()
        return worker



def stop_workers(timeout: float = 10.0) -> None:
    """Stop every worker of this process (tests, and a clean shutdown)."""
    with _workers_guard:
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        worker.stop(timeout)
