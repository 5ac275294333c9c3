"""People: who is behind a request. An email with sign-in (OpenID Connect), the name typed at the shared
password gate, or the local user when there is no gate (``V2I_USER``, else the OS user name)."""

from __future__ import annotations

import getpass
import unicodedata
from dataclasses import dataclass
from typing import Iterable

from ..errors import InvalidOptionError

MAX_NAME = 100
UNKNOWN = "unknown"  # rows made before people were recorded


@dataclass(frozen=True)
class Person:
    id: str  # stable: what ``created_by`` stores
    name: str  # what others see
    role: str = "member"  # admin, member or viewer (core.people.roles)
    source: str = ""  # where they act from, for the audit trail: a client address, "cli", "local"


# Characters that reorder the text around them (a U+202E in a name reverses what follows it on the page).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe(ch: str) -> bool:
    """Controls, bidi overrides, unassigned, private and surrogate code points; the format characters real names
    and emoji use (zero-width joiner and non-joiner, variation selectors, tags) are fine."""
    return ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")


def check_name(text: str, what: str = "name") -> str:
    """A person's or a collection's name: 1 to 100 characters, spaces trimmed; any script, joiners and emoji,
    but no control or bidi-override characters."""
    name = " ".join(str(text or "").split())
    if not name:
        raise InvalidOptionError(f"the {what} is empty: type one")
    if len(name) > MAX_NAME:
        raise InvalidOptionError(f"the {what} is {len(name)} characters long: at most {MAX_NAME}, please")
    if any(_unsafe(ch) for ch in name):
        shown = "".join("?" if _unsafe(ch) else ch for ch in name[:40])
        raise InvalidOptionError(f"the {what} {shown!r} has control or text-direction characters in it")
    return name


def fold_name(name: str) -> str:
    """The one form a typed name identifies a person in: spaces tidied, NFKC, case-folded (``Bob``, ``bob`` and
    ``ｂｏｂ`` are one person)."""
    return unicodedata.normalize("NFKC", " ".join(str(name or "").split())).casefold()


def typed_person(name: str, what: str = "name") -> Person:
    """The person a typed name stands for (``--as NAME``, an account's name): their id is the folded name, their
    name as typed."""
    name = check_name(name, what)
    return Person(fold_name(name), name)


def clean_text(text: str, limit: int = MAX_NAME) -> str:
    """Text someone else chose (a file name, an IdP's name) made safe to show: controls and bidi overrides
    dropped, spaces tidied, at most ``limit`` characters."""
    return " ".join("".join(ch for ch in str(text or "") if not _unsafe(ch)).split())[:limit]


def name_or(text: str, fallback: str) -> str:
    """``text`` as a name when it can be one (cleaned of what may not be in a name), else ``fallback``."""
    return clean_text(text) or fallback


def normal_email(email: str) -> str:
    """The form emails are compared in: NFKC, case-folded, spaces trimmed. An address that NFKC changes (the
    Kelvin sign for a K, full-width letters) is refused: it could pass an allow-list as someone else's."""
    email = str(email or "").strip()
    if unicodedata.normalize("NFKC", email) != email or any(_unsafe(ch) for ch in email):
        raise InvalidOptionError(f"the email {clean_text(email, 80)!r} has look-alike or control characters in it")
    return email.casefold()


def id_of(who: "Person | str | None") -> str | None:
    """A person's id, from a Person (who also says where they act from, for the audit trail) or a bare id."""
    return who.id if isinstance(who, Person) else who


def local_person(user: str = "") -> Person:
    """The person at this machine: ``V2I_USER`` (``user``), else the OS user name."""
    try:
        name = user or getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        name = "local"
    return typed_person(name, "user name")


def email_allowed(email: str, allowed_emails: Iterable[str] = (), allowed_domains: Iterable[str] = ()) -> bool:
    """Is this signed-in email on the allow-list? Exact emails, or any email at an allowed domain, compared in
    their case-folded NFKC form; an address with look-alike characters (see ``normal_email``) never is."""
    try:
        email = normal_email(email)
    except InvalidOptionError:
        return False
    if "@" not in email:
        return False
    domain = email.rsplit("@", 1)[1]
    fold = lambda text: unicodedata.normalize("NFKC", str(text).strip()).casefold()  # noqa: E731
    return email in {fold(e) for e in allowed_emails} or domain in {fold(d).lstrip("@") for d in allowed_domains}
