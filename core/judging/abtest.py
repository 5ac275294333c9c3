"""A/B runs: one recording painted with two to four recipes or styles at one seed, side by side, and the team's
votes for the better one. An A/B run is a sweep with one axis (:mod:`core.judging.sweep` queues, lists and votes on both;
win rates are in :func:`core.judging.factors.win_rates`)."""

from __future__ import annotations

from typing import Any

from ..config.recipes import RECIPES
from ..errors import InvalidOptionError
from ..generation.prompt import STYLES
from ..generation.request import GenerationRequest
from ..people.person import Person
from .sweep import Axis, Queue, axis, run_of, runs, value_in, vote
from .sweep import plan as plan_sweep
from .sweep import start as start_sweep

__all__ = ["VARIABLES", "MAX_ARMS", "arm_of", "arm_axis", "check_arms", "plan", "start", "runs", "run_of", "vote"]
VARIABLES = ("recipe", "style")
MAX_ARMS = 4


def arm_of(row: dict[str, Any], variable: str) -> str:
    """The value a generation of a run tried: its recipe or its style."""
    return str(value_in(row, variable))


def arm_axis(variable: str, values: list[str]) -> Axis:
    """Two to four distinct, known recipes or styles as the run's one axis; the error names the bad value and the
    valid ones."""
    if variable not in VARIABLES:
        raise InvalidOptionError(f"an A/B run compares {' or '.join(VARIABLES)}, not {variable!r}")
    arms = list(dict.fromkeys(values))
    if not 2 <= len(arms) <= MAX_ARMS:
        raise InvalidOptionError(f"an A/B run needs 2 to {MAX_ARMS} different {variable}s, not {len(arms)}: "
                                 f"choose from {', '.join(RECIPES if variable == 'recipe' else STYLES)}")
    return axis(variable, arms)


def check_arms(variable: str, values: list[str]) -> list[str]:
    """The arms of :func:`arm_axis`, as a list."""
    return list(arm_axis(variable, values).values)


def plan(request: GenerationRequest, variable: str, values: list[str]) -> list[GenerationRequest]:
    """One request per arm, all at one seed (a random one if the request has none)."""
    return [planned for _, planned in plan_sweep(request, [arm_axis(variable, values)])]


def start(queue: Queue, audio: bytes, request: GenerationRequest, variable: str, values: list[str],
          created_by: Person | str) -> str:
    """Queue one job per arm under a new run id; returns the run id (nothing is left behind on a refusal)."""
    return start_sweep(queue, audio, request, [arm_axis(variable, values)], created_by)
