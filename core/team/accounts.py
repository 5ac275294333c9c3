"""Per-person passwords, for the ``accounts = true`` sign-in mode: an administrator adds people with a one-time
password (``python -m core people add NAME``), which they replace at their first sign-in. Stored as scrypt
hashes (memory-hard: 16 MiB per guess), compared in constant time; the password itself is never stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from ..errors import InvalidOptionError, NotFoundError
from ..history.audit import record_in
from ..history.store import Store, utc_now
from ..people.person import Person, fold_name, typed_person
from ..wording import counted
from . import sessions

MIN_PASSWORD = 10
MAX_PASSWORD = 200
# scrypt's cost: n=2**14, r=8 is 16 MiB and about 50 ms per guess here (OWASP's 2023 minimum is n=2**17, r=8, p=1
# at 128 MiB; with the throttle in front, this keeps a sign-in quick on a small server).
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


@dataclass(frozen=True)
class SignIn:
    """The result of checking a name and a password."""

    ok: bool
    person: str = ""  # their id: the folded name
    must_change: bool = False  # a one-time password: choose your own before anything else
    name: str = ""  # as it was typed when the account was added

    def as_person(self) -> Person:
        return Person(self.person, self.name or self.person)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, maxmem=64 * 2 ** 20, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        found = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               dklen=len(digest) // 2, maxmem=64 * 2 ** 20)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found.hex(), digest)


# Compared when a name has no account, so that a wrong name costs as long as a wrong password.
_NOBODY = hash_password(secrets.token_urlsafe(16))


def check_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidOptionError(f"a password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
    return password


def _one_time() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


def add_person(store: Store, name: str, by: Person | None = None) -> str:
    """Give ``name`` an account (kept under its folded form: ``Carol`` and ``carol`` are one account); returns their
    one-time password (shown once, never stored). Audited as ``by``'s."""
    person = typed_person(name)
    if store.query("SELECT 1 FROM accounts WHERE person = ?", [person.id]):
        raise InvalidOptionError(f"{person.name} already has an account: `people reset {person.name}` gives a new "
                                 "one-time password")
    password = _one_time()
    now = utc_now("seconds")
    with store.write() as db:
        db["accounts"].insert({"person": person.id, "name": person.name, "password_hash": hash_password(password),
                               "one_time": 1, "created_at": now, "changed_at": now})
        record_in(db, by, "account", person.id, "account added")
    return password


def reset_password(store: Store, name: str, by: Person | None = None) -> str:
    """A new one-time password for ``name`` (the old password, and every browser signed in with it, stop working);
    returns it."""
    name = _existing(store, name)
    password = _one_time()
    with store.write() as db:
        db["accounts"].update(name, {"password_hash": hash_password(password), "one_time": 1,
                                     "changed_at": utc_now("seconds")})
        ended = sessions.end_all_in(db, name)  # signed in elsewhere with the old password: no longer
        record_in(db, by, "account", name, f"password reset to a one-time password, {counted(ended, 'sign-in')} "
                                           "ended")
    return password


def remove_person(store: Store, name: str, by: Person | None = None) -> int:
    """Close ``name``'s account, revoke every API token of theirs and end their sign-ins, in one transaction (what
    they made stays theirs); returns how many tokens were revoked."""
    name = _existing(store, name)
    with store.write() as db:
        db["accounts"].delete(name)
        revoked = db.execute("UPDATE api_tokens SET revoked_at = ? WHERE person = ? AND revoked_at IS NULL",
                             [utc_now(), name]).rowcount
        ended = sessions.end_all_in(db, name)
        record_in(db, by, "account", name, f"account removed, {counted(revoked, 'API token')} revoked, "
                                          f"{counted(ended, 'sign-in')} ended")
    return revoked


def accounts(store: Store) -> list[dict]:
    return store.query("SELECT person, coalesce(name, person) AS name, one_time, created_at, changed_at FROM accounts "
                       "ORDER BY person")


def sign_in(store: Store, name: str, password: str) -> SignIn:
    """Check a name and a password; the same work is done whether or not the name has an account."""
    rows = store.query("SELECT person, name, password_hash, one_time FROM accounts WHERE person = ?", [fold_name(name)])
    stored = rows[0]["password_hash"] if rows else _NOBODY
    if not password_matches(str(password or ""), stored) or not rows:
        return SignIn(False)
    return SignIn(True, rows[0]["person"], bool(rows[0]["one_time"]), rows[0]["name"] or rows[0]["person"])


def change_password(store: Store, name: str, old: str, new: str) -> None:
    """Replace a password (a one-time one at first sign-in): the old one must match."""
    check_password(new)
    if not sign_in(store, name, old).ok:
        raise InvalidOptionError("the current password is not right")
    if new == old:
        raise InvalidOptionError("choose a password other than the one-time one")
    with store.write() as db:
        db["accounts"].update(_existing(store, name), {"password_hash": hash_password(new), "one_time": 0,
                                                       "changed_at": utc_now("seconds")})


def _existing(store: Store, name: str) -> str:
    person = typed_person(name)
    if not store.query("SELECT 1 FROM accounts WHERE person = ?", [person.id]):
        raise NotFoundError(f"{person.name} has no account: `people add {person.name}` makes one")
    return person.id
