"""A real server and a real browser: ``streamlit run app.py`` on a free loopback port with the tiny
profile and a temporary data folder, driven by Playwright in Debian's Chromium (no browser download)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import random_whisper
from waiting import watch

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("V2I_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# Keep Chromium off the network (this machine has none) and quiet: no background fetches, updates or sync.
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
    "--disable-extensions", "--disable-default-apps", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
    # A microphone for "record in the browser": Chromium's fake capture device (a tone), allowed without a prompt.
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is not at {CHROMIUM}: .ci/run installs it with apt-get install chromium")
        pytest.skip(f"Chromium is not at {CHROMIUM} (apt-get install chromium); CI installs it")
    return CHROMIUM


class Server:
    def __init__(self, url: str, data_dir: Path, process: subprocess.Popen, log: Path):
        self.url, self.data_dir, self.process, self.log = url, data_dir, process, log

    def store(self):
        from core.history.store import Store

        return Store(self.data_dir)

    def add_generation(self, models, transcript: str, frequency: float = 440.0, created_by: str = "unknown") -> dict:
        """Store a generation straight through core, so a scenario sets up its own data."""
        from core import GenerationOptions, GenerationRequest, load_settings, run_generation
        from core.generation.synth import recording

        settings = load_settings({"V2I_PROFILE": "tiny", "V2I_DATA_DIR": str(self.data_dir),
                                  "V2I_TINY_MODELS_DIR": str(models.settings.tiny_models_dir),
                                  "V2I_WHISPER_MODEL": models.settings.whisper_model})
        request = GenerationRequest("setup.wav", transcript=transcript, language="en",
                                    options=GenerationOptions(steps=2, width=64, height=64))
        return run_generation(recording("wav", frequency=frequency), request, settings=settings, models=models,
                              store=self.store(), created_by=created_by)


@contextlib.contextmanager
def running_dashboard(tiny_models_dir: Path, folder: Path, *args: str, env: dict | None = None, port: int = 0,
                      base: str = ""):
    """``streamlit run app.py`` (the dashboard and its routes) on a loopback port (free, unless given; more
    options in ``args``)."""
    data_dir, log = folder / "data", folder / "streamlit.log"
    port = port or free_port()
    env = {**os.environ, "V2I_PROFILE": "tiny", "V2I_DATA_DIR": str(data_dir),
           "V2I_TINY_MODELS_DIR": str(tiny_models_dir), "V2I_WHISPER_MODEL": random_whisper(tiny_models_dir),
           **(env or {})}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}{base}"  # base: the server.baseUrlPath it serves under ("/v2i")
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the dashboard did not start:\n{log.read_text()}")
        time.sleep(0.2)
    try:
        yield Server(url, data_dir, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def server(tiny_models_dir, tmp_path_factory):
    """One dashboard per test module, on its own port and data folder; stopped afterwards."""
    with running_dashboard(tiny_models_dir, tmp_path_factory.mktemp("e2e")) as running:
        yield running


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import expect, sync_playwright

    # The server's first job loads the models (seconds on a busy 2-core machine): wait like a patient person.
    expect.set_options(timeout=60_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_FLAGS)
        yield Watched(browser)
        browser.close()


class Watched:
    """The browser, whose every new context watches its pages' runs (tests/e2e/waiting.py: settle())."""

    def __init__(self, browser):
        self._browser = browser

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        context.on("page", watch)
        return context

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture
def page(browser, server, request):
    """A fresh browser tab (its own Streamlit session); a screenshot of its final state is always saved."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Streamlit scrolls inside its main container, not the page: grow the window to show all of it.
    height = page.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    page.set_viewport_size({"width": 1400, "height": max(1100, min(int(height) + 80, 8000))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"))
    context.close()


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")
