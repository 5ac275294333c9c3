"""Whether the team agrees: Krippendorff's alpha (ordinal) over everyone's stars, with a bootstrap interval over
images, overall, per month the images were made and per pair of raters, and the images raters disagree on most.

The point estimate is the ``krippendorff`` package's. The interval resamples images: each resample's alpha is
computed from the images' coincidence matrices (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"),
grouped by their pattern of stars, so 1,000 resamples of 100,000 images cost as much as of a few hundred
patterns; a test checks that this computation gives the package's alpha on the data itself."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

VALUES = (1, 2, 3, 4, 5)
RESAMPLES = 1000
PART_RESAMPLES = 400  # per month and per pair: many intervals, each a little less exact
SEED = 20261130
MIN_ITEMS = 5  # images rated by two people or more; fewer: too few to tell
WELL, SOMEWHAT = 0.8, 0.667  # Krippendorff's own marks: reliable at 0.8, tentative conclusions from 0.667
READINGS = {"well": "the team agrees well", "somewhat": "the team agrees somewhat", "barely": "the team barely agrees",
            None: "too few images rated by two people or more to tell"}


@dataclass(frozen=True)
class Agreement:
    alpha: float | None
    lo: float | None
    hi: float | None
    n_items: int  # images rated by two people or more
    n_raters: int

    @property
    def level(self) -> str | None:
        if self.alpha is None:
            return None
        return "well" if self.alpha >= WELL else "somewhat" if self.alpha >= SOMEWHAT else "barely"

    @property
    def reading(self) -> str:
        return READINGS[self.level]

    def flat(self) -> dict[str, Any]:
        return {"alpha": _round(self.alpha), "lo": _round(self.lo), "hi": _round(self.hi), "n_items": self.n_items,
                "n_raters": self.n_raters, "reading": self.reading}


def value_counts(ratings: list[dict[str, Any]]) -> np.ndarray:
    """One row per image rated by two people or more: how many gave it 1, 2, 3, 4 and 5 stars."""
    if not ratings:
        return np.zeros((0, len(VALUES)), np.int64)
    _, items = codes(ratings)
    stars = np.array([r["stars"] for r in ratings], np.int64) - 1
    counts = np.bincount(items * len(VALUES) + stars, minlength=(items.max() + 1) * len(VALUES))
    counts = counts.reshape(-1, len(VALUES))
    return counts[counts.sum(axis=1) >= 2]


def codes(ratings: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The images rated (in order of first rating) and each rating's index among them (a dict: no string sort)."""
    index: dict[str, int] = {}
    items = np.array([index.setdefault(r["generation_id"], len(index)) for r in ratings], np.int64)
    return np.array(list(index), dtype=object), items


def pairable(ratings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ratings of images rated by two people or more (the only ones alpha can use)."""
    seen: dict[str, int] = {}
    for r in ratings:
        seen[r["generation_id"]] = seen.get(r["generation_id"], 0) + 1
    return [r for r in ratings if seen[r["generation_id"]] >= 2]


def coincidences(counts: np.ndarray) -> np.ndarray:
    """Each image's coincidence matrix (pairs of values given to it, each pair weighted 1 / (raters - 1)),
    flattened: shape (images, 25)."""
    m = counts.sum(axis=1, keepdims=True).astype(np.float64)
    pairs = counts[:, :, None] * counts[:, None, :] - np.einsum("ij,jk->ijk", counts, np.eye(len(VALUES)))
    return (pairs / (m[:, :, None] - 1)).reshape(len(counts), -1)


def ordinal_alpha(o: np.ndarray) -> np.ndarray:
    """Alpha from summed coincidence matrices ``o`` (shape (..., 25)), ordinal metric; NaN where undefined."""
    o = o.reshape(*o.shape[:-1], len(VALUES), len(VALUES))
    margins = o.sum(axis=-1)
    n = margins.sum(axis=-1)
    cumulative = np.cumsum(margins, axis=-1)
    # delta(c, k) = (sum of the margins from c to k) - (n_c + n_k) / 2, squared
    lower = np.minimum.outer(np.arange(len(VALUES)), np.arange(len(VALUES)))  # the smaller of c and k
    between = np.abs(cumulative[..., :, None] - cumulative[..., None, :]) + margins[..., lower]
    delta = (between - (margins[..., :, None] + margins[..., None, :]) / 2) ** 2
    observed = (o * delta).sum(axis=(-1, -2))
    expected = (margins[..., :, None] * margins[..., None, :] * delta).sum(axis=(-1, -2)) / np.maximum(n - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - observed / expected


def alpha_of(counts: np.ndarray) -> float | None:
    """The package's ordinal alpha of these value counts; None when it is undefined (too few, or no spread)."""
    import krippendorff  # krippendorff loads when agreement is computed

    if len(counts) < MIN_ITEMS or np.count_nonzero(counts.sum(axis=0)) < 2:
        return None
    return float(krippendorff.alpha(value_counts=counts, value_domain=list(VALUES), level_of_measurement="ordinal"))


def bootstrap_interval(counts: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """The 95% percentile interval of alpha over resamples of the images (drawn as counts of each pattern)."""
    patterns, multiplicity = np.unique(counts, axis=0, return_counts=True)
    drawn = np.random.default_rng(seed).multinomial(len(counts), multiplicity / len(counts), size=resamples)
    alphas = ordinal_alpha(drawn @ coincidences(patterns))
    alphas = alphas[~np.isnan(alphas)]
    lo, hi = np.quantile(alphas, [0.025, 0.975])
    return float(lo), float(hi)


def agreement(ratings: list[dict[str, Any]], resamples: int = RESAMPLES) -> Agreement:
    """Alpha over ``ratings`` (each with generation_id, person, stars) and its interval."""
    counts = value_counts(ratings)
    raters = len({r["person"] for r in ratings})
    alpha = alpha_of(counts)
    if alpha is None:
        return Agreement(None, None, None, len(counts), raters)
    lo, hi = bootstrap_interval(counts, resamples)
    return Agreement(alpha, max(-1.0, lo), min(1.0, hi), len(counts), raters)


def by_period(ratings: list[dict[str, Any]], resamples: int = PART_RESAMPLES) -> dict[str, Agreement]:
    """Alpha per month the images were made (``created_at``'s year and month), oldest first."""
    months: dict[str, list[dict[str, Any]]] = {}
    for r in pairable(ratings):
        months.setdefault(r["created_at"][:7], []).append(r)
    return {month: agreement(rows, resamples) for month, rows in sorted(months.items())}


def by_pair(ratings: list[dict[str, Any]], resamples: int = PART_RESAMPLES) -> dict[tuple[str, str], Agreement]:
    """Alpha of each pair of raters over the images both rated (pairs with too few shared images are left out)."""
    by_person: dict[str, dict[str, dict[str, Any]]] = {}
    for r in pairable(ratings):
        by_person.setdefault(r["person"], {})[r["generation_id"]] = r
    out = {}
    for a, b in combinations(sorted(by_person), 2):
        shared = by_person[a].keys() & by_person[b].keys()
        if len(shared) >= MIN_ITEMS:
            out[(a, b)] = agreement([by_person[p][g] for g in shared for p in (a, b)], resamples)
    return out


def disagreements(ratings: list[dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    """The images whose raters disagree most (widest spread of stars, then most raters), to discuss."""
    if not ratings:
        return []
    ids, items = codes(ratings)
    stars = np.array([r["stars"] for r in ratings], np.int64)
    high = np.full(len(ids), 0)
    low = np.full(len(ids), len(VALUES) + 1)
    np.maximum.at(high, items, stars)
    np.minimum.at(low, items, stars)
    raters = np.bincount(items, minlength=len(ids))
    spread = high - low
    chosen = [i for i in np.lexsort((ids.astype(str), -raters, -spread)) if spread[i] > 0][:limit]
    return [{"generation_id": ids[i], "stars": sorted(stars[items == i].tolist()), "spread": int(spread[i]),
             "raters": int(raters[i])} for i in chosen]


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
