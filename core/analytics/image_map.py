"""The map of every image: a 2D layout of the stored images' CLIP embeddings, cached in ``map_points``.

1. The first map is fitted with UMAP (McInnes et al. 2018, ``umap-learn``) on cosine distance. Its k-nearest-
   neighbour graph is computed exactly here, in matrix products (2 s for 10,000 images), rather than by
   UMAP's NN-descent, whose numba compilation alone costs half a minute in every new process.
2. Near-duplicates (cosine at least ``Bands.near_identical``) are left out of the fit and placed beside their
   twin, so a repeat lands next to its original (UMAP alone keeps neighbourhoods, not exact nearest pairs).
3. Clusters are k-means groups of the layout, for colouring.
4. A new image is placed without refitting: at the similarity-weighted mean of its nearest fitted neighbours
   (what UMAP's own ``transform`` starts from), so a near-duplicate lands on its twin. When the placed images
   reach a fifth of the fitted ones, the next update refits everything (``python -m core map --refit`` too).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..history.store import Store, utc_now
from .embeddings import IMAGE
from .vectors import Bands

N_NEIGHBORS = 15
PLACE_NEIGHBOURS = 5
PLACE_SHARPNESS = 20.0  # weights exp(sharpness * (similarity - best)): the closest neighbour dominates
REFIT_SHARE = 0.2
MAX_CLUSTERS = 12
EXACT_KNN_MAX = 20_000  # past this, UMAP's own approximate neighbour search is cheaper than the exact one
FIT, PLACED = "fit", "placed"


@dataclass(frozen=True)
class MapUpdate:
    fitted: int  # images laid out by a new fit (0: no fit this time)
    placed: int  # new images placed beside their neighbours
    seconds: float
    waiting: int = 0  # images a fit would lay out, left to the worker's background upkeep (``fit_at_most``)


def embedded(store: Store, model_id: str, *, vectors: bool = True) -> tuple[list[str], np.ndarray]:
    """Every generation with a stored image embedding, oldest first, and the embeddings as rows (``vectors=False``:
    the ids alone, which is all an up-to-date map needs to know)."""
    rows = store.execute(
        f"SELECT g.id{', e.vector' if vectors else ''} FROM generations g JOIN embeddings e ON e.sha256 = g.image_sha256 "
        "AND e.model = ? AND e.kind = ? ORDER BY g.created_at, g.id", [model_id, IMAGE]).fetchall()
    if not rows or not vectors:
        return [r[0] for r in rows], np.zeros((0, 0), np.float32)
    return [r[0] for r in rows], np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])


def exact_neighbours(vectors: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Each unit vector's ``k`` nearest (itself first) and their cosine distances, in row chunks."""
    n = len(vectors)
    indices = np.empty((n, k), np.int64)
    distances = np.empty((n, k), np.float32)
    for start in range(0, n, chunk):
        similarity = vectors[start:start + chunk] @ vectors.T
        part = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        scores = np.take_along_axis(similarity, part, 1)
        order = np.argsort(-scores, axis=1, kind="stable")
        indices[start:start + chunk] = np.take_along_axis(part, order, 1)
        distances[start:start + chunk] = np.maximum(1.0 - np.take_along_axis(scores, order, 1), 0.0)
    return indices, distances


def layout(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, 2) coordinates of unit vectors: UMAP for five or more, the first two principal axes below."""
    n = len(vectors)
    if n < 5:
        centred = vectors - vectors.mean(axis=0) if n else vectors
        if n < 2:
            return np.zeros((n, 2), np.float32)
        axes = np.linalg.svd(centred, full_matrices=False)[2][:2]
        xy = centred @ axes.T
        return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1]))).astype(np.float32)

    import umap  # UMAP (and numba) load when the map is fitted

    k = min(N_NEIGHBORS, n - 1)
    knn = exact_neighbours(vectors, k) if n <= EXACT_KNN_MAX else None
    reducer = umap.UMAP(n_neighbors=k, metric="cosine", min_dist=0.1, random_state=seed,
                        init="spectral" if n > 2 * k else "random",
                        precomputed_knn=(knn[0], knn[1], None) if knn else (None, None, None))
    with warnings.catch_warnings():  # "n_jobs overridden by random_state": a fixed seed is the point here
        warnings.simplefilter("ignore")
        return reducer.fit_transform(vectors).astype(np.float32)


def fit(vectors: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates and clusters of every vector: the distinct ones laid out by :func:`layout`, each
    near-duplicate placed beside the earlier image it repeats."""
    n = len(vectors)
    repeats = np.zeros(n, bool)
    if 2 <= n <= EXACT_KNN_MAX:
        indices, distances = exact_neighbours(vectors, 2)
        # The nearest other image (a row's first neighbour is usually itself; with exact twins it may be the twin).
        other = np.where(indices[:, 0] == np.arange(n), indices[:, 1], indices[:, 0])
        close = 1.0 - np.where(indices[:, 0] == np.arange(n), distances[:, 1], distances[:, 0])
        repeats = (close >= Bands.near_identical) & (other < np.arange(n))
    distinct = np.flatnonzero(~repeats)
    xy = np.zeros((n, 2), np.float32)
    groups = np.zeros(n, np.int64)
    xy[distinct] = layout(vectors[distinct], seed)
    groups[distinct] = clusters(xy[distinct], seed)
    if repeats.any():
        xy[repeats], groups[repeats] = place(vectors[repeats], vectors[distinct], xy[distinct], groups[distinct])
    return xy, groups


def clusters(xy: np.ndarray, seed: int = 0) -> np.ndarray:
    """k-means groups of the layout (k grows with the square root of the count, at most 12)."""
    n = len(xy)
    k = int(min(MAX_CLUSTERS, max(1, round(np.sqrt(n / 4)))))
    if k < 2:
        return np.zeros(n, np.int64)
    from sklearn.cluster import KMeans  # scikit-learn loads when the map is fitted

    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(xy).astype(np.int64)


def place(new: np.ndarray, fitted: np.ndarray, fitted_xy: np.ndarray,
          fitted_cluster: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates and clusters for ``new`` vectors: the weighted mean of their nearest fitted neighbours' places,
    and the cluster of the nearest."""
    k = min(PLACE_NEIGHBOURS, len(fitted))
    similarity = new @ fitted.T
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    scores = np.take_along_axis(similarity, nearest, 1)
    weights = np.exp(PLACE_SHARPNESS * (scores - scores[:, :1]))
    weights /= weights.sum(axis=1, keepdims=True)
    xy = np.einsum("nk,nkd->nd", weights, fitted_xy[nearest])
    return xy.astype(np.float32), fitted_cluster[nearest[:, 0]]


def update(store: Store, model_id: str, *, refit: bool = False, seed: int = 0,
           fit_at_most: int | None = None) -> MapUpdate:
    """Bring the map up to date with the stored embeddings: place new images, or refit when asked, when there
    is no map yet, or when placed images reach a fifth of the fitted ones. Deleted images leave the map.
    ``fit_at_most``: a fit of more images than this is left to the worker (the page's view stays quick; the map
    it shows then is the last one, and ``waiting`` says how many images the fit will lay out)."""
    started = time.perf_counter()
    ids, _ = embedded(store, model_id, vectors=False)  # ids first: an up-to-date map reads no vector
    mapped = {r["generation_id"]: r for r in store.query(
        "SELECT generation_id, x, y, cluster, how FROM map_points WHERE model = ?", [model_id])}
    position = {gid: i for i, gid in enumerate(ids)}
    gone = [gid for gid in mapped if gid not in position]
    new = [gid for gid in ids if gid not in mapped]
    fitted = [gid for gid, r in mapped.items() if r["how"] == FIT and gid in position]
    placed_before = sum(r["how"] == PLACED and gid in position for gid, r in mapped.items())
    now = utc_now("seconds")
    if refit or not fitted or placed_before + len(new) > REFIT_SHARE * len(fitted) and (new or refit):
        if not ids:
            _replace_all(store, model_id, [])
            return MapUpdate(0, 0, time.perf_counter() - started)
        if fit_at_most is not None and len(ids) > fit_at_most:
            return MapUpdate(0, 0, time.perf_counter() - started, waiting=len(ids))
        ids, vectors = embedded(store, model_id)
        xy, groups = fit(vectors, seed)
        _replace_all(store, model_id, [
            {"generation_id": gid, "model": model_id, "x": float(x), "y": float(y), "cluster": int(c), "how": FIT,
             "at": now} for gid, (x, y), c in zip(ids, xy, groups)])
        return MapUpdate(len(ids), 0, time.perf_counter() - started)
    rows = []
    if new:
        ids, vectors = embedded(store, model_id)
        position = {gid: i for i, gid in enumerate(ids)}
        new = [gid for gid in new if gid in position]
        index = [position[gid] for gid in fitted if gid in position]
        fitted = [gid for gid in fitted if gid in position]
        xy, groups = place(vectors[[position[gid] for gid in new]], vectors[index],
                           np.array([[mapped[g]["x"], mapped[g]["y"]] for g in fitted], np.float32),
                           np.array([mapped[g]["cluster"] for g in fitted], np.int64))
        rows = [{"generation_id": gid, "model": model_id, "x": float(x), "y": float(y), "cluster": int(c),
                 "how": PLACED, "at": now} for gid, (x, y), c in zip(new, xy, groups)]
    if rows or gone:
        with store.write() as db:
            db["map_points"].insert_all(rows, replace=True)
            for start in range(0, len(gone), 900):
                chunk = gone[start:start + 900]
                db.execute(f"DELETE FROM map_points WHERE model = ? AND generation_id IN "
                           f"({', '.join('?' for _ in chunk)})", [model_id, *chunk])
    return MapUpdate(0, len(rows), time.perf_counter() - started)


def _replace_all(store: Store, model_id: str, rows: list[dict[str, Any]]) -> None:
    with store.write() as db:
        db.execute("DELETE FROM map_points WHERE model = ?", [model_id])
        db["map_points"].insert_all(rows)


def points(store: Store, model_id: str) -> list[dict[str, Any]]:
    """Every mapped image with what the map colours, hovers and opens by (one query)."""
    return store.query(
        "SELECT m.generation_id AS id, m.x, m.y, m.cluster, m.how, g.created_at, coalesce(g.created_by, 'unknown') "
        "AS created_by, g.style, g.recipe, coalesce(g.language, 'unknown') AS language, g.transcript, g.image_path, "
        "g.rating_mean AS stars FROM map_points m JOIN generations g ON g.id = m.generation_id "
        "WHERE m.model = ? ORDER BY g.created_at",
        [model_id])


def within(points: list[dict[str, Any]], x_range: list[float], y_range: list[float]) -> list[str]:
    """The ids of the points inside a box on the map (a selection's two ranges, in either order)."""
    (x0, x1), (y0, y1) = sorted(x_range), sorted(y_range)
    return [p["id"] for p in points if x0 <= p["x"] <= x1 and y0 <= p["y"] <= y1]
