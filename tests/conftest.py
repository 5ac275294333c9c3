"""Shared fixtures: the tiny random-weight models are built once per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from core.generation.synth import recording  # noqa: E402
from helpers import random_whisper  # noqa: E402


# Markers by file, for the inner loop (pytest -m "not e2e and not slow"); pytest.ini describes them.
MARKERS_BY_FILE = {
    "test_ray.py": ("ray", "slow"),
    "test_real_whisper.py": ("real_models", "slow"),
    "test_words_real.py": ("real_models", "slow"),
    "test_models_download.py": ("slow",),
    "test_api.py": ("slow",),
    "test_cli_installed.py": ("slow",),  # the installed `v2i` in child processes
}
# Single tests of several seconds each that start processes or wait on a clock: CI runs them, the inner loop
# (under 3 minutes on 2 cores) leaves them out. Each feature keeps a quick test of its own in the loop.
SLOW_TESTS = {
    "test_webhooks_hostile.py::test_hooks_send_returns_within_the_deadline_under_500_mb",  # a receiver's drip
    "test_map.py::test_a_new_image_is_placed_beside_its_twin_without_refitting",
    "test_map.py::test_the_map_refits_when_placed_images_reach_a_fifth_of_the_fitted",  # two UMAP fits
    "test_cli.py::test_generate_json_prints_one_object_per_stored_generation",
    "test_cli_team.py::test_export_writes_the_csv_and_the_zip_with_a_manifest",
    "test_cli_team.py::test_submit_queues_fairly_jobs_lists_them_and_the_worker_runs_them",
    "test_abtest.py::test_a_run_is_painted_side_by_side_and_votes_give_win_rates",
    "test_sweep.py::test_the_command_line_queues_a_sweep_prints_its_cells_and_writes_its_sheet",
    "test_statistics.py::test_when_no_group_differs_about_one_table_in_twenty_shows_a_false_verdict",
    "test_backup_hostile.py::test_the_command_line_signs_with_the_configured_key_and_refuses_an_unsigned_backup",
    "test_backup.py::test_a_backup_while_four_processes_write_has_every_row_committed_before_it_began",
    "test_compiled_unet.py::test_every_compiled_run_happens_on_one_thread_whoever_calls",
    "test_turbo.py::test_the_command_line_runs_turbo_and_v2i_recipe_sets_the_default",
    "test_real_whisper.py::test_the_command_line_prints_the_spoken_words_offline",  # two processes, each loading
    "test_words_real.py::test_words_come_back_in_order_with_times_inside_the_recording",  # both whispers, 3 clips
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        names = ("e2e", "slow") if "e2e" in path.parts else MARKERS_BY_FILE.get(path.name, ())
        if f"{path.name}::{item.originalname}" in SLOW_TESTS:
            names = (*names, "slow")
        for name in names:
            item.add_marker(getattr(pytest.mark, name))


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    from core.models.tiny import ensure_tiny_models

    root = Path(os.environ.get("V2I_TEST_TINY_MODELS") or tmp_path_factory.mktemp("tiny-models"))
    ensure_tiny_models(root)
    return root


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def tiny_env(tiny_models_dir, data_dir, monkeypatch) -> dict[str, str]:
    """The environment of a person running with the tiny profile in a fresh data folder."""
    for key in [k for k in os.environ if k.startswith("V2I_")]:  # a developer's own settings never leak in
        monkeypatch.delenv(key)
    env = {"V2I_PROFILE": "tiny", "V2I_DATA_DIR": str(data_dir), "V2I_TINY_MODELS_DIR": str(tiny_models_dir),
           "V2I_WHISPER_MODEL": random_whisper(tiny_models_dir)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def settings(tiny_env):
    from core.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def models(tiny_models_dir):
    """One model cache for the whole session: tiny models load once, as in a server process."""
    from core.config import load_settings
    from core.models.cache import ModelCache

    session_settings = load_settings({"V2I_PROFILE": "tiny", "V2I_TINY_MODELS_DIR": str(tiny_models_dir),
                                      "V2I_WHISPER_MODEL": random_whisper(tiny_models_dir)})
    return ModelCache(session_settings, device="cpu")


@pytest.fixture
def store(data_dir):
    from core.history.store import Store

    store = Store(data_dir)
    yield store
    store.close()


@pytest.fixture
def wav() -> bytes:
    return recording("wav", seconds=1.5)




@pytest.fixture
def app_env(tiny_env, monkeypatch):
    """The tiny-profile environment for AppTest runs; stops the background workers they start.

    AppTest resets Streamlit's "app uses the pages/ folder" flag before every run, as if each run were
    a server's very first; a served app decides that once, and dashboard.py's st.navigation clears it.
    Keep AppTest's reset to its own copy of the class, so runs after the first go through dashboard.py's
    navigation as they do on a running server (the first run still tests the cold start)."""
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.pages_manager import PagesManager

    class WarmPagesManager(PagesManager):
        pass

    monkeypatch.setattr(app_test, "PagesManager", WarmPagesManager)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)
    yield tiny_env
    from core.execution.executors import stop_workers

    stop_workers()


@pytest.fixture
def make_generation(settings, models, store):
    """Store a real generation (tiny models, 2 steps, 64x64) and return its row."""
    from core.config.recipes import GenerationOptions
    from core.execution.pipeline import run_generation
    from core.generation.request import GenerationRequest

    def make(transcript: str = "a red fox in the snow", **kw):
        audio = kw.pop("audio", None) or recording("wav")
        created_by = kw.pop("created_by", "unknown")
        request = GenerationRequest(
            filename=kw.pop("filename", "clip.wav"),
            transcript=transcript, language=kw.pop("language", "en"),
            options=GenerationOptions(steps=2, width=64, height=64, seed=kw.pop("seed", 1)), **kw,
        )
        return run_generation(audio, request, settings=settings, models=models, store=store, created_by=created_by)

    return make
