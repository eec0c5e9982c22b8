"""Sliding-window event counter, used for the per-user send rate (services/generation.py).

In-process; a Redis-backed implementation with the same methods replaces it when several
workers serve the app (each worker would otherwise count on its own). Login throttling has its
own, database-backed schedule: services/login_throttle.py.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable


class FailureThrottle:
    def __init__(
        self, max_failures: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._max_keys = 100_000  # bounded memory under a spray of random emails

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, keys: Iterable[str]) -> float | None:
        """Seconds until another attempt is allowed, or None when it is allowed now."""
        now = self._clock()
        waits = []
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self.max_failures:
                    waits.append(times[-self.max_failures] + self.window - now)
        return max(waits) if waits else None

    def record_failure(self, keys: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) >= self._max_keys:
                self._failures.clear()
            for key in keys:
                self._failures.setdefault(key, deque(maxlen=self.max_failures * 4)).append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def hit(self, key: str) -> float | None:
        """Count one event for ``key``; the wait in seconds when the limit is already reached."""
        wait = self.retry_after([key])
        if wait is None:
            self.record_failure([key])
        return wait
