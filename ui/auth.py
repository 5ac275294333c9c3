"""Access control, enforced when configured in ``.streamlit/secrets.toml``:

- ``[auth]`` (an OpenID Connect provider): Streamlit's built-in ``st.login``; only signed-in people pass.
- ``password = "..."``: a shared team password, compared in constant time; wrong guesses are slowed down
  per browser session and per client address, and logged.
- neither: no gate (the default binds to 127.0.0.1, so only this machine can reach it).

The gate fails closed: a secrets file that exists but cannot be read or parsed serves no page at all.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import tomllib
import uuid

import streamlit as st

from core import Throttle

log = logging.getLogger("v2i.auth")
# One per server process: guesses from every session of one address add up.
GUESSES = Throttle(base_delay=1.0, max_delay=30.0, per_minute=10)


class BrokenConfiguration(Exception):
    """A secrets file exists but cannot be used: the dashboard must not open."""


def secrets_files() -> list[str]:
    from streamlit import config

    return list(config.get_option("secrets.files"))


def check_secrets_files() -> None:
    """Every configured secrets file that exists must be readable TOML; otherwise say which one is broken."""
    for path in secrets_files():
        if not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as handle:
                tomllib.load(handle)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise BrokenConfiguration(f"the secrets file {path} cannot be used: {err}") from None


def _secret(name: str):
    try:
        return st.secrets.get(name)
    except FileNotFoundError as err:  # Streamlit says "not found" for a missing file and for a broken one alike
        if any(os.path.exists(path) for path in secrets_files()):
            raise BrokenConfiguration(f"the secrets cannot be read: {err}") from None
        return None  # no secrets at all: no gate


def require_access() -> None:
    """Stop the script run unless this person may see the dashboard."""
    try:
        check_secrets_files()
        auth, password = _secret("auth"), _secret("password")
    except BrokenConfiguration as err:
        log.error("refusing every page: %s", err)
        st.title("Voice to Image")
        st.error("The server's configuration is broken, so the dashboard stays closed. "
                 "Whoever runs the server will find the reason in its log.")
        st.stop()
    if auth:
        if not st.user.is_logged_in:
            st.title("Voice to Image")
            st.button("Sign in", on_click=st.login, type="primary")
            st.stop()
        return
    if not password or st.session_state.get("authenticated"):
        return
    password_form(str(password))
    st.stop()


def _client_keys() -> list[tuple[str, str]]:
    session = st.session_state.setdefault("gate-session", uuid.uuid4().hex)
    address = str(getattr(st.context, "ip_address", None) or "unknown")
    return [("session", session), ("address", address)]


def password_form(password: str) -> None:
    st.title("Voice to Image")
    with st.form("sign-in"):
        typed = st.text_input("Team password", type="password")
        if not st.form_submit_button("Sign in"):
            return
    keys = _client_keys()
    wait = GUESSES.wait(keys)
    if wait > 0:
        st.error(f"Too many wrong passwords: try again in {math.ceil(wait)} s.")
        return
    if hmac.compare_digest(typed.encode(), password.encode()):
        GUESSES.succeeded(keys[:1])  # this session starts afresh; the address keeps its recent failures
        st.session_state["authenticated"] = True
        st.rerun()
    failures = GUESSES.failed(keys)
    log.warning("wrong team password from %s (%d in a row)", dict(keys)["address"], failures)
    st.error("That password is not right.")
