"""The worker: runs queued jobs in a background thread for the life of the process (one batch at a time on a
GPU), stores how each ended, and keeps house when the queue is quiet (sweeps, scheduled backups, recovery of
jobs whose worker is gone, and :mod:`core.execution.upkeep`)."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from datetime import datetime, timedelta, timezone
from typing import Any

from ..config import Settings, gpu_batch
from ..errors import CancelledError, StorageError, V2IError
from ..generation.diffusion import warm_up
from ..generation.request import GenerationRequest
from ..history import trash
from ..history.audit import record
from ..history.backup import backup, load_key
from ..history.provenance import check_signing
from ..history.store import Store
from ..hooks import webhooks
from ..models.cache import ModelCache
from ..people.person import UNKNOWN, Person
from . import upkeep
from .jobs import CANCELLED, HEARTBEAT_S, LEASE_S, JobQueue, ending_of, new_worker_id
from .pipeline import Job, compute_generations, save_generation
from .progress import DOWNLOADS, PREVIEWS

log = logging.getLogger("v2i.jobs")
SERVER = Person("server", "the server", "admin", "server")  # who scheduled upkeep acts as, in the audit trail


class Worker:
    """Runs queued jobs one at a time in a background thread, for the life of the process."""

    def __init__(self, settings: Settings, models: ModelCache, store: Store, *, poll_seconds: float = 0.5,
                 embed: bool = True, embed_after_idle_s: float = 10.0):
        self.settings, self.models, self.store = settings, models, store
        self.queue = JobQueue.for_settings(store, settings)
        self.poll_seconds = poll_seconds
        self.embed = embed  # compute CLIP embeddings of new (and older, unembedded) images when idle
        self.backfill_due = embed  # images may lack embeddings: the idle upkeep runs at the next quiet spell
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
        self.endings: list[tuple[dict[str, Any], str, str | None, tuple[str, ...]]] = []

    def start(self) -> "Worker":
        """Start the worker's threads (once); refuses to start when the C2PA key cannot sign (every job would
        fail after painting)."""
        if self._thread is None or not self._thread.is_alive():
            check_signing(self.settings)
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
            self.dispatcher = webhooks.Dispatcher(self.store, self.settings.public_url,
                                                  allow_local=self.settings.webhooks_allow_local).start()
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
            result = backup(self.store, self.settings.backup_dir, SERVER, keep=self.settings.backup_keep,
                            key=load_key(self.settings.backup_key, self.store.data_dir))
            if not result.whole:
                log.error("the scheduled backup is not whole: %d files missing from the data folder (run "
                          "`python -m core check`): %s", len(result.missing), ", ".join(result.missing[:10]))
        except (V2IError, OSError) as err:
            log.error("the scheduled backup failed: %s", err)
            record(self.store, SERVER, "backup", self.settings.backup_dir, f"failed: {err}")

    def _beat(self) -> None:
        """Say this worker is alive and renew its running jobs' leases, at once and then every HEARTBEAT_S, on a
        thread of its own (a job's step may take minutes)."""
        while True:
            try:
                self.queue.heartbeat(self.worker_id)
            except V2IError:  # the store is busy or full: the next beat tries again, well within the lease
                pass
            if self._stop.wait(HEARTBEAT_S):
                return

    def end(self, job: dict[str, Any], status: str, error: str | None = None, doubtful_words: tuple[str, ...] = ()) -> None:
        """Store how a job ended; when the store cannot take it now, keep it and try again before anything else
        (``store_endings``): the job never stays "running" for ever."""
        try:
            self.queue.finish(job, status, error, doubtful_words)
        except StorageError as err:
            log.warning("job %s ended %s but the store cannot record it yet (%s): will retry", job["id"], status, err)
            self.endings.append((job, status, error, doubtful_words))

    def store_endings(self) -> bool:
        """Store the endings kept by :meth:`end`; returns True when none is left. A job whose person asked to
        cancel meanwhile ends cancelled."""
        while self.endings:
            job, status, error, words = self.endings[0]
            try:
                row = self.store.query("SELECT cancel_requested FROM jobs WHERE id = ?", [job["id"]])
                if row and row[0]["cancel_requested"]:
                    status, error, words = CANCELLED, None, ()
                self.queue.finish(job, status, error, words)
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
        if self._beat_thread is not None:
            self._beat_thread.join(timeout)
        try:
            self.queue.worker_gone_away(self.worker_id)
        except V2IError:  # a store that cannot be written: the heartbeat goes stale on its own
            pass

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
        """The idle upkeep (:func:`core.execution.upkeep.embed_missing`): returns how many embeddings were computed.
        It gives way between batches to a job that could start and to :meth:`stop` (a backfill of thousands of
        images takes minutes on the CPU); what it left is picked up after the next quiet spell."""
        gave_way = False

        def keep_going() -> bool:
            nonlocal gave_way
            gave_way = self._stop.is_set() or self.queue.has_startable()
            return not gave_way

        self.backfill_due = False  # a backfill that fails is not retried at every poll
        total = upkeep.embed_missing(self.store, self.settings, self.models, batch, keep_going)
        self.backfill_due = gave_way and self.embed
        return total

    def _loop(self) -> None:
        try:
            warm_up(self.models)  # GPU only: the first person should not pay for compilation
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
                    self.backfill_due = self.embed
                elif self.backfill_due and time.monotonic() - self._idle_since >= self.embed_after_idle_s:
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
            self.models.expect([queued["recipe"] for queued in self.queue.order()])  # when a LoRA fusing pays
            made = compute_generations(list(work.values()), settings=self.settings, models=self.models)
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
