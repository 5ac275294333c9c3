"""The HTTP API in a real uvicorn on loopback, driven with httpx (issue 31): a recording in, the job polled to
done, the image downloaded identical to the stored file; roles, tokens, rate limits, the upload limit, cancel,
and errors as JSON."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core import Person, Store, tokens
from core.generation.synth import recording

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_api(folder: Path, tiny_models_dir: Path, *args: str, cwd: Path = ROOT, **settings: str):
    """``python -m core serve`` on a free loopback port for a data folder in ``folder`` (tiny profile, ``V2I_*``
    ``settings``), once it answers; yields its URL and port, and stops it after."""
    from helpers import random_whisper

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("V2I_")}
    env.update(V2I_PROFILE="tiny", V2I_DATA_DIR=str(folder / "data"), V2I_TINY_MODELS_DIR=str(tiny_models_dir),
               V2I_WHISPER_MODEL=random_whisper(tiny_models_dir), PYTHONPATH=str(ROOT), **settings)
    log = open(folder / "api.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port), *args], cwd=cwd,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail((folder / "api.log").read_text())
    try:
        yield url, port
    finally:  # close() ends the generator here
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def api(tiny_models_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    server = serve_api(folder, tiny_models_dir, "--worker", V2I_VIEWERS="vera", V2I_API_RATE_PER_MINUTE="40",
                       V2I_MAX_UPLOAD_MB="5")
    url, _ = next(server)
    store = Store(folder / "data")
    people = {name: tokens.create(store, Person(name, name), f"{name}'s test")["token"]
              for name in ("alice", "vera", "bob")}
    yield url, store, people
    server.close()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def poll(url: str, token: str, job_id: str, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/api/v1/jobs/{job_id}", headers=auth(token)).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(2.0)  # at most 30 polls a minute: the person's other requests stay under the fixture's 40
    raise AssertionError(f"job {job_id} did not end")


def test_a_recording_in_the_job_polled_to_done_and_the_image_out_identical(api):
    url, store, people = api
    answer = httpx.post(f"{url}/api/v1/jobs", headers=auth(people["alice"]),
                        files={"file": ("memo.wav", recording("wav", seconds=1.5), "audio/wav")},
                        data={"steps": "2", "size": "64", "prompt": "a red boat", "force": "true"})
    assert answer.status_code == 201, answer.text
    job = answer.json()
    assert job["status"] in ("queued", "running") and job["created_by"] == "alice" and "position" in job
    assert "eta_s" in job
    done = poll(url, people["alice"], job["id"])
    assert done["status"] == "done", done
    image = httpx.get(f"{url}/api/v1/generations/{done['generation_id']}/image", headers=auth(people["alice"]))
    row = store.get_generation(done["generation_id"])
    assert image.status_code == 200 and image.content == store.file_path(row["image_path"]).read_bytes()
    short = httpx.get(f"{url}/api/v1/generations/{row['id'][:8]}", headers=auth(people["bob"]))
    assert short.status_code == 200 and short.json()["id"] == row["id"]  # a unique prefix of 6 or more will do
    listed = httpx.get(f"{url}/api/v1/generations", headers=auth(people["bob"]), params={"search": "boat"}).json()
    assert [g["id"] for g in listed["generations"]] == [row["id"]] and listed["generations"][0]["created_by"] == "alice"
    rated = httpx.put(f"{url}/api/v1/generations/{row['id']}/rating", headers=auth(people["bob"]),
                      json={"stars": 4, "blind": True, "note": "calm"})
    assert rated.status_code == 200 and rated.json() == {"stars": 4, "favourite": False, "blind": True, "note": "calm"}
    own = httpx.put(f"{url}/api/v1/generations/{row['id']}/rating", headers=auth(people["alice"]),
                    json={"stars": 5, "blind": True})
    assert own.status_code == 422 and "someone else made" in own.json()["error"]  # nobody rates their own blind
    added = httpx.post(f"{url}/api/v1/collections/Keepers/items", headers=auth(people["bob"]),
                       json={"generation_id": row["id"]})
    assert added.status_code == 201 and added.json()["collection"] == "Keepers"
    assert httpx.get(f"{url}/api/v1/jobs/{job['id']}", headers=auth(people["bob"])).status_code == 404  # not his


def test_no_token_a_wrong_one_or_a_revoked_one_is_401_and_changes_nothing(api):
    url, store, people = api
    before = store.query("SELECT count(*) AS n FROM jobs")[0]["n"]
    files = {"file": ("memo.wav", recording("wav"), "audio/wav")}
    for headers in ({}, auth("v2i_not-a-token"), {"Authorization": "Basic abc"}):
        answer = httpx.post(f"{url}/api/v1/jobs", headers=headers, files=files)
        assert answer.status_code == 401 and "personal token" in answer.json()["error"]
    made = tokens.create(store, Person("carl", "carl"), "to revoke")
    tokens.revoke(store, Person("carl", "carl"), made["id"])
    assert httpx.get(f"{url}/api/v1/generations", headers=auth(made["token"])).status_code == 401
    assert store.query("SELECT count(*) AS n FROM jobs")[0]["n"] == before


def test_a_viewers_token_is_refused_a_post_with_the_reason(api):
    url, store, people = api
    answer = httpx.post(f"{url}/api/v1/jobs", headers=auth(people["vera"]),
                        files={"file": ("memo.wav", recording("wav"), "audio/wav")})
    assert answer.status_code == 403 and "vera is a viewer here" in answer.json()["error"]
    assert httpx.get(f"{url}/api/v1/generations", headers=auth(people["vera"])).status_code == 200


def test_an_upload_over_the_limit_is_413_and_nothing_is_stored(api):
    url, store, people = api
    uploads = sorted((store.data_dir / "uploads").glob("*")) if (store.data_dir / "uploads").exists() else []
    before = store.query("SELECT count(*) AS n FROM jobs")[0]["n"]
    answer = httpx.post(f"{url}/api/v1/jobs", headers=auth(people["bob"]),
                        files={"file": ("big.wav", os.urandom(10 * 2**20), "audio/wav")})
    assert answer.status_code == 413 and "at most 5 MB" in answer.json()["error"]
    assert store.query("SELECT count(*) AS n FROM jobs")[0]["n"] == before
    assert (sorted((store.data_dir / "uploads").glob("*")) if (store.data_dir / "uploads").exists() else []) == uploads


def test_bad_options_and_bad_audio_are_json_errors_naming_the_problem(api):
    url, _, people = api
    bad = httpx.post(f"{url}/api/v1/jobs", headers=auth(people["bob"]),
                     files={"file": ("memo.wav", recording("wav"), "audio/wav")}, data={"steps": "9999"})
    assert bad.status_code == 422 and "steps" in bad.json()["error"]
    noise = httpx.post(f"{url}/api/v1/jobs", headers=auth(people["bob"]),
                       files={"file": ("memo.wav", b"not audio at all", "audio/wav")})
    assert noise.status_code == 422 and "Traceback" not in noise.text
    malformed = httpx.get(f"{url}/api/v1/generations/nope", headers=auth(people["bob"]))
    assert malformed.status_code == 404 and "is not a generation id" in malformed.json()["error"]
    unknown = httpx.get(f"{url}/api/v1/generations/{'0' * 32}", headers=auth(people["bob"]))
    assert unknown.status_code == 404 and "no generation with id" in unknown.json()["error"]


def test_a_cancelled_job_and_a_second_cancel_is_a_conflict(api):
    url, store, people = api
    from core import JobQueue

    JobQueue(store).set_paused(True, Person("ada", "Ada", "admin", "cli"))  # it stays queued
    try:
        job = httpx.post(f"{url}/api/v1/jobs", headers=auth(people["bob"]),
                         files={"file": ("memo.wav", recording("wav"), "audio/wav")},
                         data={"steps": "2", "size": "64", "force": "true"}).json()
        cancelled = httpx.delete(f"{url}/api/v1/jobs/{job['id']}", headers=auth(people["bob"]))
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        again = httpx.delete(f"{url}/api/v1/jobs/{job['id']}", headers=auth(people["bob"]))
        assert again.status_code == 409 and "cancelled" in again.json()["error"]
    finally:
        JobQueue(store).set_paused(False, Person("ada", "Ada", "admin", "cli"))


def test_past_the_rate_a_token_gets_429_with_retry_after(api):
    url, _, people = api
    statuses = [httpx.get(f"{url}/api/v1/generations", headers=auth(people["vera"])).status_code for _ in range(45)]
    assert 429 in statuses and statuses.index(429) <= 40
    limited = httpx.get(f"{url}/api/v1/generations", headers=auth(people["vera"]))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def test_health_answers_without_a_token_and_the_docs_are_served(api):
    url, _, _ = api
    health = httpx.get(f"{url}/api/v1/health").json()
    assert health["database"] == "ok" and health["worker_alive"] is True and health["free_disk_mb"] > 0
    assert httpx.get(f"{url}/docs").status_code == 200
    assert "/api/v1/jobs" in httpx.get(f"{url}/openapi.json").json()["paths"]
