import numpy as np
import pytest

from core.analytics.vectors import (
    Bands, best_earlier, cluster_order, similarity_correlation, kmeans_blocks, near_duplicate_groups, scan_earlier, similarity_matrix, top_k,
    top_k_all,
)
from core.analytics.embeddings import normalise


def vectors(n=40, dim=16, seed=0):
    return normalise(np.random.default_rng(seed).normal(size=(n, dim)))


def test_the_matrix_is_symmetric_with_ones_on_the_diagonal_and_matches_cosine():
    v = vectors()
    m = similarity_matrix(v)
    assert np.allclose(m, m.T)
    assert np.allclose(np.diag(m), 1.0)
    a, b = v[3], v[7]
    assert m[3, 7] == pytest.approx(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-6)


def test_clustering_puts_each_group_together():
    rng = np.random.default_rng(1)
    centres = normalise(rng.normal(size=(3, 16)))
    members = normalise(np.repeat(centres, 5, axis=0) + 0.05 * rng.normal(size=(15, 16)))
    shuffled = rng.permutation(15)
    order = cluster_order(similarity_matrix(members[shuffled]))
    groups = shuffled[order] // 5
    assert sorted(order.tolist()) == list(range(15))
    assert sum(groups[i] != groups[i + 1] for i in range(14)) == 2  # three contiguous runs


def test_cluster_blocks_hold_the_exact_mean_similarity_between_clusters():
    v = vectors(30)
    labels, means = kmeans_blocks(v, 4)
    m = similarity_matrix(v)
    np.fill_diagonal(m, 1.0)
    for a in range(means.shape[0]):
        for b in range(means.shape[0]):
            exact = (v[labels == a] @ v[labels == b].T).mean()
            assert means[a, b] == pytest.approx(exact, abs=1e-5)


def test_top_k_is_best_first_and_excludes_itself():
    v = vectors()
    m = similarity_matrix(v)
    best = top_k(m, 0, 5)
    assert 0 not in [i for i, _ in best]
    scores = [s for _, s in best]
    assert scores == sorted(scores, reverse=True)
    assert best[0][1] == pytest.approx(np.max(np.delete(m[0], 0)), abs=1e-6)


def test_top_k_for_all_agrees_with_one_at_a_time():
    v = vectors(50)
    indices, scores = top_k_all(v, 4, chunk=7)
    m = similarity_matrix(v)
    for i in (0, 13, 49):
        assert [j for j, _ in top_k(m, i, 4)] == indices[i].tolist()


def test_near_duplicates_are_grouped_above_the_threshold():
    base = vectors(4)
    v = normalise(np.vstack([base, base[0] + 0.01, base[2] + 0.01]))
    scan = scan_earlier(v, 0.99, chunk=2)
    assert near_duplicate_groups(scan.pairs, len(v)) == [[0, 4], [2, 5]]


def test_novelty_is_the_best_match_among_earlier_items_at_any_chunk_size():
    v = vectors(9)
    v = np.vstack([v, v[1]])
    m = similarity_matrix(v)
    expected = [np.nan] + [m[i, :i].max() for i in range(1, 10)]
    for chunk in (1, 3, 64):
        scores = scan_earlier(v, 0.99, chunk=chunk).novelty
        assert np.isnan(scores[0])
        assert np.allclose(scores[1:], expected[1:], atol=1e-6)
    assert scores[9] == pytest.approx(1.0)


def test_novelty_of_chosen_items_over_blocks_of_the_earlier_ones_matches_the_whole_scan():
    v = vectors(50)
    expected = scan_earlier(v, threshold=2.0).novelty
    positions = np.array([0, 1, 7, 20, 21, 49])  # the first (nothing before it), neighbours, the last
    for block, chunk in ((16, 4), (7, 64), (49, 1)):  # blocks that split the earlier items, as record_novelty reads them
        best = np.full(len(positions), -np.inf, dtype=np.float32)
        for start in range(0, 49, block):
            best_earlier(best, v[positions], positions, start, v[start:min(start + block, 49)], chunk=chunk)
        assert best[0] == -np.inf
        np.testing.assert_allclose(best[1:], expected[positions[1:]], rtol=1e-5)


def test_bands_put_scores_into_plain_words():
    bands = Bands()
    assert [bands.describe(s) for s in (0.99, 0.9, 0.7, 0.1)] == [
        "near-identical", "very similar", "moderately similar", "different"]
    assert Bands(very_similar=0.5, moderately_similar=0.3).describe(0.6) == "very similar"


def test_consistency_correlates_what_was_said_with_what_was_seen():
    said = vectors(10, seed=2)
    result = similarity_correlation(said, said)  # identical spaces: perfect correlation
    assert result["correlation"] == pytest.approx(1.0)
    assert len(result["pairs"]) == 45
