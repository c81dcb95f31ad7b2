"""Time as a dependency: the engine's backoff, timeouts and watch loop take a ``Clock``.

``SystemClock`` is the real one; ``reconcile.testing.SimulatedClock`` makes
tests of retries and intervals instant and deterministic.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Monotonic seconds and sleeping; ``time()`` is wall-clock seconds since the epoch."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def time(self) -> float: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def time(self) -> float:
        return time.time()
