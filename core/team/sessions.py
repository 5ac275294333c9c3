"""A browser's sign-in with a personal password, kept across reloads, tabs and links: a session.

Signing in starts one (``start``): its cookie value is ``ID.SECRET``, 256 random bits that only the browser holds
(the database keeps the secret's SHA-256, as for API tokens), sent back as an HttpOnly, SameSite=Lax cookie that
expires with the session (``V2I_SESSION_DAYS``, 14). Every page run reads it (``person_of``): the session must be
live (not expired, not revoked) and its person must still have an account. Signing out ends it (``end``); resetting
a person's password or removing them ends all of theirs (``end_all_in``, in the same transaction as the change)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone

from ..errors import InvalidOptionError
from ..history.paths import new_id
from ..history.store import Store, utc_now
from ..people.person import Person

COOKIE = "v2i_session"
MAX_VALUE = 200  # characters: anything longer is not one of ours


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parts(value: str | None) -> tuple[str, str] | None:
    """A cookie's session id and secret (None for a value that cannot be one of ours)."""
    if not value or len(value) > MAX_VALUE or "." not in value:
        return None
    session_id, secret = value.split(".", 1)
    return session_id, secret


def start(store: Store, person_id: str, days: float) -> tuple[str, datetime]:
    """A new session for ``person_id``: the cookie's value and when it expires."""
    if not 0 < days <= 3650:
        raise InvalidOptionError(f"a sign-in lasts 0 to 3650 days, not {days!r}")
    session_id, secret = new_id(), secrets.token_urlsafe(32)
    expires = datetime.now(timezone.utc) + timedelta(days=days)
    with store.write() as db:
        db["sessions"].insert({"id": session_id, "person": person_id, "secret_hash": _hash(secret),
                               "created_at": utc_now(), "expires_at": expires.isoformat(timespec="seconds")})
    return f"{session_id}.{secret}", expires


def person_of(store: Store, value: str | None) -> Person | None:
    """The person a cookie's session signs in (None for a missing, malformed, unknown, expired or revoked one, or
    a person who no longer has an account)."""
    if (parts := _parts(value)) is None:
        return None
    session_id, secret = parts
    rows = store.query("SELECT s.person, coalesce(a.name, s.person) AS name, s.secret_hash FROM sessions s "
                       "JOIN accounts a ON a.person = s.person WHERE s.id = ? AND s.revoked_at IS NULL "
                       "AND s.expires_at > ?", [session_id, datetime.now(timezone.utc).isoformat(timespec="seconds")])
    if not rows or not hmac.compare_digest(rows[0]["secret_hash"], _hash(secret)):
        return None
    return Person(rows[0]["person"], rows[0]["name"])


def end(store: Store, value: str | None) -> None:
    """Sign out: the cookie's session stops working (nothing happens for one that is not ours)."""
    if (parts := _parts(value)) is not None:
        session_id, secret = parts
        with store.write() as db:
            db.execute("UPDATE sessions SET revoked_at = ? WHERE id = ? AND secret_hash = ? AND revoked_at IS NULL",
                       [utc_now(), session_id, _hash(secret)])


def end_all_in(db, person_id: str) -> int:
    """Inside a write transaction: end every live session of ``person_id``; returns how many."""
    return db.execute("UPDATE sessions SET revoked_at = ? WHERE person = ? AND revoked_at IS NULL",
                      [utc_now(), person_id]).rowcount


class Grants:
    """One-time hand-overs of a new session's cookie from the page that signed a person in to the route that sets
    it (``/session/start``): the page has no way to set an HttpOnly cookie, and the cookie's value must not travel
    in a URL. A grant is 256 random bits, works once, within ``ttl_s``, in this server process."""

    def __init__(self, ttl_s: float = 60.0, clock=time.monotonic):
        self.ttl_s, self.clock = ttl_s, clock
        self._grants: dict[str, tuple[str, datetime, float]] = {}
        self._lock = threading.Lock()

    def put(self, value: str, expires: datetime) -> str:
        grant = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._grants = {k: v for k, v in self._grants.items() if v[2] > now}
            self._grants[grant] = (value, expires, now + self.ttl_s)
        return grant

    def take(self, grant: str) -> tuple[str, datetime] | None:
        """The cookie's value and expiry for ``grant``, once (None when unknown, used or too old)."""
        with self._lock:
            value, expires, until = self._grants.pop(grant, (None, None, 0.0))
        return (value, expires) if value is not None and until > self.clock() else None


GRANTS = Grants()  # one per server process: the route that takes them lives in the same process
