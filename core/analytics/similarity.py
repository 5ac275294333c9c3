"""Stored generations compared by their CLIP embeddings: a filtered set loaded once with its vectors, neighbours,
search by words, alignment with what was said and novelty (what the Similarity page and ``python -m core similarity``
use); the vector math itself is :mod:`core.analytics.vectors`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from ..errors import NotFoundError
from ..history.query import HistoryFilter
from ..history.store import Store, utc_now
from .embeddings import IMAGE, EmbeddingCache
from .vectors import best_earlier, similarity_correlation, similarity_matrix, top_k

MAX_ROWS = 100_000


@dataclass(frozen=True)
class SimilaritySet:
    rows: list[dict[str, Any]]  # oldest first, only those with an embedding
    vectors: np.ndarray  # (n, dim) unit vectors, in the order of ``rows``
    computed: int  # embeddings this call had to compute
    _derived: dict = field(default_factory=dict, compare=False, repr=False)

    def derived(self, name: str, compute: Callable[[], Any], *args) -> Any:
        """``compute()``'s result, kept with this set under (``name``, ``args``): clusters, scans and orders are
        computed once per set (a page keeps its set between views), never hashed from 200 MB of vectors."""
        key = (name, *args)
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    @cached_property
    def matrix(self) -> np.ndarray:
        """The full (n, n) cosine-similarity matrix, computed on first use (400 MB at 10,000 images)."""
        return similarity_matrix(self.vectors) if self.rows else np.zeros((0, 0), np.float32)

    def score(self, first: str, second: str) -> float:
        return float(self.vectors[self.index(first)] @ self.vectors[self.index(second)])

    @property
    def ids(self) -> list[str]:
        return [row["id"] for row in self.rows]

    @cached_property
    def positions(self) -> dict[str, int]:
        return {row["id"]: i for i, row in enumerate(self.rows)}

    def index(self, generation_id: str) -> int:
        return self.positions[generation_id]


# What the Similarity page and the command line read of each generation in a set (its vector comes beside it).
SET_COLUMNS = ("id", "created_at", "created_by", "transcript", "prompt", "image_path", "image_sha256", "language",
               "style", "recipe")


def load_set(store: Store, cache: EmbeddingCache, where: HistoryFilter = HistoryFilter()) -> SimilaritySet:
    """Every generation matching ``where`` (oldest first, at most :data:`MAX_ROWS`) with its image embedding: the
    stored ones read in the same query (one join: 0.4 s at 100,000), the missing ones computed now."""
    clause, params = where.where()
    cursor = store.execute(
        f"SELECT {', '.join(f'g.{c}' for c in SET_COLUMNS)}, e.vector FROM generations g LEFT JOIN embeddings e "
        f"ON e.sha256 = g.image_sha256 AND e.model = ? AND e.kind = ?{clause} ORDER BY g.created_at, g.id LIMIT ?",
        [cache.model_id, IMAGE, *params, MAX_ROWS])
    rows, blobs, missing = [], [], []
    for *values, blob in cursor.fetchall():
        row = dict(zip(SET_COLUMNS, values))
        (missing if blob is None else rows).append(row)
        if blob is not None:
            blobs.append(blob)
    # The stored vectors as one buffer, already in the rows' order (100,000 small arrays stacked one by one cost a
    # fifth of a second more).
    stored = np.frombuffer(b"".join(blobs), np.float32).reshape(len(blobs), -1) if blobs else np.zeros((0, 0), np.float32)
    if not missing:
        return SimilaritySet(rows, stored, 0)
    vectors = dict(zip((row["id"] for row in rows), stored))
    fresh, computed = cache.image_embeddings(missing)
    vectors.update(fresh)
    if computed:
        record_novelty(store, cache)  # new embeddings: their novelty is stored too, for History's detail
    rows = sorted([*rows, *(row for row in missing if row["id"] in fresh)], key=lambda row: (row["created_at"], row["id"]))
    matrix = np.stack([vectors[row["id"]] for row in rows]) if rows else np.zeros((0, 0), np.float32)
    return SimilaritySet(rows, matrix, computed)


def set_version(store: Store, model_id: str) -> tuple:
    """What changes whenever a set would: generations added or removed, embeddings stored (three index counts)."""
    generations = store.execute("SELECT count(*), max(rowid) FROM generations").fetchone()
    embedded = store.execute("SELECT count(*) FROM embeddings WHERE model = ? AND kind = ?", [model_id, IMAGE]).fetchone()
    return (*generations, *embedded)


def stored_novelty(store: Store, model_id: str, generation_ids: list[str]) -> dict[str, float | None]:
    """The novelty :func:`record_novelty` stored for these generations (those without one are left out)."""
    found = {}
    for start in range(0, len(generation_ids), 900):
        chunk = generation_ids[start:start + 900]
        found.update(store.execute(f"SELECT generation_id, value FROM novelty WHERE model = ? AND generation_id IN "
                                   f"({', '.join('?' for _ in chunk)})", [model_id, *chunk]).fetchall())
    return found


def neighbours(data: SimilaritySet, generation_id: str, k: int = 5) -> list[dict[str, Any]]:
    if generation_id not in data.positions:
        raise NotFoundError(f"no generation with id {generation_id} and an image embedding")
    return [{"id": data.rows[i]["id"], "score": score}
            for i, score in top_k(data.vectors, data.index(generation_id), k, vectors=True)]


def search(data: SimilaritySet, cache: EmbeddingCache, text: str, k: int = 10) -> list[dict[str, Any]]:
    """Stored images that best match ``text`` (CLIP text embedding against image embeddings)."""
    if not text.strip():
        raise ValueError("the search text is empty")
    if not data.rows:
        return []
    vectors, _ = cache.text_embeddings([text])
    scores = data.vectors @ vectors[text]
    best = np.argsort(-scores, kind="stable")[:k]
    return [{"id": data.rows[i]["id"], "score": float(scores[i])} for i in best]


def texts_of(rows: list[dict[str, Any]]) -> list[str]:
    """Every distinct transcript and prompt of ``rows``: what alignment needs text embeddings of."""
    return sorted({r["transcript"] for r in rows} | {r["prompt"] for r in rows})


def alignment(cache: EmbeddingCache, rows: list[dict[str, Any]], *, compute: bool = True) -> dict[str, dict[str, float]]:
    """Per generation: CLIP similarity of the image with the transcript and with the prompt, and
    the difference (positive: the enhanced prompt is closer to the image than the words said).
    With ``compute=False`` only generations whose embeddings are all stored are scored."""
    images, _ = cache.image_embeddings(rows, compute=compute)
    # Only the words of images that have an embedding: a missing image file must not load CLIP for its text.
    texts, _ = cache.text_embeddings(texts_of([row for row in rows if row["id"] in images]), compute=compute)
    out = {}
    for row in rows:
        if row["id"] in images and row["transcript"] in texts and row["prompt"] in texts:
            said = float(images[row["id"]] @ texts[row["transcript"]])
            prompted = float(images[row["id"]] @ texts[row["prompt"]])
            out[row["id"]] = {"transcript": said, "prompt": prompted, "gain": prompted - said}
    return out


def novelty_of(store: Store, model_id: str, generation_id: str) -> float | None:
    """This generation's highest similarity to any earlier image, as :func:`record_novelty` stored it (None
    until then, and for the first image). One row read, whatever the size of the history."""
    rows = store.query("SELECT value FROM novelty WHERE generation_id = ? AND model = ?", [generation_id, model_id])
    return rows[0]["value"] if rows else None


def record_novelty(store: Store, cache: EmbeddingCache, block: int = 4096) -> int:
    """Store the novelty of every embedded image that has none yet; returns how many were stored. Each is
    computed against every image made before it that has an embedding now. Only the images without one are
    compared (a new image: one pass of one vector over the stored ones), and the stored vectors before them are
    read in blocks of ``block`` rows in time order, so memory grows with the images compared, not with all stored."""
    pending = {r[0] for r in store.execute(
        "SELECT g.id FROM generations g LEFT JOIN novelty n ON n.generation_id = g.id AND n.model = ? "
        "WHERE n.generation_id IS NULL", [cache.model_id])}
    if not pending:
        return 0
    embedded = ("FROM generations g JOIN embeddings e ON e.sha256 = g.image_sha256 AND e.model = ? AND e.kind = ? "
                "ORDER BY g.created_at, g.id")
    order = store.execute(f"SELECT g.id, g.image_sha256 {embedded}", [cache.model_id, IMAGE]).fetchall()
    todo = [(position, gid, sha) for position, (gid, sha) in enumerate(order) if gid in pending]
    if not todo:
        return 0  # none of them has an embedding yet
    stored = cache.stored([sha for _, _, sha in todo], IMAGE)
    vectors = np.stack([stored[sha] for _, _, sha in todo])  # float32, as stored
    positions = np.array([position for position, _, _ in todo])
    best = np.full(len(todo), -np.inf, dtype=np.float32)
    cursor = store.execute(f"SELECT e.vector {embedded} LIMIT ?", [cache.model_id, IMAGE, int(positions[-1])])
    start = 0
    while blobs := cursor.fetchmany(block):  # the images before the last new one, a block at a time
        best_earlier(best, vectors, positions, start, np.stack([np.frombuffer(b, dtype=np.float32) for b, in blobs]))
        start += len(blobs)
    now = utc_now("seconds")
    fresh = [{"generation_id": gid, "model": cache.model_id, "computed_at": now,
              "value": round(float(value), 6) if np.isfinite(value) else None}  # None: nothing came before it
             for (_, gid, _), value in zip(todo, best)]
    with store.write() as db:
        db["novelty"].insert_all(fresh, replace=True)
    return len(fresh)


def alignment_summary(scores: dict[str, dict[str, float]]) -> dict[str, float] | None:
    """Means over generations, and the share where the enhanced prompt is closer to the image."""
    if not scores:
        return None
    values = list(scores.values())
    return {
        "count": len(values),
        "transcript": float(np.mean([v["transcript"] for v in values])),
        "prompt": float(np.mean([v["prompt"] for v in values])),
        "helped": float(np.mean([v["gain"] > 0 for v in values])),
    }


def said_vs_drawn(data: SimilaritySet, cache: EmbeddingCache) -> dict[str, Any]:
    """Does what was said predict what was drawn? Transcript similarity against image similarity, per pair."""
    texts, _ = cache.text_embeddings([row["transcript"] for row in data.rows])
    said = np.stack([texts[row["transcript"]] for row in data.rows]) if data.rows else np.zeros((0, 0))
    return similarity_correlation(said, data.vectors)


def missing_embeddings(store: Store, model_id: str, limit: int = 64) -> list[dict[str, Any]]:
    """Generations whose image has no embedding for ``model_id`` yet and was not skipped as unreadable
    (for the worker's backfill)."""
    return store.query(
        "SELECT g.* FROM generations g LEFT JOIN embeddings e "
        "ON e.sha256 = g.image_sha256 AND e.model = ? AND e.kind = ? "
        "WHERE e.sha256 IS NULL AND g.id NOT IN (SELECT generation_id FROM embedding_skips WHERE model = ?) "
        "ORDER BY g.created_at LIMIT ?", [model_id, IMAGE, model_id, limit],
    )


def skip_unreadable(store: Store, model_id: str, generation_ids: list[str], reason: str) -> None:
    """Record images the backfill could not read, so it goes on past them (listed with why)."""
    now = utc_now("seconds")
    with store.write() as db:
        db["embedding_skips"].insert_all(
            ({"generation_id": gid, "model": model_id, "reason": reason, "skipped_at": now} for gid in generation_ids),
            replace=True)
