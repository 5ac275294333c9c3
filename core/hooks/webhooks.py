"""Telling people outside the browser that a job ended: webhooks (a JSON POST signed as the Standard Webhooks
specification says, retried with exponential backoff for up to an hour, every delivery's status kept) and chat
targets through the ``apprise`` library (Slack, Microsoft Teams, Matrix, Discord, Mattermost, Telegram, email),
with the image's link.

A person registers where to be told about their own jobs (at most ``MAX_HOOKS`` targets); an admin may register a
target for the whole team. Deliveries are sent by a thread of their own, each within one overall deadline
(:mod:`core.hooks.egress`), so a failing, hanging or dripping receiver never slows the queue and delays another
receiver's delivery by at most that deadline: the worker only records that a job ended (``job_ended``), in the
transaction that ends it.

Where the server sends is guarded (:mod:`core.hooks.egress`): only public addresses, checked when a target is added
and again at every send, the connection made to the address checked; plain ``http://`` and loopback only with
``V2I_WEBHOOKS_ALLOW_LOCAL`` (an admin trying a receiver out). Apprise is kept to an allow-list of chat and mail
services with no custom methods or headers; its generic ``json://``, ``xml://`` and ``form://`` kinds only for an
admin. Others see a target as its scheme and host; its full URL is shown once, to whoever adds it.

The signature (https://www.standardwebhooks.com): ``webhook-id`` (the delivery's id, the same on every retry),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,BASE64`` where BASE64 is HMAC-SHA256 over
``ID.TIMESTAMP.BODY`` keyed with the base64-decoded part of the secret ``whsec_...``. The ``standardwebhooks``
library (or any Svix-compatible verifier) checks it, and refuses timestamps more than 5 minutes away (replays)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from typing import Any

import httpcore

from ..errors import InvalidOptionError, NotFoundError
from ..history.audit import record_in, require
from ..history.paths import new_id
from ..history.store import Store, utc_now
from ..people import roles
from ..people.person import Person
from . import egress

log = logging.getLogger("v2i.webhooks")
KINDS = ("webhook", "apprise")
FIRST_RETRY_S = 10.0  # then 20, 40, 80... until an hour after the job ended
GIVE_UP_AFTER_S = 3600.0
MAX_HOOKS = 10  # live targets per person (and for the team)
SECRET_PREFIX = "whsec_"
# Apprise services anyone may add (chat and mail), by scheme; those whose host is a server someone names (not a
# vendor's fixed service) have that host checked like a webhook's.
CHAT = {"slack": False, "msteams": False, "discord": False, "tgram": False, "matrix": True, "matrixs": True,
        "mmost": True, "mmosts": True, "mailto": True, "mailtos": True}
GENERIC = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})  # any server: admins only, host checked


def check_url(kind: str, url: str, person: Person | None = None, *, allow_local: bool = False) -> str:
    """A webhook must be HTTPS to a public address (plain HTTP and loopback only with ``allow_local``); an apprise
    URL one of the chat and mail services (``CHAT``; ``GENERIC`` for an admin), with no custom method or headers.
    The error names what is wrong."""
    if kind not in KINDS:
        raise InvalidOptionError(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}")
    url = str(url or "").strip()
    parsed = urllib.parse.urlsplit(url)
    if kind == "webhook":
        if parsed.scheme != "https" and not (parsed.scheme == "http" and allow_local):
            raise InvalidOptionError(f"a webhook must be an https:// URL, not {url[:80]!r}")
        egress.check_url(url, allow_local=allow_local, unresolved_ok=True)
        return url
    scheme = parsed.scheme.lower()
    admin = person is not None and person.role == roles.ADMIN
    if scheme in GENERIC and not admin:
        raise InvalidOptionError(f"{scheme}:// sends to any server: only an admin may add one")
    if scheme not in CHAT and scheme not in GENERIC:
        raise InvalidOptionError(f"{scheme or url[:20]!r} is not a chat or mail service this server sends to; one "
                                 f"of: {', '.join(f'{s}://' for s in CHAT)}")
    # Read as apprise reads it: a leading + (a header), - or : (a field) stays what it is, not a space.
    query = [tuple(urllib.parse.unquote(part) for part in (pair.split("=", 1) + [""])[:2])
             for pair in parsed.query.split("&") if pair]
    custom = [key for key, _ in query if key[:1] in "+-: " or key.strip().lower() == "method"]
    if custom:
        raise InvalidOptionError(f"custom methods, headers and fields are not allowed in a chat target: "
                                 f"{', '.join(custom[:5])}")
    if CHAT.get(scheme) or scheme in GENERIC:
        hosts = [parsed.hostname or ""] + [value for key, value in query if key.lower() == "smtp"]
        for host in hosts:
            egress.check_host(host, 443, allow_local=allow_local, unresolved_ok=True)
    import apprise  # apprise loads when a chat target is checked or told

    if not apprise.Apprise().add(url):
        raise InvalidOptionError(f"apprise does not know the target {egress.shown(url)!r} (see its list of services)")
    return url


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def add(store: Store, person: Person, kind: str, url: str, *, team: bool = False,
        allow_local: bool = False) -> dict[str, Any]:
    """Register a target for ``person``'s jobs (``team``: everyone's, admins only); returns it with its full URL
    and secret (webhooks), shown this once."""
    if team:
        require(store, person, "queue", target=egress.shown(url))
    url = check_url(kind, url, person, allow_local=allow_local)
    owner = None if team else person.id
    live = store.query("SELECT count(*) AS n FROM hooks WHERE removed_at IS NULL AND person IS ?", [owner])[0]["n"]
    if live >= MAX_HOOKS:
        raise InvalidOptionError(f"{'the team has' if team else 'you have'} {live} targets, the most allowed: remove "
                                 "one first (hooks remove ID)")
    secret = new_secret() if kind == "webhook" else None
    hook = {"id": new_id(), "person": owner, "kind": kind, "url": url, "secret": secret,
            "created_by": person.id, "created_at": utc_now(), "removed_at": None}
    with store.write() as db:
        db["hooks"].insert(hook)
        record_in(db, person, "account", hook["id"], f"{kind} target added")
    return hook


def listed(store: Store, person: Person) -> list[dict[str, Any]]:
    """``person``'s targets and the team's, each as its scheme and host (``target``): never a secret, a path, a
    token or a password."""
    rows = store.query("SELECT id, person, kind, url, created_at FROM hooks WHERE removed_at IS NULL AND "
                       "(person = ? OR person IS NULL) ORDER BY created_at", [person.id])
    return [{**{k: v for k, v in row.items() if k != "url"}, "target": egress.shown(row["url"])} for row in rows]


def remove(store: Store, person: Person, hook_id: str) -> None:
    rows = store.query("SELECT person FROM hooks WHERE id = ? AND removed_at IS NULL", [hook_id])
    if not rows or (rows[0]["person"] != person.id and person.role != roles.ADMIN):
        raise NotFoundError(f"no target of yours with id {hook_id}")
    with store.write() as db:
        db.execute("UPDATE hooks SET removed_at = ? WHERE id = ?", [utc_now(), hook_id])
        record_in(db, person, "account", hook_id, "target removed")


def job_ended(db, job: dict[str, Any], status: str, generation_id: str | None, error: str | None) -> None:
    """Inside the transaction that ends a job: one pending delivery per target of its person and of the team."""
    hooks = db.execute("SELECT id FROM hooks WHERE removed_at IS NULL AND (person = ? OR person IS NULL)",
                       [job.get("created_by")]).fetchall()
    now = utc_now()
    payload = json.dumps({"event": f"job.{status}", "job_id": job["id"], "status": status,
                          "generation_id": generation_id, "error": error, "person": job.get("created_by"),
                          "filename": job.get("audio_filename"), "at": now, "link": None})
    for (hook_id,) in hooks:
        db["deliveries"].insert({"id": new_id(), "hook_id": hook_id, "job_id": job["id"], "payload": payload,
                                 "attempts": 0, "next_at": now, "created_at": now, "state": "pending"})


def sign(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,`` and the base64 HMAC-SHA256 of ``ID.TIMESTAMP.BODY``, keyed with
    the secret's base64-decoded part (what Standard Webhooks verifiers compute from the same secret)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def deliveries(store: Store, person: Person, limit: int = 50) -> list[dict[str, Any]]:
    """The latest deliveries to ``person``'s targets (and the team's): each one's status and a short reason."""
    rows = store.query("SELECT d.id, d.hook_id, h.kind, h.url, d.job_id, d.state, d.attempts, d.last_status, "
                       "d.last_answer AS reason, d.last_at, d.next_at FROM deliveries d JOIN hooks h ON "
                       "h.id = d.hook_id WHERE h.person = ? OR h.person IS NULL ORDER BY d.created_at DESC LIMIT ?",
                       [person.id, limit])
    return [{**{k: v for k, v in row.items() if k != "url"}, "target": egress.shown(row["url"])} for row in rows]


class Dispatcher:
    """Sends pending deliveries, on a thread of its own (``start``) or one round at a time (``send_due``); each
    within ``deadline_s`` (:data:`core.hooks.egress.DEADLINE_S`), one after another."""

    def __init__(self, store: Store, public_url: str = "", clock=time.time, *, allow_local: bool = False,
                 deadline_s: float | None = None):
        self.store, self.public_url, self.clock = store, public_url.rstrip("/"), clock
        self.allow_local = allow_local
        self.deadline_s = egress.DEADLINE_S if deadline_s is None else deadline_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, every_s: float = 1.0) -> "Dispatcher":
        def loop():
            while not self._stop.wait(every_s):
                try:
                    self.send_due()
                except Exception:  # never let a receiver's failure end the thread
                    log.exception("sending notifications failed")

        self._thread = threading.Thread(target=loop, name="v2i-webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def send_due(self) -> int:
        """Send every delivery that is due; returns how many were tried."""
        now = utc_now()
        due = self.store.query("SELECT d.*, h.kind, h.url, h.secret FROM deliveries d JOIN hooks h ON "
                               "h.id = d.hook_id WHERE d.state = 'pending' AND d.next_at <= ? ORDER BY d.next_at",
                               [now])
        for delivery in due:
            self._send(delivery)
        return len(due)

    def _send(self, delivery: dict[str, Any]) -> None:
        try:
            status, reason = (self._post if delivery["kind"] == "webhook" else self._apprise)(delivery)
        except InvalidOptionError as err:  # an internal address, or a target no longer allowed
            status, reason = None, f"refused: {err}"
        except Exception as err:  # a dead, slow or refusing receiver: its kind of failure, never its words
            status, reason = None, _failure(err, self.deadline_s)
        ok = status is not None and 200 <= status < 300
        attempts = delivery["attempts"] + 1
        started = datetime.fromisoformat(delivery["created_at"])
        retry_at = datetime.now(timezone.utc) + timedelta(seconds=FIRST_RETRY_S * 2 ** (attempts - 1))
        gave_up = not ok and (retry_at - started).total_seconds() > GIVE_UP_AFTER_S
        with self.store.write() as db:
            db["deliveries"].update(delivery["id"], {
                "attempts": attempts, "last_status": status, "last_answer": reason[:200], "last_at": utc_now(),
                "state": "delivered" if ok else "failed" if gave_up else "pending",
                "next_at": None if ok or gave_up else retry_at.isoformat(timespec="milliseconds")})

    def _post(self, delivery: dict[str, Any]) -> tuple[int, str]:
        body = self._with_link(delivery["payload"]).encode()
        timestamp = str(int(self.clock()))
        headers = {"Content-Type": "application/json", "User-Agent": "voice-to-image",
                   "webhook-id": delivery["id"], "webhook-timestamp": timestamp,
                   "webhook-signature": sign(delivery["secret"], delivery["id"], timestamp, body)}
        status, phrase = egress.post(delivery["url"], body, headers, allow_local=self.allow_local,
                                     deadline_s=self.deadline_s)
        return status, f"HTTP {status} {phrase}".strip()

    def _apprise(self, delivery: dict[str, Any]) -> tuple[int | None, str]:
        """Through apprise, on a thread given the deadline: past it, the delivery counts as timed out and the
        next one goes (apprise's own requests cannot be given one deadline)."""
        check_url("apprise", delivery["url"], Person("server", "server", roles.ADMIN),
                  allow_local=self.allow_local)  # again at send time: names may resolve elsewhere now
        event = json.loads(self._with_link(delivery["payload"]))
        text = {"done": f"Your image from {event.get('filename') or 'a recording'} is ready: "
                        f"{event.get('link') or event['generation_id']}",
                "failed": f"Your job for {event.get('filename') or 'a recording'} failed: {event.get('error')}",
                "cancelled": f"Your job for {event.get('filename') or 'a recording'} was cancelled"}[event["status"]]
        result: list[bool] = []

        def notify():
            import apprise  # apprise loads when a chat target is checked or told

            sender = apprise.Apprise()
            sender.add(delivery["url"])
            result.append(sender.notify(title="Voice to Image", body=text))

        thread = threading.Thread(target=notify, name="v2i-apprise", daemon=True)
        thread.start()
        thread.join(self.deadline_s)
        if not result:
            return None, f"no answer within {self.deadline_s:g} s" if thread.is_alive() else "apprise failed"
        return (200, "sent") if result[0] else (502, "apprise could not deliver it")

    def _with_link(self, payload: str) -> str:
        """The payload with the image's link, from ``V2I_PUBLIC_URL`` (the address people reach, not loopback);
        ``link`` is null without it."""
        event = json.loads(payload)
        event["link"] = (f"{self.public_url}/history?id={event['generation_id']}"
                         if event.get("generation_id") and self.public_url else None)
        return json.dumps(event)


def _failure(err: Exception, deadline_s: float) -> str:
    """A failed delivery in a few plain words, never the receiver's answer."""
    if isinstance(err, httpcore.TimeoutException):
        return f"no answer within {deadline_s:g} s"
    if isinstance(err, httpcore.ConnectError):
        return "could not connect"
    if isinstance(err, (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError)):
        return "the receiver broke off or did not speak HTTP"
    return f"failed: {type(err).__name__}"
