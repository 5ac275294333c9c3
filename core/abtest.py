"""A/B runs: one recording painted with two or more recipes or styles at one seed, side by side, and the
team's votes for the better one (win rates are in :func:`core.insights.win_rates`)."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import replace
from typing import Any

from .diffusion import MAX_SEED, RECIPES, GenerationOptions, check_recipe
from .audit import record_in
from .errors import InvalidOptionError, NotFoundError
from .jobs import JobQueue
from .prompt import STYLES, check_style
from .request import GenerationRequest
from .store import Store, utc_now

VARIABLES = ("recipe", "style")
MAX_ARMS = 4


def arm_of(row: dict[str, Any], variable: str) -> str:
    """The value a generation of a run tried: its recipe or its style."""
    return row["recipe"] if variable == "recipe" else row["style"]


def check_arms(variable: str, values: list[str]) -> list[str]:
    """Two to four distinct, known recipes or styles; the error names the bad value and the valid ones."""
    if variable not in VARIABLES:
        raise InvalidOptionError(f"an A/B run compares {' or '.join(VARIABLES)}, not {variable!r}")
    arms = list(dict.fromkeys(values))
    if not 2 <= len(arms) <= MAX_ARMS:
        raise InvalidOptionError(f"an A/B run needs 2 to {MAX_ARMS} different {variable}s, not {len(arms)}: "
                                 f"choose from {', '.join(RECIPES if variable == 'recipe' else STYLES)}")
    for arm in arms:
        check_recipe(arm) if variable == "recipe" else check_style(arm)
    return arms


def plan(request: GenerationRequest, variable: str, values: list[str]) -> list[GenerationRequest]:
    """One request per arm, all at one seed (a random one if the request has none). A recipe arm takes that
    recipe's own scheduler and steps; a style arm builds its prompt from the words with that style."""
    arms = check_arms(variable, values)
    options = request.options
    seed = options.seed if options.seed is not None else random.randint(0, MAX_SEED)
    planned = []
    for arm in arms:
        if variable == "recipe":
            arm_options = GenerationOptions.from_recipe(
                arm, guidance=options.guidance, seed=seed, width=options.width, height=options.height,
                safety_checker=options.safety_checker)
            planned.append(replace(request, options=arm_options).check())
        else:  # the person's own prompt would hide the style: each arm enhances the words with its style
            planned.append(replace(request, style=arm, prompt=None, options=replace(options, seed=seed)).check())
    return planned


def start(queue: JobQueue, audio: bytes, request: GenerationRequest, variable: str, values: list[str],
          created_by: str) -> str:
    """Queue one job per arm under a new run id; returns the run id. If any arm cannot be queued (a quota),
    the arms already queued are cancelled and the run is removed: nothing is left behind."""
    planned = plan(request, variable, values)
    run_id = uuid.uuid4().hex
    arms = [arm_of({"recipe": r.options.recipe, "style": r.style}, variable) for r in planned]
    with queue.store.write() as db:
        db["ab_runs"].insert({"id": run_id, "variable": variable, "arms": json.dumps(arms),
                              "seed": planned[0].options.seed, "filename": request.filename, "created_by": created_by,
                              "created_at": utc_now("seconds")})
    queued = []
    try:
        for arm_request in planned:
            queued.append(queue.submit(audio, replace(arm_request, ab_run=run_id), created_by=created_by))
    except BaseException:
        for job_id in queued:
            queue.cancel(job_id)
        with queue.store.write() as db:
            db.execute("DELETE FROM ab_runs WHERE id = ?", [run_id])
        raise
    return run_id


def runs(store: Store, person: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first: each with its arms' generations so far, the votes, and ``person``'s vote."""
    out = []
    for run in store.query("SELECT * FROM ab_runs ORDER BY created_at DESC LIMIT ?", [limit]):
        generations = store.query("SELECT * FROM generations WHERE ab_run = ? ORDER BY created_at", [run["id"]])
        votes = store.query("SELECT person, generation_id FROM ab_votes WHERE run_id = ?", [run["id"]])
        out.append({**run, "arms": json.loads(run["arms"]), "generations": generations,
                    "votes": {g["id"]: sum(v["generation_id"] == g["id"] for v in votes) for g in generations},
                    "mine": next((v["generation_id"] for v in votes if v["person"] == person), None)})
    return out


def vote(store: Store, run_id: str, generation_id: str, person: str) -> None:
    """``person`` finds ``generation_id`` the better image of run ``run_id`` (a later vote replaces theirs)."""
    if not store.query("SELECT 1 FROM ab_runs WHERE id = ?", [run_id]):
        raise NotFoundError(f"no A/B run with id {run_id}")
    if not store.query("SELECT 1 FROM generations WHERE id = ? AND ab_run = ?", [generation_id, run_id]):
        raise NotFoundError(f"generation {generation_id} is not an image of A/B run {run_id}")
    with store.write() as db:
        db["ab_votes"].insert({"run_id": run_id, "person": person, "generation_id": generation_id,
                               "voted_at": utc_now("seconds")}, replace=True)
        record_in(db, person, "vote", generation_id, f"A/B run {run_id}")
