"""The worker's upkeep when the queue is quiet: CLIP embeddings of images that have none, then their novelty,
their alignment (what Insights reads) and their place on the map."""

from __future__ import annotations

from collections.abc import Callable

from ..analytics import image_map
from ..analytics.embeddings import EmbeddingCache
from ..analytics.similarity import missing_embeddings, record_novelty, skip_unreadable, texts_of
from ..config import Settings
from ..history.store import Store
from ..judging.factors import record_alignment
from ..models.cache import ModelCache


def embed_missing(store: Store, settings: Settings, models: ModelCache, batch: int = 32,
                  keep_going: Callable[[], bool] = lambda: True) -> int:
    """Embed the images that have no CLIP embedding yet, in batches, then store their novelty and alignment
    and place them on the map; returns how many embeddings were computed. An image whose file cannot be read
    is skipped and recorded, not retried. ``keep_going`` is asked before each batch: when it says no (a job is
    waiting, the server stops), the backfill ends there and the rest waits for the next quiet spell."""
    # CLIP loads only when an image or a text must be embedded (upkeep with nothing new reads what is stored).
    cache = EmbeddingCache(store, models.clip, model_id=settings.clip_embedding_id, batch_size=batch)
    total = 0
    while rows := missing_embeddings(store, cache.model_id, limit=batch):
        if not keep_going():
            return total  # novelty, alignment and the map follow once the backfill is whole
        embedded, computed = cache.image_embeddings(rows)
        cache.text_embeddings(texts_of(rows))
        total += computed
        unreadable = [row["id"] for row in rows if row["id"] not in embedded]
        if unreadable:
            skip_unreadable(store, cache.model_id, unreadable, "the image file is missing or unreadable")
    record_novelty(store, cache)
    record_alignment(store, cache)  # what the Insights report reads
    image_map.update(store, cache.model_id)  # new images placed on the map (a refit when many are new)
    return total
