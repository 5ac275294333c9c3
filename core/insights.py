"""Insights: what makes a good image, and for whom. Every figure carries its count and a 95% interval, and a
group is called better or worse than the rest only when the difference is significant (Welch's t-test, 5%).

The unit is a generation: its rating is the mean of the stars people gave it (a generation three people rated
counts once, not three times), its alignment the CLIP similarity of its image and its prompt (stored once per
generation in ``alignment``). Used by the Insights page and ``python -m core report``: both read
:func:`report`, so they show the same numbers."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

import numpy as np

from .embeddings import EmbeddingCache
from .store import Store, utc_now
from .transcribe import doubtful_words_in

CONFIDENCE = 0.95
Z95 = 1.959963984540054  # the normal quantile for a two-sided 95% interval
LOW_STARS = 2.0  # a generation rated at most this (mean stars) is low-rated
LOW_ALIGNMENT_QUANTILE = 0.2  # ...or aligned worse than this share of the history
MIN_FOR_QUANTILE = 10  # fewer aligned generations than this: no "poorly aligned" verdict
WHISPER_NO_SPEECH = 0.6  # whisper's own no_speech_threshold
WHISPER_LOG_PROB = -1.0  # whisper's own logprob_threshold
DRIFT_KEPT = 0.5  # a prompt that keeps less than this share of the transcript's words has drifted from it
HIGHER, LOWER, SAME, TOO_FEW = "higher", "lower", "not significant", "too few"
CAUSES = ("transcription", "prompt", "generation")


# 1. Intervals and comparisons.

@dataclass(frozen=True)
class Estimate:
    """A mean (or a share) over ``n`` observations with its 95% interval; None where ``n`` is too small."""

    n: int
    mean: float | None = None
    lo: float | None = None
    hi: float | None = None

    def text(self, digits: int = 2) -> str:
        if self.mean is None:
            return f"n={self.n}"
        if self.lo is None:
            return f"{self.mean:.{digits}f} (n={self.n})"
        return f"{self.mean:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}] (n={self.n})"


def mean_interval(values: Iterable[float]) -> Estimate:
    """The mean with Student's t interval (no interval for fewer than two values)."""
    from scipy.stats import t

    data = np.asarray([v for v in values if v is not None and v == v], dtype=np.float64)
    n = len(data)
    if n == 0:
        return Estimate(0)
    mean = float(data.mean())
    if n < 2:
        return Estimate(1, mean)
    half = float(t.ppf(0.5 + CONFIDENCE / 2, n - 1) * data.std(ddof=1) / math.sqrt(n))
    return Estimate(n, mean, mean - half, mean + half)


def proportion_interval(successes: int, n: int) -> Estimate:
    """A share with Wilson's score interval (sound near 0 and 1 and for small n, unlike mean ± 2 SE)."""
    if n == 0:
        return Estimate(0)
    p = successes / n
    denominator = 1 + Z95 ** 2 / n
    centre = (p + Z95 ** 2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n ** 2)) / denominator
    return Estimate(n, p, max(0.0, centre - half), min(1.0, centre + half))


def compare(inside: list[float], outside: list[float]) -> str:
    """Is ``inside`` higher or lower than ``outside``, at 5% (Welch's t-test)? Or not significantly, or too few."""
    from scipy.stats import ttest_ind

    inside, outside = [v for v in inside if v == v], [v for v in outside if v == v]
    if len(inside) < 2 or len(outside) < 2:
        return TOO_FEW
    a, b = np.asarray(inside, np.float64), np.asarray(outside, np.float64)
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread on either side: the t statistic is undefined
        return SAME if a.mean() == b.mean() else (HIGHER if a.mean() > b.mean() else LOWER)
    p = ttest_ind(a, b, equal_var=False).pvalue
    if not p < 0.05:
        return SAME
    return HIGHER if a.mean() > b.mean() else LOWER


def quantile(values: list[float], q: float) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.quantile(values, q)) if values else None


# 2. The observations: one row per generation, with its mean rating and its alignment.

def observations(store: Store, model_id: str) -> list[dict[str, Any]]:
    """Every generation with what the report groups by, its mean stars (None: unrated) and alignment."""
    return store.query(
        "SELECT g.id, g.created_at, coalesce(g.recipe, 'unknown') AS recipe, coalesce(g.style, 'none') AS style, "
        "g.scheduler, g.steps, coalesce(g.language, 'unknown') AS language, coalesce(g.task, 'transcribe') AS task, "
        "coalesce(g.created_by, 'unknown') AS created_by, g.t_total, g.avg_logprob, g.no_speech_prob, "
        "g.prompt_truncated, g.transcript, g.prompt, g.rating_mean AS stars, g.rating_count AS raters, "
        "a.prompt AS alignment FROM generations g "
        "LEFT JOIN alignment a ON a.generation_id = g.id AND a.model = ? ORDER BY g.created_at", [model_id])


def record_alignment(store: Store, cache: EmbeddingCache, *, compute: bool = False, limit: int = 100_000) -> int:
    """Store the CLIP alignment of every generation that has none yet; returns how many were stored. With
    ``compute=False`` only generations whose image and texts are already embedded are scored (no model)."""
    from .similarity import alignment

    rows = store.query(
        "SELECT g.* FROM generations g LEFT JOIN alignment a ON a.generation_id = g.id AND a.model = ? "
        "WHERE a.generation_id IS NULL AND g.id NOT IN (SELECT generation_id FROM embedding_skips WHERE model = ?) "
        "ORDER BY g.created_at LIMIT ?", [cache.model_id, cache.model_id, limit])
    if not rows:
        return 0
    scores = alignment(cache, rows, compute=compute)
    now = utc_now("seconds")
    with store.write() as db:
        db["alignment"].insert_all(
            ({"generation_id": gid, "model": cache.model_id, "transcript": round(s["transcript"], 6),
              "prompt": round(s["prompt"], 6), "computed_at": now} for gid, s in scores.items()), replace=True)
    return len(scores)


# 3. What works: one row per value of each dimension.

DIMENSIONS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "recipes": ("Recipe", lambda row: row["recipe"]),
    "styles": ("Style", lambda row: row["style"]),
    "schedulers": ("Scheduler and steps", lambda row: f"{row['scheduler']} · {row['steps']} steps"),
    "languages": ("Spoken language", lambda row: row["language"]),
    "tasks": ("Task", lambda row: row["task"]),
    "people": ("Person", lambda row: row["created_by"]),
}


@dataclass(frozen=True)
class GroupRow:
    key: str
    n: int
    rating: Estimate  # mean stars over the rated generations (rating.n of them)
    rating_vs_rest: str
    alignment: Estimate  # mean CLIP similarity of image and prompt
    alignment_vs_rest: str
    seconds_p50: float | None
    seconds_p95: float | None

    @property
    def flagged(self) -> bool:
        """Significantly worse than the rest in rating or alignment."""
        return LOWER in (self.rating_vs_rest, self.alignment_vs_rest)

    def flat(self) -> dict[str, Any]:
        return {"key": self.key, "n": self.n, "rated": self.rating.n, "rating_mean": _round(self.rating.mean),
                "rating_lo": _round(self.rating.lo), "rating_hi": _round(self.rating.hi),
                "rating_vs_rest": self.rating_vs_rest, "aligned": self.alignment.n,
                "alignment_mean": _round(self.alignment.mean), "alignment_lo": _round(self.alignment.lo),
                "alignment_hi": _round(self.alignment.hi), "alignment_vs_rest": self.alignment_vs_rest,
                "seconds_p50": _round(self.seconds_p50), "seconds_p95": _round(self.seconds_p95),
                "flagged": self.flagged}


def figures(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stars, alignment and seconds of ``rows`` as arrays (NaN: none), what :func:`group_rows` masks."""
    return tuple(np.array([np.nan if r[name] is None else r[name] for r in rows], np.float64)
                 for name in ("stars", "alignment", "t_total"))


def group_rows(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], str],
               columns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> list[GroupRow]:
    """Per value of ``key``: count, rating and alignment with intervals and verdicts against the rest, seconds.
    The columns are arrays (``columns``: :func:`figures` of ``rows``, made once for every dimension), and each
    group is a mask over them (100,000 rows: no list per group)."""
    keys = np.array([str(key(row)) for row in rows], dtype=object)
    stars, aligned, seconds = columns if columns is not None else figures(rows)
    out = []
    for value in dict.fromkeys(keys.tolist()):
        inside = keys == value

        def part(column: np.ndarray, mask: np.ndarray) -> list[float]:
            values = column[mask]
            return values[~np.isnan(values)].tolist()

        times = part(seconds, inside)
        out.append(GroupRow(
            value, int(inside.sum()), mean_interval(part(stars, inside)),
            compare(part(stars, inside), part(stars, ~inside)),
            mean_interval(part(aligned, inside)), compare(part(aligned, inside), part(aligned, ~inside)),
            quantile(times, 0.5), quantile(times, 0.95)))
    return sorted(out, key=lambda g: (-g.n, g.key))


# 4. Stage blame: for a low-rated or poorly aligned image, the stage most likely at fault.

@dataclass(frozen=True)
class Blamed:
    id: str
    created_at: str
    cause: str  # one of CAUSES
    why: str
    stars: float | None
    alignment: float | None
    transcript: str


def words_of(text: str) -> set[str]:
    return {w for w in re.findall(r"[^\W\d_]{3,}", text.lower())}


def kept_share(transcript: str, prompt: str) -> float:
    """The share of the transcript's words (three letters or more) that the prompt keeps."""
    said = words_of(transcript)
    return len(said & words_of(prompt)) / len(said) if said else 1.0


def cause_of(row: dict[str, Any], words: list[dict] = ()) -> tuple[str, str]:
    """The stage at fault and why, checked in the pipeline's order: what whisper heard (``words``: each with its
    confidence), the prompt, the image."""
    if row["no_speech_prob"] is not None and row["no_speech_prob"] > WHISPER_NO_SPEECH:
        return "transcription", f"no-speech probability {row['no_speech_prob']:.2f} (over {WHISPER_NO_SPEECH})"
    if row["avg_logprob"] is not None and row["avg_logprob"] < WHISPER_LOG_PROB:
        return "transcription", f"low confidence: mean log-probability {row['avg_logprob']:.2f}"
    if kept := doubtful_words_in(words, row["prompt"]):
        return "transcription", f"the prompt kept words whisper doubted: {', '.join(kept)}"
    if row["prompt_truncated"]:
        return "prompt", "the prompt was cut at CLIP's 77 tokens"
    kept = kept_share(row["transcript"], row["prompt"])
    if kept < DRIFT_KEPT:
        return "prompt", f"the prompt keeps {kept:.0%} of the transcript's words"
    return "generation", "the words and the prompt look fine; the image does not match them"


def words_by_id(store: Store, ids: list[str]) -> dict[str, list[dict]]:
    """Whisper's words of these generations (those that have any), by id."""
    out = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        for gid, words in store.execute(f"SELECT id, words FROM generations WHERE words IS NOT NULL AND id IN "
                                        f"({', '.join('?' for _ in chunk)})", chunk).fetchall():
            out[gid] = json.loads(words)
    return out


def low_alignment_threshold(rows: list[dict[str, Any]]) -> float | None:
    aligned = [r["alignment"] for r in rows if r["alignment"] is not None]
    return float(np.quantile(aligned, LOW_ALIGNMENT_QUANTILE)) if len(aligned) >= MIN_FOR_QUANTILE else None


def blame(rows: list[dict[str, Any]], store: Store | None = None) -> list[Blamed]:
    """Every low-rated (mean stars at most 2) or poorly aligned (the history's lowest fifth) generation, with
    the stage most likely at fault; oldest first. With ``store``, whisper's words of those generations are read
    too (only theirs), so a prompt that kept doubted words is blamed on transcription."""
    threshold = low_alignment_threshold(rows)
    weak = [row for row in rows if row["stars"] is not None and row["stars"] <= LOW_STARS
            or threshold is not None and row["alignment"] is not None and row["alignment"] < threshold]
    heard = words_by_id(store, [row["id"] for row in weak]) if store is not None else {}
    out = []
    for row in weak:
        cause, why = cause_of(row, heard.get(row["id"], []))
        out.append(Blamed(row["id"], row["created_at"], cause, why, _round(row["stars"]), _round(row["alignment"]),
                          row["transcript"]))
    return out


def blame_counts(blamed: list[Blamed]) -> list[dict[str, Any]]:
    """Per cause: how many of the blamed generations, and their share with its interval."""
    total = len(blamed)
    out = []
    for cause in CAUSES:
        k = sum(b.cause == cause for b in blamed)
        share = proportion_interval(k, total)
        out.append({"cause": cause, "n": k, "of": total, "share": _round(share.mean), "share_lo": _round(share.lo),
                    "share_hi": _round(share.hi)})
    return out


# 5. A/B runs: win rates.

def win_rates(store: Store) -> list[dict[str, Any]]:
    """For each variable and arm: votes in runs that included it, wins, and the win rate with its interval."""
    from .abtest import arm_of

    rows = store.query(
        "SELECT r.id AS run_id, r.variable, v.generation_id AS winner, g.id, g.recipe, g.style FROM ab_votes v "
        "JOIN ab_runs r ON r.id = v.run_id JOIN generations g ON g.ab_run = r.id")
    tally: dict[tuple[str, str], list[int]] = {}
    for row in rows:  # one row per vote and arm of the voted run
        counts = tally.setdefault((row["variable"], arm_of(row, row["variable"])), [0, 0])
        counts[0] += 1
        counts[1] += row["id"] == row["winner"]
    out = []
    for (variable, arm), (votes, wins) in sorted(tally.items()):
        rate = proportion_interval(wins, votes)
        out.append({"variable": variable, "key": arm, "n": votes, "wins": wins, "win_rate": _round(rate.mean),
                    "win_rate_lo": _round(rate.lo), "win_rate_hi": _round(rate.hi)})
    return out


# 6. What mishearing costs: "fix and generate again" pairs (same seed and recipe, corrected words).

def fix_costs(store: Store, model_id: str) -> list[dict[str, Any]]:
    """Per spoken language: the pairs of a generation and its fix, and the mean change in stars and in alignment
    from before to after the fix (over the pairs rated, or aligned, on both sides), with intervals."""
    pairs = store.query(
        "SELECT coalesce(o.language, 'unknown') AS language, o.rating_mean AS stars_before, "
        "f.rating_mean AS stars_after, ao.prompt AS alignment_before, af.prompt AS alignment_after "
        "FROM generations f JOIN generations o ON o.id = f.fixed_from "
        "LEFT JOIN alignment ao ON ao.generation_id = o.id AND ao.model = ? "
        "LEFT JOIN alignment af ON af.generation_id = f.id AND af.model = ? WHERE f.fixed_from IS NOT NULL",
        [model_id, model_id])
    out = []
    for language in sorted({p["language"] for p in pairs}):
        mine = [p for p in pairs if p["language"] == language]
        row: dict[str, Any] = {"language": language, "pairs": len(mine)}
        for figure in ("stars", "alignment"):
            both = [p for p in mine if p[f"{figure}_before"] is not None and p[f"{figure}_after"] is not None]
            gain = mean_interval(p[f"{figure}_after"] - p[f"{figure}_before"] for p in both)
            row.update({f"{figure}_pairs": len(both),
                        f"{figure}_before": _round(np.mean([p[f"{figure}_before"] for p in both])) if both else None,
                        f"{figure}_after": _round(np.mean([p[f"{figure}_after"] for p in both])) if both else None,
                        f"{figure}_gain": _round(gain.mean), f"{figure}_gain_lo": _round(gain.lo),
                        f"{figure}_gain_hi": _round(gain.hi)})
        out.append(row)
    return out


# 7. The report: everything above, once.

@dataclass(frozen=True)
class Report:
    generations: int
    rated: int
    aligned: int
    sections: dict[str, list[GroupRow]]
    blamed: list[Blamed]
    ab: list[dict[str, Any]]
    fixes: list[dict[str, Any]] = ()

    @property
    def blame(self) -> list[dict[str, Any]]:
        return blame_counts(self.blamed)

    def to_json(self) -> dict[str, Any]:
        return {"generations": self.generations, "rated": self.rated, "aligned": self.aligned,
                **{name: [row.flat() for row in rows] for name, rows in self.sections.items()},
                "blame": self.blame, "blamed": [asdict(b) for b in self.blamed], "ab": self.ab,
                "fixes": list(self.fixes)}


def report(store: Store, model_id: str) -> Report:
    rows = observations(store, model_id)
    columns = figures(rows)
    return Report(
        generations=len(rows), rated=sum(r["stars"] is not None for r in rows),
        aligned=sum(r["alignment"] is not None for r in rows),
        sections={name: group_rows(rows, key, columns) for name, (_, key) in DIMENSIONS.items()},
        blamed=blame(rows, store), ab=win_rates(store), fixes=fix_costs(store, model_id))


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
