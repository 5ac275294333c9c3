"""The team's votes and blind ratings leave the project as preference pairs that Hugging Face datasets loads."""

import json

import pytest

from core import Store, rate, sweep
from core.cli import main
from core.errors import InvalidOptionError, StorageError
from core.execution.jobs import JobQueue
from core.execution.worker import Worker
from core.judging.preferences import export_preferences, pairs
from core.generation.request import GenerationRequest
from core.config.recipes import GenerationOptions


@pytest.fixture
def judged(make_generation, store, settings, models, wav):
    """ann's two images of one recording rated blind by bob (5 and 2) and cat (4 and 3), seen by dan (5 and 1);
    ann's style sweep voted on by bob and by ann herself."""
    a = make_generation("a lighthouse at dusk", seed=1, created_by="ann")
    b = make_generation("a lighthouse at dusk", seed=2, created_by="ann")
    for person, stars_a, stars_b in (("bob", 5, 2), ("cat", 4, 3)):
        rate(store, a["id"], person, stars=stars_a, blind=True)
        rate(store, b["id"], person, stars=stars_b, blind=True)
    rate(store, a["id"], "dan", stars=5)
    rate(store, b["id"], "dan", stars=1)  # not blind: dan saw who made them and how others rated
    request = GenerationRequest(filename="fox.wav", transcript="a red fox in the snow", language="en",
                                options=GenerationOptions(steps=2, width=64, height=64, seed=3))
    run_id = sweep.start(JobQueue(store), wav, request, [sweep.parse_axis("style=none,watercolor")], "ann")
    Worker(settings, models, store).run_pending()
    images = {g["style"]: g for g in sweep.run_of(store, run_id)["generations"]}
    sweep.vote(store, run_id, images["watercolor"]["id"], "bob")
    sweep.vote(store, run_id, images["none"]["id"], "ann")  # her own run: no pair
    return {"a": a, "b": b, "run": run_id, **images}


def test_pairs_come_from_votes_and_from_blind_ratings_two_stars_apart(judged, store):
    found = {(p.chosen_id, p.rejected_id, p.who, p.how) for p in pairs(store)}
    assert found == {(judged["a"]["id"], judged["b"]["id"], "bob", "blind ratings"),
                     (judged["watercolor"]["id"], judged["none"]["id"], "bob", "A/B vote")}


def test_nobody_judges_their_own_image(judged, store):
    with pytest.raises(InvalidOptionError, match="a blind rating is of an image someone else made"):
        rate(store, judged["a"]["id"], "ann", stars=5, blind=True)
    assert all(p.who != "ann" for p in pairs(store))


def test_the_export_loads_with_hugging_face_datasets_and_every_file_exists(judged, store, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    from datasets import load_dataset

    folder = tmp_path / "prefs"
    assert export_preferences(store, folder) == 2
    rows = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    for row in rows:
        assert (folder / row["chosen_file_name"]).is_file() and (folder / row["rejected_file_name"]).is_file()
    loaded = load_dataset("imagefolder", data_dir=str(folder), split="train")
    assert len(loaded) == 2
    assert {"chosen", "rejected", "prompt", "who", "how", "chosen_id", "rejected_id"} <= set(loaded.column_names)
    first = loaded[0]
    assert first["chosen"].size == (64, 64) and first["rejected"].mode == "RGB"
    assert sorted(loaded["how"]) == ["A/B vote", "blind ratings"]


def test_an_export_into_a_folder_in_use_is_refused_and_changes_nothing(judged, store, tmp_path):
    folder = tmp_path / "busy"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(StorageError, match="is not an empty folder"):
        export_preferences(store, folder)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_the_command_line_writes_the_dataset(judged, tmp_path, capsys, settings):
    assert main(["export", "--preferences", str(tmp_path / "out")]) == 0
    assert "2 preference pairs" in capsys.readouterr().err
    assert len((tmp_path / "out" / "metadata.jsonl").read_text().splitlines()) == 2
    trail = Store(settings.data_dir).query("SELECT action, detail FROM audit WHERE action = 'export'")
    assert trail == [{"action": "export", "detail": "2 preference pairs"}]


def test_the_insights_download_is_the_same_dataset_zipped(judged, store, tmp_path):
    import io
    import zipfile

    from core.judging.preferences import preferences_zip

    with zipfile.ZipFile(io.BytesIO(preferences_zip(store))) as archive:
        names = set(archive.namelist())
        rows = [json.loads(line) for line in archive.read("metadata.jsonl").decode().splitlines()]
    assert len(rows) == 2 and {r["chosen_file_name"] for r in rows} | {r["rejected_file_name"] for r in rows} <= names
