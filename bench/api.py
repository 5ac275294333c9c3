"""The HTTP API's own cost, in a real uvicorn on loopback (python -m core serve, in a child process):

    python -m bench.api [--rows 10000] [--jobs 20] [--seconds 5]

- ``api_overhead_per_job_ms``: a job submitted through ``POST /api/v1/jobs`` against the same recording submitted
  through ``JobQueue.submit`` directly (medians; target at most 20 ms);
- ``api_generations_requests_per_s``: ``GET /api/v1/generations`` (a page of 20, the CLI's JSON) on one keep-alive
  connection at ``--rows`` stored generations (target at least 200 on this 2-core machine);
- ``webhook_hanging_receiver_queue_s``: seconds the queue's own work (ending 20 jobs) takes while a webhook
  receiver hangs on every delivery, against none registered: the dispatcher's thread holds the wait, not the queue;
- ``api_health_p95_ms_during_uploads``: the 95th percentile of ``GET /api/v1/health`` while 4 uploads of a
  10-minute OGG recording are being decoded (target: under 50 ms; decoding runs off the event loop), beside
  ``api_health_p95_ms_idle``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench.history import fill
from core import GenerationOptions, GenerationRequest, JobQueue, Person, Store, tokens, webhooks
from core.generation.synth import recording

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "V2I_PROFILE": "tiny", "V2I_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT),
           "V2I_API_RATE_PER_MINUTE": "1000000", "V2I_MAX_QUEUED_PER_PERSON": "100000"}
    process = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the API did not start")


def overhead(store: Store, url: str, token: str, jobs: int) -> float:
    audio = recording("wav", seconds=1.5)
    request = GenerationRequest(transcript="a fox", language="en", options=GenerationOptions(steps=2, width=64, height=64))
    queue = JobQueue(store, quota=__import__("core").Quota(100000, 10**12))
    direct, through = [], []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(jobs):  # alternating rounds: a load that comes and goes moves both sides alike
            started = time.perf_counter()
            queue.submit(audio, request, created_by="bench")
            direct.append(time.perf_counter() - started)
            started = time.perf_counter()
            answer = client.post(f"{url}/api/v1/jobs", files={"file": ("a.wav", audio, "audio/wav")},
                                 data={"steps": "2", "size": "64", "prompt": "a fox"})
            through.append(time.perf_counter() - started)
            assert answer.status_code == 201, answer.text
    return (statistics.median(through) - statistics.median(direct)) * 1000


def health_p95_ms(url: str, seconds: float | None = None, busy: threading.Event | None = None) -> float:
    """The 95th percentile of /health's answer time, polled every 20 ms for ``seconds`` or while ``busy`` is set."""
    times = []
    with httpx.Client() as client:
        deadline = time.perf_counter() + (seconds or 0)
        while (busy.is_set() if busy is not None else time.perf_counter() < deadline):
            started = time.perf_counter()
            assert client.get(f"{url}/api/v1/health").status_code == 200
            times.append(time.perf_counter() - started)
            time.sleep(0.02)
    return statistics.quantiles(times, n=20)[18] * 1000 if len(times) >= 2 else float("nan")


def health_during_uploads(url: str, token: str, uploads: int = 4) -> float:
    """/health's p95 while ``uploads`` people each send a 10-minute OGG at once (decoded before it is queued)."""
    audio = recording("ogg", seconds=600)
    busy, done = threading.Event(), []

    def upload():
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            answer = client.post(f"{url}/api/v1/jobs", files={"file": ("long.ogg", audio, "audio/ogg")},
                                 data={"steps": "2", "size": "64", "prompt": "a fox"})
            done.append(answer.status_code)

    threads = [threading.Thread(target=upload) for _ in range(uploads)]
    busy.set()
    for thread in threads:
        thread.start()
    def all_sent():
        for thread in threads:
            thread.join()
        busy.clear()

    watcher = threading.Thread(target=all_sent)
    watcher.start()
    p95 = health_p95_ms(url, busy=busy)
    watcher.join()
    assert done == [201] * uploads, done
    return p95


def requests_per_s(url: str, token: str, seconds: float) -> float:
    count, deadline = 0, time.perf_counter() + seconds
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            assert client.get(f"{url}/api/v1/generations", params={"limit": 20}).status_code == 200
            count += 1
        return count / (time.perf_counter() - started)


def hanging_receiver() -> tuple[ThreadingHTTPServer, str]:
    class Hang(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            time.sleep(30)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def queue_seconds(store: Store, jobs: int) -> float:
    """Ending ``jobs`` jobs through the queue while the dispatcher runs (what the worker does at each job's end)."""
    dispatcher = webhooks.Dispatcher(store, allow_local=True).start(every_s=0.01)
    queue = JobQueue(store, quota=__import__("core").Quota(100000, 10**12))
    audio = recording("wav", seconds=0.5)
    ids = [queue.submit(audio, GenerationRequest(transcript="x", language="en"), created_by="ana") for _ in range(jobs)]
    started = time.perf_counter()
    for job_id in ids:
        queue.finish(queue.claim_next("bench"), "failed", "benchmark")
    elapsed = time.perf_counter() - started
    dispatcher.stop()
    assert all(queue.get(i)["status"] == "failed" for i in ids)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        fill(data_dir, args.rows)
        store = Store(data_dir)
        token = tokens.create(store, Person("bench", "bench"), "bench")["token"]
        process, url = serve(data_dir)
        try:
            print(f"api_generations_requests_per_s: {requests_per_s(url, token, args.seconds):.0f}")
            print(f"api_overhead_per_job_ms: {overhead(store, url, token, args.jobs):.1f}")
            print(f"api_health_p95_ms_idle: {health_p95_ms(url, seconds=2.0):.1f}")
            print(f"api_health_p95_ms_during_uploads: {health_during_uploads(url, token):.1f}")
        finally:
            process.terminate()
            process.wait(timeout=15)
    for hang in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            store = Store(Path(folder) / "data")
            server = None
            if hang:
                server, hook = hanging_receiver()
                webhooks.add(store, Person("ana", "ana"), "webhook", hook, allow_local=True)
            seconds = queue_seconds(store, args.jobs)
            print(f"webhook_{'hanging_receiver' if hang else 'no_receiver'}_queue_s: {seconds:.3f}")
            if server:
                server.shutdown()


if __name__ == "__main__":
    main()
