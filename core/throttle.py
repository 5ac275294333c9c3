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
