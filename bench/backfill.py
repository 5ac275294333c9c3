"""How long a person's job waits for the worker's idle backfill (CLIP embeddings of images that have none, as after
a restore or an import), on the full-size CLIP ViT-B/32 architecture with random weights (timing does not depend on
the weights).

    python -m bench.backfill [--images 320]

The backfill starts on ``--images`` stored images without embeddings; two seconds in, a job is queued. Prints how
long the job waited for the backfill to give way (at most one batch of 32), how many images were embedded before
it did and how many were left for the next quiet spell; then embeds that rest in one go and times it: before the
backfill gave way between batches, the job waited for it too (``backfill_wait_if_whole_s``).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.fullsize import ensure_fullsize
from bench.history import fill
from core import GenerationOptions, ModelCache, load_settings
from core.execution import upkeep
from core.execution.worker import Worker
from core.generation.request import GenerationRequest
from core.generation.synth import recording
from core.history.store import Store

QUEUED_AFTER_S = 2.0


def unique_images(store: Store, side: int = 512) -> None:
    """A different 512x512 image for every row, with its hash stored as the pipeline stores it (fill's thumbnails
    repeat every 64 rows, and the cache embeds a repeated image once)."""
    rng = np.random.default_rng(1)
    for row in store.query("SELECT id, image_path FROM generations"):
        path = store.file_path(row["image_path"])
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(path)
        with store.write() as db:
            db.execute("UPDATE generations SET image_sha256 = ? WHERE id = ?",
                       [hashlib.sha256(path.read_bytes()).hexdigest(), row["id"]])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill")
    parser.add_argument("--images", type=int, default=320)
    args = parser.parse_args()
    clip = ensure_fullsize(models=("clip",))["clip"]
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        fill(data_dir, args.images)
        unique_images(Store(data_dir))
        settings = load_settings({"V2I_DATA_DIR": str(data_dir), "V2I_CLIP_MODEL": str(clip)})
        worker = Worker(settings, ModelCache(settings, device="cpu"), Store(data_dir))
        worker.models.clip()  # loaded first: the wait measured is the backfill's, not CLIP's load
        embedded: list[int] = []
        backfill = threading.Thread(target=lambda: embedded.append(worker.embed_missing()))
        backfill.start()
        time.sleep(QUEUED_AFTER_S)
        request = GenerationRequest(filename="bench.wav", prompt="a lighthouse", transcript="a lighthouse",
                                    language="en", options=GenerationOptions(steps=2, width=64, height=64))
        queued = time.perf_counter()
        worker.queue.submit(recording(seconds=1.0), request, created_by="bench")
        backfill.join()
        waited = time.perf_counter() - queued
        left = args.images - embedded[0]
        started = time.perf_counter()  # the rest, whole, as the job would have waited for it before
        rest = upkeep.embed_missing(worker.store, settings, worker.models)
        whole = time.perf_counter() - started
        print(f"backfill_job_wait_s: {waited:.2f}")
        print(f"backfill_embedded_before_giving_way: {embedded[0]}")
        print(f"backfill_left_for_next_quiet_spell: {left}")
        print(f"backfill_rest_whole_s: {whole:.1f}")  # with the texts, novelty, alignment and the map
        print(f"backfill_images_per_s: {rest / whole:.1f}")
        print(f"backfill_wait_if_whole_s: {waited + whole:.1f}")
        print(f"backfill_due_after: {worker.backfill_due}")


if __name__ == "__main__":
    main()
