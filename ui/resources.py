"""Process-wide resources behind ``st.cache_resource`` wrappers over ``core``; per-person state in
``st.session_state``."""

from __future__ import annotations

import uuid

import streamlit as st

from core import EmbeddingCache, JobQueue, ModelCache, Settings, Store, Worker, best_device, load_settings, shared_models
from core import start_worker


def ensure_navigation() -> None:
    """Call first on every page. Streamlit decides on a server's first script run whether the app uses
    the old ``pages/`` auto-discovery, before dashboard.py has called ``st.navigation``; a bookmark to
    a page opened first after a restart would then run that page alone, with no sidebar and no worker.
    Leave that mode and rerun through dashboard.py, which keeps the requested page.

    This sets ``PagesManager.uses_pages_directory``, a Streamlit internal: checked on Streamlit 1.67.0 (the
    pinned version); ``tests/test_page_access.py`` checks that it is still there, so an upgrade that renames it
    fails in the tests, not in front of a person."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def settings() -> Settings:
    return load_settings()


def _key(s: Settings) -> str:
    return repr(s)


@st.cache_resource(show_spinner=False)
def _models(key: str, _settings: Settings) -> ModelCache:
    return shared_models(_settings)


@st.cache_resource(show_spinner=False)
def _store(key: str, _settings: Settings) -> Store:
    # The Store opens one sqlite connection per thread itself: no connection is cached across threads.
    return Store(_settings.data_dir)


@st.cache_resource(show_spinner=False)
def _worker(key: str, _settings: Settings) -> Worker:
    return start_worker(_settings, models())


@st.cache_resource(show_spinner=False)
def device() -> str:
    return best_device()


def models() -> ModelCache:
    s = settings()
    return _models(_key(s), s)


def store() -> Store:
    s = settings()
    return _store(_key(s), s)


def worker() -> Worker:
    s = settings()
    return _worker(_key(s), s)


def queue() -> JobQueue:
    return JobQueue(store(), settings().audio_limits)


def embedding_cache() -> EmbeddingCache:
    """CLIP embeddings of this data folder; the model loads only if something must be computed."""
    return EmbeddingCache(store(), models().clip, model_id=settings().clip_embedding_id)


def owner() -> str:
    """Who this browser session is: the jobs panel shows this person's jobs."""
    if "owner" not in st.session_state:
        st.session_state["owner"] = uuid.uuid4().hex
    return st.session_state["owner"]


def sidebar() -> None:
    s = settings()
    with st.sidebar:
        st.caption("Profile and device")
        st.text(f"profile: {s.profile}\ndevice: {device()}")
        if s.is_tiny:
            st.warning("Tiny profile: random-weight models. Transcripts are gibberish and images are noise.")
