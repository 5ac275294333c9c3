"""The math on unit-length vectors, knowing nothing of the store: the similarity matrix, a clustering order,
k-means blocks, neighbours, near-duplicates, novelty, plain-words bands and the consistency correlation. Pure
numpy/scipy; :mod:`core.analytics.similarity` applies it to stored generations."""

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
    # scipy loads when a statistic is computed
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform  # scipy loads when a statistic is computed

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


@dataclass(frozen=True)
class EarlierScan:
    novelty: np.ndarray  # per item: highest similarity to any earlier item (NaN for the first)
    pairs: np.ndarray  # (m, 2) index pairs (later, earlier) with similarity >= the threshold


def scan_earlier(vectors: np.ndarray, threshold: float, chunk: int = 1024) -> EarlierScan:
    """One pass over the lower triangle (each item against the items before it, in time order):
    half a full matrix product, in row chunks so memory stays bounded at any size."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(vectors)
    novelty = np.full(n, np.nan, dtype=np.float32)
    pairs = []
    for start in range(0, n, chunk):
        end = min(start + chunk, n)
        block = vectors[start:end] @ vectors[:end].T  # rows: items start..end, columns: items before end
        rows = np.arange(end - start)[:, None]
        block[np.arange(end)[None, :] >= start + rows] = -np.inf  # keep only earlier items
        best = block.max(axis=1)
        novelty[start:end] = np.where(np.isfinite(best), best, np.nan)
        later, earlier = np.nonzero(block >= threshold)
        pairs.append(np.stack([later + start, earlier], axis=1))
    return EarlierScan(novelty, np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64))


def best_earlier(best: np.ndarray, vectors: np.ndarray, positions: np.ndarray, start: int, block: np.ndarray,
                 chunk: int = 2048) -> None:
    """Raise ``best`` (in place) to each item's highest similarity to the items of ``block``, which sit at positions
    ``start``, ``start + 1``, ... of the time order, counting only those that came before the item (its own
    ``positions`` entry). ``vectors``, ``positions`` and ``best`` are in time order: called on successive blocks, it
    gives each item its novelty without holding the items before it all at once."""
    first = int(np.searchsorted(positions, start, side="right"))  # items at or before ``start`` have none here
    columns = start + np.arange(len(block))
    for begin in range(first, len(vectors), chunk):
        scores = vectors[begin:begin + chunk] @ block.T
        scores[columns[None, :] >= positions[begin:begin + chunk, None]] = -np.inf
        np.maximum(best[begin:begin + chunk], scores.max(axis=1), out=best[begin:begin + chunk])


def near_duplicate_groups(pairs: np.ndarray, n: int) -> list[list[int]]:
    """Connected groups (two or more items) from near-duplicate pairs, largest first."""
    from scipy.sparse import coo_matrix  # scipy loads when a statistic is computed
    from scipy.sparse.csgraph import connected_components  # scipy loads when a statistic is computed

    adjacency = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)) if len(pairs) else \
        coo_matrix((n, n))
    count, labels = connected_components(adjacency, directed=False)
    groups = [np.flatnonzero(labels == label).tolist() for label in range(count)]
    return sorted((g for g in groups if len(g) > 1), key=lambda g: (-len(g), g))


KMEANS_FIT_SAMPLE = 20_000  # past this many vectors, the centres are fitted on an even sample of them


def kmeans_blocks(vectors: np.ndarray, k: int, seed: int = 0, iterations: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """For sets too large to show cell by cell: spherical k-means labels (cosine, as matrix products),
    and the exact mean similarity between every two clusters (the mean of dot products is the dot
    product of the means). Past :data:`KMEANS_FIT_SAMPLE` vectors the centres are fitted on a sample; every vector
    is then assigned to its nearest centre, and the means are those of the clusters as assigned."""
    from scipy.sparse import csr_matrix  # scipy loads when a statistic is computed

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    k = max(1, min(k, len(vectors)))
    rng = np.random.default_rng(seed)
    fitted = vectors if len(vectors) <= KMEANS_FIT_SAMPLE else vectors[np.sort(rng.choice(
        len(vectors), KMEANS_FIT_SAMPLE, replace=False))]
    centres = fitted[rng.choice(len(fitted), k, replace=False)]
    ones = np.ones(len(fitted), np.float32)
    for _ in range(iterations):
        labels = np.argmax(fitted @ centres.T, axis=1)
        # Each cluster's sum of vectors as one sparse product (np.add.at took 4.9 s at 100,000 images).
        sums = csr_matrix((ones, (labels, np.arange(len(fitted)))), shape=(k, len(fitted))) @ fitted
        empty = ~sums.any(axis=1)
        sums[empty] = centres[empty]  # a cluster that lost all members keeps its centre
        centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    labels = np.argmax(vectors @ centres.T, axis=1)
    ids, counts = np.unique(labels, return_counts=True)
    sums = csr_matrix((np.ones(len(vectors), np.float32), (np.searchsorted(ids, labels), np.arange(len(vectors)))),
                      shape=(len(ids), len(vectors))) @ vectors
    means = sums / counts[:, None]
    return np.searchsorted(ids, labels), means @ means.T


def similarity_correlation(transcript_vectors: np.ndarray, image_vectors: np.ndarray) -> dict:
    """For every pair of generations: transcript similarity against image similarity, and their
    Pearson correlation. Do similar things said give similar pictures?"""
    n = len(image_vectors)
    upper = np.triu_indices(n, k=1)
    said = similarity_matrix(transcript_vectors)[upper]
    seen = similarity_matrix(image_vectors)[upper]
    correlation = float(np.corrcoef(said, seen)[0, 1]) if len(said) > 1 and said.std() > 0 and seen.std() > 0 else float("nan")
    return {"pairs": list(zip(upper[0].tolist(), upper[1].tolist())), "transcript": said, "image": seen,
            "correlation": correlation}
