"""Similarity over stored generations (what the Similarity page and ``python -m core similarity`` use);
the vector arithmetic itself lives in :mod:`core.vectors`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from .vectors import similarity_correlation, similarity_matrix, top_k
from .embeddings import EmbeddingCache, IMAGE
from .store import HistoryFilter, Store

MAX_ROWS = 100_000


@dataclass(frozen=True)
class SimilaritySet:
    rows: list[dict[str, Any]]  # oldest first, only those with an embedding
    vectors: np.ndarray  # (n, dim) unit vectors, in the order of ``rows``
    computed: int  # embeddings this call had to compute

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


def load_set(store: Store, cache: EmbeddingCache, where: HistoryFilter = HistoryFilter()) -> SimilaritySet:
    """Every generation matching ``where`` with its image embedding (computed now if missing)."""
    rows = store.query_generations(where, sort="created_at", descending=False, limit=MAX_ROWS)
    embeddings, computed = cache.image_embeddings(rows)
    rows = [row for row in rows if row["id"] in embeddings]
    vectors = np.stack([embeddings[row["id"]] for row in rows]) if rows else np.zeros((0, 0), np.float32)
    return SimilaritySet(rows, vectors, computed)


def neighbours(data: SimilaritySet, generation_id: str, k: int = 5) -> list[dict[str, Any]]:
    from .errors import NotFoundError

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
    texts, _ = cache.text_embeddings(texts_of(rows), compute=compute)
    out = {}
    for row in rows:
        if row["id"] in images and row["transcript"] in texts and row["prompt"] in texts:
            said = float(images[row["id"]] @ texts[row["transcript"]])
            prompted = float(images[row["id"]] @ texts[row["prompt"]])
            out[row["id"]] = {"transcript": said, "prompt": prompted, "gain": prompted - said}
    return out


def novelty_of(store: Store, cache: EmbeddingCache, row: dict[str, Any]) -> float | None:
    """The highest similarity of this generation's image to any earlier image, from stored embeddings
    only (None when it has none yet, or nothing came before it)."""
    own, _ = cache.image_embeddings([row], compute=False)
    if row["id"] not in own:
        return None
    earlier = store.query_generations(HistoryFilter(until=row["created_at"]), limit=MAX_ROWS)
    vectors, _ = cache.image_embeddings(earlier, compute=False)
    if not vectors:
        return None
    return float(np.max(np.stack(list(vectors.values())) @ own[row["id"]]))


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
    """Generations whose image has no embedding for ``model_id`` yet (for the worker's backfill)."""
    return store.query(
        "SELECT g.* FROM generations g LEFT JOIN embeddings e "
        "ON e.sha256 = g.image_sha256 AND e.model = ? AND e.kind = ? "
        "WHERE e.sha256 IS NULL ORDER BY g.created_at LIMIT ?", [model_id, IMAGE, limit],
    )
