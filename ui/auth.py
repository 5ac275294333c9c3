"""Access control and identity, configured in ``.streamlit/secrets.toml``:

- ``[auth]`` (an OpenID Connect provider): Streamlit's built-in ``st.login``; only signed-in people whose email
  the provider has verified and that is on the allow-list (``allowed_emails``, ``allowed_domains``) pass. The
  person is their email, shown by name.
- ``accounts = true``: per-person passwords (``python -m core people add NAME`` gives a one-time password, which
  the person replaces at their first sign-in). The person is the account's name. A sign-in lasts across reloads,
  tabs and links (``core.team.sessions``: an HttpOnly cookie, ``V2I_SESSION_DAYS``), checked on every run, until
  the person signs out, their password is reset or they are removed.
- ``password = "..."``: one shared team password, compared in constant time. It gives everyone one shared
  identity ("Team"): nobody can claim to be someone else by typing a name.
- none of these: no gate (the default binds to 127.0.0.1, so only this machine can reach it); the person is the
  local user (``V2I_USER``, else the OS user name).

Wrong passwords are slowed per client, per claimed account and for everyone together (``core.SignInThrottle``),
and logged with the real client (``V2I_TRUSTED_PROXIES`` says whose ``X-Forwarded-For`` to believe).

The gate fails closed: a secrets file that exists but cannot be read or parsed, a ``password`` that is empty,
``false`` or a number, or ``[auth]`` with no allow-list serves no page to anyone.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import tomllib
import uuid
from dataclasses import replace
from urllib.parse import urlencode, urlparse

import streamlit as st

from core import (
    MAX_NAME, InvalidOptionError, Person, Settings, SignInThrottle, V2IError, accounts, audit, roles, client_address, email_allowed,
    fold_name, local_person, name_or, normal_email, sessions,
)

from . import render, serving

log = logging.getLogger("v2i.auth")
# One per server process: guesses from every session add up.
GUESSES = SignInThrottle()
SHARED = Person("team", "Team")  # the one identity of the shared password


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


def _gate_settings() -> tuple:
    check_secrets_files()
    auth, password, use_accounts = _secret("auth"), _secret("password"), _secret("accounts")
    if password is not None and not (isinstance(password, str) and password.strip()):
        # `password = ""`, `false` or `0` reads as "no password": a typo must not open the gate to everyone.
        raise BrokenConfiguration(f"the secrets' password is {password!r}: it must be a non-empty text "
                                  "(remove the line for no gate)")
    if use_accounts is not None and use_accounts is not True:
        raise BrokenConfiguration(f"the secrets' accounts is {use_accounts!r}: it must be true (or absent)")
    return auth, password, use_accounts, (_secret("allowed_emails") or [], _secret("allowed_domains") or [])


def require_access(settings: Settings, open_store) -> Person:
    """The person using this session; stops the script run unless they may see the dashboard. ``open_store``
    gives the store (only the accounts mode opens it)."""
    try:
        auth, password, use_accounts, allowed = _gate_settings()
    except BrokenConfiguration as err:
        log.error("refusing every page: %s", err)
        st.title("Voice to Image")
        st.error("The server's configuration is broken, so the dashboard stays closed. "
                 "Whoever runs the server will find the reason in its log.")
        st.stop()
    if auth:
        person = signed_in_person(*allowed)
    elif use_accounts or password:
        person = account_session(open_store()) if use_accounts else st.session_state.get("person")
        if person is None:
            if use_accounts:
                account_form(open_store, settings)
            else:
                password_form(str(password), settings, open_store)
            st.stop()
        keep_signed_in()
    else:
        person = local_person(settings.user)
    gated = bool(auth or use_accounts or password)
    admins = [*roles.parse_list(settings.admins), *roles.parse_list(_secret("admins"))]
    viewers = [*roles.parse_list(settings.viewers), *roles.parse_list(_secret("viewers"))]
    person = replace(person, source=client_keys(settings)[1])  # the browser's address, gate or not
    return roles.role_for(person, admins, viewers, default=roles.MEMBER if gated else roles.ADMIN)


def _refuse(message: str) -> None:
    st.title("Voice to Image")
    st.error(render.escape_markdown(message))
    st.button("Sign out", on_click=st.logout)
    st.stop()


def signed_in_person(allowed_emails, allowed_domains) -> Person:
    """The OpenID Connect path: signed in, the email verified by the provider, and on the allow-list."""
    if not st.user.is_logged_in:
        st.title("Voice to Image")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()
    raw = str(st.user.get("email") or "")
    shown = name_or(raw, "(without an email)")
    if not (allowed_emails or allowed_domains):
        log.warning("refused %s: no allow-list configured", shown)
        _refuse("No one is allowed in yet: the server's secrets list no allowed_emails or allowed_domains.")
    if st.user.get("email_verified") not in (True, "true"):
        log.warning("refused a signed-in account whose email is not verified: %s", shown)
        _refuse(f"Your identity provider has not verified the email {shown}, so it cannot prove who you are here. "
                "Verify it with your provider, then sign in again.")
    if not email_allowed(raw, allowed_emails, allowed_domains):
        log.warning("refused a signed-in account not on the allow-list: %s", shown)
        _refuse(f"The account {shown} is not allowed here. Sign in with your team account, or ask to be added.")
    email = normal_email(raw)
    return Person(email, name_or(str(st.user.get("name") or ""), email))


def client_keys(settings: Settings) -> tuple[list[tuple[str, str]], str]:
    """The throttle's keys for this session (its own id, and the real client address when one is known), and
    the client as the log should name it."""
    session = st.session_state.setdefault("gate-session", uuid.uuid4().hex)
    headers = st.context.headers
    forwarded = headers.get("X-Forwarded-For") if headers else None
    peer = st.context.ip_address
    peer = peer if isinstance(peer, str) else None  # (a test harness has no connection)
    forwarded = forwarded if isinstance(forwarded, str) else None
    address = client_address(peer, forwarded, settings.trusted_proxies.split(","))
    keys = [("session", session)] + ([("address", address)] if address else [])
    shown = address or f"unknown (X-Forwarded-For {forwarded!r} from an untrusted proxy)"
    return keys, shown


def _throttled(keys, account: str) -> bool:
    wait = GUESSES.wait(keys, account)
    if wait > 0:
        st.error(f"Too many wrong passwords: try again in {math.ceil(wait)} s.")
    return wait > 0


def _wrong(keys, account: str, client: str, what: str, open_store) -> None:
    failures = GUESSES.failed(keys, account)
    log.warning("wrong %s for %s from %s (%d in a row)", what, account, client, failures)
    try:
        audit.record(open_store(), Person(account, account, source=client), "failed sign-in", account, what)
    except V2IError:  # a read-only or full store: the server log above still has it
        pass
    st.error("That password is not right." if what == "team password" else "That name or password is not right.")


def password_form(password: str, settings: Settings, open_store) -> None:
    st.title("Voice to Image")
    st.caption("The team password gives everyone who knows it one shared identity, \"Team\": jobs, ratings and "
               "votes made with it are the team's, not a person's. For your own, ask for an account.")
    with st.form("sign-in"):
        typed = st.text_input("Team password", type="password")
        if not st.form_submit_button("Sign in"):
            return
    keys, client = client_keys(settings)
    if _throttled(keys, SHARED.id):
        return
    if not hmac.compare_digest(typed.encode(), password.encode()):
        _wrong(keys, SHARED.id, client, "team password", open_store)
        return
    GUESSES.succeeded(keys[:1], SHARED.id)
    st.session_state["person"] = SHARED
    st.rerun()


def account_form(open_store, settings: Settings) -> None:
    """Per-person passwords: a name and its password; a one-time password must be replaced before anything else."""
    st.title("Voice to Image")
    store = open_store()
    pending = st.session_state.get("gate-must-change")
    if pending:
        return change_form(store, pending, settings)
    with st.form("sign-in"):
        name = st.text_input("Your name", max_chars=MAX_NAME)
        typed = st.text_input("Password", type="password", max_chars=accounts.MAX_PASSWORD)
        if not st.form_submit_button("Sign in"):
            return
    account = fold_name(name) or "(empty)"  # Alice, alice and ａｌｉｃｅ are one account, throttled as one
    keys, client = client_keys(settings)
    if _throttled(keys, account):
        return
    result = accounts.sign_in(store, name, typed)
    if not result.ok:
        _wrong(keys, account, client, "password", open_store)
        return
    GUESSES.succeeded(keys[:1], account)
    if result.must_change:
        st.session_state["gate-must-change"] = (result.as_person(), typed)
        st.rerun()
    signed_in(store, result.as_person(), settings)


def change_form(store, pending: tuple[Person, str], settings: Settings) -> None:
    person, one_time = pending
    st.info(render.escape_markdown(f"Welcome, {person.name}. Choose your own password (at least "
                                   f"{accounts.MIN_PASSWORD} characters) to replace the one-time one."))
    with st.form("choose-password"):
        new = st.text_input("New password", type="password", max_chars=accounts.MAX_PASSWORD)
        again = st.text_input("New password again", type="password", max_chars=accounts.MAX_PASSWORD)
        if not st.form_submit_button("Save and sign in"):
            return
    if new != again:
        st.error("The two new passwords differ: type the same one twice.")
        return
    try:
        accounts.change_password(store, person.id, one_time, new)
    except InvalidOptionError as err:
        st.error(render.escape_markdown(f"Choose another password: {err}."))
        return
    del st.session_state["gate-must-change"]
    signed_in(store, person, settings)


def signed_in(store, person: Person, settings: Settings) -> None:
    """A personal password was right: a session starts, for this tab now and, through its cookie, for this
    browser's reloads, tabs and links (set by the server's ``/session/start``, on this run's way back)."""
    value, expires = sessions.start(store, person.id, settings.session_days)
    st.session_state["person"], st.session_state["session"] = person, value
    if serving.MOUNTED:  # the route that sets the cookie is served (app.py; not a bare `streamlit run dashboard.py`)
        st.session_state["session-grant"] = sessions.GRANTS.put(value, expires)
    st.rerun()


def account_session(store) -> Person | None:
    """Who this browser is signed in as with a personal password: this tab's sign-in, else the session cookie the
    browser keeps; None once it has ended (signed out, the password reset, the person removed: read on every run)."""
    for value in (st.session_state.get("session"), st.context.cookies.get(sessions.COOKIE)):
        if (person := sessions.person_of(store, value)) is not None:
            st.session_state["person"], st.session_state["session"] = person, value
            return person
    for key in ("person", "session"):
        st.session_state.pop(key, None)
    return None


def here() -> str:
    """The page this browser is on, with its query ("/history?id=..."), to come back to."""
    query = urlencode(st.query_params.to_dict())
    return (urlparse(st.context.url or "").path or serving.base_path() + "/") + (f"?{query}" if query else "")


def _go(target: str) -> None:
    """Send the browser to ``target`` on this server (a route the page cannot answer itself)."""
    st.html(f"<script>window.location.replace({json.dumps(target)})</script>", unsafe_allow_javascript=True)


def keep_signed_in() -> None:
    """Once, right after a sign-in: the browser fetches the session's cookie and comes back to this page."""
    if grant := st.session_state.pop("session-grant", None):
        _go(f"{serving.base_path()}/session/start?{urlencode({'grant': grant, 'next': here()})}")


def sign_out_button(open_store) -> None:
    """In the sidebar, for a personal-password sign-in: end the session (every tab of this browser) and clear its
    cookie."""
    if not st.session_state.get("session"):
        return
    if st.button("Sign out", key="sign-out"):
        sessions.end(open_store(), st.session_state["session"])
        for key in ("person", "session"):
            st.session_state.pop(key, None)
        if serving.MOUNTED:
            _go(f"{serving.base_path()}/session/end")
            st.stop()
        st.rerun()

