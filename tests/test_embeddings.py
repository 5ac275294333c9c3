import numpy as np
import pytest
import torch
from PIL import Image

from core.analytics.similarity import alignment, load_set, missing_embeddings, neighbours, search
from core.analytics.embeddings import EmbeddingCache, embed_images, embed_texts


@pytest.fixture
def cache(store, models):
    return EmbeddingCache(store, models.clip(), batch_size=2)


def test_image_embeddings_are_the_projected_clip_features_normalised(models):
    clip = models.clip()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    (vector,) = embed_images(clip, [image])
    # Computed directly: vision tower, pooled output, visual projection, unit length.
    with clip.use() as bundle, torch.no_grad():
        pixels = bundle.processor(images=[image], return_tensors="pt")["pixel_values"]
        pooled = bundle.model.vision_model(pixel_values=pixels).pooler_output
        direct = bundle.model.visual_projection(pooled)[0].numpy()
    direct /= np.linalg.norm(direct)
    assert vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(vector, direct, atol=1e-5)


def test_batched_and_one_at_a_time_embeddings_agree(models):
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(5)]
    batched = embed_images(models.clip(), images, batch_size=4)
    single = np.stack([embed_images(models.clip(), [image])[0] for image in images])
    assert np.allclose(batched, single, atol=1e-5)


def test_text_embeddings_are_unit_vectors(models):
    vectors = embed_texts(models.clip(), ["a red fox", "a lighthouse at dusk"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_an_image_is_embedded_once_per_model_and_then_read_from_the_database(make_generation, store, cache, models):
    rows = [make_generation(f"picture {i}", seed=i) for i in range(3)]
    first, computed = cache.image_embeddings(rows)
    assert computed == 3 and cache.calls == 2  # batches of two
    again = EmbeddingCache(store, models.clip())
    second, computed = again.image_embeddings(rows)
    assert computed == 0 and again.calls == 0
    for generation_id in first:
        assert np.array_equal(first[generation_id], second[generation_id])


def test_missing_embeddings_lists_what_the_worker_must_backfill(make_generation, store, cache):
    row = make_generation()
    assert [r["id"] for r in missing_embeddings(store, cache.model_id)] == [row["id"]]
    cache.image_embeddings([row])
    assert missing_embeddings(store, cache.model_id) == []


def test_an_image_whose_file_is_missing_is_left_out_not_a_crash(make_generation, store, cache, data_dir):
    kept, gone = make_generation("kept", seed=1), make_generation("gone", seed=2)
    (data_dir / gone["image_path"]).unlink()
    embeddings, computed = cache.image_embeddings([kept, gone])
    assert list(embeddings) == [kept["id"]] and computed == 1


def test_the_set_neighbours_and_search_over_stored_generations(make_generation, store, cache):
    rows = [make_generation(f"picture {i}", seed=i) for i in range(4)]
    data = load_set(store, cache)
    assert data.ids == [r["id"] for r in rows]  # oldest first
    assert data.computed == 4
    near = neighbours(data, rows[0]["id"], k=2)
    assert len(near) == 2 and rows[0]["id"] not in [n["id"] for n in near]
    assert near[0]["score"] >= near[1]["score"]
    found = search(data, cache, "picture", k=3)
    assert len(found) == 3 and found[0]["score"] >= found[-1]["score"]
    assert load_set(store, cache).computed == 0


def test_alignment_compares_the_image_with_what_was_said_and_prompted(make_generation, store, cache):
    row = make_generation("a red fox")
    scores = alignment(cache, [row])[row["id"]]
    assert -1 <= scores["transcript"] <= 1 and -1 <= scores["prompt"] <= 1
    assert scores["gain"] == pytest.approx(scores["prompt"] - scores["transcript"])


def test_the_worker_embeds_new_images_when_idle(settings, models, store, make_generation):
    from core.execution.worker import Worker

    make_generation()
    worker = Worker(settings, models, store)
    assert worker.embed_missing() == 1
    assert worker.embed_missing() == 0


def test_the_idle_backfill_gives_way_to_a_job_that_could_start_and_finishes_after_it(settings, models, store,
                                                                                     make_generation, wav):
    from core.execution.worker import Worker
    from core.config.recipes import GenerationOptions
    from core.generation.request import GenerationRequest
    from core.people.roles import ADMIN, Person

    for i in range(3):
        make_generation(f"picture {i}", seed=i)
    worker = Worker(settings, models, store)
    request = GenerationRequest(filename="clip.wav", prompt="a red fox", transcript="a red fox", language="en",
                                options=GenerationOptions(steps=2, width=64, height=64))
    job = worker.queue.submit(wav, request, created_by="ana")
    assert worker.embed_missing(batch=2) == 0  # a job is waiting: not one batch before it
    assert len(missing_embeddings(store, settings.clip_embedding_id, limit=10)) == 3
    assert worker.backfill_due  # what it left waits for the next quiet spell

    ada = Person("ada", "Ada", ADMIN, "cli")
    worker.queue.set_paused(True, ada)  # a paused queue starts nothing: no reason to wait for it
    assert worker.embed_missing(batch=2) == 3 and not worker.backfill_due
    worker.queue.set_paused(False, ada)
    assert worker.run_pending() == 1 and worker.queue.get(job)["status"] == "done"
    assert worker.embed_missing(batch=2) == 1  # the job's new image
    assert missing_embeddings(store, settings.clip_embedding_id, limit=10) == []


def test_the_backfill_stops_between_batches_and_records_novelty_only_once_it_is_whole(settings, models, store,
                                                                                      make_generation):
    from core.execution.upkeep import embed_missing

    for i in range(5):
        make_generation(f"picture {i}", seed=i)
    answers = iter([True, False])  # one batch, then a job arrives
    assert embed_missing(store, settings, models, batch=2, keep_going=lambda: next(answers)) == 2
    assert len(missing_embeddings(store, settings.clip_embedding_id, limit=10)) == 3
    assert store.query("SELECT generation_id FROM novelty") == []  # novelty, alignment, map: once it is whole
    assert embed_missing(store, settings, models, batch=2) == 3
    assert len(store.query("SELECT generation_id FROM novelty")) == 5


def test_a_stopping_worker_starts_no_backfill_batch(settings, models, store, make_generation):
    from core.execution.worker import Worker

    make_generation()
    worker = Worker(settings, models, store)
    worker.stop()  # never started: stop only sets the flag the backfill asks
    assert worker.embed_missing() == 0
    assert len(missing_embeddings(store, settings.clip_embedding_id, limit=10)) == 1


def test_novelty_of_a_generation_is_its_best_match_among_earlier_ones(make_generation, store, cache):
    from core.analytics.similarity import novelty_of, record_novelty

    rows = [make_generation(f"picture {i}", seed=i) for i in range(3)]
    assert record_novelty(store, cache) == 0 and novelty_of(store, cache.model_id, rows[2]["id"]) is None  # no embeddings
    data = load_set(store, cache)  # computes the embeddings, and so stores the novelty of each
    assert record_novelty(store, cache) == 0  # stored once
    assert novelty_of(store, cache.model_id, rows[0]["id"]) is None  # nothing came before the first
    expected = max(data.score(rows[2]["id"], rows[0]["id"]), data.score(rows[2]["id"], rows[1]["id"]))
    assert novelty_of(store, cache.model_id, rows[2]["id"]) == pytest.approx(expected, abs=1e-5)


def test_a_new_image_alone_is_compared_and_blocks_of_earlier_images_give_the_same_novelty(make_generation, store,
                                                                                         cache, monkeypatch):
    from core.analytics import vectors
    from core.analytics.similarity import record_novelty, stored_novelty

    rows = [make_generation(f"picture {i}", seed=i) for i in range(4)]
    load_set(store, cache)  # embeds them, and so stores each one's novelty
    ids = [row["id"] for row in rows]
    whole = stored_novelty(store, cache.model_id, ids)
    with store.write() as db:
        db.execute("DELETE FROM novelty")
    assert record_novelty(store, cache, block=1) == 4  # the earlier images read one at a time
    assert stored_novelty(store, cache.model_id, ids) == pytest.approx(whole)

    compared = []
    best_earlier = vectors.best_earlier
    monkeypatch.setattr("core.analytics.similarity.best_earlier",
                        lambda best, v, *a, **k: compared.append(len(v)) or best_earlier(best, v, *a, **k))
    with store.write() as db:  # as if the newest had just arrived
        db.execute("DELETE FROM novelty WHERE generation_id = ?", [ids[-1]])
    assert record_novelty(store, cache) == 1 and compared == [1]  # one vector against the earlier ones, not all
    assert stored_novelty(store, cache.model_id, ids) == pytest.approx(whole)


def test_reading_a_novelty_reads_one_row_at_any_history_size(make_generation, store, cache, monkeypatch):
    from core.analytics.similarity import novelty_of, record_novelty

    rows = [make_generation(f"picture {i}", seed=i) for i in range(4)]
    load_set(store, cache)
    record_novelty(store, cache)
    read = []
    query = type(store).query
    monkeypatch.setattr(type(store), "query", lambda self, sql, params=(): read.extend(query(self, sql, params)) or
                        query(self, sql, params))
    monkeypatch.setattr(type(cache), "image_embeddings", lambda *a, **k: pytest.fail("no embedding is read"))
    assert novelty_of(store, cache.model_id, rows[3]["id"]) is not None
    assert len(read) == 1


@pytest.mark.slow
def test_the_backfill_goes_on_past_images_whose_files_are_missing(settings, models, store, make_generation, data_dir):
    from core.execution.worker import Worker

    missing = [make_generation(f"gone {i}", seed=i) for i in range(33)]  # more than one batch, all oldest
    for row in missing:
        (data_dir / row["image_path"]).unlink()
    healthy = [make_generation(f"kept {i}", seed=100 + i) for i in range(5)]
    worker = Worker(settings, models, store)
    assert worker.embed_missing(batch=32) == 5
    embedded, _ = EmbeddingCache(store, models.clip()).image_embeddings(healthy, compute=False)
    assert set(embedded) == {row["id"] for row in healthy}
    skips = store.query("SELECT generation_id, reason FROM embedding_skips")
    assert {s["generation_id"] for s in skips} == {row["id"] for row in missing}
    assert all("missing" in s["reason"] for s in skips)
    assert worker.embed_missing() == 0  # nothing left, and no endless retrying
