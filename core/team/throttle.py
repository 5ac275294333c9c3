"""Slow down repeated failures (wrong passwords): a growing delay after each failure and a cap per minute,
per key (a browser session, a client address). Pure Python with an injectable clock, so it is tested
without waiting."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable


@dataclass
class Throttle:
    """``wait(keys)`` says how many seconds to refuse attempts for; ``failed(keys)`` records one failure.

    After the n-th failure in a row a key must wait ``min(base_delay * 2**(n-1), max_delay)`` seconds, and
    a key with ``per_minute`` failures in the last 60 s waits until the oldest of them is a minute old."""

    base_delay: float = 1.0
    max_delay: float = 30.0
    per_minute: int = 10
    clock: Callable[[], float] = time.monotonic
    _failures: dict[Hashable, deque] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, keys: Iterable[Hashable]) -> float:
        now = self.clock()
        with self._lock:
            return max((self._wait_one(key, now) for key in keys), default=0.0)

    def failed(self, keys: Iterable[Hashable]) -> int:
        """Record a failure for every key; returns the most failures any of them has in a row."""
        now = self.clock()
        with self._lock:
            for stale in [k for k, h in self._failures.items() if now - h[-1] > 3600]:  # stay small
                del self._failures[stale]
            counts = []
            for key in keys:
                history = self._failures.setdefault(key, deque(maxlen=max(self.per_minute, 64)))
                history.append(now)
                counts.append(len(history))
            return max(counts, default=0)

    def succeeded(self, keys: Iterable[Hashable]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _wait_one(self, key: Hashable, now: float) -> float:
        history = self._failures.get(key)
        if not history:
            return 0.0
        delay = min(self.base_delay * 2 ** (len(history) - 1), self.max_delay)
        wait = history[-1] + delay - now
        recent = [t for t in history if now - t < 60.0]
        if len(recent) >= self.per_minute:
            wait = max(wait, recent[-self.per_minute] + 60.0 - now)
        return max(0.0, wait)


@dataclass
class SignInThrottle:
    """Wrong sign-ins, slowed three ways, so that neither new sessions nor forged headers buy more guesses and
    nobody's typos lock out someone else's right password for long:

    - per client (a browser session, and the real client address when one is known): 1, 2, 4... up to 30 s,
      at most 10 a minute;
    - per claimed account (a name, an email, or the one shared identity): 1, 2, 4 s at most, whoever guesses, so
      six sessions cannot guess at once and the account's owner waits a few seconds at worst;
    - everyone together: at most ``per_minute_all`` wrong guesses a minute."""

    clock: Callable[[], float] = time.monotonic
    max_account_delay: float = 4.0
    per_minute_all: int = 300

    def __post_init__(self):
        self.clients = Throttle(base_delay=1.0, max_delay=30.0, per_minute=10, clock=self.clock)
        self.accounts = Throttle(base_delay=1.0, max_delay=self.max_account_delay, per_minute=10 ** 9, clock=self.clock)
        self.everyone = Throttle(base_delay=0.0, max_delay=0.0, per_minute=self.per_minute_all, clock=self.clock)

    def wait(self, clients: Iterable[Hashable], account: str) -> float:
        return max(self.clients.wait(clients), self.accounts.wait([account]), self.everyone.wait(["all"]))

    def failed(self, clients: Iterable[Hashable], account: str) -> int:
        self.everyone.failed(["all"])
        self.accounts.failed([account])
        return self.clients.failed(clients)

    def succeeded(self, sessions: Iterable[Hashable], account: str) -> None:
        """The session and the account start afresh; an address keeps its recent failures."""
        self.clients.succeeded(sessions)
        self.accounts.succeeded([account])


def client_address(peer: str | None, forwarded_for: str | None, trusted: Iterable[str]) -> str | None:
    """The real client of a request, or None when it cannot be known.

    ``peer`` is the connection's address (Streamlit gives None for loopback, and its server may already have
    replaced it with a forwarded header); ``forwarded_for`` the ``X-Forwarded-For`` header. The header is
    believed only when a proxy is configured as ``trusted``: then the client is its rightmost entry that is not
    one of those proxies (what the nearest trusted proxy appended). With a forwarded header and no trusted
    proxy, nothing about the client can be believed."""
    trusted = {t.strip() for t in trusted if t.strip()}
    if forwarded_for:
        if not trusted:
            return None
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if hop not in trusted:
                return hop
        return None
    return peer or "127.0.0.1"
