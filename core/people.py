"""People: who is behind a request. An email with sign-in (OpenID Connect), the name typed at the shared
password gate, or the local user when there is no gate (``V2I_USER``, else the OS user name)."""

from __future__ import annotations

import getpass
import unicodedata
from dataclasses import dataclass
from typing import Iterable

from .errors import InvalidOptionError

MAX_NAME = 100
UNKNOWN = "unknown"  # rows made before people were recorded


@dataclass(frozen=True)
class Person:
    id: str  # stable: what ``created_by`` stores
    name: str  # what others see


def check_name(text: str, what: str = "name") -> str:
    """A person's or a collection's name: 1 to 100 printable characters, spaces trimmed."""
    name = " ".join(str(text or "").split())
    if not name:
        raise InvalidOptionError(f"the {what} is empty: type one")
    if len(name) > MAX_NAME:
        raise InvalidOptionError(f"the {what} is {len(name)} characters long: at most {MAX_NAME}, please")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidOptionError(f"the {what} {name[:40]!r} has control characters in it")
    return name


def local_person(user: str = "") -> Person:
    """The person at this machine: ``V2I_USER`` (``user``), else the OS user name."""
    try:
        name = user or getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        name = "local"
    name = check_name(name, "user name")
    return Person(name, name)


def email_allowed(email: str, allowed_emails: Iterable[str] = (), allowed_domains: Iterable[str] = ()) -> bool:
    """Is this signed-in email on the allow-list? Exact emails, or any email at an allowed domain (case-insensitive)."""
    email = (email or "").strip().lower()
    if "@" not in email:
        return False
    domain = email.rsplit("@", 1)[1]
    return email in {e.strip().lower() for e in allowed_emails} or \
        domain in {d.strip().lower().lstrip("@") for d in allowed_domains}
