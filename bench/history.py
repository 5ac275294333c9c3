"""History page at scale: fill a database with N generations, then time the page and its SQL.

    python -m bench.history [--rows 10000]

Prints the first render of the History page (a full script run under ``streamlit.testing``, which
includes every query and thumbnail but not the browser's painting), a filtered render, and the SQL
of one page (count + rows) with and without filters, as medians of repeats: the first, the middle and the last
page newest first and sorted by another column (keyset: each is a seek), a full-text search, a generation opened
by its id as a link does, and a page read while another connection holds the write lock (WAL: readers never wait);
then a backup: the database's snapshot alone, a whole first backup and a second one.
A fifth of the generations carry ratings from four people.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from core.history.query import HistoryFilter

from core.history.store import Store

WORDS = "fox lighthouse harbour dusk snow forest city robot garden river mountain cat dog ship moon".split()


def fill(data_dir: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    store = Store(data_dir)
    (data_dir / "images").mkdir(exist_ok=True)
    start = datetime.now(timezone.utc) - timedelta(days=60)
    noise = np.random.default_rng(seed).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    pngs = []  # the 64 distinct images (the noise rolled by each row), encoded once
    for shift in range(64):
        encoded = io.BytesIO()
        Image.fromarray(np.roll(noise, shift, axis=0)).save(encoded, format="PNG")
        pngs.append(encoded.getvalue())
    batch = []
    for i in range(rows):
        generation_id = f"{i:032x}"
        (data_dir / "images" / f"{generation_id}.png").write_bytes(pngs[i % 64])
        words = " ".join(rng.choice(WORDS) for _ in range(8))
        batch.append({
            "id": generation_id, "created_at": (start + timedelta(minutes=8 * i)).isoformat(timespec="milliseconds"),
            "audio_filename": f"clip{i}.m4a", "audio_path": f"audio/{generation_id}.m4a", "transcript": words,
            "language": rng.choice(["en", "en", "en", "fr", "de", "es"]), "prompt": f"{words}, detailed, high quality",
            "negative_prompt": "blurry", "seed": rng.randrange(2**32), "steps": rng.choice([20, 25, 50]), "guidance": 7.5,
            "scheduler": "dpmpp-2m", "width": 512, "height": 512, "sd_model": "stable-diffusion-v1-5/stable-diffusion-v1-5",
            "whisper_model": "base", "clip_model": "openai/clip-vit-base-patch32", "image_path": f"images/{generation_id}.png",
            "image_bytes": len(pngs[i % 64]), "audio_bytes": 0,
            **{f"t_{s}": rng.uniform(0.1, 30) for s in ("decode", "transcribe", "enhance", "generate", "total")},
        })
        if len(batch) == 10_000:  # fewer, larger transactions: the fill is a set-up, not what is measured
            with store.write() as db:
                db["generations"].insert_all(batch)
            batch = []
    if batch:
        with store.write() as db:
            db["generations"].insert_all(batch)
    with store.write() as db:  # a fifth of the images rated, by up to four people
        db["ratings"].insert_all(
            {"generation_id": f"{i:032x}", "person": person, "stars": rng.randint(1, 5), "favourite": 0,
             "updated_at": "x"} for i in range(0, rows, 5) for person in rng.sample(["ann", "bob", "cat", "dan"], 2))


def median_time(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def page_ms(store: Store, where: HistoryFilter, repeats: int, **order) -> float:
    """Median milliseconds for a page of 25 (count included), as History asks for it."""
    return median_time(lambda: store.page_generations(where, limit=25, **order), repeats) * 1000


def bench_sql(store: Store, rows: int, repeats: int) -> None:
    plain, filtered = HistoryFilter(), HistoryFilter(search="fox harbour", language="en", steps=25)
    last, middle = -(-rows // 25), -(-rows // 50)
    print(f"history_sql_page_ms: {page_ms(store, plain, repeats):.1f}")
    print(f"history_sql_filtered_page_ms: {page_ms(store, filtered, repeats):.1f}")
    print(f"history_sql_middle_page_ms: {page_ms(store, plain, repeats, page=middle):.1f}")
    print(f"history_sql_last_page_ms: {page_ms(store, plain, repeats, page=last):.1f}")
    for sort in ("t_total", "rating_mean", "language"):  # a float with gaps, a kept aggregate, text with repeats
        for name, page in (("first", 1), ("middle", middle), ("last", last)):
            figure = page_ms(store, plain, repeats, sort=sort, descending=True, page=page)
            print(f"history_sql_sorted_{name}_page_ms_{sort}: {figure:.1f}")
    print(f"history_sql_sorted_last_page_ms: {page_ms(store, plain, repeats, sort='t_total', page=last):.1f}")
    print(f"history_search_ms: {page_ms(store, HistoryFilter(search='lighthouse'), repeats):.1f}")
    print(f"history_search_last_page_ms: {page_ms(store, HistoryFilter(search='lighthouse'), repeats, page=10**9):.1f}")
    linked = f"{rows // 2:032x}"

    def open_by_id():  # what a pasted ?id= link reads: the id resolved from its prefix, the row, its ratings
        full = store.resolve_id(linked)
        store.query_generations(HistoryFilter(ids=(full,)))
        store.query("SELECT * FROM ratings WHERE generation_id = ?", [full])

    print(f"history_open_by_id_ms: {median_time(open_by_id, repeats) * 1000:.2f}")
    writer = Store(store.data_dir)
    with writer.write() as db:  # another connection (the worker) holds the write lock meanwhile
        db.execute("UPDATE generations SET t_total = t_total WHERE id = ?", [linked])
        print(f"history_page_during_write_ms: {page_ms(store, plain, repeats, page=last):.1f}")


def bench_backup(store: Store, dest: Path) -> None:
    """The database's consistent snapshot alone (VACUUM INTO, what a backup's first step takes), then a whole first
    backup (every image and recording copied and hashed) and a second one (only what changed)."""
    from core.history.backup import backup
    from core.execution.worker import SERVER

    dest.mkdir()
    started = time.perf_counter()
    store.db.execute("VACUUM INTO ?", [str(dest / "snapshot.db")])
    print(f"backup_db_alone_s: {time.perf_counter() - started:.1f}")
    print(f"backup_db_mb: {(dest / 'snapshot.db').stat().st_size / 1e6:.0f}")
    for name in ("backup_first_s", "backup_again_s"):
        started = time.perf_counter()
        backup(store, dest / "team", SERVER)
        print(f"{name}: {time.perf_counter() - started:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        started = time.perf_counter()
        fill(data_dir, args.rows)
        print(f"history_fill_{args.rows}_rows_s: {time.perf_counter() - started:.1f}")

        store = Store(data_dir)
        bench_sql(store, args.rows, args.repeats * 4)
        bench_backup(store, Path(folder) / "backups")

        os.environ.update(V2I_PROFILE="tiny", V2I_DATA_DIR=str(data_dir))
        from streamlit.testing.v1 import AppTest

        dashboard = str(Path(__file__).resolve().parent.parent / "dashboard.py")
        at = AppTest.from_file(dashboard, default_timeout=120)
        started = time.perf_counter()
        at.run()  # Overview, the first page: what grew with the table until each row kept its files' sizes
        print(f"overview_page_first_render_s: {time.perf_counter() - started:.2f}")
        started = time.perf_counter()
        at.switch_page("pages/history.py").run()
        print(f"history_page_first_render_s: {time.perf_counter() - started:.2f}")
        assert not at.exception, at.exception
        assert len(at.dataframe[0].value) == 25, "the page did not render its rows"
        print(f"history_page_render_s: {median_time(lambda: at.run(), args.repeats):.2f}")

        def search() -> None:
            at.text_input[0].set_value("fox harbour")
            at.run()
            at.text_input[0].set_value("")
            at.run()

        print(f"history_page_filtered_render_s: {median_time(search, args.repeats) / 2:.2f}")
        from core.execution.executors import stop_workers

        stop_workers()


if __name__ == "__main__":
    main()
