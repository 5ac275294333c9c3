"""What makes a good image, and for whom (the Insights page, ``python -m core report``). Every figure carries its count
and a 95% interval that stays on its scale, and a group is called better or worse than the rest only when the
difference survives the table's false discovery rate (the methods: :mod:`core.judging.statistics`, named on the page
and in README).

The unit is a generation: its rating is the mean of the stars people gave it (a generation three people rated
counts once, not three times), optionally blind ratings only and adjusted for each rater's offset; its alignment
is the CLIP similarity of its image and its prompt (stored once per generation in ``alignment``). The team's
agreement is :mod:`core.judging.agreement`'s. Used by the Insights page and ``python -m core report``: both read
:func:`report`, so they show the same numbers."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..analytics.embeddings import EmbeddingCache
from ..analytics.similarity import alignment, skip_unreadable
from ..generation.doubts import doubted_in_prompt, pieces
from ..history.store import Store, utc_now
from .judgements import GAIN_OF_STARS, Judgements, Reading, TeamAgreement, judge, ratings, team_agreement
from .statistics import (
    ALIGNMENT, HIGHER, LOWER, METHODS, SAME, STARS, TOO_FEW, Estimate, RaterOffset, adjusted_p, bounded_mean,
    rank_test, verdicts, welch_test,
)
from .sweep import axes_of, value_in

__all__ = ["HIGHER", "LOWER", "SAME", "TOO_FEW", "Estimate", "METHODS", "report", "Report", "GroupRow", "Reading",
           "Judgements", "judge", "ratings", "team_agreement"]
Z95 = 1.959963984540054  # the normal quantile for a two-sided 95% interval
LOW_STARS = 2.0  # a generation rated at most this (mean stars) is low-rated
LOW_ALIGNMENT_QUANTILE = 0.2  # ...or aligned worse than this share of the history
MIN_FOR_QUANTILE = 10  # fewer aligned generations than this: no "poorly aligned" verdict
WHISPER_NO_SPEECH = 0.6  # whisper's own no_speech_threshold
WHISPER_LOG_PROB = -1.0  # whisper's own logprob_threshold
DRIFT_KEPT = 0.5  # a prompt that keeps less than this share of the transcript's words has drifted from it
CAUSES = ("transcription", "prompt", "generation")
GAIN_OF_ALIGNMENT = (-2.0, 2.0)  # the scale of a change in alignment (a change in stars: GAIN_OF_STARS)


# 1. Shares.

def proportion_interval(successes: int, n: int) -> Estimate:
    """A share with Wilson's score interval (sound near 0 and 1 and for small n, unlike mean ± 2 SE)."""
    if n == 0:
        return Estimate(0)
    p = successes / n
    denominator = 1 + Z95 ** 2 / n
    centre = (p + Z95 ** 2 / (2 * n)) / denominator
    half = Z95 * (p * (1 - p) / n + Z95 ** 2 / (4 * n ** 2)) ** 0.5 / denominator
    return Estimate(n, p, max(0.0, centre - half), min(1.0, centre + half))


# 2. The observations: one row per generation, with its mean rating and its alignment.

def observations(store: Store, model_id: str, reading: Reading = Reading(), judged: Judgements | None = None,
                 texts: bool = True) -> list[dict[str, Any]]:
    """Every generation with what the report groups by, its mean stars (None: unrated, as ``reading`` counts
    them) and alignment; with ``texts``, its transcript and prompt too (the report reads those for weak images
    only: :func:`blame`)."""
    rows = store.query(
        "SELECT g.id, g.created_at, coalesce(g.recipe, 'unknown') AS recipe, coalesce(g.style, 'none') AS style, "
        "g.scheduler, g.steps, g.scheduler || ' · ' || g.steps || ' steps' AS schedule, "
        "coalesce(g.language, 'unknown') AS language, coalesce(g.task, 'transcribe') AS task, "
        "coalesce(g.created_by, 'unknown') AS created_by, g.t_total, g.avg_logprob, g.no_speech_prob, "
        "g.prompt_truncated, " + ("g.transcript, g.prompt, " if texts else "") +
        "g.rating_mean AS stars, g.rating_count AS raters, "
        "a.prompt AS alignment FROM generations g "
        "LEFT JOIN alignment a ON a.generation_id = g.id AND a.model = ? ORDER BY g.created_at", [model_id])
    if reading != Reading() or judged is not None:
        judged = judged or judge(ratings(store, reading.blind_only), reading.adjusted)
        for row in rows:
            row["stars"], row["raters"] = judged.stars.get(row["id"]), judged.raters.get(row["id"], 0)
    return rows


def record_alignment(store: Store, cache: EmbeddingCache, *, compute: bool = False, limit: int = 100_000) -> int:
    """Store the CLIP alignment of generations that have none yet (the oldest ``limit``); returns how many were
    stored. With ``compute=False`` only generations whose image and texts are already embedded are scored (no
    model); with ``compute=True`` an image that cannot be read is recorded as skipped, not read again each time."""
    rows = store.query(
        "SELECT g.* FROM generations g LEFT JOIN alignment a ON a.generation_id = g.id AND a.model = ? "
        "WHERE a.generation_id IS NULL AND g.id NOT IN (SELECT generation_id FROM embedding_skips WHERE model = ?) "
        "ORDER BY g.created_at LIMIT ?", [cache.model_id, cache.model_id, limit])
    if not rows:
        return 0
    scores = alignment(cache, rows, compute=compute)
    if compute and (unreadable := [row["id"] for row in rows if row["id"] not in scores]):
        skip_unreadable(store, cache.model_id, unreadable, "the image file is missing or unreadable")
    now = utc_now("seconds")
    with store.write() as db:
        db["alignment"].insert_all(
            ({"generation_id": gid, "model": cache.model_id, "transcript": round(s["transcript"], 6),
              "prompt": round(s["prompt"], 6), "computed_at": now} for gid, s in scores.items()), replace=True)
    return len(scores)


# 3. What works: one row per value of each dimension.

# Each table: its title and the column of :func:`observations` it groups by.
DIMENSIONS: dict[str, tuple[str, str]] = {
    "recipes": ("Recipe", "recipe"),
    "styles": ("Style", "style"),
    "schedulers": ("Scheduler and steps", "schedule"),
    "languages": ("Spoken language", "language"),
    "tasks": ("Task", "task"),
    "people": ("Person", "created_by"),
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
    rating_q: float | None = None  # the rank test's p-value, adjusted over the table (Benjamini-Hochberg)
    alignment_q: float | None = None  # Welch's, likewise

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
                "rating_q": _round(self.rating_q), "alignment_q": _round(self.alignment_q), "flagged": self.flagged}


def figures(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stars, alignment and seconds of ``rows`` as arrays (NaN: none), what :func:`group_rows` masks."""
    return tuple(np.array([np.nan if r[name] is None else r[name] for r in rows], np.float64)
                 for name in ("stars", "alignment", "t_total"))


def group_rows(rows: list[dict[str, Any]], key: str,
               columns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> list[GroupRow]:
    """Per value of column ``key``: count, rating and alignment with intervals, each tested against the rest (stars by
    rank, alignment by Welch's t), the table's verdicts keeping the false discovery rate (Benjamini-Hochberg), and
    seconds. The columns are arrays (``columns``: :func:`figures` of ``rows``, made once for every dimension),
    and each group is a mask over them (100,000 rows: no list per group)."""
    index: dict[Any, int] = {}  # each value's number, in order of first appearance: masks compare integers
    codes = np.fromiter((index.setdefault(row[key], len(index)) for row in rows), np.int64, len(rows))
    stars, aligned, seconds = columns if columns is not None else figures(rows)
    groups = [str(value) for value in index]
    masks = [codes == i for i in range(len(groups))]

    def part(column: np.ndarray, mask: np.ndarray) -> np.ndarray:
        values = column[mask]
        return values[~np.isnan(values)]

    rating_tests = [rank_test(part(stars, m), part(stars, ~m)) for m in masks]
    alignment_tests = [welch_test(part(aligned, m), part(aligned, ~m)) for m in masks]
    rating_says, alignment_says = verdicts(rating_tests), verdicts(alignment_tests)
    rating_q, alignment_q = adjusted_p(rating_tests), adjusted_p(alignment_tests)
    out = []
    for i, (value, inside) in enumerate(zip(groups, masks)):
        times = part(seconds, inside)
        p50, p95 = np.quantile(times, [0.5, 0.95]).tolist() if len(times) else (None, None)
        out.append(GroupRow(
            value, int(inside.sum()), bounded_mean(part(stars, inside), STARS), rating_says[i],
            bounded_mean(part(aligned, inside), ALIGNMENT), alignment_says[i], p50, p95, rating_q[i],
            alignment_q[i]))
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


WORD = re.compile(r"[^\W\d_]{3,}")  # a word of three letters or more


def words_of(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


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
    if kept := doubted_in_prompt(words, row["prompt"]):
        return "transcription", f"the prompt kept words whisper doubted: {', '.join(' '.join(pieces(w.word)) for w in kept)}"
    if row["prompt_truncated"]:
        return "prompt", "the prompt was cut at CLIP's 77 tokens"
    kept = kept_share(row["transcript"], row["prompt"])
    if kept < DRIFT_KEPT:
        return "prompt", f"the prompt keeps {kept:.0%} of the transcript's words"
    return "generation", "the words and the prompt look fine; the image does not match them"


def texts_by_id(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The transcript, prompt and whisper's words (JSON, or None) of these generations, by id: what blame reads
    for the weak images only (the report's 100,000 rows carry no text)."""
    out = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        for gid, transcript, prompt, words in store.execute(
                f"SELECT id, transcript, prompt, words FROM generations WHERE id IN ({', '.join('?' for _ in chunk)})",
                chunk).fetchall():
            out[gid] = {"transcript": transcript, "prompt": prompt, "words": words}
    return out


def low_alignment_threshold(rows: list[dict[str, Any]]) -> float | None:
    aligned = [r["alignment"] for r in rows if r["alignment"] is not None]
    return float(np.quantile(aligned, LOW_ALIGNMENT_QUANTILE)) if len(aligned) >= MIN_FOR_QUANTILE else None


def blame(rows: list[dict[str, Any]], store: Store | None = None) -> list[Blamed]:
    """Every low-rated (mean stars at most 2) or poorly aligned (the history's lowest fifth) generation, with
    the stage most likely at fault; oldest first. With ``store``, the texts and whisper's words of those
    generations are read (only theirs), so a prompt that kept doubted words is blamed on transcription; without
    it, ``rows`` carry their transcript and prompt."""
    threshold = low_alignment_threshold(rows)
    weak = [row for row in rows if row["stars"] is not None and row["stars"] <= LOW_STARS
            or threshold is not None and row["alignment"] is not None and row["alignment"] < threshold]
    said = texts_by_id(store, [row["id"] for row in weak]) if store is not None else {}
    out = []
    for row in weak:
        texts = said.get(row["id"])
        if texts:  # the report's rows carry no text: the weak ones are given theirs
            row["transcript"], row["prompt"] = texts["transcript"], texts["prompt"]
        cause, why = cause_of(row, json.loads(texts["words"]) if texts and texts["words"] else [])
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
    """For each setting a run varied and each of its values: the votes in runs that tried that value, the votes
    won by a cell with it, and the win rate with its interval. In an A/B run (one axis) that is each arm's win
    rate; in a sweep a vote for "steps 8 · guidance 4" counts for steps 8 and for guidance 4 (chance: one in
    as many values as the axis has)."""
    runs = {run["id"]: axes_of(run) for run in store.query("SELECT id, axes FROM ab_runs")}
    painted: dict[str, list[dict[str, Any]]] = {}  # a run's images still here: a deleted cell is not in the race
    for row in store.query("SELECT * FROM generations WHERE ab_run IN (SELECT run_id FROM ab_votes)"):
        painted.setdefault(row["ab_run"], []).append(row)
    tally: dict[tuple[str, str], list[int]] = {}
    for vote in store.query("SELECT v.run_id, g.* FROM ab_votes v JOIN generations g ON g.id = v.generation_id"):
        for axis in runs.get(vote["run_id"], ()):
            tried = {axis.text(value_in(row, axis.name)) for row in painted[vote["run_id"]]}
            won = axis.text(value_in(vote, axis.name))
            for value in tried:
                counts = tally.setdefault((axis.name, value), [0, 0])
                counts[0] += 1
                counts[1] += value == won
    out = []
    for (variable, arm), (n, wins) in sorted(tally.items()):
        rate = proportion_interval(wins, n)
        out.append({"variable": variable, "key": arm, "n": n, "wins": wins, "win_rate": _round(rate.mean),
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
            gain = bounded_mean((p[f"{figure}_after"] - p[f"{figure}_before"] for p in both),
                                GAIN_OF_STARS if figure == "stars" else GAIN_OF_ALIGNMENT)
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
    reading: Reading = Reading()
    agreement: TeamAgreement | None = None
    raters: list[RaterOffset] = field(default_factory=list)

    @property
    def blame(self) -> list[dict[str, Any]]:
        return blame_counts(self.blamed)

    def to_json(self) -> dict[str, Any]:
        return {"generations": self.generations, "rated": self.rated, "aligned": self.aligned,
                "reading": asdict(self.reading), "methods": METHODS,
                **{name: [row.flat() for row in rows] for name, rows in self.sections.items()},
                "blame": self.blame, "blamed": [asdict(b) for b in self.blamed], "ab": self.ab,
                "fixes": list(self.fixes), "agreement": self.agreement.to_json() if self.agreement else None,
                "raters": [asdict(r) for r in self.raters]}


def report(store: Store, model_id: str, reading: Reading = Reading()) -> Report:
    given = ratings(store, reading.blind_only)
    judged = judge(given, reading.adjusted)
    rows = observations(store, model_id, reading, judged, texts=False)
    columns = figures(rows)
    return Report(
        generations=len(rows), rated=sum(r["stars"] is not None for r in rows),
        aligned=sum(r["alignment"] is not None for r in rows),
        sections={name: group_rows(rows, key, columns) for name, (_, key) in DIMENSIONS.items()},
        blamed=blame(rows, store), ab=win_rates(store), fixes=fix_costs(store, model_id), reading=reading,
        agreement=team_agreement(given), raters=judged.offsets)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
