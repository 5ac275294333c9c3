"""Which worker runs this process's jobs (``V2I_EXECUTOR``): its own thread (local), or a dispatcher to Ray
actors (:mod:`core.execution.cluster`); one per data folder, started on first call."""

from __future__ import annotations

import threading
from typing import Any

from ..config import Settings
from ..history.store import Store
from ..models.cache import ModelCache
from .cluster import RayWorker  # it imports Ray itself only when a RayWorker starts
from .worker import Worker

_workers: dict[Any, Worker] = {}
_workers_guard = threading.Lock()


def worker_for(settings: Settings, models: ModelCache, store: Store, **kwargs) -> Worker:
    """The worker ``V2I_EXECUTOR`` asks for: this process's own (local), or a dispatcher to Ray actors."""
    if settings.executor == "ray":
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
