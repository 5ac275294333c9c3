"""Load: several processes and threads generating into one data folder at once, with readers.

    python -m bench.load [--processes 2] [--threads 4] [--each 5] [--timeout 600]

Uses the tiny profile in a temporary data folder (no network, nothing leaves this machine). Each
submitter runs the core pipeline (decode, transcribe, enhance, generate, store) for its recordings;
readers page through History meanwhile. Prints submitted, stored, failed, lost, reader queries and
latency percentiles, then checks the database (integrity, one row per generation, no orphan file).
Bounded in count and in time.
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
    from core.synth import recording

    return recording("wav", seconds=1.0, frequency=200 + 37 * i)


def _submitter_process(env: dict, process: int, threads: int, each: int, deadline: float, results) -> None:
    os.environ.update(env)
    from core.config import load_settings
    from core.diffusion import GenerationOptions
    from core.models import shared_models
    from core.pipeline import run_generation
    from core.request import GenerationRequest
    from core.store import Store

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
    from core.store import HistoryFilter, Store

    store = Store(data_dir)
    while not stop.is_set():
        try:
            store.count_generations(HistoryFilter(search="load"))
            store.query_generations(limit=25)
            counts["queries"] += 1
        except Exception as err:
            counts["errors"].append(f"{type(err).__name__}: {err}")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--each", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    from core.store import Store
    from core.tiny import ensure_tiny_models, tiny_model_paths

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
