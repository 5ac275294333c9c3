"""Pages whose work is bounded by the page, not the table (issue 43, 1 and 3): Insights scores at most a page's worth
of new images per run (the worker's upkeep scores the rest), and an image that cannot be read is recorded as
skipped once, not read again on every run."""

from core import EmbeddingCache, factors


def test_an_unreadable_image_is_skipped_once_not_read_on_every_insights_run(make_generation, store, models, settings,
                                                                              monkeypatch):
    kept = make_generation("a fox")
    gone = make_generation("a cat", seed=2)
    store.file_path(gone["image_path"]).unlink()
    cache = EmbeddingCache(store, models.clip, model_id=settings.clip_embedding_id)
    assert factors.record_alignment(store, cache, compute=True) == 1  # the readable one
    skipped = store.query("SELECT generation_id FROM embedding_skips")
    assert [r["generation_id"] for r in skipped] == [gone["id"]]
    asked = []
    monkeypatch.setattr(factors, "alignment", lambda cache, rows, compute: asked.append(rows) or {})
    assert factors.record_alignment(store, cache, compute=True) == 0 and asked == []  # nothing is read again
    assert kept["id"] in {r["generation_id"] for r in store.query("SELECT generation_id FROM alignment")}


def test_insights_scores_at_most_a_pages_worth_of_new_images_per_run(app_env, make_generation, monkeypatch):
    from apptest import no_exception, open_app

    make_generation("a fox")
    limits = []
    real = factors.record_alignment
    monkeypatch.setattr(factors, "record_alignment",
                        lambda store, cache, **kw: limits.append(kw.get("limit")) or real(store, cache, **kw))
    no_exception(open_app("pages/insights.py").run())
    assert limits and all(limit is not None and limit <= 500 for limit in limits)
