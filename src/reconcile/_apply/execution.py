"""What the scheduler runs: jobs over a graph, how each ended, and the hooks it calls.

The scheduler's own vocabulary, apart from its loop, so apply and the
bookkeeping share it without importing the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import attrs

from reconcile._util.errors import ReconcileError

__all__ = ["Done", "Hooks", "Job", "Prepared", "StepTimeout"]


class StepTimeout(ReconcileError):
    """A step ran past its timeout; it was abandoned and its outcome is unknown."""


@attrs.frozen
class Job:
    """One unit of work: prerequisites that must succeed, and ones that need only finish."""

    id: str
    after: tuple[str, ...]
    kind: str
    after_finished: tuple[str, ...] = ()


@attrs.frozen
class Done:
    """How a job ended: ``ok``, ``failed``, ``skipped``, ``unknown`` or ``cancelled``."""

    status: str
    result: Any = None
    error: BaseException | None = None
    blocked_by: str | None = None
    attempts: int = 0


Prepared = tuple[Callable[..., Any], tuple[Any, ...]]
"""The provider call a job makes, and its arguments."""


class Hooks(Protocol):
    """What the scheduler asks of its caller; apply implements it."""

    def prepare(self, job: Job) -> Prepared | Done:
        """The call to submit, or an outcome decided without a provider call."""
        ...

    def started(self, job: Job, attempt: int) -> None: ...

    def batch(self) -> AbstractContextManager[None]:
        """Around each cycle's preparations, and each cycle's completions: one commit."""
        ...

    def retrying(self, job: Job, attempt: int, error: BaseException, delay: float) -> None: ...

    def finished(self, job: Job, done: Done) -> None: ...
