"""Telling people outside the browser that a job ended: webhooks (a JSON POST signed with HMAC-SHA256, retried with
exponential backoff for up to an hour, every delivery and its answer kept) and chat targets through the ``apprise``
library (Slack, Microsoft Teams, Matrix, email...), with the image's link.

A person registers where to be told about their own jobs; an admin may register a target for the whole team.
Deliveries are sent by a thread of their own with short timeouts, so a failing or hanging receiver never slows the
queue: the worker only records that a job ended (``job_ended``), in the transaction that ends it.

The signature: ``X-V2I-Signature: sha256=HEX`` where HEX is HMAC-SHA256(secret, ``TIMESTAMP.BODY``) and
``X-V2I-Timestamp`` is TIMESTAMP (Unix seconds): a receiver checks both and refuses old timestamps (replays)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from ..errors import InvalidOptionError, NotFoundError
from ..history.audit import record_in
from ..history.paths import new_id
from ..history.store import Store, utc_now
from ..team import roles
from ..team.people import Person

log = logging.getLogger("v2i.webhooks")
KINDS = ("webhook", "apprise")
FIRST_RETRY_S = 10.0  # then 20, 40, 80... until an hour after the job ended
GIVE_UP_AFTER_S = 3600.0
TIMEOUT_S = 5.0


def check_url(kind: str, url: str) -> str:
    """A webhook must be HTTPS (plain HTTP only to this machine, for trying it out); an apprise URL is whatever
    apprise understands (``slack://``, ``msteams://``, ``matrix://``, ``mailto://``, ``json://``...)."""
    if kind not in KINDS:
        raise InvalidOptionError(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}")
    url = str(url or "").strip()
    parsed = urllib.parse.urlsplit(url)
    if kind == "webhook":
        loopback = parsed.hostname in ("localhost",) or _is_loopback(parsed.hostname or "")
        if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
            raise InvalidOptionError(f"a webhook must be an https:// URL, not {url[:80]!r}")
    else:
        import apprise  # apprise loads when a chat notification is sent

        if not apprise.Apprise().add(url):
            raise InvalidOptionError(f"apprise does not know the target {url[:80]!r} (see its list of services)")
    return url


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add(store: Store, person: Person, kind: str, url: str, *, team: bool = False) -> dict[str, Any]:
    """Register a target for ``person``'s jobs (``team``: everyone's, admins only); returns it with its secret
    (webhooks), shown once."""
    url = check_url(kind, url)
    if team:
        roles.require(store, person, "queue", target=url)
    secret = secrets.token_urlsafe(32) if kind == "webhook" else None
    hook = {"id": new_id(), "person": None if team else person.id, "kind": kind, "url": url, "secret": secret,
            "created_by": person.id, "created_at": utc_now(), "removed_at": None}
    with store.write() as db:
        db["hooks"].insert(hook)
        record_in(db, person, "account", hook["id"], f"{kind} target added")
    return hook


def listed(store: Store, person: Person) -> list[dict[str, Any]]:
    """``person``'s targets and the team's (never their secrets)."""
    return store.query("SELECT id, person, kind, url, created_at FROM hooks WHERE removed_at IS NULL AND "
                       "(person = ? OR person IS NULL) ORDER BY created_at", [person.id])


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
                          "filename": job.get("audio_filename"), "at": now})
    for (hook_id,) in hooks:
        db["deliveries"].insert({"id": new_id(), "hook_id": hook_id, "job_id": job["id"], "payload": payload,
                                 "attempts": 0, "next_at": now, "created_at": now, "state": "pending"})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def deliveries(store: Store, person: Person, limit: int = 50) -> list[dict[str, Any]]:
    """The latest deliveries to ``person``'s targets (and the team's), with their answers."""
    return store.query("SELECT d.id, d.hook_id, h.kind, h.url, d.job_id, d.state, d.attempts, d.last_status, "
                       "d.last_answer, d.last_at, d.next_at FROM deliveries d JOIN hooks h ON h.id = d.hook_id "
                       "WHERE h.person = ? OR h.person IS NULL ORDER BY d.created_at DESC LIMIT ?",
                       [person.id, limit])


class Dispatcher:
    """Sends pending deliveries, on a thread of its own (``start``) or one round at a time (``send_due``)."""

    def __init__(self, store: Store, public_url: str = "", clock=time.time):
        self.store, self.public_url, self.clock = store, public_url.rstrip("/"), clock
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
            status, answer = (self._post if delivery["kind"] == "webhook" else self._apprise)(delivery)
        except Exception as err:  # a dead, slow or refusing receiver
            status, answer = None, f"{type(err).__name__}: {err}"[:500]
        ok = status is not None and 200 <= status < 300
        attempts = delivery["attempts"] + 1
        started = datetime.fromisoformat(delivery["created_at"])
        retry_at = datetime.now(timezone.utc) + timedelta(seconds=FIRST_RETRY_S * 2 ** (attempts - 1))
        gave_up = not ok and (retry_at - started).total_seconds() > GIVE_UP_AFTER_S
        with self.store.write() as db:
            db["deliveries"].update(delivery["id"], {
                "attempts": attempts, "last_status": status, "last_answer": (answer or "")[:500], "last_at": utc_now(),
                "state": "delivered" if ok else "failed" if gave_up else "pending",
                "next_at": None if ok or gave_up else retry_at.isoformat(timespec="milliseconds")})

    def _post(self, delivery: dict[str, Any]) -> tuple[int, str]:
        body = self._with_link(delivery["payload"]).encode()
        timestamp = str(int(self.clock()))
        headers = {"Content-Type": "application/json", "X-V2I-Timestamp": timestamp,
                   "X-V2I-Signature": sign(delivery["secret"], timestamp, body), "User-Agent": "voice-to-image"}
        answer = httpx.post(delivery["url"], content=body, headers=headers, timeout=TIMEOUT_S, follow_redirects=False)
        return answer.status_code, answer.text[:500]

    def _apprise(self, delivery: dict[str, Any]) -> tuple[int, str]:
        import apprise  # apprise loads when a chat notification is sent

        event = json.loads(self._with_link(delivery["payload"]))
        text = {"done": f"Your image from {event.get('filename') or 'a recording'} is ready: "
                        f"{event.get('link') or event['generation_id']}",
                "failed": f"Your job for {event.get('filename') or 'a recording'} failed: {event.get('error')}",
                "cancelled": f"Your job for {event.get('filename') or 'a recording'} was cancelled"}[event["status"]]
        sender = apprise.Apprise()
        sender.add(delivery["url"])
        ok = sender.notify(title="Voice to Image", body=text)
        return (200, "sent") if ok else (502, "apprise could not deliver it")

    def _with_link(self, payload: str) -> str:
        """The payload with the image's link, from ``V2I_PUBLIC_URL`` (the address people reach, not loopback)."""
        event = json.loads(payload)
        if event.get("generation_id") and self.public_url:
            event["link"] = f"{self.public_url}/history?id={event['generation_id']}"
        return json.dumps(event)
