"""The team on the pages: jobs that follow a person, failed jobs kept, links, URL filters, ratings,
collections and notifications."""

from apptest import DASHBOARD, TIMEOUT, button, errors, no_exception, open_app, texts
from helpers import wait_until
from streamlit.testing.v1 import AppTest

from core import FAILED, JobQueue, Store, collect, rate
from core.config.recipes import GenerationOptions
from core.generation.request import GenerationRequest
from core.generation.synth import recording

FAST = GenerationOptions(steps=2, width=64, height=64)


def app_as(page: str, params: dict | None = None, user: str | None = None, monkeypatch=None) -> AppTest:
    if user is not None:
        monkeypatch.setenv("V2I_USER", user)
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    no_exception(at.run())
    return no_exception(at.switch_page(page).run()) if page else at


def test_your_jobs_follow_you_across_sessions_and_others_do_not_see_them(app_env, data_dir, monkeypatch):
    queue = JobQueue(Store(data_dir))
    queue.submit(recording("wav"), GenerationRequest("mine.wav", options=FAST), created_by="alice")
    queue.submit(recording("wav"), GenerationRequest("theirs.wav", options=FAST), created_by="bob")
    at = app_as("pages/generate.py", user="alice", monkeypatch=monkeypatch)  # a new session: a reload
    shown = texts(at)
    assert any(t.startswith("mine.wav  ·  ") for t in shown), shown
    assert not any(t.startswith("theirs.wav") for t in shown)


def test_a_failed_job_offers_its_recording_and_submit_again(app_env, data_dir, monkeypatch):
    store = Store(data_dir)
    queue = JobQueue(store)
    job_id = queue.submit(recording("wav"), GenerationRequest("broken.wav", options=FAST), created_by="alice")
    queue.finish(queue.claim_next(), FAILED, "the model fell over")
    at = app_as("pages/generate.py", user="alice", monkeypatch=monkeypatch)
    assert "the model fell over" in errors(at)
    assert "Download the recording" in [b.label for b in at.get("download_button")]
    no_exception(button(at, "Submit again").click().run())
    jobs = queue.list("alice")
    assert len(jobs) == 2 and jobs[0]["status"] in ("queued", "running", "done") and jobs[1]["id"] == job_id


def test_a_link_opens_a_generation_and_a_bad_link_says_so_plainly(app_env, make_generation, monkeypatch):
    fox = make_generation("a red fox", seed=1)
    make_generation("a lighthouse", seed=2)
    at = app_as("pages/history.py", {"id": fox["id"]})
    assert texts(at).index("a red fox") < texts(at).index("a lighthouse")  # the linked one comes first
    assert f"/history?id={fox['id']}" in " ".join(texts(at))
    newest = make_generation("a third one", seed=3)
    at = app_as("pages/history.py", {"id": newest["id"]})  # also the one opened below the table: shown once
    assert texts(at).count("a third one") == 1
    for bad in ("../../etc/passwd", "0" * 32):
        at = app_as("pages/history.py", {"id": bad})
        assert any("The link does not open a generation" in w.value for w in at.warning)


def test_history_filters_live_in_the_url(app_env, make_generation, store):
    fox = make_generation("a red fox", seed=1)
    make_generation("a lighthouse", seed=2)
    collect(store, fox["id"], "Best", "someone")
    at = app_as("pages/history.py", {"search": "fox"})
    assert list(at.dataframe[0].value["id"]) == [fox["id"][:8]]
    at = app_as("pages/history.py", {"collection": "Best"})
    assert list(at.dataframe[0].value["id"]) == [fox["id"][:8]]


def test_history_shows_who_made_it_and_its_rating_and_filters_by_them(app_env, data_dir, monkeypatch, make_generation,
                                                                      store):
    fox = make_generation("a red fox", seed=1)
    cat = make_generation("a cat", seed=2)
    with store.write() as db:
        db.execute("UPDATE generations SET created_by = 'ana' WHERE id = ?", [fox["id"]])
    rate(store, fox["id"], "ben", stars=4)
    at = app_as("pages/history.py", user="ben", monkeypatch=monkeypatch)
    table = at.dataframe[0].value
    assert dict(zip(table["id"], table["by"]))[fox["id"][:8]] == "ana"
    assert dict(zip(table["id"], table["ratings"])) == {fox["id"][:8]: 1, cat["id"][:8]: 0}
    at = app_as("pages/history.py", {"rating": "4"})
    assert list(at.dataframe[0].value["id"]) == [fox["id"][:8]]
    at = app_as("pages/history.py", {"by": "ana"})
    assert list(at.dataframe[0].value["id"]) == [fox["id"][:8]]


def test_a_person_marks_a_favourite_and_adds_to_a_collection_from_the_detail(app_env, make_generation, store,
                                                                             monkeypatch):
    other = make_generation("a cat", seed=2)
    row = make_generation("a red fox", seed=1)
    collect(store, other["id"], "Moodboard", "ben")  # a collection someone made already
    at = app_as("pages/history.py", user="ana", monkeypatch=monkeypatch)
    toggle = [t for t in at.toggle if t.label == "One of my favourites"][0]
    no_exception(toggle.set_value(True).run())
    assert store.query("SELECT person, favourite FROM ratings") == [{"person": "ana", "favourite": 1}]
    at.selectbox(key=f"open-collect-{row['id']}-add").set_value("Moodboard")
    no_exception(button(at, "Add").click().run())
    assert store.query("SELECT generation_id, added_by FROM collection_items WHERE added_by = 'ana'") == [
        {"generation_id": row["id"], "added_by": "ana"}]
    at = app_as("pages/history.py", {"favourites": "true"}, user="ana", monkeypatch=monkeypatch)
    assert list(at.dataframe[0].value["id"]) == [row["id"][:8]]


def test_similarity_compares_the_pair_a_link_names(app_env, make_generation):
    rows = [make_generation(f"picture {i}", seed=i) for i in range(3)]
    at = app_as("pages/similarity.py", {"a": rows[2]["id"], "b": rows[0]["id"]})
    assert (at.selectbox(key="compare-a").value, at.selectbox(key="compare-b").value) == (rows[2]["id"], rows[0]["id"])
    at = app_as("pages/similarity.py", {"a": "nonsense"})
    assert any("is not a stored image" in w.value for w in at.warning)


def test_a_finished_job_is_announced_wherever_its_person_is(app_env, data_dir, models, settings, monkeypatch):
    from core import Worker

    monkeypatch.setenv("V2I_USER", "alice")
    store = Store(data_dir)
    queue = JobQueue(store)
    at = open_app("pages/history.py")
    queue.submit(recording("wav"), GenerationRequest("fox.wav", transcript="a fox", options=FAST), created_by="alice")
    job = queue.claim_next()  # this test runs it, not the app's worker
    no_exception(at.run())  # the page has seen it running
    assert "(1 running) Voice to Image" in str(at.get("iframe")[0].proto) if at.get("iframe") else True
    Worker(settings, models, store, embed=False).run_jobs([job])
    no_exception(at.run())
    (toast,) = at.toast
    assert "fox\\.wav is ready" in toast.value and f"/history?id={queue.get(job['id'])['generation_id']}" in toast.value
    no_exception(at.run())
    assert not at.toast  # once


def test_the_date_filter_lives_in_the_url_too(app_env, make_generation):
    from datetime import date, timedelta

    row = make_generation("a red fox", seed=1)
    today = date.today()
    at = app_as("pages/history.py", {"dates": [today.isoformat(), (today + timedelta(days=1)).isoformat()]})
    assert list(at.dataframe[0].value["id"]) == [row["id"][:8]]
    at = app_as("pages/history.py", {"dates": ["2020-01-01", "2020-01-02"]})
    assert "No generations match." in at.info[0].value
