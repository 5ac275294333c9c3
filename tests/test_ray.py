"""V2I_EXECUTOR=ray: jobs computed on Ray actors (a local Ray on this machine, tiny profile, 2 actors), stored by
the dispatcher alone. The local executor's own tests (test_jobs.py) run unchanged."""

import os
import signal
import threading

import pytest
from helpers import wait_until

from core.execution.cluster import ClusterUnavailableError, RayWorker, probe
from core.config.recipes import GenerationOptions
from core.execution.jobs import CANCELLED, DONE, RUNNING, JobQueue
from core.execution.executors import worker_for
from core.generation.request import GenerationRequest

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (starting one costs seconds); actors are the workers' own."""
    from core.execution.cluster import connect
    from core.config import Settings

    connect(Settings(ray_workers=2))
    yield
    ray.shutdown()


@pytest.fixture
def ray_settings(settings):
    return settings.with_overrides(executor="ray", ray_workers=2, ray_cpus_per_worker=1.0)


@pytest.fixture
def dispatcher(ray_settings, models, store):
    worker = RayWorker(ray_settings, models, store, poll_seconds=0.05, embed=False)
    yield worker
    worker.stop()


def request(steps: int = 2, size: int = 64, **kw) -> GenerationRequest:
    return GenerationRequest(filename="clip.wav", transcript=kw.pop("transcript", "a red fox in the snow"),
                             language="en", options=GenerationOptions(steps=steps, width=size, height=size, seed=1), **kw)


def slow() -> GenerationRequest:
    """Seconds long on an actor's one thread, so a test can watch it run, kill its actor or cancel it."""
    return request(steps=120, size=256)


def start_slow_job(dispatcher, queue, wav) -> str:
    """Queue a slow job, start the dispatcher, and return the job's id once its actor is denoising."""
    job_id = queue.submit(wav, slow(), created_by="ann")
    dispatcher.start()
    assert wait_until(lambda: queue.get(job_id)["status"] == RUNNING and queue.get(job_id)["stage"] == "generate"
                      and queue.get(job_id)["step"] >= 1, 120), queue.get(job_id)
    return job_id


def test_the_executor_setting_picks_the_worker(settings, ray_settings, models, store):
    assert type(worker_for(settings, models, store)).__name__ == "Worker"
    assert isinstance(worker_for(ray_settings, models, store), RayWorker)


def test_an_actor_s_status_carries_its_first_run_downloads_for_the_job_panel(settings, wav, monkeypatch):
    import core.execution.pipeline
    from core.execution.cluster import GenerationActor

    actor, release = GenerationActor(settings, threads=1), threading.Event()

    def downloading(settings, groups, *, on_bytes, **kw):  # stands for the hub: the plumbing is what is tested
        on_bytes("Stable Diffusion", 2_000_000, 4_000_000)
        release.wait(30)
        return True

    monkeypatch.setattr(core.execution.pipeline, "fetch_missing", downloading)
    running = threading.Thread(target=actor.compute, args=("job-1", wav, request().to_json()))
    running.start()
    try:
        assert wait_until(lambda: (actor.status("job-1") or {}).get("downloads"), 30)
        status = actor.status("job-1")
        assert status["stage"] == "download" and status["downloads"] == {"Stable Diffusion": (2_000_000, 4_000_000)}
    finally:
        release.set()
        running.join(60)
    assert actor.status("job-1") is None  # gone with the job


def test_two_peoples_jobs_run_at_the_same_time_and_are_stored_once(dispatcher, store, wav):
    queue = JobQueue(store)
    ann = queue.submit(wav, request(steps=12), created_by="ann")
    bob = queue.submit(wav, request(steps=12, transcript="a lighthouse at dusk"), created_by="bob")
    assert dispatcher.run_pending() == 2
    jobs = {job["id"]: job for job in queue.list()}
    assert [jobs[ann]["status"], jobs[bob]["status"]] == [DONE, DONE]
    # Their running intervals overlap: each started before the other finished.
    assert jobs[ann]["started_at"] < jobs[bob]["finished_at"] and jobs[bob]["started_at"] < jobs[ann]["finished_at"]
    rows = store.query("SELECT id, created_by, transcript FROM generations ORDER BY created_by")
    assert [(r["created_by"], r["transcript"]) for r in rows] == [("ann", "a red fox in the snow"),
                                                                  ("bob", "a lighthouse at dusk")]
    assert {jobs[ann]["generation_id"], jobs[bob]["generation_id"]} == {r["id"] for r in rows}
    for row in rows:  # stored through the one write path: files on disk, the row after them
        generation = store.get_generation(row["id"])
        assert store.file_path(generation["image_path"]).is_file()
        assert store.file_path(generation["audio_path"]).is_file()
    assert not list((store.data_dir / "uploads").glob("*"))  # both recordings released


def test_progress_reaches_the_jobs_row_while_it_runs(dispatcher, store, wav):
    queue = JobQueue(store)
    job_id = start_slow_job(dispatcher, queue, wav)
    assert queue.get(job_id)["total_steps"] == 120
    assert wait_until(lambda: queue.get(job_id)["status"] == DONE, 120)


def test_an_actor_killed_mid_job_is_replaced_and_the_job_runs_again(dispatcher, store, wav):
    queue = JobQueue(store)
    job_id = start_slow_job(dispatcher, queue, wav)
    [flight] = dispatcher.in_flight.values()
    victim = dispatcher.slots[flight.slot].actor
    os.kill(ray.get(victim.pid.remote()), signal.SIGKILL)
    assert wait_until(lambda: queue.get(job_id)["status"] == DONE, 180), queue.get(job_id)
    assert queue.get(job_id)["error"] is None
    assert len(store.query("SELECT id FROM generations")) == 1  # stored once
    assert any("stopped mid-job" in why for slot in dispatcher.slots for why in slot.lost)


def test_cancel_reaches_a_running_remote_job_at_its_next_step(dispatcher, store, wav):
    queue = JobQueue(store)
    job_id = start_slow_job(dispatcher, queue, wav)
    queue.cancel(job_id)
    assert wait_until(lambda: queue.get(job_id)["status"] == CANCELLED, 60), queue.get(job_id)
    assert queue.get(job_id)["step"] < 120
    assert store.query("SELECT id FROM generations") == []


def test_stopping_the_dispatcher_puts_running_jobs_back_in_the_queue(dispatcher, store, wav):
    queue = JobQueue(store)
    job_id = start_slow_job(dispatcher, queue, wav)
    dispatcher.stop()
    assert queue.get(job_id)["status"] == "queued" and queue.get(job_id)["started_at"] is None


def test_an_unreachable_cluster_is_a_plain_message_and_queued_jobs_wait(settings, models, store, wav, monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a server that has not joined one yet
    monkeypatch.setattr("core.execution.cluster.PROBE_TIMEOUT_S", 8.0)
    far = settings.with_overrides(executor="ray", ray_address="127.0.0.1:9")
    worker = RayWorker(far, models, store, embed=False)
    job_id = JobQueue(store).submit(wav, request(), created_by="ann")
    assert worker.tick() == 0
    assert worker.health.startswith("The Ray cluster at 127.0.0.1:9 cannot be reached (")
    assert worker.health.endswith("Queued jobs wait and run when it is back.")
    assert JobQueue(store).get(job_id)["status"] == "queued"
    with pytest.raises(ClusterUnavailableError, match="cannot be reached"):  # worker --until-empty: a plain error
        worker.run_pending()
    assert JobQueue(store).get(job_id)["status"] == "queued"


def test_probe_says_why_an_address_cannot_be_joined():
    why = probe("127.0.0.1:9", timeout=8.0)
    assert why is not None and why


def test_the_worker_command_runs_the_queue_on_ray_actors(tiny_env, store, wav, monkeypatch, capsys):
    from core.cli import main

    JobQueue(store).submit(wav, request(), created_by="ann")
    monkeypatch.setenv("V2I_EXECUTOR", "ray")
    monkeypatch.setenv("V2I_RAY_WORKERS", "1")
    assert main(["worker", "--until-empty"]) == 0
    assert "ran 1 job;" in capsys.readouterr().err
    assert [j["status"] for j in JobQueue(store).list()] == [DONE]


def test_the_dashboard_runs_a_job_on_ray_and_says_when_the_cluster_is_out_of_reach(app_env, data_dir, monkeypatch):
    from apptest import button, no_exception, open_app

    from core.execution.executors import stop_workers
    from core.history.store import Store
    from core.generation.synth import recording

    monkeypatch.setenv("V2I_EXECUTOR", "ray")
    at = open_app("pages/generate.py")
    at.number_input(key="opt-steps").set_value(2)
    at.selectbox(key="opt-size").set_value(64)
    at.file_uploader[0].set_value([("speech.wav", recording("wav", seconds=2.0), "audio/wav")])
    no_exception(at.run())
    next(r for r in at.radio if r.label == "Compare").set_value("style")
    no_exception(at.run())
    at.multiselect[0].set_value(["none", "watercolor"])  # two jobs at once: both actors busy
    no_exception(button(at, "Start the A/B run").click().run())
    queue = JobQueue(Store(data_dir))
    assert wait_until(lambda: [j["status"] for j in queue.list()] == [DONE, DONE], 120), queue.list()
    assert len(Store(data_dir).query("SELECT id FROM generations")) == 2
    stop_workers()

    # The same dashboard pointed at a cluster nobody answers: a plain message on the Overview, the job waits.
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr("core.execution.cluster.PROBE_TIMEOUT_S", 8.0)
    monkeypatch.setenv("V2I_RAY_ADDRESS", "127.0.0.1:9")
    waiting = queue.submit(recording("wav"), request(), created_by="ann")
    at = open_app()
    assert wait_until(lambda: any("cannot be reached" in w.value for w in no_exception(at.run()).warning), 60)
    assert queue.get(waiting)["status"] == "queued"
    stop_workers()


def test_a_job_whose_actor_dies_twice_fails_with_the_reason_and_keeps_its_recording(dispatcher, store, wav):
    queue = JobQueue(store)
    job_id = queue.submit(wav, slow(), created_by="ann")
    dispatcher.start()
    for attempt in (1, 2):
        assert wait_until(lambda: any(f.attempt == attempt for f in dispatcher.in_flight.values())
                          and queue.get(job_id)["stage"] == "generate" and queue.get(job_id)["step"] >= 1, 120)
        [flight] = dispatcher.in_flight.values()
        os.kill(ray.get(dispatcher.slots[flight.slot].actor.pid.remote()), signal.SIGKILL)
    assert wait_until(lambda: queue.get(job_id)["status"] == "failed", 120), queue.get(job_id)
    job = queue.get(job_id)
    assert job["error"].startswith("a generation worker stopped mid-job") and "twice" in job["error"]
    assert store.file_path(job["upload_path"]).is_file()  # kept, for "submit again"
    assert store.query("SELECT id FROM generations") == []


def test_a_cluster_that_goes_away_puts_running_jobs_back_and_says_so(dispatcher, store, wav, monkeypatch):
    queue = JobQueue(store)
    job_id = queue.submit(wav, slow(), created_by="ann")
    dispatcher.tick()  # connected, and the job sent to an actor
    assert queue.get(job_id)["status"] == RUNNING

    def gone(*args, **kwargs):
        raise ConnectionError("the head stopped answering")

    monkeypatch.setattr(ray, "wait", gone)
    monkeypatch.setattr(ray, "shutdown", lambda: None)  # keep this module's Ray for the next tests
    assert dispatcher.tick() == 0
    assert dispatcher.health.startswith("The Ray cluster went away (ConnectionError)")
    assert queue.get(job_id)["status"] == "queued" and not dispatcher.in_flight
