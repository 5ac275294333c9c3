"""A/B runs: one recording, two or more recipes or styles at one seed, and the team's votes."""

import json

import pytest

from core import abtest, factors
from core.config.recipes import GenerationOptions
from core.errors import InvalidOptionError, NotFoundError
from core.execution.jobs import CANCELLED, JobQueue, Quota, QuotaError
from core.execution.worker import Worker
from core.generation.request import GenerationRequest

FAST = GenerationOptions(steps=2, width=64, height=64)


def request(**kw):
    return GenerationRequest(filename="clip.wav", transcript="a red fox in the snow", language="en",
                             options=kw.pop("options", FAST), **kw)


def test_recipe_arms_share_one_seed_and_take_each_recipes_own_steps():
    planned = abtest.plan(request(), "recipe", ["default", "turbo"])
    assert [r.options.recipe for r in planned] == ["default", "turbo"]
    assert [r.options.steps for r in planned] == [20, 4]
    assert planned[0].options.seed == planned[1].options.seed is not None
    assert {r.options.width for r in planned} == {64}


def test_style_arms_drop_the_persons_own_prompt_so_the_style_shows():
    planned = abtest.plan(request(prompt="my own words", options=FAST.__class__(steps=2, seed=7)), "style",
                          ["none", "watercolor"])
    assert [(r.style, r.prompt, r.options.seed) for r in planned] == [("none", None, 7), ("watercolor", None, 7)]


@pytest.mark.parametrize("variable, values, message", [
    ("sampler", ["a", "b"], "compares recipe or style, not 'sampler'"),
    ("recipe", ["default"], "needs 2 to 4 different recipes, not 1"),
    ("recipe", ["default", "default"], "not 1"),
    ("recipe", ["default", "quick"], "unknown recipe 'quick'"),
    ("style", ["none", "a", "b", "c", "d"], "not 5"),
])
def test_a_bad_run_is_refused_with_the_value_named(variable, values, message):
    with pytest.raises(InvalidOptionError, match=message):
        abtest.plan(request(), variable, values)


def test_a_run_that_cannot_be_queued_whole_leaves_nothing_behind(store, wav):
    queue = JobQueue(store, quota=Quota(max_jobs=1, max_bytes=10**9))
    with pytest.raises(QuotaError):
        abtest.start(queue, wav, request(), "style", ["none", "watercolor"], "ann")
    assert store.query("SELECT * FROM ab_runs") == []
    assert [job["status"] for job in queue.list()] == [CANCELLED]


def test_a_run_is_painted_side_by_side_and_votes_give_win_rates(store, settings, models, wav):
    queue = JobQueue(store)
    run_id = abtest.start(queue, wav, request(), "style", ["none", "watercolor"], "ann")
    assert Worker(settings, models, store).run_pending() == 2
    [run] = abtest.runs(store, person="bob")
    assert run["arms"] == ["none", "watercolor"] and len(run["generations"]) == 2
    none, watercolor = sorted(run["generations"], key=lambda g: g["style"] != "none")
    assert none["seed"] == watercolor["seed"] == run["seed"] and none["ab_run"] == run_id
    assert "watercolor" in watercolor["prompt"] and run["mine"] is None

    abtest.vote(store, run_id, watercolor["id"], "bob")
    abtest.vote(store, run_id, none["id"], "bob")  # a change of mind replaces the vote
    abtest.vote(store, run_id, watercolor["id"], "cat")
    [run] = abtest.runs(store, person="bob")
    assert run["mine"] == none["id"] and run["votes"] == {none["id"]: 1, watercolor["id"]: 1}
    rates = {row["key"]: row for row in factors.win_rates(store)}
    assert (rates["watercolor"]["wins"], rates["watercolor"]["n"]) == (1, 2)
    assert rates["none"]["win_rate"] == 0.5 and rates["none"]["win_rate_lo"] == pytest.approx(0.0945, abs=1e-4)
    assert json.loads(store.query("SELECT arms FROM ab_runs")[0]["arms"]) == ["none", "watercolor"]


def test_a_vote_for_an_image_outside_the_run_is_refused(store):
    with pytest.raises(NotFoundError, match="no sweep or A/B run with id nope"):
        abtest.vote(store, "nope", "x", "bob")


def test_deleting_an_arms_image_takes_its_votes_and_leaves_the_other_arms_tally_true(store, settings, models, wav):
    """Votes once outlived their image and counted as losses for the other arm (issue 32, 14)."""
    queue = JobQueue(store)
    run_id = abtest.start(queue, wav, request(), "style", ["none", "watercolor"], "ann")
    Worker(settings, models, store).run_pending()
    [run] = abtest.runs(store)
    none, watercolor = sorted(run["generations"], key=lambda g: g["style"] != "none")
    abtest.vote(store, run_id, watercolor["id"], "bob")
    abtest.vote(store, run_id, none["id"], "cat")
    store.delete_generation(watercolor["id"])
    assert store.query("SELECT person FROM ab_votes") == [{"person": "cat"}]
    rates = {row["key"]: row for row in factors.win_rates(store)}
    assert set(rates) == {"none"} and (rates["none"]["wins"], rates["none"]["n"]) == (1, 1)
