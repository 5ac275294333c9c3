"""The statistics behind Insights, chosen for small, bounded samples (a few people's stars):

- a mean's 95% interval is a percentile bootstrap (2,000 resamples, fixed seed), so it never leaves the scale
  (stars in [1, 5], alignment in [-1, 1]); past 5,000 values, where the bootstrap and Student's t agree, it is
  Student's t, cut to the scale. Fewer than three values: "too few", no interval and no verdict;
- stars (ordinal) are compared with a rank test (Mann-Whitney U), continuous figures with Welch's t-test;
- when a table tests several groups at once, the verdicts control the false discovery rate at 5%
  (Benjamini-Hochberg): an "everything is noise" table shows a false verdict about one time in twenty;
- each rater's offset (how much harsher or kinder than the team on the same images) comes from an additive model
  (stars = image + rater), and an image's rating can be read adjusted for its raters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

CONFIDENCE = 0.95
FDR = 0.05  # the false discovery rate a table's verdicts keep to
MIN_N = 3  # fewer values than this: too few for an interval or a verdict
RESAMPLES = 2000
BOOTSTRAP_UP_TO = 5000  # past this many values, Student's t (cut to the scale) instead of resampling
SEED = 20261130  # every interval is the same from one reading to the next
STARS = (1.0, 5.0)
ALIGNMENT = (-1.0, 1.0)
HIGHER, LOWER, SAME, TOO_FEW = "higher", "lower", "not significant", "too few"
METHODS = {
    "interval": f"percentile bootstrap ({RESAMPLES:,} resamples) up to {BOOTSTRAP_UP_TO:,} values, Student's t "
                "beyond, always within the scale; none under three values",
    "stars": "Mann-Whitney U (a rank test: stars are ordinal)",
    "continuous": "Welch's t-test",
    "tables": "Benjamini-Hochberg: the verdicts of one table keep the false discovery rate at 5%",
    "shares": "Wilson's score interval",
    "raters": "additive model (stars = image + rater offset), offsets centred on the team",
    "agreement": "Krippendorff's alpha, ordinal, with a bootstrap interval over images",
    "whose stars": "everyone's, except a person's stars on their own image: those stay on the image, out of every "
                   "mean, count, offset and agreement",
}


@dataclass(frozen=True)
class Estimate:
    """A mean (or a share) over ``n`` observations with its 95% interval; no interval where ``n`` is too small."""

    n: int
    mean: float | None = None
    lo: float | None = None
    hi: float | None = None

    def text(self, digits: int = 2) -> str:
        if self.mean is None:
            return f"n={self.n}"
        if self.lo is None:
            return f"{self.mean:.{digits}f} (n={self.n}, too few for an interval)"
        return f"{self.mean:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}] (n={self.n})"


def clean(values: Iterable[float | None]) -> np.ndarray:
    """The values as floats, without None or NaN (an array of floats is taken as it is: no loop over it)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        data = values.astype(np.float64, copy=False)
    else:
        data = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return data[~np.isnan(data)]


def bootstrap_means(data: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """The means of ``resamples`` resamples of ``data``, drawn as counts of its distinct values (the same
    distribution as resampling the values, at the cost of the distinct values only: stars have a handful)."""
    values, counts = np.unique(data, return_counts=True)
    drawn = np.random.default_rng(seed).multinomial(len(data), counts / len(data), size=resamples)
    return drawn @ values / len(data)


def bounded_mean(values: Iterable[float | None], scale: tuple[float, float]) -> Estimate:
    """The mean with a 95% interval inside ``scale`` (see the module's note); no interval for fewer than three."""
    data = clean(values)
    if not MIN_N <= len(data) <= BOOTSTRAP_UP_TO:  # too few for an interval, or so many that t and bootstrap agree
        t = mean_interval(data)
        return t if t.lo is None else Estimate(t.n, t.mean, max(scale[0], t.lo), min(scale[1], t.hi))
    tail = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(bootstrap_means(data), [tail, 1 - tail])
    return Estimate(len(data), float(data.mean()), max(scale[0], float(lo)), min(scale[1], float(hi)))


def mean_interval(values: Iterable[float | None]) -> Estimate:
    """The mean with Student's t interval, for figures without bounds (seconds); none under three values."""
    from scipy.stats import t  # scipy loads when a statistic is computed

    data = clean(values)
    n = len(data)
    if n == 0:
        return Estimate(0)
    mean = float(data.mean())
    if n < MIN_N:
        return Estimate(n, mean)
    half = float(t.ppf(0.5 + CONFIDENCE / 2, n - 1) * data.std(ddof=1) / math.sqrt(n))
    return Estimate(n, mean, mean - half, mean + half)


@dataclass(frozen=True)
class Comparison:
    """One group against the rest: which way it leans and the test's p-value (None: too few to test)."""

    direction: str
    p: float | None


def _direction(inside: np.ndarray, outside: np.ndarray) -> str:
    return HIGHER if inside.mean() > outside.mean() else LOWER if inside.mean() < outside.mean() else SAME


def rank_test(inside: Iterable[float | None], outside: Iterable[float | None]) -> Comparison:
    """Stars inside a group against the rest: Mann-Whitney U, two-sided (ties handled; no normality assumed)."""
    from scipy.stats import mannwhitneyu  # scipy loads when a statistic is computed

    a, b = clean(inside), clean(outside)
    if len(a) < MIN_N or len(b) < MIN_N:
        return Comparison(TOO_FEW, None)
    if np.ptp(np.concatenate([a, b])) == 0:
        return Comparison(SAME, 1.0)
    direction = HIGHER if np.median(a) > np.median(b) else LOWER if np.median(a) < np.median(b) else _direction(a, b)
    return Comparison(direction, float(mannwhitneyu(a, b, alternative="two-sided").pvalue))


def welch_test(inside: Iterable[float | None], outside: Iterable[float | None]) -> Comparison:
    """A continuous figure inside a group against the rest: Welch's t-test, two-sided."""
    from scipy.stats import ttest_ind  # scipy loads when a statistic is computed

    a, b = clean(inside), clean(outside)
    if len(a) < MIN_N or len(b) < MIN_N:
        return Comparison(TOO_FEW, None)
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread on either side: the t statistic is undefined
        return Comparison(_direction(a, b), 1.0 if a.mean() == b.mean() else 0.0)
    return Comparison(_direction(a, b), float(ttest_ind(a, b, equal_var=False).pvalue))


def adjusted_p(tests: Sequence[Comparison]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values over the tests that could be run (None stays None)."""
    from scipy.stats import false_discovery_control  # scipy loads when a statistic is computed

    ran = [i for i, test in enumerate(tests) if test.p is not None]
    out: list[float | None] = [None] * len(tests)
    if ran:
        for i, q in zip(ran, false_discovery_control([tests[i].p for i in ran], method="bh")):
            out[i] = float(q)
    return out


def verdicts(tests: Sequence[Comparison], rate: float = FDR) -> list[str]:
    """One table's verdicts: a direction where its Benjamini-Hochberg adjusted p is under ``rate``."""
    return [TOO_FEW if q is None else test.direction if q < rate and test.direction != SAME else SAME
            for test, q in zip(tests, adjusted_p(tests))]


@dataclass(frozen=True)
class RaterOffset:
    person: str
    ratings: int  # stars given on images someone else rated too
    offset: float | None  # mean stars above (+) or below (-) the team on the same images
    lo: float | None = None
    hi: float | None = None


def fit_raters(items: np.ndarray, raters: np.ndarray, stars: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Each rater's offset in the additive model stars = image + rater, fitted by alternating means over the
    images rated by two people or more, and centred so that the team's offsets average zero over its ratings."""
    shared = np.bincount(items, minlength=items.max() + 1 if len(items) else 0)[items] >= 2
    offsets = np.zeros(raters.max() + 1 if len(raters) else 0)
    if not shared.any():
        return offsets
    i, r, s = items[shared], raters[shared], stars[shared]
    per_item, per_rater = np.bincount(i), np.bincount(r, minlength=len(offsets))
    for _ in range(iterations):
        image = np.bincount(i, s - offsets[r]) / np.maximum(per_item, 1)
        offsets = np.bincount(r, s - image[i], minlength=len(offsets)) / np.maximum(per_rater, 1)
        offsets -= offsets[r].mean()
    return offsets


def adjusted_stars(items: np.ndarray, raters: np.ndarray, stars: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each rating less its rater's offset, kept on the 1-5 scale."""
    return np.clip(stars - offsets[raters], *STARS)
