"""The audit trail: one append-only table of who did what, when, from where, to what. The app only ever inserts
(triggers refuse UPDATE and DELETE); an action's row is written in the action's own transaction where it has one."""

from __future__ import annotations

from typing import Any

from ..errors import V2IError
from ..people.person import Person
from ..people.roles import ForbiddenError, refusal
from .store import Store, utc_now

ACTIONS = ("delete", "restore", "purge", "empty trash", "rate", "collect", "uncollect", "vote", "vocabulary",
           "export", "role refusal", "failed sign-in", "queue pause", "queue resume", "queue reorder", "backup",
           "restore backup", "account", "skip", "sweep")


def record_in(db, person: Person | str | None, action: str, target: str | None = None,
              detail: str | None = None) -> None:
    """Append one row inside an open transaction (``db`` from ``Store.write``). ``person``: who (a Person knows
    where they act from: ``api ADDRESS``, a browser's address, ``cli``, ``server``; a bare id is recorded as
    "local"), None for the server itself ("system", from "server")."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; one of: {', '.join(ACTIONS)}")
    if isinstance(person, Person):
        who, source = person.id, person.source or "local"
    else:
        who, source = (person, "local") if person else ("system", "server")
    db.execute("INSERT INTO audit (at, who, source, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
               [utc_now(), who, source, action, target, detail])


def record(store: Store, person: Person | str | None, action: str, target: str | None = None,
           detail: str | None = None) -> None:
    """Append one row in a transaction of its own."""
    with store.write() as db:
        record_in(db, person, action, target, detail)


def trail(store: Store, *, who: str | None = None, action: str | None = None, since: str | None = None,
          limit: int = 200) -> list[dict[str, Any]]:
    """The newest rows first, filtered by who, what and since when."""
    clauses, params = [], []
    for column, value in (("who", who), ("action", action)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since:
        clauses.append("at >= ?")
        params.append(since)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return store.query(f"SELECT * FROM audit{where} ORDER BY id DESC LIMIT ?", [*params, limit])


def require(store: Store | None, person: Person, action: str, owner: str | None = None,
            target: str | None = None) -> None:
    """Refuse, and write the refusal down, unless ``person`` may do ``action`` (on what ``owner`` made)."""
    if (message := refusal(person, action, owner)) is None:
        return
    if store is not None:
        try:
            record(store, person, "role refusal", target, f"{action}: {message}")
        except V2IError:  # a read-only store still refuses, it only cannot write down that it did
            pass
    raise ForbiddenError(message)
