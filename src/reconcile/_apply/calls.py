"""Executor adapters: a provider call on the pool or on the calling thread, read alike.

Used by the scheduler; a call made inline looks like a finished future, and a
pool call notes when its worker really started (step timeouts count from there).
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from typing import Any

import attrs

from reconcile._util.clock import Clock

from .execution import Job

__all__ = ["Called", "Running", "timed"]


class Called:
    """The outcome of a call made on this thread, read as a finished future is."""

    __slots__ = ("_error", "_result")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._result: Any = None
        self._error: BaseException | None = None
        try:
            self._result = fn(*args)
        except BaseException as error:  # Ctrl-C included: the scheduler decides what it means
            self._error = error

    def result(self) -> Any:
        return self._result

    def exception(self) -> BaseException | None:
        return self._error


@attrs.define
class Running:
    job: Job
    future: cf.Future[Any] | Called
    started: float
    attempt: int
    began: list[float] = attrs.field(factory=list)


def timed(began: list[float], clock: Clock, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` on the worker, noting when it really started (timeouts count from there)."""
    began.append(clock.monotonic())
    return fn(*args)
