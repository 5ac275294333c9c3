"""The map of every image: fitted with UMAP, cached in the database, extended for new images."""

import numpy as np
import pytest

from core import image_map
from core.analytics.embeddings import IMAGE, normalise

MODEL = "clip-test"


def themed_vectors(n_themes: int, per_theme: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_themes, 64))
    return normalise(np.repeat(centres, per_theme, axis=0) + 0.6 * rng.normal(size=(n_themes * per_theme, 64)))


def store_images(store, vectors, start: int = 0) -> list[str]:
    ids = []
    with store.write() as db:
        for i, vector in enumerate(vectors, start):
            gid, sha = f"{i:032x}", f"{i:064x}"
            db["generations"].insert({"id": gid, "created_at": f"2026-11-25T09:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}",
                                      "transcript": f"words {i}", "prompt": f"prompt {i}", "image_path": f"i/{gid}.png",
                                      "audio_path": f"a/{gid}.wav", "image_sha256": sha, "created_by": "ann"})
            db["embeddings"].insert({"sha256": sha, "model": MODEL, "kind": IMAGE, "dim": len(vector),
                                     "vector": np.asarray(vector, np.float32).tobytes(), "created_at": "x"})
            ids.append(gid)
    return ids


def xy_of(store) -> dict[str, np.ndarray]:
    return {p["id"]: np.array([p["x"], p["y"]]) for p in image_map.points(store, MODEL)}


def nearest_on_map(xy: dict[str, np.ndarray], gid: str) -> str:
    others = [(np.linalg.norm(point - xy[gid]), other) for other, point in xy.items() if other != gid]
    return min(others)[1]


@pytest.mark.slow
def test_near_duplicate_images_land_next_to_each_other(store):
    base = themed_vectors(6, 10)
    twins = normalise(base[::10] + 0.01 * np.random.default_rng(1).normal(size=(6, 64)))  # one per theme
    ids = store_images(store, np.concatenate([base, twins]))
    update = image_map.update(store, MODEL)
    assert (update.fitted, update.placed) == (66, 0)
    xy = xy_of(store)
    for k in range(6):
        original, twin = ids[10 * k], ids[60 + k]
        assert nearest_on_map(xy, twin) == original


def test_a_new_image_is_placed_beside_its_twin_without_refitting(store):
    base = themed_vectors(5, 12)
    ids = store_images(store, base)
    image_map.update(store, MODEL)
    before = xy_of(store)
    twin = normalise(base[17] + 0.01 * np.random.default_rng(2).normal(size=64))
    [new] = store_images(store, [twin], start=100)
    update = image_map.update(store, MODEL)
    assert (update.fitted, update.placed) == (0, 1)
    after = xy_of(store)
    assert all(np.allclose(before[gid], after[gid]) for gid in ids)  # nobody else moved
    assert nearest_on_map(after, new) == ids[17]
    how = {r["generation_id"]: r["how"] for r in store.query("SELECT generation_id, how FROM map_points")}
    assert how[new] == "placed" and how[ids[0]] == "fit"


def test_the_map_refits_when_placed_images_reach_a_fifth_of_the_fitted(store):
    store_images(store, themed_vectors(2, 10))  # 20 fitted: up to 4 may be placed
    image_map.update(store, MODEL)
    store_images(store, themed_vectors(1, 4, seed=3), start=20)
    assert image_map.update(store, MODEL).placed == 4
    store_images(store, themed_vectors(1, 1, seed=4), start=30)
    assert image_map.update(store, MODEL).fitted == 25
    assert image_map.update(store, MODEL, refit=True).fitted == 25


def test_clusters_follow_the_themes(store):
    ids = store_images(store, themed_vectors(4, 16))
    image_map.update(store, MODEL)
    cluster = {p["id"]: p["cluster"] for p in image_map.points(store, MODEL)}
    for k in range(4):
        members = [cluster[gid] for gid in ids[16 * k:16 * (k + 1)]]
        assert max(members.count(c) for c in set(members)) >= 14  # a theme sits (almost) whole in one cluster


def test_deleted_images_leave_the_map(store):
    ids = store_images(store, themed_vectors(2, 10))
    image_map.update(store, MODEL)
    with store.write() as db:
        db.execute("DELETE FROM generations WHERE id = ?", [ids[3]])
    image_map.update(store, MODEL)
    assert ids[3] not in {r["generation_id"] for r in store.query("SELECT generation_id FROM map_points")}


@pytest.mark.parametrize("n", [0, 1, 2, 4])
def test_a_history_of_a_few_images_still_has_a_map(store, n):
    store_images(store, themed_vectors(1, n) if n else np.zeros((0, 64)))
    assert image_map.update(store, MODEL).fitted == n
    assert len(image_map.points(store, MODEL)) == n


def test_a_box_on_the_map_picks_the_images_inside_it():
    points = [{"id": "a", "x": 0.0, "y": 0.0}, {"id": "b", "x": 2.0, "y": 2.0}, {"id": "c", "x": 5.0, "y": 1.0}]
    assert image_map.within(points, [3.0, -1.0], [-1.0, 2.5]) == ["a", "b"]
    assert image_map.within(points, [10.0, 11.0], [0.0, 1.0]) == []


def test_a_fit_larger_than_the_page_allows_is_left_to_the_worker_and_the_last_map_stays(store):
    store_images(store, themed_vectors(3, 4))
    waited = image_map.update(store, MODEL, fit_at_most=10)
    assert (waited.fitted, waited.placed, waited.waiting) == (0, 0, 12) and image_map.points(store, MODEL) == []
    assert image_map.update(store, MODEL).fitted == 12  # the worker's upkeep has no limit
    before = xy_of(store)
    store_images(store, themed_vectors(3, 2, seed=5), start=12)  # 6 new: past a fifth, a refit is due
    waited = image_map.update(store, MODEL, fit_at_most=10)
    after = xy_of(store)
    assert waited.waiting == 18 and set(after) == set(before) and all(np.array_equal(after[k], before[k]) for k in after)


def test_an_up_to_date_map_reads_no_vector(store, monkeypatch):
    store_images(store, themed_vectors(3, 4))
    image_map.update(store, MODEL)
    read = []
    embedded = image_map.embedded
    monkeypatch.setattr(image_map, "embedded", lambda *a, **kw: read.append(kw.get("vectors", True)) or embedded(*a, **kw))
    assert image_map.update(store, MODEL, fit_at_most=10) == image_map.MapUpdate(0, 0, pytest.approx(0, abs=5), 0)
    assert read == [False]
