"""Similarity at scale: 10,000 (or ``--rows``) cached embeddings.

    python -m bench.similarity [--rows 10000]

Prints the similarity matrix time (up to 20,000 images: past that the page never builds it), top-k neighbours
for every image, the earlier-items scan (novelty and near-duplicates), loading the page's set from the database,
one neighbour query as the page asks it, and the Similarity page's render under ``streamlit.testing`` (first and
second visit; the script run, not the browser's painting), as medians of repeats. The page is measured in a team's
steady state: novelty, alignment and the map already kept by the worker (their times are printed too).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.history import fill, median_time
from core.analytics.embeddings import IMAGE, TEXT, normalise, text_sha256
from core.analytics.vectors import scan_earlier, similarity_matrix, top_k_all
from core.history.store import Store

DIM = 512  # ViT-B/32's projection width
MATRIX_LIMIT = 20_000  # 1.6 GB of float32 at 20,000 images


def random_embeddings(n: int, seed: int = 0) -> np.ndarray:
    # Clustered like real image sets: 50 themes, members scattered around each.
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, DIM))
    return normalise(centres[rng.integers(0, 50, n)] + 0.8 * rng.normal(size=(n, DIM)))


def store_random_embeddings(store: Store, model_id: str, seed: int = 0) -> list[dict]:
    """Every stored generation's image embedding (``random_embeddings(n, seed)``, oldest first) and the
    embeddings of every transcript and prompt, as CLIP's cache would hold them; returns the rows."""
    rows = store.query("SELECT id, transcript, prompt FROM generations ORDER BY created_at")
    with store.write() as db:
        for row, vector in zip(rows, random_embeddings(len(rows), seed)):
            sha = f"{int(row['id'], 16):064x}"
            db.execute("UPDATE generations SET image_sha256 = ? WHERE id = ?", [sha, row["id"]])
            db.execute("INSERT INTO embeddings (sha256, model, kind, dim, vector) VALUES (?, ?, ?, ?, ?)",
                       [sha, model_id, IMAGE, DIM, vector.tobytes()])
        texts = sorted({t for row in rows for t in (row["transcript"], row["prompt"])})
        db["embeddings"].insert_all(
            ({"sha256": text_sha256(t), "model": model_id, "kind": TEXT, "dim": DIM, "vector": v.tobytes()}
             for t, v in zip(texts, random_embeddings(len(texts), seed + 1))), replace=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-page", action="store_true", help="skip the page render")
    args = parser.parse_args()
    vectors = random_embeddings(args.rows)

    if args.rows <= MATRIX_LIMIT:  # whole-set computations: past this size the page never asks for them
        print(f"similarity_{args.rows // 1000}k_s: {median_time(lambda: similarity_matrix(vectors), args.repeats):.3f}")
        print(f"topk_all_{args.rows // 1000}k_s: {median_time(lambda: top_k_all(vectors, 10), args.repeats):.3f}")
        print(f"novelty_and_duplicates_{args.rows // 1000}k_s: "
              f"{median_time(lambda: scan_earlier(vectors, 0.95), args.repeats):.3f}")
    if args.no_page:
        return

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        fill(data_dir, args.rows)
        # Every embedding is stored, so the page never loads CLIP: the id only has to match the stored rows.
        # Every embedding is stored: the page's background worker must not reach for the hub (offline, it fails at once).
        os.environ.update(V2I_PROFILE="tiny", V2I_DATA_DIR=str(data_dir), V2I_CLIP_MODEL="openai/clip-vit-base-patch32",
                          HF_HUB_OFFLINE="1")
        from core.config import load_settings

        settings = load_settings()
        store = Store(data_dir)
        store_random_embeddings(store, settings.clip_embedding_id)  # the vectors timed above (same seed)
        from core.analytics.embeddings import EmbeddingCache
        from core.analytics.similarity import load_set, neighbours, record_novelty

        cache = EmbeddingCache(store, lambda: None, model_id=settings.clip_embedding_id)
        # What the worker keeps in the background as images arrive (a team's steady state): novelty, alignment, map.
        started = time.perf_counter()
        record_novelty(store, cache)
        print(f"novelty_stored_{args.rows // 1000}k_s: {time.perf_counter() - started:.1f}")
        newest = store.query("SELECT id FROM generations ORDER BY created_at DESC LIMIT 1")[0]["id"]
        with store.write() as db:  # as if the newest image had just arrived: its novelty is all that is missing
            db.execute("DELETE FROM novelty WHERE generation_id = ?", [newest])
        started = time.perf_counter()
        record_novelty(store, cache)
        print(f"novelty_one_new_image_{args.rows // 1000}k_s: {time.perf_counter() - started:.2f}")
        from core import image_map
        from core.judging.factors import record_alignment

        record_alignment(store, cache)
        started = time.perf_counter()
        image_map.update(store, settings.clip_embedding_id)
        print(f"map_fit_{args.rows // 1000}k_s: {time.perf_counter() - started:.1f}")
        data = load_set(store, cache)
        print(f"similarity_load_set_{args.rows // 1000}k_s: {median_time(lambda: load_set(store, cache), args.repeats):.2f}")
        centre = data.ids[len(data.ids) // 2]
        print(f"similarity_neighbours_{args.rows // 1000}k_s: "
              f"{median_time(lambda: neighbours(data, centre, 5), args.repeats):.3f}")
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard.py"), default_timeout=600)
        at.run()
        time.sleep(3)  # the worker's start-up upkeep (a sweep of every file: 0.85 s at 100,000) is over
        started = time.perf_counter()
        at.switch_page("pages/similarity.py").run()
        print(f"similarity_page_{args.rows // 1000}k_first_render_s: {time.perf_counter() - started:.2f}")
        assert not at.exception, [e.value for e in at.exception]
        status = next(t.value for t in at.main.text if "embeddings computed now" in t.value)
        assert status.startswith(f"{args.rows} images · embeddings computed now: 0"), status
        print(f"similarity_page_{args.rows // 1000}k_render_s: {median_time(lambda: at.run(), args.repeats):.2f}")
        from core.execution.executors import stop_workers

        stop_workers()


if __name__ == "__main__":
    main()
