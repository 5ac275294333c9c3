"""Who may do what. Admins, members and viewers: who is an admin or a viewer is configuration (``V2I_ADMINS`` /
``V2I_VIEWERS``, or ``admins`` / ``viewers`` in the secrets file: emails or names); everyone else who passes the
gate is a member; with no gate the local user is an admin unless listed as a viewer.

- a viewer may browse, search, compare and download, nothing else;
- a member may also generate, rate, vote and collect, and delete, restore or edit what they made;
- an admin may do all of it for anyone, and pause, resume and reorder the queue, empty the trash, back up,
  restore and read the audit trail.

Every refusal is a :class:`ForbiddenError` with a plain sentence (:func:`refusal`), changing nothing; the
audit trail records it (:func:`core.history.audit.require`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from ..errors import V2IError
from .person import Person, fold_name

ADMIN, MEMBER, VIEWER = "admin", "member", "viewer"
ROLES = (ADMIN, MEMBER, VIEWER)

# What each action is, in words, and who may do it (members: only on what they made, where an owner is given).
ACTIONS = {
    "generate": ("make images", (ADMIN, MEMBER)),
    "rate": ("rate images", (ADMIN, MEMBER)),
    "vote": ("vote in A/B runs", (ADMIN, MEMBER)),
    "collect": ("change collections", (ADMIN, MEMBER)),
    "vocabulary": ("change the team vocabulary", (ADMIN, MEMBER)),
    "delete": ("delete generations", (ADMIN, MEMBER)),
    "restore": ("restore generations from the trash", (ADMIN, MEMBER)),
    "empty trash": ("empty the trash", (ADMIN,)),
    "queue": ("pause, resume or reorder the queue", (ADMIN,)),
    "backup": ("back up the data", (ADMIN,)),
    "restore backup": ("restore a backup", (ADMIN,)),
    "audit": ("read the audit trail", (ADMIN,)),
    "people": ("add, reset or remove people's accounts", (ADMIN,)),
}


# What each role may do, in the words of README's roles table (the sidebar shows it beside a person's role).
MAY = {
    VIEWER: "browse, search, compare and download",
    MEMBER: "browse, search, compare and download; generate, rate, vote and collect; delete and restore what "
            "they made",
    ADMIN: "all a member may, for anyone; pause, resume and reorder the queue, empty the trash, back up and "
           "restore, read the audit trail, add and remove people",
}


class ForbiddenError(V2IError, PermissionError):
    """This person's role does not allow what they asked for; nothing was changed."""


def parse_list(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """Emails or names, from a comma-separated setting or a list in the secrets file."""
    items = text.split(",") if isinstance(text, str) else list(text or ())
    return tuple(fold_name(item) for item in items if str(item).strip())


def role_for(person: Person, admins: Iterable[str], viewers: Iterable[str], *, default: str = MEMBER) -> Person:
    """``person`` with their role: admin when listed in ``admins`` (by id or name), viewer when in ``viewers``,
    else ``default`` (a member; the local user with no gate is an admin)."""
    keys = {fold_name(person.id), fold_name(person.name)}
    role = ADMIN if keys & set(parse_list(admins)) else VIEWER if keys & set(parse_list(viewers)) else default
    return replace(person, role=role)


def allowed(person: Person, action: str, owner: str | None = None) -> bool:
    what, roles = ACTIONS[action]
    if person.role not in roles:
        return False
    return person.role == ADMIN or owner is None or owner == person.id


def refusal(person: Person, action: str, owner: str | None = None) -> str | None:
    """Why ``person`` may not do ``action`` (on what ``owner`` made), in a plain sentence; None when they may."""
    if allowed(person, action, owner):
        return None
    what, roles = ACTIONS[action]
    if person.role not in roles:
        return f"{person.name} is a {person.role} here, and only {' and '.join(r + 's' for r in roles)} may {what}"
    return f"{person.name} may {what} only for what they made themselves; an admin can do it for anyone"
