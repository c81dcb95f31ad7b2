"""A simulated kill between a provider write and its record, shared by the crash tests."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from typing import Any


class Crash(BaseException):
    """A kill: not an ``Exception``, so nothing in the engine may swallow it."""


class Fuse:
    """Counts provider writes across kinds; blows before or after the Nth one when armed."""

    def __init__(self) -> None:
        self.left: int | None = None
        self.after = False
        self.blown_at: str | None = None

    def arm(self, nth: int, after: bool) -> None:
        self.left, self.after, self.blown_at = nth, after, None

    def disarm(self) -> None:
        self.left = None

    def write(self, address: str, call: Callable[[], Any]) -> Any:
        """Runs ``call`` (the write to ``address``), or raises ``Crash`` before or after it."""
        if self.left is None:
            return call()
        self.left -= 1
        if self.left > 0:
            return call()
        self.left, self.blown_at = None, address
        if self.after:
            call()
        raise Crash


class InlineExecutor(cf.Executor):
    """Runs each step in the caller's thread, so a ``Crash`` escapes as a kill would."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:
            future.set_exception(err)
        return future
