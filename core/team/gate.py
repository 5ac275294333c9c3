"""Who may come in, as the dashboard's gate says it, for the ways in that are not the dashboard (the HTTP API's
tokens, the command line's local user): the same secrets file, ``.streamlit/secrets.toml`` (the user's, then the
project's, the later winning, as Streamlit reads them), read without Streamlit.

- ``[auth]`` (OpenID Connect): a person is let in while their email is on ``allowed_emails`` / ``allowed_domains``;
- ``accounts = true``: while they have an account (``people remove NAME`` closes it);
- ``password = "..."``: one shared identity; anyone who has a token made for them;
- none of these: no gate.

``admins`` and ``viewers`` there add to ``V2I_ADMINS`` and ``V2I_VIEWERS``. A file that cannot be read lets nobody
in (the dashboard refuses every page then too)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..history.store import Store
from ..people.person import email_allowed, fold_name
from ..people.roles import parse_list

OIDC, ACCOUNTS, PASSWORD, NONE, BROKEN = "oidc", "accounts", "password", "none", "broken"


def secrets_files() -> tuple[Path, ...]:
    """Streamlit's default secrets files, in the order it reads them."""
    return (Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml")


@dataclass(frozen=True)
class Gate:
    mode: str = NONE
    allowed_emails: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()  # from the secrets file; V2I_ADMINS adds to them
    viewers: tuple[str, ...] = ()

    @property
    def gated(self) -> bool:
        return self.mode != NONE

    def lets_in(self, store: Store, person_id: str) -> bool:
        """Whether ``person_id`` may come in now (their tokens act only while this holds)."""
        if self.mode == OIDC:
            return email_allowed(person_id, self.allowed_emails, self.allowed_domains)
        if self.mode == ACCOUNTS:
            return bool(store.query("SELECT 1 FROM accounts WHERE person = ?", [fold_name(person_id)]))
        return self.mode in (PASSWORD, NONE)


def read_gate(files: tuple[Path, ...] | None = None) -> Gate:
    """The gate the secrets files configure (``Gate(BROKEN)`` for a file that exists but cannot be read)."""
    secrets: dict = {}
    for path in secrets_files() if files is None else files:
        if not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as handle:
                secrets.update(tomllib.load(handle))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return Gate(BROKEN)
    mode = (OIDC if secrets.get("auth") else ACCOUNTS if secrets.get("accounts") is True else
            PASSWORD if secrets.get("password") else NONE)
    return Gate(mode, tuple(secrets.get("allowed_emails") or ()), tuple(secrets.get("allowed_domains") or ()),
                parse_list(secrets.get("admins")), parse_list(secrets.get("viewers")))


def role_lists(admins: str, viewers: str) -> tuple[list[str], list[str]]:
    """Who is an admin and who a viewer: ``V2I_ADMINS`` / ``V2I_VIEWERS`` (``admins``, ``viewers``) and the
    secrets file's lists, together."""
    team = current_gate()
    return [*parse_list(admins), *team.admins], [*parse_list(viewers), *team.viewers]


_read: dict[tuple, Gate] = {}


def current_gate() -> Gate:
    """``read_gate()``, read again only when a secrets file changed (its modification time and size)."""
    stamps = []
    for path in secrets_files():
        try:
            info = os.stat(path)
            stamps.append((str(path), info.st_mtime_ns, info.st_size))
        except OSError:
            stamps.append((str(path), None, None))
    key = tuple(stamps)
    if key not in _read:
        _read.clear()
        _read[key] = read_gate()
    return _read[key]
