"""Generate's "Your jobs" (issue 39, 3 and 4): each job says what it paints, a run's cells are grouped under their
run, and a running job names its stage in words, giving the time left only once its pace is steady."""

from apptest import no_exception, open_app, texts

from core import Person, Store, roles, sweep
from core.config.recipes import GenerationOptions
from core.execution.jobs import JobQueue
from core.generation.request import GenerationRequest
from core.generation.synth import recording

FAST = GenerationOptions(steps=2, width=64, height=64)


def request(**kw) -> GenerationRequest:
    return GenerationRequest(kw.pop("filename", "req1.wav"), transcript="a red fox in the snow", language="en",
                             options=kw.pop("options", FAST), **kw)


def test_a_sweeps_cells_read_as_their_swept_values_and_a_plain_job_as_its_recipe_and_style(store):
    queue = JobQueue(store)
    run_id = sweep.start(queue, recording("wav"), request(), [sweep.parse_axis("steps=1,2"),
                                                               sweep.parse_axis("guidance=4,7.5")], "ann")
    alone = queue.submit(recording("wav"), request(style="watercolor"), created_by="ann")
    jobs = queue.list("ann")
    cells = sweep.job_cells(store, jobs)
    in_run = [cells[j["id"]] for j in jobs if j["id"] != alone]
    assert {c.run_id for c in in_run} == {run_id} and {c.run for c in in_run} == {
        f"Run comparing steps × guidance ({run_id[:8]})"}
    assert sorted(c.paints for c in in_run) == ["steps 1 · guidance 4", "steps 1 · guidance 7.5",
                                                "steps 2 · guidance 4", "steps 2 · guidance 7.5"]
    assert cells[alone] == sweep.JobCell(None, "", "recipe default · style watercolor")


def test_a_stored_request_this_version_cannot_read_still_lists_its_job(store):
    queue = JobQueue(store)
    job_id = queue.submit(recording("wav"), request(), created_by="ann")
    with store.write() as db:
        db.execute("UPDATE jobs SET options = ? WHERE id = ?", ['{"filename": "x", "mood": "odd"}', job_id])
    assert sweep.job_cells(store, queue.list("ann"))[job_id] == sweep.JobCell(None, "", "")


def test_your_jobs_groups_a_runs_cells_under_it_and_says_what_each_paints(app_env, data_dir, monkeypatch):
    monkeypatch.setenv("V2I_USER", "ana")
    at = open_app("pages/generate.py")
    queue = JobQueue(Store(data_dir))
    queue.set_paused(True, Person("ana", "ana", roles.ADMIN))  # they stay queued while the page is read
    sweep.start(queue, recording("wav"), request(), [sweep.parse_axis("steps=1,2")], "ana")
    queue.submit(recording("wav"), request(filename="alone.wav"), created_by="ana")
    no_exception(at.run())
    headings = [m.value for m in at.markdown if "Run comparing" in m.value]
    assert len(headings) == 1 and headings[0].endswith("· 2 of its jobs")
    captions = [c.value for c in at.caption]
    assert "steps 1" in captions and "steps 2" in captions and "recipe default · style default" in captions


def test_a_running_job_names_its_stage_and_waits_for_a_steady_pace_before_a_time_left(app_env, data_dir,
                                                                                      monkeypatch):
    monkeypatch.setenv("V2I_USER", "ana")
    at = open_app("pages/generate.py")
    queue = JobQueue(Store(data_dir))
    queue.submit(recording("wav"), request(options=GenerationOptions(steps=20, width=64, height=64)),
                 created_by="ana")
    job = queue.claim_next()  # running, here: the app's worker does not take it
    queue.progress(job["id"], "load", 0, 0)
    no_exception(at.run())
    assert any(p.proto.text == "loading the models" for p in at.get("progress"))
    queue.progress(job["id"], "generate", 1, 20)
    no_exception(at.run())
    assert any(p.proto.text == "painting: step 1 of 20" for p in at.get("progress"))
    assert any(t.endswith("estimating the time left") for t in texts(at))
