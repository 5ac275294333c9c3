"""What an administrator can promise the team (issue 44: 9-14, 20, 21): purge leaves nothing derived; people see
no server path; a C2PA key that cannot sign stops the start, not every job; the audit trail says where each action
came from; a person's stars on their own image are in no statistic; every ending notifies; a restored item never
brings back a vote its voter changed; one person is one person however their name is typed."""

from __future__ import annotations

import errno
import hashlib
import json

import pytest

from core import JobQueue, Person, Store, abtest, rate, trash, webhooks
from core.errors import InvalidOptionError, StorageError
from core.config.recipes import GenerationOptions
from core.generation.request import GenerationRequest
from core.generation.synth import recording
from core.history import paths, provenance
from core.history.audit import record, trail
from core.judging import factors, judgements
from helpers import old_database

ALICE = Person("alice", "Alice", "member", "10.0.0.5")
BOB = Person("bob", "Bob", "member", "10.0.0.6")
ADA = Person("ada", "Ada", "admin", "cli")
FAST = GenerationOptions(steps=2, width=64, height=64)
DERIVED_ROWS = {"alignment": {"model": "m", "transcript": 0.1, "prompt": 0.2},
                "novelty": {"model": "m", "value": 0.5}, "map_points": {"model": "m", "x": 1.0, "y": 2.0},
                "embedding_skips": {"model": "m", "reason": "x"}, "review_skips": {"person": "bob"}}


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def derive(store: Store, row: dict) -> None:
    """What the upkeep computes from a generation: a row in each derived table, and its CLIP vectors."""
    with store.write() as db:
        for table, values in DERIVED_ROWS.items():
            db[table].insert({"generation_id": row["id"], **values}, replace=True)
        for kind, sha in (("image", row["image_sha256"]), ("text", text_key(row["transcript"])),
                          ("text", text_key(row["prompt"]))):
            db["embeddings"].insert({"sha256": sha, "model": "m", "kind": kind, "dim": 1, "vector": b"\0" * 4},
                                    replace=True)


def test_purge_erases_every_derived_row_and_vector_and_keeps_what_another_generation_shares(store, make_generation):
    gone = make_generation("a red fox in the snow", created_by="alice", seed=1)
    kept = make_generation("a red fox in the snow", created_by="alice", seed=2)  # the same words, another image
    derive(store, gone)
    derive(store, kept)
    trash.delete(store, gone["id"], ALICE)
    trash.purge(store, gone["id"], ADA)
    for table in DERIVED_ROWS:
        assert not store.query(f"SELECT * FROM {table} WHERE generation_id = ?", [gone["id"]]), table
        assert store.query(f"SELECT * FROM {table} WHERE generation_id = ?", [kept["id"]]), table
    keys = {(r["kind"], r["sha256"]) for r in store.query("SELECT kind, sha256 FROM embeddings")}
    assert ("image", gone["image_sha256"]) not in keys and ("image", kept["image_sha256"]) in keys
    assert ("text", text_key(kept["transcript"])) in keys  # still the words of a stored generation
    trash.delete(store, kept["id"], ALICE)
    trash.purge(store, kept["id"], ADA)
    assert not store.query("SELECT * FROM embeddings")  # nobody's words are left to confirm a guess with


def test_a_write_failure_names_the_file_relative_to_the_data_folder_only(store, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(paths.os, "replace", full)
    with pytest.raises(StorageError) as failed:
        paths.write_atomic(store.data_dir, "images/" + "a" * 32 + ".png", b"png")
    assert str(failed.value) == f"cannot write images/{'a' * 32}.png in the data folder: the disk is full"
    assert str(store.data_dir) not in str(failed.value)


def test_a_models_name_is_shown_never_the_servers_path():
    from ui.render import model_name

    assert model_name("/srv/v2i/data/tiny-models/clip-tiny-random") == "clip-tiny-random"
    assert model_name("/srv/models/clip#int8") == "clip#int8"
    assert model_name("openai/clip-vit-base-patch32") == "openai/clip-vit-base-patch32"


@pytest.fixture
def broken_key(tmp_path, monkeypatch):
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("V2I_C2PA_CERT", str(tmp_path / "cert.pem"))
    monkeypatch.setenv("V2I_C2PA_KEY", str(tmp_path / "key.pem"))


def test_a_c2pa_key_that_cannot_sign_is_refused_at_start_naming_the_setting(tiny_env, broken_key, tmp_path, capsys,
                                                                            models, data_dir):
    from core.cli import main
    from core.config import load_settings
    from core.execution.worker import Worker

    settings = load_settings()
    with pytest.raises(InvalidOptionError, match="V2I_C2PA_CERT / V2I_C2PA_KEY cannot sign an image"):
        provenance.check_signing(settings)
    with pytest.raises(InvalidOptionError, match="V2I_C2PA_CERT"):
        Worker(settings, models, Store(data_dir), embed=False).start()
    (tmp_path / "a.wav").write_bytes(recording("wav"))
    assert main(["generate", str(tmp_path / "a.wav"), "--steps", "2", "--size", "64", "--prompt", "a fox"]) == 1
    err = capsys.readouterr().err
    assert "V2I_C2PA_CERT / V2I_C2PA_KEY cannot sign" in err and "Traceback" not in err
    assert not Store(data_dir).query("SELECT * FROM generations") and not list((data_dir / "images").glob("*")) \
        if (data_dir / "images").exists() else True


def test_a_working_c2pa_key_passes_the_start_check(tiny_env, tmp_path, monkeypatch):
    from core.config import load_settings

    chain, key, _ = provenance.make_team_key(tmp_path)
    monkeypatch.setenv("V2I_C2PA_CERT", str(chain))
    monkeypatch.setenv("V2I_C2PA_KEY", str(key))
    provenance.check_signing(load_settings())


def test_a_batch_goes_on_past_an_unexpected_failure_without_a_traceback(tiny_env, tmp_path, capsys, monkeypatch):
    import core.cli as cli

    real, calls = cli.run_generation, []

    def first_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a library's own error")
        return real(*args, **kwargs)

    monkeypatch.setattr(cli, "run_generation", first_fails)
    for name in ("a.wav", "b.wav"):
        (tmp_path / name).write_bytes(recording("wav"))
    assert cli.main(["generate", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"), "--steps", "2", "--size", "64",
                     "--prompt", "a fox", "--json"]) == 1
    out, err = capsys.readouterr()
    assert "a.wav: failed unexpectedly (RuntimeError); the other files go on" in err and "Traceback" not in err
    assert len([line for line in out.splitlines() if line.strip()]) == 1  # b.wav was still painted


def test_the_audit_trail_records_where_each_action_came_from(store, make_generation, settings, tiny_env, capsys):
    from fastapi.testclient import TestClient

    from core import tokens
    from core.cli import main
    from core.web.api import create_app

    row = make_generation("a fox", created_by="alice")
    token = tokens.create(store, Person("bob", "bob"), "t")["token"]
    with TestClient(create_app(settings, store)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.put(f"/api/v1/generations/{row['id']}/rating", json={"stars": 4}, headers=headers).status_code == 200
        assert client.post("/api/v1/collections/Keep/items", json={"generation_id": row["id"]},
                           headers=headers).status_code == 201
    assert main(["rate", row["id"], "--stars", "3", "--as", "cy"]) == 0
    rate(store, row["id"], BOB, favourite=True)  # as the dashboard calls it, with the browser's address
    record(store, None, "backup", "/backups")
    sources = [(r["who"], r["action"], r["source"]) for r in reversed(trail(store)) if r["action"] != "account"]
    assert sources == [("bob", "rate", "api testclient"), ("bob", "collect", "api testclient"), ("cy", "rate", "cli"),
                       ("bob", "rate", "10.0.0.6"), ("system", "backup", "server")]


def test_stars_on_ones_own_image_stay_on_it_and_out_of_every_statistic(store, make_generation, settings):
    from core import rating_of

    row = make_generation("a fox", created_by="alice")
    rate(store, row["id"], ALICE, stars=5)
    rate(store, row["id"], BOB, stars=2)
    stored = store.get_generation(row["id"])
    assert (stored["rating_mean"], stored["rating_count"]) == (2.0, 1)
    assert rating_of(store, row["id"], "alice")["stars"] == 5  # she still sees her own stars
    assert [(r["person"], r["stars"]) for r in judgements.ratings(store)] == [("bob", 2)]
    (observed,) = factors.observations(store, settings.clip_embedding_id, texts=False)
    assert (observed["stars"], observed["raters"]) == (2.0, 1)
    alone = make_generation("a cat", created_by="alice", seed=2)
    rate(store, alone["id"], ALICE, stars=5)
    people = {r["key"]: r for r in factors.report(store, settings.clip_embedding_id).to_json()["people"]}
    assert people["alice"]["rating_mean"] == 2.0  # one self-rating of 5 no longer makes her mean 5.0


def test_the_upgrade_takes_self_ratings_out_of_the_stored_means(tmp_path):
    old = old_database(tmp_path, 16)
    old["generations"].insert({"id": "g" * 32, "created_at": "2026-01-01", "transcript": "t", "prompt": "p",
                               "image_path": "images/x.png", "audio_path": "audio/x.wav", "created_by": "alice"})
    old["ratings"].insert_all([{"generation_id": "g" * 32, "person": "alice", "stars": 5, "favourite": 0},
                               {"generation_id": "g" * 32, "person": "bob", "stars": 3, "favourite": 0}])
    assert old.execute("SELECT rating_mean FROM generations").fetchone()[0] == 4.0
    old.close()
    store = Store(tmp_path)
    assert store.query("SELECT rating_mean, rating_count FROM generations") == [{"rating_mean": 3.0, "rating_count": 1}]


def test_a_job_failed_by_recovery_notifies_once(store):
    webhooks.add(store, ALICE, "webhook", "https://hooks.example.invalid/")
    with store.write() as db:
        db["jobs"].insert({"id": "c" * 32, "created_at": "2026-01-01", "created_by": "alice", "status": "running",
                           "options": "{}", "worker_id": "elsewhere:1:dead", "heartbeat_at": "2000-01-01T00:00:00",
                           "audio_filename": "memo.wav"})
    assert JobQueue(store).recover() == 1
    assert JobQueue(store).recover() == 0
    (delivery,) = store.query("SELECT payload FROM deliveries")
    event = json.loads(delivery["payload"])
    assert (event["event"], event["job_id"], event["filename"]) == ("job.failed", "c" * 32, "memo.wav")
    assert "the server stopped" in event["error"]


def test_restoring_from_the_trash_never_brings_back_a_vote_its_voter_changed(store, settings, models, wav):
    from core import Worker

    run_id = abtest.start(JobQueue(store), wav, GenerationRequest(transcript="a fox", language="en", options=FAST),
                          "style", ["none", "watercolor"], ALICE.id)
    Worker(settings, models, store, embed=False).run_pending()
    first, second = store.query("SELECT id FROM generations WHERE ab_run = ? ORDER BY style", [run_id])
    abtest.vote(store, run_id, first["id"], BOB)
    trash.delete(store, first["id"], ADA)
    abtest.vote(store, run_id, second["id"], BOB)  # bob changes his mind while the first is in the trash
    trash.restore(store, first["id"], ADA)
    assert [(v["person"], v["generation_id"]) for v in store.query("SELECT * FROM ab_votes")] == \
        [("bob", second["id"])]


def test_one_person_however_their_name_is_typed(tiny_env, tmp_path, capsys, data_dir):
    from core.cli import main

    (tmp_path / "a.wav").write_bytes(recording("wav"))
    assert main(["generate", str(tmp_path / "a.wav"), "--steps", "2", "--size", "64", "--prompt", "a fox",
                 "--as", "carol", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    for name in ("bob", "Bob", "ｂｏｂ"):
        assert main(["rate", made["id"], "--stars", "4", "--as", name]) == 0
    store = Store(data_dir)
    assert [r["person"] for r in store.query("SELECT person FROM ratings")] == ["bob"]
    capsys.readouterr()
    assert main(["rate", made["id"], "--stars", "5", "--blind", "--as", "Carol"]) == 1
    assert "a blind rating is of an image someone else made" in capsys.readouterr().err
