import pytest
from helpers import files_under, wait_until

from core.errors import AudioError, InvalidOptionError
from core.config.recipes import GenerationOptions
from core.execution.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, JobQueue
from core.execution.worker import Worker
from core.generation.request import GenerationRequest

FAST = GenerationOptions(steps=2, width=64, height=64)


@pytest.fixture
def queue(store):
    return JobQueue(store)


@pytest.fixture
def worker(settings, models, store):
    worker = Worker(settings, models, store, poll_seconds=0.05)
    yield worker
    worker.stop()


def spec(**kw):
    return GenerationRequest(filename=kw.pop("filename", "clip.wav"), options=kw.pop("options", FAST), **kw)


def test_a_submitted_job_waits_in_the_queue_with_its_recording_kept(queue, data_dir, wav):
    job_id = queue.submit(wav, spec(), created_by="ana")
    job = queue.get(job_id)
    assert job["status"] == QUEUED and job["created_by"] == "ana"
    assert (data_dir / job["upload_path"]).read_bytes() == wav
    assert queue.position(job_id) == 1


def test_jobs_run_in_the_order_they_were_queued(queue, worker, store, wav):
    ids = [queue.submit(wav, spec(prompt=f"picture {i}")) for i in range(3)]
    assert [queue.position(i) for i in ids] == [1, 2, 3]
    assert worker.run_pending() == 3
    generations = [store.get_generation(queue.get(i)["generation_id"]) for i in ids]
    assert [g["prompt"] for g in generations] == ["picture 0", "picture 1", "picture 2"]
    assert [g["created_at"] for g in generations] == sorted(g["created_at"] for g in generations)


def test_the_worker_thread_finishes_a_job_and_frees_its_upload(queue, worker, store, data_dir, wav):
    job_id = queue.submit(wav, spec())
    worker.start().wake()
    assert wait_until(lambda: queue.get(job_id)["status"] == DONE)
    job = queue.get(job_id)
    assert job["stage"] == "done" and job["step"] == 2 and job["total_steps"] == 2
    assert store.get_generation(job["generation_id"])
    assert wait_until(lambda: files_under(data_dir / "uploads") == [])


def test_an_edited_transcript_and_prompt_are_what_the_job_uses(queue, worker, store, wav):
    job_id = queue.submit(wav, spec(transcript="a red fox", language="en", prompt="a red fox, watercolor"))
    worker.run_pending()
    row = store.get_generation(queue.get(job_id)["generation_id"])
    assert (row["transcript"], row["language"], row["prompt"]) == ("a red fox", "en", "a red fox, watercolor")


def test_a_queued_job_can_be_cancelled_and_leaves_nothing(queue, worker, store, data_dir, wav):
    job_id = queue.submit(wav, spec())
    assert queue.cancel(job_id) == CANCELLED
    assert worker.run_pending() == 0
    assert store.count_generations() == 0
    assert files_under(data_dir / "uploads") == files_under(data_dir / "images") == []


def test_a_running_job_cancelled_mid_generation_leaves_no_image_and_no_row(queue, worker, store, data_dir, wav):
    job_id = queue.submit(wav, spec(options=GenerationOptions(steps=3, width=64, height=64)))
    real = queue.progress

    def cancel_at_first_step(jid, stage, step, total):
        if stage == "generate" and step == 1:
            queue.cancel(jid)
        return real(jid, stage, step, total)

    worker.queue.progress = cancel_at_first_step
    worker.run_pending()
    assert queue.get(job_id)["status"] == CANCELLED
    assert store.count_generations() == 0
    assert files_under(data_dir / "images") == files_under(data_dir / "audio") == files_under(data_dir / "uploads") == []


def test_a_job_that_fails_records_the_reason_and_keeps_the_recording(queue, worker, store, data_dir, wav, monkeypatch):
    job_id = queue.submit(wav, spec())
    monkeypatch.setattr(worker.models, "stable_diffusion", lambda **kw: (_ for _ in ()).throw(ValueError("model broke")))
    worker.run_pending()
    job = queue.get(job_id)
    assert job["status"] == FAILED and job["error"] == "model broke"
    assert (data_dir / job["upload_path"]).read_bytes() == wav
    assert store.count_generations() == 0


def test_a_job_left_running_by_a_crashed_server_is_marked_failed_on_restart(queue, settings, models, store, wav):
    job_id = queue.submit(wav, spec())
    assert queue.claim_next()["status"] == RUNNING  # ... and then the server died
    worker = Worker(settings, models, store).start()
    try:
        job = queue.get(job_id)
        assert job["status"] == FAILED
        assert "server stopped" in job["error"]
    finally:
        worker.stop()


def test_bad_recordings_and_options_are_refused_at_submission_and_store_nothing(queue, data_dir, wav):
    with pytest.raises(AudioError):
        queue.submit(b"not audio" * 30, spec())
    with pytest.raises(InvalidOptionError):
        queue.submit(wav, spec(options=GenerationOptions(steps=0)))
    with pytest.raises(ValueError, match="unknown style"):
        queue.submit(wav, spec(style="baroque"))
    assert queue.list() == []
    assert files_under(data_dir / "uploads") == []


def test_each_person_sees_their_own_jobs_and_counts_cover_everyone(queue, wav):
    queue.submit(wav, spec(), created_by="ana")
    queue.submit(wav, spec(), created_by="ben")
    assert [j["created_by"] for j in queue.list(created_by="ana")] == ["ana"]
    assert queue.counts()[QUEUED] == 2


def test_two_claims_never_take_the_same_job(queue, wav):
    queue.submit(wav, spec())
    assert queue.claim_next() is not None
    assert queue.claim_next() is None


def test_a_job_spec_round_trips_through_json():
    original = spec(style="anime", translate=True, options=GenerationOptions(steps=7, seed=3))
    assert GenerationRequest.from_json(original.to_json()) == original


@pytest.mark.parametrize("stored", [
    '{"filename": "clip.wav", "options": {"steps": 2, "width": 64, "height": 64, "sampler_v9": "x"}}',  # a newer field
    '{"filename": "clip.wav", "mood": "sunny"}',
    "not json at all",
    '["a", "list"]',
    '{"filename": "clip.wav", "options": {"steps": "many"}}',
])
def test_a_job_whose_stored_request_cannot_be_read_fails_with_the_reason_and_keeps_its_recording(
        queue, worker, store, data_dir, wav, stored):
    job_id = queue.submit(wav, spec())
    with store.write() as db:
        db["jobs"].update(job_id, {"options": stored})
    worker.run_pending()
    job = queue.get(job_id)
    assert job["status"] == FAILED and job["error"]
    assert "stored" in job["error"] or "steps" in job["error"]
    assert (data_dir / job["upload_path"]).read_bytes() == wav
    assert store.count_generations() == 0


def test_a_request_stored_before_a_field_was_added_still_runs(queue, worker, store, wav):
    job_id = queue.submit(wav, spec())
    with store.write() as db:  # as written by a version without "recipe" and "transcribe_seconds"
        db["jobs"].update(job_id, {"options": '{"filename": "old.wav", "options": {"steps": 2, "width": 64, "height": 64}}'})
    worker.run_pending()
    row = store.get_generation(queue.get(job_id)["generation_id"])
    assert (row["audio_filename"], row["recipe"], row["steps"]) == ("old.wav", "default", 2)
