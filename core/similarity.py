"""Similarity analytics over unit-length embeddings: matrix, clustering order, neighbours, duplicates,
novelty, plain-words bands and the voice-to-image consistency view. Pure numpy/scipy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bands:
    """Plain-words thresholds on cosine similarity (configurable)."""

    near_identical: float = 0.95
    very_similar: float = 0.85
    moderately_similar: float = 0.6

    def describe(self, score: float) -> str:
        if score >= self.near_identical:
            return "near-identical"
        if score >= self.very_similar:
            return "very similar"
        if score >= self.moderately_similar:
            return "moderately similar"
        return "different"


def similarity_matrix(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of unit vectors: one float32 matrix product."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    matrix = vectors @ vectors.T
    np.clip(matrix, -1.0, 1.0, out=matrix)
    np.fill_diagonal(matrix, 1.0)
    return matrix


def cluster_order(matrix: np.ndarray) -> np.ndarray:
    """Leaf order of average-linkage hierarchical clustering on cosine distance, so groups sit together."""
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    n = len(matrix)
    if n < 3:
        return np.arange(n)
    distance = np.clip(1.0 - matrix.astype(np.float64), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    condensed = squareform((distance + distance.T) / 2, checks=False)
    tree = linkage(condensed, method="average")
    if n <= 500:  # optimal leaf ordering is O(n^3): worth it only for what a person can see
        tree = optimal_leaf_ordering(tree, condensed)
    return leaves_list(tree)


def cluster_labels(matrix: np.ndarray, k: int) -> np.ndarray:
    """``k`` flat clusters from the same tree (for the block view of large sets)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if len(matrix) < 2:
        return np.ones(len(matrix), dtype=int)
    distance = np.clip(1.0 - matrix.astype(np.float64), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform((distance + distance.T) / 2, checks=False), method="average")
    return fcluster(tree, t=k, criterion="maxclust")


def block_means(matrix: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean similarity between every pair of clusters, and the cluster ids in order."""
    ids = np.unique(labels)
    onehot = (labels[:, None] == ids[None, :]).astype(np.float32)
    sums = onehot.T @ matrix @ onehot
    counts = onehot.sum(axis=0)
    return sums / np.outer(counts, counts), ids


def top_k(matrix_or_vectors: np.ndarray, index: int, k: int, *, vectors: bool = False) -> list[tuple[int, float]]:
    """The ``k`` nearest others of item ``index``, best first."""
    scores = matrix_or_vectors @ matrix_or_vectors[index] if vectors else matrix_or_vectors[index].copy()
    scores = np.asarray(scores, dtype=np.float32).copy()
    scores[index] = -np.inf
    k = min(k, len(scores) - 1)
    if k <= 0:
        return []
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(i), float(scores[i])) for i in best]


def top_k_all(vectors: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Top-k neighbours of every item (indices and scores, best first), in row chunks to bound memory."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(vectors)
    k = min(k, n - 1)
    indices = np.zeros((n, max(k, 0)), dtype=np.int64)
    scores = np.zeros((n, max(k, 0)), dtype=np.float32)
    if k <= 0:
        return indices, scores
    for start in range(0, n, chunk):
        block = vectors[start:start + chunk] @ vectors.T
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = -np.inf
        part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(block, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        indices[start:start + chunk] = np.take_along_axis(part, order, axis=1)
        scores[start:start + chunk] = np.take_along_axis(part_scores, order, axis=1)
    return indices, scores


def near_duplicate_groups(matrix: np.ndarray, threshold: float) -> list[list[int]]:
    """Connected groups of items whose similarity is at least ``threshold`` (groups of two or more)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    adjacency = csr_matrix(np.triu(matrix >= threshold, k=1))
    count, labels = connected_components(adjacency, directed=False)
    groups = [np.flatnonzero(labels == label).tolist() for label in range(count)]
    return sorted((g for g in groups if len(g) > 1), key=lambda g: (-len(g), g))


def novelty(matrix: np.ndarray) -> np.ndarray:
    """Per item, in time order: its highest similarity to any earlier item (NaN for the first).
    Low means new; near 1 means a repeat of something already made."""
    n = len(matrix)
    out = np.full(n, np.nan, dtype=np.float32)
    for i in range(1, n):
        out[i] = float(np.max(matrix[i, :i]))
    return out


def consistency(transcript_vectors: np.ndarray, image_vectors: np.ndarray) -> dict:
    """For every pair of generations: transcript similarity against image similarity, and their
    Pearson correlation. Do similar things said give similar pictures?"""
    n = len(image_vectors)
    upper = np.triu_indices(n, k=1)
    said = similarity_matrix(transcript_vectors)[upper]
    seen = similarity_matrix(image_vectors)[upper]
    correlation = float(np.corrcoef(said, seen)[0, 1]) if len(said) > 1 and said.std() > 0 and seen.std() > 0 else float("nan")
    return {"pairs": list(zip(upper[0].tolist(), upper[1].tolist())), "transcript": said, "image": seen,
            "correlation": correlation}
