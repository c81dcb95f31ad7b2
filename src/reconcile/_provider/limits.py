"""Per-provider limits: at most ``max_concurrency`` calls at once, at most ``rate`` per second.

The scheduler asks ``wait_time`` before starting a call and ``acquire``s only
when it is zero, so a rate-limited API is never flooded whatever the global
parallelism. Observation in ``plan`` uses the blocking ``slot``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from reconcile._util.clock import Clock

__all__ = ["Limiter"]


class Limiter:
    """Concurrency and rate bounds for one provider's calls; thread-safe."""

    def __init__(self, clock: Clock, max_concurrency: int | None, rate: float | None) -> None:
        self._clock = clock
        self._max = max_concurrency
        self._interval = 1.0 / rate if rate else 0.0
        self._running = 0
        self._next = float("-inf")
        self._cond = threading.Condition()

    def wait_time(self) -> float | None:
        """0 when a call may start now; seconds to wait for the rate; None while at capacity."""
        with self._cond:
            if self._max is not None and self._running >= self._max:
                return None
            return max(0.0, self._next - self._clock.monotonic())

    def acquire(self) -> None:
        """Count a call as started (after ``wait_time`` said 0)."""
        with self._cond:
            self._running += 1
            self._next = max(self._next, self._clock.monotonic()) + self._interval

    def release(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Block until a call may start, then hold a slot for its duration."""
        while True:
            with self._cond:
                wait = self.wait_time()
                if wait == 0.0:
                    self.acquire()
                    break
                if wait is None:
                    self._cond.wait()
                    continue
            self._clock.sleep(wait)
        try:
            yield
        finally:
            self.release()
