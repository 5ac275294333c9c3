"""The Similarity page's set at scale: rows and stored vectors in one read, a version that moves whenever the set
would, derived figures computed once per set."""

import numpy as np

from core.analytics.embeddings import EmbeddingCache
from core.analytics.similarity import SET_COLUMNS, load_set, set_version
from core.history.query import HistoryFilter

from test_map import MODEL, store_images, themed_vectors


def test_the_set_reads_each_generation_with_its_stored_vector_in_order(store):
    vectors = themed_vectors(2, 3)
    ids = store_images(store, vectors)
    data = load_set(store, EmbeddingCache(store, lambda: None, model_id=MODEL))
    assert data.ids == ids and data.computed == 0 and set(data.rows[0]) == set(SET_COLUMNS)
    assert np.array_equal(data.vectors, vectors.astype(np.float32))
    only = load_set(store, EmbeddingCache(store, lambda: None, model_id=MODEL), HistoryFilter(ids=(ids[4], ids[1])))
    assert only.ids == [ids[1], ids[4]]


def test_the_version_moves_when_a_generation_or_an_embedding_comes_or_goes(store):
    ids = store_images(store, themed_vectors(2, 2))
    first = set_version(store, MODEL)
    assert set_version(store, MODEL) == first
    store_images(store, themed_vectors(1, 1, seed=3), start=4)
    added = set_version(store, MODEL)
    assert added != first
    store.delete_generation(ids[0])
    assert set_version(store, MODEL) not in (first, added)
    with store.write() as db:
        db.execute("DELETE FROM embeddings WHERE model = ? AND sha256 = ?", [MODEL, f"{1:064x}"])
    assert set_version(store, MODEL)[2] == 3  # 5 stored, one erased with its generation (issue 44, 9), one deleted


def test_a_derived_figure_is_computed_once_per_set_and_argument(store):
    store_images(store, themed_vectors(2, 2))
    data = load_set(store, EmbeddingCache(store, lambda: None, model_id=MODEL))
    calls = []
    for threshold in (0.9, 0.9, 0.8):
        data.derived("scan", lambda: calls.append(threshold) or len(calls), threshold)
    assert calls == [0.9, 0.8] and data.derived("scan", lambda: None, 0.9) == 1
