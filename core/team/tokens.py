"""Personal API tokens: each person creates and revokes their own (the dashboard's Account panel, or
``python -m core tokens create|list|revoke --as NAME``). A token is shown once and stored as its SHA-256 (it is 256
random bits, so a fast hash is enough); it acts as its person, with their role and queue limits, until it expires
(``V2I_TOKEN_DAYS``, 90 by default), is revoked, or its person is no longer let in (``core.team.gate``; removing a
person revokes their tokens). A person has at most ``MAX_LIVE`` live tokens; when each was last used is kept (to
the minute)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import InvalidOptionError, NotFoundError, V2IError
from ..history.audit import record_in
from ..history.paths import new_id
from ..history.store import Store, utc_now
from ..people.person import Person, check_name

PREFIX = "v2i_"
MAX_LIVE = 10  # live (unrevoked, unexpired) tokens per person
TOUCH_EVERY_S = 60.0  # last_used_at is written at most this often per token
MAX_DAYS = 3650


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(store: Store, person: Person, name: str = "token", days: float = 90) -> dict[str, Any]:
    """A new token for ``person``, working for ``days`` days: ``{"id", "name", "token", "expires_at"}`` (the token
    itself is never stored)."""
    name = check_name(name, "token name")
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 < days <= MAX_DAYS:
        raise InvalidOptionError(f"a token works for 1 to {MAX_DAYS} days, not {days!r}")
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = new_id()
    now = utc_now()
    expires_at = (datetime.now(timezone.utc) + timedelta(days=days)).isoformat(timespec="seconds")
    with store.write() as db:
        live = db.execute("SELECT count(*) FROM api_tokens WHERE person = ? AND revoked_at IS NULL AND "
                          "(expires_at IS NULL OR expires_at > ?)", [person.id, now]).fetchone()[0]
        if live >= MAX_LIVE:
            raise InvalidOptionError(f"{person.name} has {live} live tokens, the most one person may have: revoke "
                                     "one first (tokens revoke ID)")
        db["api_tokens"].insert({"id": token_id, "person": person.id, "name": name, "token_hash": token_hash(token),
                                 "created_at": now, "expires_at": expires_at})
        record_in(db, person, "account", token_id, f"API token {name!r} created, expires {expires_at[:10]}")
    return {"id": token_id, "name": name, "token": token, "expires_at": expires_at}


def listed(store: Store, person: Person) -> list[dict[str, Any]]:
    """``person``'s tokens, newest first: when each was made, last used, expires, or was revoked."""
    return store.query("SELECT id, name, created_at, last_used_at, expires_at, revoked_at FROM api_tokens "
                       "WHERE person = ? ORDER BY created_at DESC", [person.id])


def revoke(store: Store, person: Person, token_id: str) -> None:
    """Revoke one of ``person``'s tokens (an admin may revoke anyone's)."""
    rows = store.query("SELECT person, revoked_at FROM api_tokens WHERE id = ?", [token_id])
    if not rows or (rows[0]["person"] != person.id and person.role != "admin"):
        raise NotFoundError(f"no token of yours with id {token_id}")
    if rows[0]["revoked_at"]:
        raise InvalidOptionError(f"token {token_id} was revoked already")
    with store.write() as db:
        db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [utc_now(), token_id])
        record_in(db, person, "account", token_id, "API token revoked")


def person_of_token(store: Store, token: str) -> str | None:
    """The person a live token acts as (None for an unknown, revoked or expired token); notes its use, at most
    once a minute."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    now = datetime.now(timezone.utc)
    rows = store.query("SELECT id, person, last_used_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL "
                       "AND (expires_at IS NULL OR expires_at > ?)", [token_hash(token), now.isoformat()])
    if not rows:
        return None
    last = rows[0]["last_used_at"]
    if last is None or (now - datetime.fromisoformat(last)).total_seconds() >= TOUCH_EVERY_S:
        try:
            with store.write() as db:
                db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [utc_now(), rows[0]["id"]])
        except V2IError:  # a read-only or busy store still answers; the note waits for the next use
            pass
    return rows[0]["person"]
