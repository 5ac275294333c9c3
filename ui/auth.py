"""Access control and identity, configured in ``.streamlit/secrets.toml``:

- ``[auth]`` (an OpenID Connect provider): Streamlit's built-in ``st.login``; only signed-in people whose email
  is on the allow-list (``allowed_emails``, ``allowed_domains``) pass. The person is their email, shown by name.
- ``password = "..."``: a shared team password, compared in constant time; the person also types their name.
  Wrong guesses are slowed down per browser session and per client address, and logged.
- neither: no gate (the default binds to 127.0.0.1, so only this machine can reach it); the person is the local
  user (``V2I_USER``, else the OS user name).

The gate fails closed: a secrets file that exists but cannot be read or parsed serves no page at all, and with
``[auth]`` but no allow-list nobody gets in.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import tomllib
import uuid

import streamlit as st

from core import MAX_NAME, Person, Throttle, V2IError, check_name, email_allowed, local_person

from . import render

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


def require_access(local_user: str = "") -> Person:
    """The person using this session; stops the script run unless they may see the dashboard."""
    try:
        check_secrets_files()
        auth, password = _secret("auth"), _secret("password")
        allowed = (_secret("allowed_emails") or [], _secret("allowed_domains") or [])
    except BrokenConfiguration as err:
        log.error("refusing every page: %s", err)
        st.title("Voice to Image")
        st.error("The server's configuration is broken, so the dashboard stays closed. "
                 "Whoever runs the server will find the reason in its log.")
        st.stop()
    if auth:
        return signed_in_person(*allowed)
    if password:
        if "person" not in st.session_state:
            password_form(str(password))
            st.stop()
        return st.session_state["person"]
    return local_person(local_user)


def signed_in_person(allowed_emails, allowed_domains) -> Person:
    """The OpenID Connect path: signed in, and on the allow-list."""
    if not st.user.is_logged_in:
        st.title("Voice to Image")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()
    email = str(st.user.get("email") or "")
    if not email_allowed(email, allowed_emails, allowed_domains):
        log.warning("refused a signed-in account not on the allow-list: %s", email or "(no email)")
        st.title("Voice to Image")
        if not (allowed_emails or allowed_domains):
            st.error("No one is allowed in yet: the server's secrets list no allowed_emails or allowed_domains.")
        else:
            st.error(render.escape_markdown(f"The account {email or '(without an email)'} is not allowed here. "
                                            "Sign in with your team account, or ask to be added."))
        st.button("Sign out", on_click=st.logout)
        st.stop()
    name = str(st.user.get("name") or email)
    return Person(email.lower(), check_name(name[:MAX_NAME], "name"))


def _client_keys() -> list[tuple[str, str]]:
    session = st.session_state.setdefault("gate-session", uuid.uuid4().hex)
    address = str(getattr(st.context, "ip_address", None) or "unknown")
    return [("session", session), ("address", address)]


def password_form(password: str) -> None:
    st.title("Voice to Image")
    with st.form("sign-in"):
        typed_name = st.text_input("Your name", max_chars=MAX_NAME, help="what your team sees on what you make")
        typed = st.text_input("Team password", type="password")
        if not st.form_submit_button("Sign in"):
            return
    keys = _client_keys()
    wait = GUESSES.wait(keys)
    if wait > 0:
        st.error(f"Too many wrong passwords: try again in {math.ceil(wait)} s.")
        return
    if not hmac.compare_digest(typed.encode(), password.encode()):
        failures = GUESSES.failed(keys)
        log.warning("wrong team password from %s (%d in a row)", dict(keys)["address"], failures)
        st.error("That password is not right.")
        return
    try:
        name = check_name(typed_name, "name")
    except V2IError as err:
        st.error(f"Type your name too: {err}.")
        return
    GUESSES.succeeded(keys[:1])  # this session starts afresh; the address keeps its recent failures
    st.session_state["person"] = Person(name, name)
    st.rerun()
