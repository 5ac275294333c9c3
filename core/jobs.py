"""A job queue in SQLite, and the one worker per process that runs jobs in order, one at a time.

Why: on a CPU an image takes minutes, several people share one server, the diffusers pipeline is not
thread-safe, and a Streamlit script run stops when its person navigates away. Jobs survive a restart:
one left ``running`` by a crashed server is marked failed with a reason on the next start.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

from .audio import AudioLimits, decode_audio
from .config import Settings
from .errors import CancelledError, NoSpeechError, NotFoundError, V2IError
from .models import ModelCache
from .paths import UPLOADS, check_id, new_id, relative_name, remove_quietly, write_atomic
from .pipeline import run_generation
from .request import GenerationRequest
from .store import Store, utc_now

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
INTERRUPTED = "the server stopped while this job was running; its recording is kept, submit it again"


class JobQueue:
    def __init__(self, store: Store, limits: AudioLimits = AudioLimits()):
        self.store = store
        self.limits = limits

    def submit(self, audio: bytes, request: GenerationRequest, owner: str = "") -> str:
        """Check the request up front, keep the recording, queue the job; returns its id."""
        request.check()
        decoded = decode_audio(audio, self.limits)  # refuse a bad recording now, not minutes later in the worker
        if request.transcript is None and decoded.is_silent:
            raise NoSpeechError("no speech was heard in the recording (it is silent)")
        job_id = new_id()
        upload = relative_name(UPLOADS, job_id, decoded.extension)
        path = write_atomic(self.store.data_dir, upload, audio)
        try:
            with self.store.write() as db:
                db["jobs"].insert({
                    "id": job_id, "created_at": utc_now(), "owner": owner, "status": QUEUED, "options": request.to_json(),
                    "audio_filename": request.filename, "upload_path": upload, "stage": "queued",
                })
        except BaseException:
            remove_quietly(path)
            raise
        return job_id

    def get(self, job_id: str) -> dict[str, Any]:
        check_id(job_id, "job")
        rows = self.store.query("SELECT * FROM jobs WHERE id = ?", [job_id])
        if not rows:
            raise NotFoundError(f"no job with id {job_id}")
        return rows[0]

    def list(self, owner: str | None = None, *, limit: int = 50) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM jobs", []
        if owner is not None:
            sql += " WHERE owner = ?"
            params.append(owner)
        return self.store.query(sql + " ORDER BY created_at DESC LIMIT ?", [*params, limit])

    def counts(self) -> dict[str, int]:
        rows = self.store.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
        return {status: 0 for status in (QUEUED, RUNNING, DONE, FAILED, CANCELLED)} | dict(rows)

    def position(self, job_id: str) -> int | None:
        """1 for the next job to run; None once it is no longer queued."""
        job = self.get(job_id)
        if job["status"] != QUEUED:
            return None
        ahead = self.store.execute(
            "SELECT count(*) FROM jobs WHERE status = ? AND (created_at < ? OR (created_at = ? AND id < ?))",
            [QUEUED, job["created_at"], job["created_at"], job_id],
        ).fetchone()[0]
        return ahead + 1

    def cancel(self, job_id: str) -> str:
        """A queued job is cancelled at once; a running one stops at its next step. Returns the new status."""
        with self.store.write() as db:
            job = self.get(job_id)
            if job["status"] == QUEUED:
                db["jobs"].update(job_id, {"status": CANCELLED, "finished_at": utc_now(), "stage": "cancelled"})
                status = CANCELLED
            elif job["status"] == RUNNING:
                db["jobs"].update(job_id, {"cancel_requested": 1})
                status = RUNNING
            else:
                return job["status"]
        if status == CANCELLED:
            self.release_upload(job)
        return status

    def claim_next(self) -> dict[str, Any] | None:
        """Take the oldest queued job and mark it running, atomically (two workers never take the same job)."""
        with self.store.write() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY created_at, id LIMIT 1", [QUEUED]
            ).fetchone()
            if row is None:
                return None
            db["jobs"].update(row[0], {"status": RUNNING, "started_at": utc_now(), "stage": "starting"})
        return self.get(row[0])

    def progress(self, job_id: str, stage: str, step: int, total: int) -> bool:
        """Record progress; returns True when the person asked to cancel."""
        with self.store.write() as db:
            db.execute("UPDATE jobs SET stage = ?, step = ?, total_steps = ? WHERE id = ?", [stage, step, total, job_id])
        return bool(self.store.execute("SELECT cancel_requested FROM jobs WHERE id = ?", [job_id]).fetchone()[0])

    def mark_done_in(self, db, job_id: str, generation_id: str) -> None:
        """Runs inside the transaction that stores the generation: the job and its row land together."""
        db.execute(
            "UPDATE jobs SET status = ?, finished_at = ?, stage = ?, generation_id = ?, step = total_steps WHERE id = ?",
            [DONE, utc_now(), DONE, generation_id, job_id],
        )

    def finish(self, job: dict[str, Any], status: str, error: str | None = None) -> None:
        with self.store.write() as db:
            db["jobs"].update(job["id"], {"status": status, "finished_at": utc_now(), "stage": status, "error": error})
        if status != FAILED:  # a failed job keeps its recording so nothing the person gave is lost
            self.release_upload(job)

    def recover(self) -> int:
        """On start: jobs left running by a stopped server are marked failed with the reason."""
        with self.store.write() as db:
            cursor = db.execute(
                "UPDATE jobs SET status = ?, error = ?, finished_at = ?, stage = ? WHERE status = ?",
                [FAILED, INTERRUPTED, utc_now(), FAILED, RUNNING],
            )
            return cursor.rowcount

    def upload_bytes(self, job: dict[str, Any]) -> bytes:
        return self.store.file_path(job["upload_path"]).read_bytes()

    def release_upload(self, job: dict[str, Any]) -> None:
        """The job is over and its generation (if any) keeps its own copy: drop the queued recording."""
        if job.get("upload_path"):
            remove_quietly(self.store.file_path(job["upload_path"]))
            with self.store.write() as db:
                db["jobs"].update(job["id"], {"upload_path": None})


class Worker:
    """Runs queued jobs one at a time in a background thread, for the life of the process."""

    def __init__(self, settings: Settings, models: ModelCache, store: Store, *, poll_seconds: float = 0.5,
                 embed: bool = True, embed_after_idle_s: float = 10.0):
        self.settings, self.models, self.store = settings, models, store
        self.queue = JobQueue(store, settings.audio_limits)
        self.poll_seconds = poll_seconds
        self.embed = embed  # compute CLIP embeddings of new (and older, unembedded) images when idle
        self._embed_pending = embed
        # Backfill only once the queue has been quiet a while, so it never competes with a person's first clicks.
        self.embed_after_idle_s = embed_after_idle_s
        self._idle_since = time.monotonic()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Worker":
        if self._thread is None or not self._thread.is_alive():
            self.queue.recover()
            self.store.sweep()
            self._thread = threading.Thread(target=self._loop, name="v2i-worker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Call after submitting, so the job starts now rather than at the next poll."""
        self._wake.set()

    def run_pending(self) -> int:
        """Run every queued job now, in this thread (tests and the CLI); returns how many ran."""
        count = 0
        while (job := self.queue.claim_next()) is not None:
            self._run(job)
            count += 1
        return count

    def embed_missing(self, batch: int = 32) -> int:
        """Embed the images that have no CLIP embedding yet, in batches, then store their novelty; returns how
        many embeddings were computed. An image whose file cannot be read is skipped and recorded, not retried."""
        from .embeddings import EmbeddingCache
        from .similarity import missing_embeddings, record_novelty, skip_unreadable, texts_of

        cache = EmbeddingCache(self.store, self.models.clip(), batch_size=batch)
        total = 0
        while rows := missing_embeddings(self.store, cache.model_id, limit=batch):
            embedded, computed = cache.image_embeddings(rows)
            cache.text_embeddings(texts_of(rows))
            total += computed
            unreadable = [row["id"] for row in rows if row["id"] not in embedded]
            if unreadable:
                skip_unreadable(self.store, cache.model_id, unreadable, "the image file is missing or unreadable")
        record_novelty(self.store, cache)
        return total

    def _loop(self) -> None:
        try:
            self.models.warm_up()  # GPU only: the first person should not pay for compilation
        except Exception:  # a model that cannot load is reported when a job needs it
            traceback.print_exc()
        while not self._stop.is_set():
            try:
                ran = self.run_pending()
                if ran:
                    self._idle_since = time.monotonic()
                    self._embed_pending = self.embed
                elif self._embed_pending and time.monotonic() - self._idle_since >= self.embed_after_idle_s:
                    self._embed_pending = False
                    self.embed_missing()
            except Exception:  # a broken database or model must not kill the worker for good
                traceback.print_exc()
                ran = 0
            if not ran:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def _run(self, job: dict[str, Any]) -> None:
        def progress(stage: str, step: int, total: int) -> None:
            if self.queue.progress(job["id"], stage, step, total):
                raise CancelledError("cancelled by the person who asked for it")

        try:
            request = GenerationRequest.from_json(job["options"])  # unreadable options fail the job, with why
            run_generation(
                self.queue.upload_bytes(job), request, settings=self.settings, models=self.models, store=self.store, progress=progress,
                on_stored=lambda db, row: self.queue.mark_done_in(db, job["id"], row["id"]),
            )
        except CancelledError:
            self.queue.finish(job, CANCELLED)
            return
        except (V2IError, ValueError, OSError) as err:
            self.queue.finish(job, FAILED, str(err))
            return
        except Exception as err:  # an unexpected bug: keep the worker alive and say what happened
            traceback.print_exc()
            self.queue.finish(job, FAILED, f"unexpected error: {type(err).__name__}: {err}")
            return
        self.queue.release_upload(job)


_workers: dict[Any, Worker] = {}
_workers_guard = threading.Lock()


def start_worker(settings: Settings, models: ModelCache) -> Worker:
    """The one worker of this process for this data folder, started on first call."""
    with _workers_guard:
        key = (settings, str(settings.data_dir.resolve()))
        worker = _workers.get(key)
        if worker is None:
            worker = _workers[key] = Worker(settings, models, Store(settings.data_dir)).start()
        return worker



def stop_workers(timeout: float = 10.0) -> None:
    """Stop every worker of this process (tests, and a clean shutdown)."""
    with _workers_guard:
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        worker.stop(timeout)
