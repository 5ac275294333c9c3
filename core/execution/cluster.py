"""Generation on Ray actors (``V2I_EXECUTOR=ray``): more machines, one queue, one writer.

The dashboard process stays the only writer of SQLite and of the data folder. :class:`RayWorker` takes jobs in
the queue's fair order, sends each recording and request to a free :class:`GenerationActor` (which holds its own
models and runs :func:`core.execution.pipeline.compute_generation`), relays the actor's progress and preview into the job's
row, asks it to stop when the person cancels, and stores what comes back with
:func:`core.execution.pipeline.save_generation`, the same atomic write path as the local worker.

Faults: an actor that dies mid-job is replaced and its job runs once more on a free actor, then fails with the
reason (its recording kept). A cluster out of reach, at start or later, is a plain message (``health``); running
jobs go back to the queue in their place and queued ones wait until it is back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..errors import CancelledError, StorageError, V2IError
from ..generation.request import GenerationRequest
from ..history.store import Store
from ..models.cache import ModelCache
from ..people.person import UNKNOWN
from .jobs import FAILED, ending_of
from .pipeline import compute_generation, save_generation
from .progress import DOWNLOADS, PREVIEWS
from .worker import Worker

STATUS_EVERY_S = 0.25  # how often a running job's progress is read from its actor
WAIT_S = 0.2  # the longest one round waits for a result
RECONNECT_EVERY_S = 30.0
PROBE_TIMEOUT_S = 20.0  # ray.init blocks for minutes on an address nobody answers: ask a child process first
MAX_ATTEMPTS = 2  # a job whose actor dies runs once more, then fails


class ClusterUnavailableError(V2IError):
    """The Ray cluster cannot be reached now; nothing was lost (queued jobs wait)."""


class GenerationActor:
    """One Ray actor: its own model cache (the same loaders and recipes as the local worker); computes, never
    stores. Threaded (``max_concurrency``), so ``status`` and ``cancel`` answer while ``compute`` runs."""

    def __init__(self, settings: Settings, threads: int):
        import torch  # torch loads on first use: pages import core without it

        torch.set_num_threads(max(1, threads))
        self.settings = settings
        self.models = ModelCache(settings)
        self._status: dict[str, dict[str, Any]] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._guard = threading.Lock()

    def pid(self) -> int:
        return os.getpid()

    def compute(self, job_id: str, audio: bytes, request_json: str):
        with self._guard:
            cancel = self._cancel.setdefault(job_id, threading.Event())
            self._status[job_id] = {"stage": "starting", "step": 0, "total": 0, "preview": None, "downloads": {}}

        def progress(stage: str, step: int, total: int) -> None:
            self._status[job_id].update(stage=stage, step=step, total=total)
            if cancel.is_set():
                raise CancelledError("cancelled by the person who asked for it")

        def preview(rgb) -> None:
            self._status[job_id]["preview"] = rgb

        def download(model: str, done: int, total: int) -> None:  # a first run on this actor's machine
            self._status[job_id]["downloads"] = {**self._status[job_id]["downloads"], model: (done, total)}

        try:
            return compute_generation(audio, GenerationRequest.from_json(request_json), settings=self.settings,
                                      models=self.models, progress=progress, preview=preview, download=download)
        finally:
            with self._guard:
                self._status.pop(job_id, None)
                self._cancel.pop(job_id, None)

    def status(self, job_id: str) -> dict[str, Any] | None:
        """The running job's stage, step, latest preview and downloads (None once it has ended)."""
        current = self._status.get(job_id)
        return None if current is None else dict(current)

    def cancel(self, job_id: str) -> None:
        with self._guard:
            self._cancel.setdefault(job_id, threading.Event()).set()


@dataclass
class InFlight:
    job: dict[str, Any]
    slot: int
    ref: Any
    attempt: int
    status_ref: Any = None
    status_at: float = 0.0
    cancel_sent: bool = False


@dataclass
class Slot:
    actor: Any = None
    job_id: str | None = None
    lost: list[str] = field(default_factory=list)  # why earlier actors in this slot died


def probe(address: str, timeout: float | None = None) -> str | None:
    """Can a Ray cluster be joined at ``address``? None if so, else why not. Asked in a child process, because
    ``ray.init`` on an address nobody answers retries for minutes (and may end the process that called it)."""
    timeout = timeout or PROBE_TIMEOUT_S
    code = ("import ray, sys; ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False); "
            "ray.cluster_resources(); ray.shutdown()")
    try:
        done = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"no answer within {timeout:.0f} s"
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return lines[-1][:200] if lines else f"exit status {done.returncode}"
    return None


def connect(settings: Settings) -> None:
    """Join the cluster at ``V2I_RAY_ADDRESS`` (after :func:`probe`), or start a Ray inside this process."""
    import ray  # Ray is optional (V2I_EXECUTOR=ray): imported only when asked for

    if ray.is_initialized():
        return
    if settings.ray_address and (why := probe(settings.ray_address)):
        raise ConnectionError(why)
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if settings.ray_address:
        # Machines of the cluster run this same checkout (docs/scale-out.md); ``core`` travels with the jobs too.
        ray.init(address=settings.ray_address, runtime_env={"py_modules": [os.path.join(root, "core")]}, **options)
    else:
        cpus = max(os.cpu_count() or 1, int(settings.ray_workers * settings.ray_cpus_per_worker + 0.999))
        ray.init(num_cpus=cpus, runtime_env={"env_vars": {"PYTHONPATH": root}}, **options)


class RayWorker(Worker):
    """The dispatcher: the local worker's loop, with jobs computed on Ray actors instead of in this thread."""

    def __init__(self, settings: Settings, models: ModelCache, store: Store, **kwargs):
        super().__init__(settings, models, store, **kwargs)
        self.slots = [Slot() for _ in range(settings.ray_workers)]
        self.in_flight: dict[str, InFlight] = {}
        self._health: str | None = None
        self._connected = False
        self._tried_at = -RECONNECT_EVERY_S

    # -- what the pages and the CLI read --------------------------------------------------------------------

    @property
    def health(self) -> str | None:
        return self._health

    @property
    def busy(self) -> bool:
        return bool(self.in_flight)

    def run_pending(self) -> int:
        """Run every queued job on the actors and wait for all of them (tests and ``worker --until-empty``).
        A cluster out of reach raises :class:`ClusterUnavailableError`; the jobs stay queued."""
        ended = 0
        while True:
            ended += self.tick()
            if not self.in_flight and not self.queue.counts().get("queued"):
                return ended
            if self._health and not self._connected:
                raise ClusterUnavailableError(self._health)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and this worker's actors (their CPUs and GPUs go back to the cluster); jobs they were
        running go back to the queue, so the next server runs them."""
        import ray  # Ray is optional (V2I_EXECUTOR=ray): imported only when asked for

        super().stop(timeout)
        for flight in list(self.in_flight.values()):
            self.queue.requeue(flight.job["id"])
        self.in_flight.clear()
        for slot in self.slots:
            if slot.actor is not None and ray.is_initialized():
                ray.kill(slot.actor)
            slot.actor, slot.job_id = None, None

    # -- one round ------------------------------------------------------------------------------------------

    def tick(self) -> int:
        """Connect if needed, give free actors the next jobs, relay progress and cancels, store what finished.
        Returns how many jobs ended this round."""
        import ray  # Ray is optional (V2I_EXECUTOR=ray): imported only when asked for

        if not self._ensure_connected():
            return 0
        try:
            if self.store_endings():  # endings the store could not take come first
                self._dispatch()
            ended = self._collect()
            self._relay()
            return ended
        except (ray.exceptions.RaySystemError, ConnectionError) as err:
            self._lose_cluster(err)
            return 0

    def _ensure_connected(self) -> bool:
        import ray  # Ray is optional (V2I_EXECUTOR=ray): imported only when asked for

        if self._connected and ray.is_initialized():
            return True
        if time.monotonic() - self._tried_at < RECONNECT_EVERY_S:
            return False
        self._tried_at = time.monotonic()
        try:
            connect(self.settings)
            ray.cluster_resources()
        except Exception as err:  # unreachable, refused, wrong version...: a message, and the queue waits
            why = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            self._health = (f"The Ray cluster at {self.settings.ray_address or 'this server'} cannot be reached "
                            f"({why}). Queued jobs wait and run when it is back.")
            return False
        self._connected, self._health = True, None
        return True

    def _lose_cluster(self, err: BaseException) -> None:
        import ray  # Ray is optional (V2I_EXECUTOR=ray): imported only when asked for

        self._health = (f"The Ray cluster went away ({type(err).__name__}). Running jobs went back to the queue; "
                        "queued jobs wait and run when it is back.")
        for flight in list(self.in_flight.values()):
            self.queue.requeue(flight.job["id"])
        self.in_flight.clear()
        for slot in self.slots:  # best effort: on a cluster that is really gone there is nothing left to stop
            try:
                if slot.actor is not None:
                    ray.kill(slot.actor)
            except Exception:
                pass
        self.slots = [Slot() for _ in self.slots]
        self._connected = False
        try:
            ray.shutdown()
        except Exception:
            pass

    def _actor(self, index: int):
        import ray  # Ray is optional (V2I_EXECUTOR=ray): imported only when asked for

        slot = self.slots[index]
        if slot.actor is None:
            gpus = self.settings.ray_gpus_per_worker
            if gpus is None:
                gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
            remote = ray.remote(GenerationActor).options(
                num_cpus=self.settings.ray_cpus_per_worker, num_gpus=gpus, max_concurrency=4)
            slot.actor = remote.remote(self.settings, int(self.settings.ray_cpus_per_worker))
        return slot.actor

    def _dispatch(self) -> None:
        for index, slot in enumerate(self.slots):
            if slot.job_id is not None:
                continue
            job = self.queue.claim_next(self.worker_id)
            if job is None:
                return
            self._send(job, index, attempt=1)

    def _send(self, job: dict[str, Any], index: int, attempt: int) -> None:
        try:
            audio = self.queue.upload_bytes(job)
        except OSError as err:
            self.end(job, FAILED, f"the recording cannot be read: {err}")
            return
        ref = self._actor(index).compute.remote(job["id"], audio, job["options"])
        self.slots[index].job_id = job["id"]
        self.in_flight[job["id"]] = InFlight(job, index, ref, attempt)

    def _collect(self) -> int:
        import ray  # Ray is optional (V2I_EXECUTOR=ray): imported only when asked for

        if not self.in_flight:
            return 0
        by_ref = {flight.ref: flight for flight in self.in_flight.values()}
        done, _ = ray.wait(list(by_ref), num_returns=1, timeout=WAIT_S)  # back as soon as one is done
        ended = 0
        for ref in done:
            flight = by_ref[ref]
            self.slots[flight.slot].job_id = None
            del self.in_flight[flight.job["id"]]
            ended += self._finish(flight, ref)
        return ended

    def _finish(self, flight: InFlight, ref) -> int:
        """Store a finished job, or record why it did not finish; returns 1 when the job ended (0: retried)."""
        import ray  # Ray is optional (V2I_EXECUTOR=ray): imported only when asked for


        job = flight.job
        try:
            computed = ray.get(ref)
        except ray.exceptions.RayActorError as err:  # the actor's process died (killed, out of memory...)
            self.slots[flight.slot].actor = None  # replaced on its next job
            reason = f"a generation worker stopped mid-job ({type(err).__name__})"
            self.slots[flight.slot].lost.append(reason)
            if flight.attempt < MAX_ATTEMPTS:
                free = next((i for i, s in enumerate(self.slots) if s.job_id is None and i != flight.slot),
                            flight.slot)
                self._send(job, free, attempt=flight.attempt + 1)
                return 0
            self.end(job, FAILED, f"{reason}, twice; the recording is kept: submit it again")
            return 1
        except ray.exceptions.RayTaskError as err:
            self.end(job, *ending_of(err.cause if getattr(err, "cause", None) is not None else err))
            return 1
        finally:
            PREVIEWS.drop(job["id"])
            DOWNLOADS.drop(job["id"])
        try:
            self.queue.progress(job["id"], "save", computed.fields["steps"], computed.fields["steps"])
            save_generation(computed, self.store, created_by=job["created_by"] or UNKNOWN,
                            on_stored=lambda db, row: self.queue.mark_done_in(db, job["id"], row["id"]))
        except (V2IError, OSError) as err:
            self.end(job, *ending_of(err))
            return 1
        try:
            self.queue.release_upload(job)
        except StorageError:  # the job and its row are stored; the next sweep removes the recording
            pass
        return 1

    def _relay(self) -> None:
        """Each running job's progress, preview and downloads into its row and the in-memory stores; a cancel to
        its actor."""
        import ray  # Ray is optional (V2I_EXECUTOR=ray): imported only when asked for

        now = time.monotonic()
        for flight in list(self.in_flight.values()):
            if flight.status_ref is not None:
                ready, _ = ray.wait([flight.status_ref], timeout=0)
                if not ready:
                    continue
                try:
                    status = ray.get(flight.status_ref)
                except ray.exceptions.RayError:
                    status = None  # the actor is gone: _collect hears of it from the job itself
                flight.status_ref = None
                if status is not None:
                    cancel = self.queue.progress(flight.job["id"], status["stage"], status["step"], status["total"])
                    if status["preview"] is not None:
                        PREVIEWS.update(flight.job["id"], status["preview"])
                    for model, (done, total) in status.get("downloads", {}).items():
                        DOWNLOADS.update(flight.job["id"], model, done, total)
                    if cancel and not flight.cancel_sent:
                        self.slots[flight.slot].actor.cancel.remote(flight.job["id"])
                        flight.cancel_sent = True
            if now - flight.status_at >= STATUS_EVERY_S and self.slots[flight.slot].actor is not None:
                flight.status_ref = self.slots[flight.slot].actor.status.remote(flight.job["id"])
                flight.status_at = now
