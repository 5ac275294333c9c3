"""The team commands of ``python -m core``: submit, jobs, worker, rate, collect, collections, export, and
history's new filters. Bad input is one line on stderr, a non-zero exit, and nothing changed."""

import csv
import io
import json
import zipfile

import pytest
from helpers import files_under

from core.cli import main
from core.generation.synth import recording

FAST = ["--steps", "2", "--size", "64"]


def lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def state(data_dir):
    """What a refused command must leave as it was: files, ratings, collections and their members."""
    from core import Store

    store = Store(data_dir)
    return (files_under(data_dir), store.query("SELECT * FROM ratings"), store.query("SELECT * FROM collections"),
            store.query("SELECT * FROM collection_items"))


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.wav"
    path.write_bytes(recording("wav"))
    return str(path)


def test_submit_queues_fairly_jobs_lists_them_and_the_worker_runs_them(tiny_env, clip, capsys):
    assert main(["submit", clip, clip, clip, "--as", "alice", *FAST, "--json"]) == 0
    alice = lines(capsys)
    assert [(j["position"], j["created_by"]) for j in alice] == [(1, "alice"), (2, "alice"), (3, "alice")]
    assert main(["submit", clip, "--as", "bob", *FAST, "--json"]) == 0
    (bob,) = lines(capsys)
    assert bob["position"] == 2  # bob's first job waits behind alice's first only

    assert main(["jobs", "--as", "bob", "--json"]) == 0
    assert [(j["id"], j["status"], j["position"]) for j in lines(capsys)] == [(bob["id"], "queued", 2)]
    assert main(["worker", "--until-empty"]) == 0
    capsys.readouterr()
    assert main(["jobs", "--json"]) == 0
    assert {j["status"] for j in lines(capsys)} == {"done"}
    assert main(["history", "--by", "bob", "--json"]) == 0
    (made,) = lines(capsys)
    assert made["created_by"] == "bob" and made["rating_count"] == 0 and made["collections"] == []


def test_rate_collect_and_history_filters(tiny_env, clip, capsys):
    main(["generate", clip, "--as", "alice", *FAST, "--prompt", "a fox", "--json"])
    main(["generate", clip, "--as", "bob", *FAST, "--prompt", "a cat", "--json"])
    fox, cat = lines(capsys)
    assert main(["rate", fox["id"], "--stars", "5", "--favourite", "--as", "bob"]) == 0
    assert main(["rate", cat["id"], "--stars", "2", "--as", "alice"]) == 0
    assert main(["collect", fox["id"], "--into", "Launch", "--as", "bob"]) == 0
    assert main(["collect", cat["id"], "--into", "launch", "--as", "alice"]) == 0
    assert main(["collect", cat["id"], "--remove-from", "Launch"]) == 0
    capsys.readouterr()

    def ids(*argv):
        assert main(["history", *argv, "--json"]) == 0
        return [r["id"] for r in lines(capsys)]

    assert ids("--min-rating", "4") == [fox["id"]]
    assert ids("--favourites-of", "bob") == [fox["id"]]
    assert ids("--collection", "launch") == [fox["id"]]
    assert ids("--by", "alice") == [fox["id"]]
    assert main(["history", "--collection", "Launch", "--json"]) == 0
    (record,) = lines(capsys)
    assert (record["rating_mean"], record["rating_count"], record["collections"]) == (5.0, 1, ["Launch"])


def test_collections_lists_names_and_sizes(tiny_env, clip, capsys):
    main(["generate", clip, "--as", "alice", *FAST, "--json"])
    (row,) = lines(capsys)
    main(["collect", row["id"], "--into", "Moodboard", "--as", "alice"])
    capsys.readouterr()
    assert main(["collections", "--json"]) == 0
    (listed,) = lines(capsys)
    assert (listed["name"], listed["size"], listed["created_by"]) == ("Moodboard", 1, "alice")


def test_export_writes_the_csv_and_the_zip_with_a_manifest(tiny_env, clip, tmp_path, capsys):
    main(["generate", clip, clip, "--as", "alice", *FAST, "--json"])
    first, second = lines(capsys)
    main(["collect", first["id"], "--into", "keep", "--as", "alice"])
    out_csv, out_zip = tmp_path / "rows.csv", tmp_path / "images.zip"
    assert main(["export", "--csv", str(out_csv), "--zip", str(out_zip), "--collection", "keep"]) == 0
    assert [r["id"] for r in csv.DictReader(io.StringIO(out_csv.read_text()))] == [first["id"]]
    with zipfile.ZipFile(out_zip) as archive:
        assert len([n for n in archive.namelist() if n.endswith(".png")]) == 1
        assert first["id"] in archive.read("manifest.csv").decode()
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.parametrize("argv, code, message", [
    (["rate", "0" * 32, "--stars", "4"], 1, "no generation with id"),
    (["rate", "not-an-id", "--stars", "4"], 1, "is not a generation id"),
    (["rate", "{id}", "--stars", "6"], 2, "from 1 to 5"),
    (["rate", "{id}", "--stars", "0"], 2, "from 1 to 5"),
    (["rate", "{id}"], 1, "say what to record"),
    (["rate", "{id}", "--stars", "3", "--as", ""], 1, "the name is empty"),
    (["rate", "{id}", "--stars", "3", "--as", "x" * 101], 1, "at most 100"),
    (["collect", "{id}", "--into", ""], 1, "the collection name is empty"),
    (["collect", "{id}", "--into", "y" * 101], 1, "at most 100"),
    (["collect", "{id}", "--remove-from", "never-made"], 1, "is not in a collection named"),
    (["collect", "{id}"], 2, "one of the arguments --into --remove-from is required"),
    (["history", "--min-rating", "9"], 2, "from 1.0 to 5.0"),
    (["history", "--by", ""], 1, "the name is empty"),
    (["export", "--collection", "x"], 1, "say where to write"),
    (["jobs", "--as", ""], 1, "the name is empty"),
])
def test_bad_team_input_is_one_line_and_changes_nothing(tiny_env, clip, data_dir, capsys, argv, code, message):
    main(["generate", clip, "--as", "alice", *FAST, "--json"])
    (row,) = lines(capsys)
    before = state(data_dir)
    argv = [a.replace("{id}", row["id"]) for a in argv]
    if code == 2:
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
    else:
        assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert state(data_dir) == before


def test_a_limit_reached_on_submit_is_one_line(tiny_env, clip, monkeypatch, capsys):
    monkeypatch.setenv("V2I_MAX_QUEUED_PER_PERSON", "1")
    assert main(["submit", clip, clip, "--as", "alice", *FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already have 1 jobs waiting" in err[0]
