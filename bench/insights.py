"""Insights and the map at scale: 10,000 stored images with cached (random, clustered) CLIP embeddings.

    python -m bench.insights [--rows 10000]

Prints the first map fit (UMAP, fresh process: numba's compilation included), the map's data for a view once
it exists (update with nothing new, the points query, the chart's table), one new image placed on the map, the
report (alignment of every image scored from the stored embeddings the first time, then the report alone), and
the Insights and Similarity pages' script runs under ``streamlit.testing`` (not the browser's painting).
Embedding values are random (timing does not depend on them); 3,000 ratings from 4 people.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.history import fill, median_time
from bench.similarity import DIM, store_random_embeddings
from core.analytics.embeddings import IMAGE, TEXT, EmbeddingCache, text_sha256
from core.history.store import Store


def store_embeddings(store: Store, model_id: str, seed: int = 0) -> None:
    """Every image and text embedding stored, and a team's worth of people, recipes, styles and ratings."""
    rows = store_random_embeddings(store, model_id, seed)
    rng = random.Random(seed)
    with store.write() as db:
        for row in rows:
            db.execute("UPDATE generations SET created_by = ?, recipe = ?, style = ?, task = ? WHERE id = ?",
                       [rng.choice(["ann", "bob", "cat", "dan"]), rng.choice(["default", "fast", "turbo"]),
                        rng.choice(["none", "watercolor", "photo"]), rng.choice(["transcribe", "translate"]),
                        row["id"]])
        db["ratings"].insert_all(
            ({"generation_id": row["id"], "person": rng.choice(["ann", "bob", "cat", "dan"]),
              "stars": rng.randint(1, 5), "favourite": 0, "updated_at": "x"} for row in rng.sample(rows, 3000)),
            replace=True)


def add_one(store: Store, model_id: str, like: str) -> None:
    """One new generation whose image embedding is a near-duplicate of ``like``'s."""
    vector = np.frombuffer(store.execute(
        "SELECT e.vector FROM embeddings e JOIN generations g ON g.image_sha256 = e.sha256 WHERE g.id = ?",
        [like]).fetchone()[0], dtype=np.float32)
    gid, sha = "f" * 32, "f" * 64
    with store.write() as db:
        db["generations"].insert({"id": gid, "created_at": "2099-01-01T00:00:00", "transcript": "new", "prompt": "new",
                                  "image_path": "images/new.png", "audio_path": "audio/new.wav", "image_sha256": sha})
        db.execute("INSERT INTO embeddings (sha256, model, kind, dim, vector) VALUES (?, ?, ?, ?, ?)",
                   [sha, model_id, IMAGE, DIM, vector.tobytes()])
        # Its words too, embedded as the worker would.
        db.execute("INSERT INTO embeddings (sha256, model, kind, dim, vector) VALUES (?, ?, ?, ?, ?)",
                   [text_sha256("new"), model_id, TEXT, DIM, vector.tobytes()])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-page", action="store_true", help="skip the page renders")
    args = parser.parse_args()
    size = f"{args.rows // 1000}k"

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        fill(data_dir, args.rows)
        # Every embedding is stored: the page's background worker must not reach for the hub (offline, it fails at once).
        os.environ.update(V2I_PROFILE="tiny", V2I_DATA_DIR=str(data_dir), V2I_CLIP_MODEL="openai/clip-vit-base-patch32",
                          HF_HUB_OFFLINE="1")
        from core import image_map, factors
        from core.config import load_settings

        settings = load_settings()
        model_id = settings.clip_embedding_id
        store = Store(data_dir)
        store_embeddings(store, model_id)

        started = time.perf_counter()
        update = image_map.update(store, model_id)
        print(f"map_first_fit_{size}_s: {time.perf_counter() - started:.2f}")
        assert update.fitted == args.rows, update

        def map_view():
            image_map.update(store, model_id)
            points = image_map.points(store, model_id)
            import pandas as pd

            pd.DataFrame([{"id": p["id"], "x": p["x"], "y": p["y"], "said": p["transcript"][:120]} for p in points])

        print(f"map_view_{size}_s: {median_time(map_view, args.repeats):.3f}")
        add_one(store, model_id, like=store.query("SELECT id FROM generations LIMIT 1")[0]["id"])
        started = time.perf_counter()
        update = image_map.update(store, model_id)
        print(f"map_new_image_placed_s: {time.perf_counter() - started:.3f}")
        assert update.placed == 1, update

        cache = EmbeddingCache(store, lambda: None, model_id=model_id)
        started = time.perf_counter()
        factors.record_alignment(store, cache)
        print(f"alignment_first_scoring_{size}_s: {time.perf_counter() - started:.2f}")

        def report():
            factors.record_alignment(store, cache)
            factors.report(store, model_id)

        print(f"report_{size}_s: {median_time(report, args.repeats):.3f}")
        if args.no_page:
            return
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard.py"), default_timeout=600)
        at.run()
        at.switch_page("pages/insights.py").run()
        assert not at.exception, [e.value for e in at.exception]
        print(f"insights_page_{size}_render_s: {median_time(lambda: at.run(), args.repeats):.2f}")
        at.switch_page("pages/similarity.py").run()
        at.session_state["similarity-tab"] = "Map"  # past 2,000 images only the open tab runs: open the map's
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(" · UMAP of the CLIP image embeddings" in c.value for c in at.caption), "the map did not render"
        print(f"similarity_page_with_map_{size}_render_s: {median_time(lambda: at.run(), args.repeats):.2f}")
        from core.execution.executors import stop_workers

        stop_workers()


if __name__ == "__main__":
    main()
