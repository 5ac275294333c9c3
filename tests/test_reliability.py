"""Load, faults and bad input: nothing is lost, nothing is left half-done."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from core.generation.synth import recording
from helpers import ROOT, files_under, wait_until

from core.config.recipes import GenerationOptions
from core.execution.jobs import FAILED, JobQueue
from core.execution.worker import Worker
from core.execution.pipeline import run_generation
from core.generation.request import GenerationRequest
from core.history.store import Store


@pytest.mark.slow
def test_several_processes_and_threads_writing_at_once_store_every_generation_once(tiny_models_dir):
    result = subprocess.run(
        [sys.executable, "-m", "bench.load", "--processes", "2", "--threads", "2", "--each", "2", "--timeout", "240"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "V2I_TINY_MODELS_DIR": str(tiny_models_dir)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert lines["submitted"] == "8"
    assert lines["stored"] == "8 (rows in the database: 8)"
    assert lines["failed"] == "0" and lines["lost"] == "0"
    assert lines["reader_queries"].endswith("(errors: 0)")
    assert lines["integrity_check"] == "ok"
    assert "locked" not in result.stdout + result.stderr


def test_one_pipeline_is_never_run_by_two_threads_at_once(settings, models, store, monkeypatch):
    import core.execution.pipeline

    active, most = [0], [0]
    guard = threading.Lock()
    real = core.execution.pipeline.generate_images

    def watched(*args, **kwargs):
        with guard:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            time.sleep(0.05)
            return real(*args, **kwargs)
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(core.execution.pipeline, "generate_images", watched)
    errors = []

    def one(i):
        try:
            run_generation(recording("wav"), GenerationRequest(f"{i}.wav", transcript=f"picture {i}",
                                             options=GenerationOptions(steps=2, width=64, height=64)),
                           settings=settings, models=models, store=store)
        except Exception as err:  # pragma: no cover - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert most[0] == 1
    assert store.count_generations() == 6


WORKER = """
import os, sys
sys.path.insert(0, {root!r})
from core.config import load_settings
from core.execution.worker import Worker
from core.models.cache import ModelCache
from core.history.store import Store
settings = load_settings()
Worker(settings, ModelCache(settings, device="cpu"), Store(settings.data_dir), embed=False).run_pending()
"""


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["transcribe", "generate"])
def test_a_server_killed_mid_job_loses_nothing_and_leaves_nothing(settings, models, data_dir, stage):
    store = Store(data_dir)
    queue = JobQueue(store)
    wav = recording("wav", seconds=2.0)
    job_id = queue.submit(wav, GenerationRequest(filename="speech.wav", options=GenerationOptions(steps=150, width=512, height=512)))
    worker = subprocess.Popen([sys.executable, "-c", WORKER.format(root=str(ROOT))], env=os.environ.copy())
    try:
        reached = wait_until(lambda: (queue.get(job_id)["stage"] == stage and
                                      (stage != "generate" or queue.get(job_id)["step"] >= 2)), timeout=120)
        assert reached, queue.get(job_id)
        worker.send_signal(signal.SIGKILL)  # kill -9: no cleanup of any kind runs
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()

    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    (data_dir / "images").mkdir(exist_ok=True)
    leftover = data_dir / "images" / ".tmp-left-by-a-killed-write.png"
    leftover.write_bytes(b"half a png")
    os.utime(leftover, (time.time() - 7200,) * 2)  # a younger one may be another live process's write: kept
    Worker(settings, models, store, embed=False).start().stop()  # what a restarted server does first
    job = queue.get(job_id)
    assert job["status"] == FAILED and "server stopped" in job["error"]
    assert store.count_generations() == 0
    assert files_under(data_dir / "images") == files_under(data_dir / "audio") == []
    assert (data_dir / job["upload_path"]).read_bytes() == wav  # the recording is kept, nothing is lost
    assert not [p for p in files_under(data_dir) if p.name.startswith(".tmp-")]


def test_a_database_busy_with_another_writer_waits_instead_of_failing(store):
    other = sqlite3.connect(store.path, timeout=0, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.5, other.commit)
    releaser.start()
    started = time.monotonic()
    with store.write() as db:
        db.execute("UPDATE migrations SET applied_at = applied_at")
    assert time.monotonic() - started >= 0.4
    releaser.join()
    other.close()


def test_a_read_only_data_folder_is_a_clear_error_and_leaves_nothing(settings, models, store, data_dir, monkeypatch):
    import errno

    import core.history.paths

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(core.history.paths.os, "replace", read_only)
    from core.errors import StorageError

    with pytest.raises(StorageError, match="read-only"):
        run_generation(recording("wav"), GenerationRequest("a.wav", transcript="a fox",
                                         options=GenerationOptions(steps=2, width=64, height=64)),
                       settings=settings, models=models, store=store)
    assert store.count_generations() == 0
    assert files_under(data_dir / "images") == files_under(data_dir / "audio") == []


def test_a_model_that_fails_to_load_is_named_and_the_rest_of_the_dashboard_works(app_env, monkeypatch, data_dir,
                                                                                  make_generation, tmp_path):
    from apptest import button, errors, no_exception, open_app

    make_generation("an older picture")  # made before the model broke
    missing = tmp_path / "no-such-model"
    monkeypatch.setenv("V2I_SD_MODEL", str(missing))
    monkeypatch.setenv("V2I_CLIP_MODEL", str(missing))
    at = open_app("pages/generate.py")
    at.file_uploader[0].set_value([("speech.wav", recording("wav"), "audio/wav")])
    no_exception(at.run())
    no_exception(button(at, "Generate").click().run())
    queue = JobQueue(Store(data_dir))
    assert wait_until(lambda: queue.list()[0]["status"] == FAILED)
    assert f"could not load the Stable Diffusion model folder {str(missing)!r}: it does not exist" in queue.list()[0]["error"]
    no_exception(at.run())
    assert any(str(missing) in e for e in errors(at))

    no_exception(at.switch_page("pages/history.py").run())
    assert "an older picture" in [t.value for t in at.text]
    make_generation("another")  # two images, so Similarity needs its (broken) model
    no_exception(at.switch_page("pages/similarity.py").run())
    assert "could not load the CLIP model" in errors(at)[0]
    no_exception(at.switch_page("pages/overview.py").run())
