"""Load: several processes and threads generating into one data folder at once, with readers.

    python -m bench.load [--processes 2] [--threads 4] [--each 5] [--timeout 600]
    python -m bench.load --executor ray [--workers 2] [--jobs 8]

Uses the tiny profile in a temporary data folder (no network, nothing leaves this machine). Each
submitter runs the core pipeline (decode, transcribe, enhance, generate, store) for its recordings;
readers page through History meanwhile. Prints submitted, stored, failed, lost, reader queries and
latency percentiles, then checks the database (integrity, one row per generation, no orphan file).
Bounded in count and in time.

With ``--executor ray``: the job queue run by Ray actors (a local Ray, one torch thread per actor), equal jobs
(tiny profile, 20 steps at 128x128, transcribed by the random-weight whisper), after one warm-up job per actor
(model loads excluded). Prints images per minute for 1 to N actors, the speed-up, and the per-job overhead of the
remote path: seconds per job through one actor against the local worker in this process, also on one thread.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path


def _recording(i: int) -> bytes:
    from core.generation.synth import recording

    return recording("wav", seconds=1.0, frequency=200 + 37 * i)


def _submitter_process(env: dict, process: int, threads: int, each: int, deadline: float, results) -> None:
    os.environ.update(env)
    from core.config import load_settings
    from core.config.recipes import GenerationOptions
    from core.models.cache import shared_models
    from core.execution.pipeline import run_generation
    from core.generation.request import GenerationRequest
    from core.history.store import Store

    settings = load_settings()
    models = shared_models(settings)
    store = Store(settings.data_dir)

    def submit(thread: int) -> None:
        for n in range(each):
            if time.time() > deadline:
                results.put(("skipped", 0.0, ""))
                continue
            i = (process * threads + thread) * each + n
            started = time.perf_counter()
            try:
                run_generation(_recording(i), GenerationRequest(
                    filename=f"load-{i}.wav", options=GenerationOptions(steps=2, width=64, height=64, seed=i)),
                               settings=settings, models=models, store=store)
                results.put(("stored", time.perf_counter() - started, ""))
            except Exception as err:  # counted and reported, never hidden
                results.put(("failed", time.perf_counter() - started, f"{type(err).__name__}: {err}"))

    workers = [threading.Thread(target=submit, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _reader(data_dir: Path, stop: threading.Event, counts: dict) -> None:
    from core.history.query import HistoryFilter
    from core.history.store import Store

    store = Store(data_dir)
    while not stop.is_set():
        try:
            store.count_generations(HistoryFilter(search="load"))
            store.query_generations(limit=25)
            counts["queries"] += 1
        except Exception as err:
            counts["errors"].append(f"{type(err).__name__}: {err}")
        time.sleep(0.02)


def _equal_jobs(queue, count: int, person: str = "bench") -> None:
    from core.config.recipes import GenerationOptions
    from core.generation.request import GenerationRequest

    for i in range(count):
        queue.submit(_recording(0), GenerationRequest(
            filename=f"equal-{i}.wav", force=True, options=GenerationOptions(steps=20, width=128, height=128, seed=i)),
            created_by=person)


def _timed_queue(worker, queue, jobs: int) -> float:
    from core.execution.jobs import DONE

    _equal_jobs(queue, jobs)
    started = time.perf_counter()
    worker.run_pending()
    seconds = time.perf_counter() - started
    done = sum(job["status"] == DONE for job in queue.list(limit=10_000))
    assert done == len(queue.list(limit=10_000)), [(j["status"], j["error"]) for j in queue.list()]
    return seconds


def ray_main(args) -> None:
    import torch

    from core.execution.cluster import RayWorker, connect
    from core.config import load_settings
    from core.execution.jobs import JobQueue
    from core.execution.worker import Worker
    from core.models.cache import ModelCache
    from core.history.store import Store
    from core.models.tiny import ensure_tiny_models, tiny_model_paths

    torch.set_num_threads(1)  # the local baseline on one thread, as each actor
    with tempfile.TemporaryDirectory() as folder:
        tiny = Path(os.environ.get("V2I_TINY_MODELS_DIR", Path(folder) / "tiny"))
        ensure_tiny_models(tiny)
        os.environ.update(V2I_PROFILE="tiny", V2I_TINY_MODELS_DIR=str(tiny),
                          V2I_WHISPER_MODEL=str(tiny_model_paths(tiny).whisper))
        base = load_settings()
        connect(base.with_overrides(ray_workers=args.workers))

        def fresh(name: str, **changes):
            settings = base.with_overrides(data_dir=Path(folder) / name, **changes)
            return settings, Store(settings.data_dir)

        settings, store = fresh("local")
        local = Worker(settings, ModelCache(settings), store, embed=False)
        _timed_queue(local, JobQueue(store), 1)  # warm-up: models loaded
        local_s = _timed_queue(local, JobQueue(store), args.jobs) / args.jobs
        per_minute = {}
        for n in range(1, args.workers + 1):
            settings, store = fresh(f"ray{n}", executor="ray", ray_workers=n, ray_cpus_per_worker=1.0)
            worker = RayWorker(settings, ModelCache(settings), store, embed=False)
            try:
                _timed_queue(worker, JobQueue(store), n)  # warm-up: one job per actor loads its models
                seconds = _timed_queue(worker, JobQueue(store), args.jobs)
            finally:
                worker.stop()
            per_minute[n] = 60.0 * args.jobs / seconds
            print(f"ray_images_per_min_{n}_actor{'s' if n > 1 else ''}: {per_minute[n]:.1f}")
            if n == 1:
                print(f"local_s_per_job: {local_s:.3f}\nray_s_per_job_1_actor: {seconds / args.jobs:.3f}")
                print(f"ray_overhead_s_per_job: {seconds / args.jobs - local_s:.3f}")
        if args.workers > 1:
            print(f"ray_speedup_{args.workers}_vs_1: {per_minute[args.workers] / per_minute[1]:.2f}")
        print(f"store_s_per_image_512: {_store_seconds(Path(folder) / 'writer'):.4f}")
        print(f"progress_write_s: {_progress_seconds(Path(folder) / 'progress'):.5f}")


def _progress_seconds(data_dir: Path, repeats: int = 200) -> float:
    """What the dispatcher spends relaying one progress report of a running job into its row."""
    from core.execution.jobs import JobQueue
    from core.generation.request import GenerationRequest
    from core.history.store import Store

    queue = JobQueue(Store(data_dir))
    job_id = queue.submit(_recording(0), GenerationRequest(filename="p.wav"))
    started = time.perf_counter()
    for step in range(repeats):
        queue.progress(job_id, "generate", step, repeats)
    return (time.perf_counter() - started) / repeats


def _store_seconds(data_dir: Path, repeats: int = 20) -> float:
    """What the single writer spends per image: save_generation of a 512x512 PNG of noise (incompressible, so
    larger than a real image's) and a 5 s recording: two atomic file writes and one row, in a transaction."""
    import io

    import numpy as np
    from PIL import Image

    from core.execution.pipeline import ComputedGeneration, save_generation
    from core.history.store import Store

    store = Store(data_dir)
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)).save(buffer, "PNG")
    fields = {"transcript": "a red fox in the snow", "prompt": "a red fox in the snow, detailed", "steps": 20}
    times = []
    for _ in range(repeats):
        computed = ComputedGeneration(_recording(0) * 5, "wav", buffer.getvalue(), dict(fields))
        started = time.perf_counter()
        save_generation(computed, store)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--workers", type=int, default=2, help="with --executor ray: measure 1 to this many actors")
    parser.add_argument("--jobs", type=int, default=8, help="with --executor ray: timed jobs per measurement")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--each", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    if args.executor == "ray":
        ray_main(args)
        return

    from core.history.store import Store
    from core.models.tiny import ensure_tiny_models, tiny_model_paths

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        tiny = Path(os.environ.get("V2I_TINY_MODELS_DIR", Path(folder) / "tiny"))
        ensure_tiny_models(tiny)
        # The random-weight whisper: tones through tiny.en would measure its fallbacks, not the pipeline's concurrency.
        env = {"V2I_PROFILE": "tiny", "V2I_DATA_DIR": str(data_dir), "V2I_TINY_MODELS_DIR": str(tiny),
               "V2I_WHISPER_MODEL": str(tiny_model_paths(tiny).whisper)}
        Store(data_dir)  # schema first, so submitters start on an existing database
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        deadline = time.time() + args.timeout
        started = time.perf_counter()
        processes = [context.Process(target=_submitter_process,
                                     args=(env, p, args.threads, args.each, deadline, results))
                     for p in range(args.processes)]
        stop, reads = threading.Event(), {"queries": 0, "errors": []}
        reader = threading.Thread(target=_reader, args=(data_dir, stop, reads))
        reader.start()
        for process in processes:
            process.start()
        submitted = args.processes * args.threads * args.each
        outcomes = []
        while len(outcomes) < submitted and time.time() < deadline + 30:
            try:
                outcomes.append(results.get(timeout=1))
            except Exception:
                if not any(p.is_alive() for p in processes):
                    break
        for process in processes:
            process.join(timeout=30)
        stop.set()
        reader.join()
        wall = time.perf_counter() - started

        store = Store(data_dir)
        stored_rows = store.count_generations()
        latencies = sorted(seconds for kind, seconds, _ in outcomes if kind == "stored")
        failures = [message for kind, _, message in outcomes if kind == "failed"]
        print(f"submitters: {args.processes} processes x {args.threads} threads, {args.each} each")
        print(f"submitted: {submitted}")
        print(f"stored: {len(latencies)} (rows in the database: {stored_rows})")
        print(f"failed: {len(failures)}")
        print(f"lost: {submitted - len(outcomes)}")
        print(f"reader_queries: {reads['queries']} (errors: {len(reads['errors'])})")
        if latencies:
            q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
            print(f"latency_p50_s: {q[49]:.2f}\nlatency_p95_s: {q[94]:.2f}\nlatency_max_s: {latencies[-1]:.2f}")
        print(f"wall_s: {wall:.1f}")
        print(f"integrity_check: {store.db.execute('PRAGMA integrity_check').fetchone()[0]}")
        print(f"orphans_swept: {store.sweep()}")
        for message in sorted(set(failures + reads["errors"]))[:10]:
            print(f"error: {message}")
        if failures or reads["errors"] or stored_rows != submitted:
            sys.exit(1)


if __name__ == "__main__":
    main()
