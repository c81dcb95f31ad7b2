"""``SimulatedClock``: the core's ``Clock`` for tests, where sleeping takes no time.

The engine's backoff, timeouts and watch loop and ``MemoryProvider``'s latency
all take a ``clock=``; given this one, a test of minutes of retries runs at once
and every wait it made can be asserted on.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from reconcile._util.clock import Clock, SystemClock

__all__ = ["Clock", "SimulatedClock", "SystemClock"]

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class SimulatedClock:
    """A :class:`reconcile.Clock` whose ``sleep`` advances time instantly; thread-safe.

    Time is one counter, so concurrent sleeps add up. As with ``SystemClock``, a
    sleep of zero or less does nothing; every sleep that waited is kept in
    :attr:`sleeps` so a test can assert on a backoff schedule.
    """

    def __init__(self, start: datetime = EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock(start=...) needs a timezone-aware datetime")
        self._start = start
        self._elapsed = 0.0
        self._sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        """Seconds since the clock was made: only sleeps and :meth:`advance` move it."""
        with self._lock:
            return self._elapsed

    def time(self) -> float:
        """Wall-clock seconds since the Unix epoch: ``start`` plus the elapsed time."""
        return self.now().timestamp()

    def now(self) -> datetime:
        """Wall-clock time as an aware datetime: ``start`` plus the elapsed time."""
        return self._start + timedelta(seconds=self.monotonic())

    def sleep(self, seconds: float) -> None:
        """Advance time by ``seconds`` at once and remember the sleep."""
        if not seconds > 0:  # zero, negative or NaN: nothing to wait for
            return
        with self._lock:
            self._elapsed += seconds
            self._sleeps.append(seconds)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without anyone sleeping (not recorded in :attr:`sleeps`)."""
        if not seconds >= 0:  # also refuses NaN
            raise ValueError(f"time cannot go back: advance({seconds!r})")
        with self._lock:
            self._elapsed += seconds

    @property
    def sleeps(self) -> tuple[float, ...]:
        """Every sleep that waited, in the order they were made."""
        with self._lock:
            return tuple(self._sleeps)

    def __repr__(self) -> str:
        return f"SimulatedClock(now={self.now().isoformat()})"
