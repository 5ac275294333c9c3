"""Sweeps: one recording painted over a grid of one to three settings (for example steps 4/8/20 x guidance
1/4/7.5), queued as one run in the fair queue, shown as a contact sheet with labelled rows and columns, and
voted on (a vote names the best cell). An A/B run is a sweep with one axis (``core.judging.abtest``).

A cell's values are read back from its generation's stored parameters, so the sheet's labels are what was
painted, not what was asked."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from ..config.recipes import MAX_GUIDANCE, MAX_SEED, MAX_STEPS, RECIPES, SCHEDULERS, GenerationOptions, check_recipe
from ..errors import InvalidOptionError, NotFoundError
from ..generation.prompt import STYLES, check_style
from ..generation.request import GenerationRequest
from ..history.audit import record_in
from ..history.store import Store, utc_now
from ..people.person import Person, id_of

MAX_AXES = 3
MAX_VALUES = 6
MAX_CELLS = 27


class Queue(Protocol):
    """What a run needs of the job queue (:class:`core.execution.jobs.JobQueue`, which sits above judging): its
    store, a way to submit a cell and one to cancel it."""

    store: Store

    def submit(self, audio: bytes, request: GenerationRequest, created_by: str = ...) -> str: ...

    def cancel(self, job_id: str) -> Any: ...


def _whole(name: str, low: int, high: int) -> Callable[[Any], int]:
    def parse(text: Any) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise InvalidOptionError(f"{name} takes whole numbers from {low} to {high}, not {text!r}") from None
        if not low <= value <= high:
            raise InvalidOptionError(f"{name} takes whole numbers from {low} to {high}, not {value}")
        return value
    return parse


def _guidance(text: Any) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise InvalidOptionError(f"guidance takes numbers from 0 to {MAX_GUIDANCE:g}, not {text!r}") from None
    if not 0 <= value <= MAX_GUIDANCE:
        raise InvalidOptionError(f"guidance takes numbers from 0 to {MAX_GUIDANCE:g}, not {value:g}")
    return value


def _scheduler(text: Any) -> str:
    if str(text).strip() not in SCHEDULERS:
        raise InvalidOptionError(f"unknown scheduler {text!r}; choose one of: {', '.join(SCHEDULERS)}")
    return str(text).strip()


# What a sweep may vary: each setting's parser (text to a checked value), described once.
AXES: dict[str, Callable[[Any], Any]] = {
    "recipe": lambda text: check_recipe(str(text).strip()),
    "steps": _whole("steps", 1, MAX_STEPS),
    "guidance": _guidance,
    "scheduler": _scheduler,
    "style": lambda text: check_style(str(text).strip()),
    "seed": _whole("seed", 0, MAX_SEED),
}
CHOICES = {"recipe": tuple(RECIPES), "scheduler": tuple(SCHEDULERS), "style": tuple(STYLES)}


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple

    def text(self, value: Any) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    def label(self, value: Any) -> str:
        return f"{self.name} {self.text(value)}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "values": list(self.values)}


def axis(name: str, values) -> Axis:
    """An axis with its values checked: two to six distinct ones; the error names the bad one and the choices."""
    name = str(name).strip().lower()
    if name not in AXES:
        raise InvalidOptionError(f"a sweep cannot vary {name!r}; choose from: {', '.join(AXES)}")
    parsed = tuple(dict.fromkeys(AXES[name](v) for v in values))
    if not 2 <= len(parsed) <= MAX_VALUES:
        raise InvalidOptionError(f"{name} needs 2 to {MAX_VALUES} different values in a sweep, not {len(parsed)}")
    return Axis(name, parsed)


def parse_axis(text: str) -> Axis:
    """``steps=4,8,20`` as an axis."""
    name, sep, values = str(text).partition("=")
    if not sep or not values.strip():
        raise InvalidOptionError(f"write a sweep's axis as NAME=V1,V2,... (for example steps=4,8,20), not {text!r}")
    return axis(name, [v for v in values.split(",") if v.strip()])


def check_axes(axes: list[Axis]) -> tuple[Axis, ...]:
    """One to three axes, each setting once, at most 27 cells."""
    names = [a.name for a in axes]
    if not 1 <= len(axes) <= MAX_AXES:
        raise InvalidOptionError(f"a sweep varies 1 to {MAX_AXES} settings, not {len(axes)}")
    if len(set(names)) < len(names):
        raise InvalidOptionError(f"each setting may be varied once in a sweep: {', '.join(names)}")
    cells = 1
    for a in axes:
        cells *= len(a.values)
    if cells > MAX_CELLS:
        raise InvalidOptionError(f"a sweep of {cells} cells is too large: at most {MAX_CELLS}")
    return tuple(axes)


def cells(axes: tuple[Axis, ...]) -> list[dict[str, Any]]:
    """Every combination, the first axis varying slowest (rows), then columns, then blocks."""
    return [dict(zip((a.name for a in axes), combo)) for combo in itertools.product(*(a.values for a in axes))]


def cell_label(axes: tuple[Axis, ...], cell: dict[str, Any]) -> str:
    return " · ".join(a.label(cell[a.name]) for a in axes)


def apply(request: GenerationRequest, cell: dict[str, Any]) -> GenerationRequest:
    """The request for one cell: a recipe first (with its own scheduler and steps), then the other settings; a
    style builds the prompt from the words with that style (a person's own prompt would hide it)."""
    options = request.options
    if "recipe" in cell:
        options = GenerationOptions.from_recipe(
            cell["recipe"], guidance=options.guidance, seed=options.seed, width=options.width, height=options.height,
            safety_checker=options.safety_checker)
    options = replace(options, **{k: cell[k] for k in ("steps", "guidance", "scheduler", "seed") if k in cell})
    changed = replace(request, options=options)
    if "style" in cell:
        changed = replace(changed, style=cell["style"], prompt=None)
    return changed


def plan(request: GenerationRequest, axes: list[Axis]) -> list[tuple[dict[str, Any], GenerationRequest]]:
    """Each cell and its checked request, all at one seed unless seed is an axis (a random one if none is set)."""
    axes = check_axes(axes)
    if request.options.seed is None:
        request = replace(request, options=replace(request.options, seed=random.randint(0, MAX_SEED)))
    planned = []
    for cell in cells(axes):
        try:
            planned.append((cell, apply(request, cell).check()))
        except InvalidOptionError as err:
            raise InvalidOptionError(f"the cell {cell_label(axes, cell)} cannot be painted: {err}") from None
    return planned


def start(queue: Queue, audio: bytes, request: GenerationRequest, axes: list[Axis], created_by: Person | str) -> str:
    """Queue one job per cell under a new run id (the queue's fair order takes them with everyone else's);
    returns the run id. If any cell cannot be queued (a quota), those queued are cancelled and the run removed.
    ``created_by``: a Person (the audit trail then knows where they acted from) or a bare id."""
    who, created_by = created_by, id_of(created_by)
    planned = plan(request, axes)
    axes = check_axes(axes)
    run_id = uuid.uuid4().hex
    with queue.store.write() as db:
        db["ab_runs"].insert({
            "id": run_id, "variable": " x ".join(a.name for a in axes),
            "arms": json.dumps([cell_label(axes, cell) if len(axes) > 1 else str(cell[axes[0].name])
                                for cell, _ in planned]),
            "axes": json.dumps([a.to_json() for a in axes]), "seed": planned[0][1].options.seed,
            "filename": request.filename, "created_by": created_by, "created_at": utc_now("seconds")})
        record_in(db, who, "sweep", run_id, f"{len(planned)} cells: {', '.join(a.name for a in axes)}")
    queued = []
    try:
        for _, cell_request in planned:
            queued.append(queue.submit(audio, replace(cell_request, ab_run=run_id), created_by=created_by))
    except BaseException:
        for job_id in queued:
            queue.cancel(job_id)
        with queue.store.write() as db:
            db.execute("DELETE FROM ab_runs WHERE id = ?", [run_id])
        raise
    return run_id


def axes_of(run: dict[str, Any]) -> tuple[Axis, ...]:
    return tuple(Axis(a["name"], tuple(a["values"])) for a in json.loads(run["axes"]))


def value_in(row: dict[str, Any], name: str) -> Any:
    """The value of setting ``name`` that a stored generation was painted with."""
    if name == "style":
        return row["style"] or "none"
    return float(row["guidance"]) if name == "guidance" else row[name]


def matches(row: dict[str, Any], cell: dict[str, Any]) -> bool:
    return all(abs(value_in(row, k) - v) < 1e-9 if k == "guidance" else value_in(row, k) == v
               for k, v in cell.items())


@dataclass(frozen=True)
class Cell:
    values: dict[str, Any]
    label: str
    generation: dict[str, Any] | None  # None: not painted (yet)
    votes: int


def grid(run: dict[str, Any]) -> list[Cell]:
    """Every cell of a run (see :func:`runs`) in the order of :func:`cells`, with its generation and votes."""
    axes = axes_of(run)
    out = []
    for cell in cells(axes):
        found = next((g for g in run["generations"] if matches(g, cell)), None)
        out.append(Cell(cell, cell_label(axes, cell), found, run["votes"].get(found["id"], 0) if found else 0))
    return out


def runs(store: Store, person: str | None = None, limit: int = 20, run_id: str | None = None) -> list[dict[str, Any]]:
    """The latest runs (or one), newest first: each with its axes, its cells' generations so far, the votes, and
    ``person``'s vote."""
    where, params = ("WHERE id = ?", [run_id]) if run_id else ("", [])
    out = []
    for run in store.query(f"SELECT * FROM ab_runs {where} ORDER BY created_at DESC LIMIT ?", params + [limit]):
        generations = store.query("SELECT * FROM generations WHERE ab_run = ? ORDER BY created_at", [run["id"]])
        votes = store.query("SELECT person, generation_id FROM ab_votes WHERE run_id = ?", [run["id"]])
        out.append({**run, "arms": json.loads(run["arms"]), "axes_list": [a.to_json() for a in axes_of(run)],
                    "generations": generations,
                    "votes": {g["id"]: sum(v["generation_id"] == g["id"] for v in votes) for g in generations},
                    "mine": next((v["generation_id"] for v in votes if v["person"] == person), None)})
    return out


@dataclass(frozen=True)
class JobCell:
    """What one queued job paints, as its person reads it in "Your jobs": the run it belongs to (a sweep or an A/B
    run; None for a job of its own), that run's heading, and the job's swept values or recipe and style."""

    run_id: str | None
    run: str
    paints: str


def request_value(request: GenerationRequest, name: str) -> Any:
    """The value of sweep axis ``name`` in a request (as :func:`value_in` reads it from a stored row)."""
    return request.style or "none" if name == "style" else getattr(request.options, name)


def job_cells(store: Store, jobs: list[dict[str, Any]]) -> dict[str, JobCell]:
    """For each job (rows of ``jobs``), what it paints: its cell in its run (``steps 20 · guidance 7.5``), else its
    recipe and style. The runs are read in one query."""
    requests = {}
    for job in jobs:
        try:
            requests[job["id"]] = GenerationRequest.from_json(job["options"])
        except InvalidOptionError:  # a request an earlier version stored that this one cannot read
            requests[job["id"]] = None
    run_ids = sorted({r.ab_run for r in requests.values() if r is not None and r.ab_run})
    marks = ",".join("?" * len(run_ids))
    found = {run["id"]: axes_of(run) for run in
             (store.query(f"SELECT id, axes FROM ab_runs WHERE id IN ({marks})", run_ids) if run_ids else [])}
    cells_of = {}
    for job_id, request in requests.items():
        if request is None:
            cells_of[job_id] = JobCell(None, "", "")
        elif axes := found.get(request.ab_run or ""):
            heading = f"Run comparing {' × '.join(a.name for a in axes)} ({request.ab_run[:8]})"
            cells_of[job_id] = JobCell(request.ab_run, heading,
                                       cell_label(axes, {a.name: request_value(request, a.name) for a in axes}))
        else:
            cells_of[job_id] = JobCell(None, "", f"recipe {request.options.recipe} · style {request.style or 'none'}")
    return cells_of


def find_run(store: Store, text: str) -> str:
    """A run's full id from its id or a unique prefix of six characters or more."""
    return store.resolve_id(text, "ab_runs", "run")


def run_of(store: Store, run_id: str, person: str | None = None) -> dict[str, Any]:
    found = runs(store, person, 1, run_id)
    if not found:
        raise NotFoundError(f"no sweep or A/B run with id {run_id}")
    return found[0]


def vote(store: Store, run_id: str, generation_id: str, person: Person | str) -> None:
    """``person`` finds ``generation_id`` the best image of run ``run_id`` (a later vote replaces theirs)."""
    if not store.query("SELECT 1 FROM ab_runs WHERE id = ?", [run_id]):
        raise NotFoundError(f"no sweep or A/B run with id {run_id}")
    if not store.query("SELECT 1 FROM generations WHERE id = ? AND ab_run = ?", [generation_id, run_id]):
        raise NotFoundError(f"generation {generation_id} is not an image of run {run_id}")
    with store.write() as db:
        db["ab_votes"].insert({"run_id": run_id, "person": id_of(person), "generation_id": generation_id,
                               "voted_at": utc_now("seconds")}, replace=True)
        record_in(db, person, "vote", generation_id, f"run {run_id}")
