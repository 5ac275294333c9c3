"""The team's ratings as Insights reads them: every rating or blind ones only, as given or adjusted for each
rater's offset (an additive model, :func:`core.judging.statistics.fit_raters`), and whether the raters agree
(Krippendorff's alpha, :mod:`core.judging.agreement`), overall, per month and per pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..history.store import Store
from . import agreement as agree
from .statistics import STARS, RaterOffset, adjusted_stars, fit_raters, mean_interval

GAIN_OF_STARS = (STARS[0] - STARS[1], STARS[1] - STARS[0])  # how far one rating can sit from another: -4 to 4


@dataclass(frozen=True)
class Reading:
    """How the ratings are read: every rating or blind ones only, as given or adjusted for each rater's offset."""

    blind_only: bool = False
    adjusted: bool = False

    @property
    def words(self) -> str:
        return (("blind ratings only" if self.blind_only else "all ratings") +
                (", adjusted for each rater's offset" if self.adjusted else ""))


def ratings(store: Store, blind_only: bool = False) -> list[dict[str, Any]]:
    """Every star given (one per person and generation) to someone else's image, with when the generation was made
    (stars on one's own image are left out of every statistic)."""
    names = ("generation_id", "person", "stars", "blind", "created_at")
    given = store.execute(  # ratings first: the join looks each one's generation up (not 100,000 rows walked)
        "SELECT r.generation_id, r.person, r.stars, r.blind, g.created_at FROM ratings r "
        "CROSS JOIN generations g ON g.id = r.generation_id WHERE r.stars IS NOT NULL "
        "AND lower(r.person) IS NOT lower(g.created_by)"
        + (" AND r.blind = 1" if blind_only else "")).fetchall()
    return [dict(zip(names, row)) for row in sorted(given, key=lambda r: (r[4], r[0], r[1]))]


@dataclass(frozen=True)
class Judgements:
    """The ratings as the report reads them: each generation's mean stars and raters, each rater's offset."""

    stars: dict[str, float]
    raters: dict[str, int]
    offsets: list[RaterOffset]


def judge(given: list[dict[str, Any]], adjusted: bool = False) -> Judgements:
    """Each generation's mean stars (less its raters' offsets when ``adjusted``) and each rater's offset."""
    ids = list(dict.fromkeys(r["generation_id"] for r in given))
    people = sorted({r["person"] for r in given})
    items = np.array(_indices([r["generation_id"] for r in given], ids), np.int64)
    raters = np.array(_indices([r["person"] for r in given], people), np.int64)
    stars = np.array([r["stars"] for r in given], np.float64)
    offsets = fit_raters(items, raters, stars)
    counted = adjusted_stars(items, raters, stars, offsets) if adjusted else stars
    per_item = np.bincount(items, minlength=len(ids))
    means = np.bincount(items, counted, minlength=len(ids)) / np.maximum(per_item, 1)
    return Judgements(dict(zip(ids, means.tolist())), dict(zip(ids, per_item.tolist())),
                      rater_offsets(items, raters, stars, offsets, people))


def _indices(values: list[str], order: list[str]) -> list[int]:
    where = {value: i for i, value in enumerate(order)}
    return [where[v] for v in values]


def rater_offsets(items: np.ndarray, raters: np.ndarray, stars: np.ndarray, offsets: np.ndarray,
                  people: list[str]) -> list[RaterOffset]:
    """Each rater's offset, with a 95% interval from the model's residuals on their ratings of images someone
    else rated too (fewer than three such ratings: no interval)."""
    size = int(items.max()) + 1 if len(items) else 0
    shared = np.bincount(items, minlength=size)[items] >= 2
    per_image = np.maximum(np.bincount(items[shared], minlength=size), 1)
    image = np.bincount(items[shared], stars[shared] - offsets[raters[shared]], minlength=size) / per_image
    residuals = stars - image[items] - offsets[raters]
    out = []
    for index, person in enumerate(people):
        mine = shared & (raters == index)
        if not mine.any():
            out.append(RaterOffset(person, 0, None))
            continue
        offset = float(offsets[index])
        spread = mean_interval(residuals[mine])
        half = None if spread.lo is None else (spread.hi - spread.lo) / 2
        out.append(RaterOffset(person, int(mine.sum()), round(offset, 4),
                               None if half is None else round(max(GAIN_OF_STARS[0], offset - half), 4),
                               None if half is None else round(min(GAIN_OF_STARS[1], offset + half), 4)))
    return out


@dataclass(frozen=True)
class TeamAgreement:
    """Krippendorff's alpha over the ratings read, overall, per month the images were made and per pair of raters,
    and the images the raters disagree on most."""

    overall: agree.Agreement
    periods: dict[str, agree.Agreement]
    pairs: dict[tuple[str, str], agree.Agreement]
    disagreements: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {**self.overall.flat(), "periods": {k: v.flat() for k, v in self.periods.items()},
                "pairs": [{"raters": list(k), **v.flat()} for k, v in self.pairs.items()],
                "disagreements": self.disagreements}


def team_agreement(given: list[dict[str, Any]]) -> TeamAgreement:
    shared = agree.pairable(given)  # alpha reads images rated by two people or more: the rest are left out once
    raters = len({r["person"] for r in given})
    overall = agree.agreement(shared)
    return TeamAgreement(agree.Agreement(overall.alpha, overall.lo, overall.hi, overall.n_items, raters),
                         agree.by_period(shared), agree.by_pair(shared), agree.disagreements(shared))
