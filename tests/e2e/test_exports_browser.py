"""History's exports in the real server: written to a file and streamed from disk behind a short-lived link, so
three ZIP exports of 100 large images leave the server's memory as it was (issue 32, 12: they once took it from
355 MB to 1.8 GB, held by Streamlit's download button until the session closed)."""

from __future__ import annotations

import io
import urllib.request
import zipfile

import numpy as np
from conftest import SCREENSHOTS
from PIL import Image
from playwright.sync_api import expect
from waiting import eventually, settle


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def hundred_large_images(server) -> int:
    """100 generations whose images are 512x512 noise (about 0.8 MB each as PNG), stored straight in the folder."""
    store = server.store()
    rng = np.random.default_rng(0)
    total = 0
    for i in range(100):
        gid = f"{i:032x}"
        image = server.data_dir / "images" / f"{gid}.png"
        image.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(image)
        total += image.stat().st_size
        store.insert_generation({"id": gid, "created_at": f"2026-11-{1 + i % 28:02d}T10:00:00+00:00",
                                 "transcript": f"picture {i}", "prompt": f"picture {i}", "language": "en",
                                 "image_path": f"images/{gid}.png", "audio_path": f"audio/{gid}.wav"})
    return total


def test_three_zip_exports_of_100_large_images_are_streamed_from_disk(browser, server):
    size = hundred_large_images(server)
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.goto(f"{server.url}/history")
    settle(page)
    store = server.store()
    # The worker's idle upkeep (CLIP embeddings, the map's fit) grows the server too: let it finish first.
    assert eventually(page, lambda: store.query("SELECT count(*) AS n FROM map_points")[0]["n"] == 100, seconds=240)
    page.wait_for_timeout(2000)  # the memory the upkeep freed is given back before the baseline is read
    before = rss_mb(server.process.pid)
    for _ in range(3):
        page.get_by_role("button", name="Export images (ZIP)").click()
        settle(page)
        link = page.get_by_role("link", name="Download images.zip", exact=False)
        expect(link).to_be_visible()
        href = link.get_attribute("href")
        with urllib.request.urlopen(f"{server.url}/{href.lstrip('/')}" if not href.startswith("http") else href) as r:
            archive = zipfile.ZipFile(io.BytesIO(r.read()))
        assert len(archive.namelist()) == 100
    after = rss_mb(server.process.pid)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "history-export-link.png"), full_page=True)
    # Held whole, three exports would add 3 x size (about 240 MB); streamed, the server grows by far less.
    assert after - before < size / 2**20 / 2, (before, after, size / 2**20)
    page.context.close()
