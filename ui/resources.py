"""Process-wide resources behind ``st.cache_resource`` wrappers over ``core``; per-person state in
``st.session_state``."""

from __future__ import annotations

import streamlit as st

from core import (
    EmbeddingCache, JobQueue, ModelCache, Person, Settings, StorageError, Store, Worker, best_device, load_settings,
    remember_person,
    roles, shared_models, start_worker, aggregates,
)
from ui import render, safety


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


def executor_warning() -> None:
    """When jobs cannot run now (V2I_EXECUTOR=ray with the cluster out of reach): say so, plainly."""
    if message := worker().health:
        st.warning(render.escape_markdown(message), icon=":material/cloud_off:")


def queue() -> JobQueue:
    return JobQueue.for_settings(store(), settings())


def embedding_cache() -> EmbeddingCache:
    """CLIP embeddings of this data folder; the model loads only if something must be computed."""
    return EmbeddingCache(store(), models().clip, model_id=settings().clip_embedding_id)


def set_person(person: Person) -> None:
    """Who this session is (from the gate); their name is remembered once per session, for everyone to see."""
    if st.session_state.get("person") != person or not st.session_state.get("person-remembered"):
        try:
            remember_person(store(), person)
            st.session_state["person-remembered"] = True
        except StorageError:  # a full disk or a read-only folder: browsing still works; the name is saved later
            pass
    st.session_state["person"] = person


def person() -> Person:
    """Who this session is: their jobs, ratings and collections follow them across reloads and restarts."""
    return st.session_state["person"]


def typical_seconds() -> dict[str, float]:
    """This server's median seconds per image for each recipe, for ETAs (cached a minute)."""
    return _typical_seconds(_key(settings()), settings())


@st.cache_data(ttl=60, show_spinner=False)
def _typical_seconds(key: str, _settings: Settings) -> dict[str, float]:
    return aggregates.typical_seconds(store())


def sidebar() -> None:
    s = settings()
    with st.sidebar:
        st.caption("Profile and device")
        st.text(f"profile: {s.profile}\ndevice: {device()}")
        if "person" in st.session_state:
            st.caption("Signed in as")
            st.text(person().name)
            role = person().role
            st.caption(f"Role: {role}", help=f"{'An' if role[0] in 'aeiou' else 'A'} {role} may {roles.MAY[role]}.")
            safety.account_panel(store(), person(), s.token_days)
            safety.notifications_panel(store(), person(), s.webhooks_allow_local)
        if s.is_tiny:
            st.warning(s.tiny_note)
