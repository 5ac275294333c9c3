"""Sweeps: a grid over one to three settings from one recording, queued as one run, shown as a contact sheet."""

import json

import pytest
from PIL import Image

from core import contact_sheet, factors, sweep
from core.cli import main
from core.config.recipes import GenerationOptions
from core.errors import InvalidOptionError
from core.execution.jobs import CANCELLED, DONE, JobQueue, Quota, QuotaError
from core.execution.worker import Worker
from core.generation.request import GenerationRequest

FAST = GenerationOptions(steps=2, width=64, height=64)


def request(**kw):
    return GenerationRequest(filename="clip.wav", transcript="a red fox in the snow", language="en",
                             options=kw.pop("options", FAST), **kw)


@pytest.mark.parametrize("text, message", [
    ("steps", "NAME=V1,V2"),
    ("sampler=a,b", "cannot vary 'sampler'; choose from: recipe, steps, guidance, scheduler, style, seed"),
    ("steps=4", "2 to 6 different values"),
    ("steps=4,4", "not 1"),
    ("steps=4,x", "whole numbers from 1 to 150, not 'x'"),
    ("guidance=1,99", "guidance takes numbers from 0 to 30, not 99"),
    ("scheduler=dpmpp-2m,euler-x", "unknown scheduler 'euler-x'"),
    ("recipe=default,quick", "unknown recipe 'quick'"),
])
def test_a_bad_axis_is_refused_naming_the_value(text, message):
    with pytest.raises(InvalidOptionError, match=message.replace("(", r"\(")):
        sweep.parse_axis(text)


def test_a_grid_is_one_to_three_axes_each_once_and_at_most_27_cells():
    steps, guidance = sweep.parse_axis("steps=1,2,3"), sweep.parse_axis("guidance=1,4,7.5")
    with pytest.raises(InvalidOptionError, match="each setting may be varied once"):
        sweep.check_axes([steps, steps])
    with pytest.raises(InvalidOptionError, match="1 to 3 settings, not 4"):
        sweep.check_axes([steps, guidance, sweep.parse_axis("seed=1,2"), sweep.parse_axis("style=none,watercolor")])
    with pytest.raises(InvalidOptionError, match="36 cells is too large"):
        sweep.check_axes([sweep.parse_axis("steps=1,2,3,4,5,6"), sweep.parse_axis("seed=1,2,3,4,5,6")])


def test_a_cell_the_recipe_cannot_paint_is_named_before_anything_is_queued(store, wav):
    axes = [sweep.parse_axis("recipe=default,turbo"), sweep.parse_axis("steps=4,20")]
    with pytest.raises(InvalidOptionError, match="the cell recipe turbo · steps 20 cannot be painted: steps must be "
                                                 "at most 8 with the turbo recipe"):
        sweep.start(JobQueue(store), wav, request(), axes, "ann")
    assert store.query("SELECT * FROM ab_runs") == [] and store.query("SELECT * FROM jobs") == []


def test_cells_share_one_seed_unless_seed_is_an_axis():
    planned = sweep.plan(request(), [sweep.parse_axis("steps=1,2"), sweep.parse_axis("guidance=1,4")])
    assert len({r.options.seed for _, r in planned}) == 1
    assert [(r.options.steps, r.options.guidance) for _, r in planned] == [(1, 1.0), (1, 4.0), (2, 1.0), (2, 4.0)]
    seeded = sweep.plan(request(), [sweep.parse_axis("seed=5,6")])
    assert [r.options.seed for _, r in seeded] == [5, 6]


def test_a_sweep_that_cannot_be_queued_whole_leaves_nothing_behind(store, wav):
    queue = JobQueue(store, quota=Quota(max_jobs=3, max_bytes=10**9))
    with pytest.raises(QuotaError):
        sweep.start(queue, wav, request(), [sweep.parse_axis("steps=1,2"), sweep.parse_axis("seed=1,2")], "ann")
    assert store.query("SELECT * FROM ab_runs") == []
    assert {job["status"] for job in queue.list()} == {CANCELLED}


def test_a_3x3_sweep_paints_nine_cells_labelled_by_their_stored_parameters(store, settings, models, wav):
    axes = [sweep.parse_axis("steps=1,2,3"), sweep.parse_axis("guidance=1,4,7.5")]
    run_id = sweep.start(JobQueue(store), wav, request(), axes, "ann")
    assert Worker(settings, models, store).run_pending() == 9
    run = sweep.run_of(store, run_id, person="bob")
    assert len(run["generations"]) == 9 and {g["ab_run"] for g in run["generations"]} == {run_id}

    sheet = contact_sheet.contact_sheet(store, run)
    grid = contact_sheet.grid_of_sheet(sheet)
    assert grid["rows"] == ["steps 1", "steps 2", "steps 3"]
    assert grid["columns"] == ["guidance 1", "guidance 4", "guidance 7.5"]
    stored = {g["id"]: g for g in store.query("SELECT * FROM generations WHERE ab_run = ?", [run_id])}
    assert len(grid["cells"]) == 9 and {c["generation_id"] for c in grid["cells"]} == set(stored)
    for cell in grid["cells"]:
        row = stored[cell["generation_id"]]
        assert grid["rows"][cell["row"]] == f"steps {row['steps']}"  # the label is what was painted
        assert grid["columns"][cell["column"]] == f"guidance {row['guidance']:g}"
    with Image.open(__import__("io").BytesIO(sheet)) as image:  # a real PNG, three by three thumbnails
        assert image.format == "PNG" and image.width > 3 * contact_sheet.THUMB and image.height > 3 * contact_sheet.THUMB

    best = next(c for c in sweep.grid(run) if c.values == {"steps": 3, "guidance": 7.5})
    sweep.vote(store, run_id, best.generation["id"], "bob")
    run = sweep.run_of(store, run_id, person="bob")
    assert run["mine"] == best.generation["id"]
    assert [c.votes for c in sweep.grid(run)] == [0] * 8 + [1]
    rates = {(r["variable"], r["key"]): (r["wins"], r["n"]) for r in factors.win_rates(store)}
    assert rates[("steps", "3")] == (1, 1) and rates[("steps", "1")] == (0, 1)
    assert rates[("guidance", "7.5")] == (1, 1) and rates[("guidance", "4")] == (0, 1)


def test_three_axes_make_one_block_per_value_of_the_third(store, settings, models, wav):
    axes = [sweep.parse_axis("steps=1,2"), sweep.parse_axis("seed=3,4"), sweep.parse_axis("style=none,watercolor")]
    run_id = sweep.start(JobQueue(store), wav, request(), axes, "ann")
    Worker(settings, models, store).run_pending()
    grid = contact_sheet.grid_of_sheet(contact_sheet.contact_sheet(store, sweep.run_of(store, run_id)))
    assert grid["blocks"] == ["style none", "style watercolor"]
    stored = {g["id"]: g for g in store.query("SELECT * FROM generations WHERE ab_run = ?", [run_id])}
    for cell in grid["cells"]:
        row = stored[cell["generation_id"]]
        assert (grid["rows"][cell["row"]], grid["columns"][cell["column"]], grid["blocks"][cell["block"]]) == (
            f"steps {row['steps']}", f"seed {row['seed']}", f"style {row['style']}")


def test_the_command_line_queues_a_sweep_prints_its_cells_and_writes_its_sheet(tiny_env, tmp_path, wav, capsys,
                                                                               store, settings, models):
    recording = tmp_path / "fox.wav"
    recording.write_bytes(wav)
    assert main(["sweep", str(recording), "--vary", "steps=1,2", "--vary", "guidance=1,4", "--size", "64",
                 "--as", "ann", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [c["label"] for c in printed["cells"]] == ["steps 1 · guidance 1", "steps 1 · guidance 4",
                                                      "steps 2 · guidance 1", "steps 2 · guidance 4"]
    assert [j["status"] for j in JobQueue(store).list()] == ["queued"] * 4
    assert main(["worker", "--until-empty"]) == 0
    assert {j["status"] for j in JobQueue(store).list()} == {DONE}
    out = tmp_path / "sheet.png"
    assert main(["sheet", printed["run"][:8], "--out", str(out)]) == 0
    assert len(contact_sheet.grid_of_sheet(out.read_bytes())["cells"]) == 4
    cell = contact_sheet.grid_of_sheet(out.read_bytes())["cells"][0]["generation_id"]
    assert main(["vote", printed["run"], cell, "--as", "bob"]) == 0
    assert store.query("SELECT person, generation_id FROM ab_votes") == [{"person": "bob", "generation_id": cell}]


def test_the_command_line_names_a_bad_axis_and_queues_nothing(tiny_env, tmp_path, wav, capsys, store):
    recording = tmp_path / "fox.wav"
    recording.write_bytes(wav)
    assert main(["sweep", str(recording), "--vary", "steps=1,x"]) != 0
    assert "whole numbers from 1 to 150, not 'x'" in capsys.readouterr().err
    assert store.query("SELECT * FROM jobs") == []
