"""Personal API tokens: each person creates and revokes their own (the dashboard's Account panel, or
``python -m core tokens create|list|revoke --as NAME``). A token is shown once and stored as its SHA-256 (it is 256
random bits, so a fast hash is enough); it acts as its person, with their role and queue limits."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from ..errors import InvalidOptionError, NotFoundError
from ..history.audit import record_in
from ..history.paths import new_id
from ..history.store import Store, utc_now
from .people import Person, check_name

PREFIX = "v2i_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(store: Store, person: Person, name: str = "token") -> dict[str, Any]:
    """A new token for ``person``: ``{"id", "name", "token"}`` (the token itself is never stored)."""
    name = check_name(name, "token name")
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = new_id()
    with store.write() as db:
        db["api_tokens"].insert({"id": token_id, "person": person.id, "name": name, "token_hash": token_hash(token),
                                 "created_at": utc_now()})
        record_in(db, person, "account", token_id, f"API token {name!r} created")
    return {"id": token_id, "name": name, "token": token}


def listed(store: Store, person: Person) -> list[dict[str, Any]]:
    return store.query("SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens WHERE person = ? "
                       "ORDER BY created_at DESC", [person.id])


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
    """The person a live token acts as (None for an unknown or revoked token)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    rows = store.query("SELECT id, person FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", [token_hash(token)])
    return rows[0]["person"] if rows else None
