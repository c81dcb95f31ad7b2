"""What the scheduler runs and how: jobs over a graph, how each ended, its hooks, and
the ``Execution`` options (parallelism, retries, timeouts, limits) passed whole.

The scheduler's own vocabulary, apart from its loop, so apply and the
bookkeeping share it without importing the loop.
"""

from __future__ import annotations

import concurrent.futures as cf
import random
import threading
from collections.abc import Callable, Collection, Hashable, Mapping
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol

import attrs

from reconcile._plan.planner import Planning
from reconcile._provider.events import EventSink
from reconcile._provider.limits import Limiter
from reconcile._provider.observe import Retrying
from reconcile._provider.policy import RetryPolicy
from reconcile._util.clock import Clock, SystemClock
from reconcile._util.errors import ReconcileError
from reconcile._util.vocabulary import JobPhase, Status

__all__ = ["Done", "Execution", "Hooks", "Job", "JobId", "Prepared", "StepTimeout"]


@attrs.frozen
class Execution:
    """How apply runs steps: parallelism, executor, retries, timeouts, clock, events."""

    parallelism: int = 10
    executor: cf.Executor | None = None
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    step_timeout: float | None = None
    clock: Clock = attrs.field(factory=SystemClock)
    on_event: EventSink | None = None
    limiters: Mapping[str, Limiter] = attrs.field(factory=dict)
    cancel: threading.Event = attrs.field(factory=threading.Event)
    seed: int | None = None

    def reads(self) -> Retrying:
        """How reads retry a ``TransientError``: this policy, clock and event sink."""
        return Retrying(self.retry, self.clock, self.on_event, random.Random(self.seed))

    def planning(
        self,
        include: Collection[str] | None,
        exclude: Collection[str] | None,
        reads: Retrying | None = None,
    ) -> Planning:
        """How a plan observes under these options: same parallelism, limiters and retries."""
        return Planning(self.parallelism, self.limiters, include, exclude, reads or self.reads())


class JobId(NamedTuple):
    """An apply job's id: the step's address and the part of it the job runs.

    Prints as before the phase was a field: ``address``, or ``address#create``.
    """

    address: str
    phase: JobPhase = JobPhase.ALL

    def __str__(self) -> str:
        return self.address if self.phase is JobPhase.ALL else f"{self.address}#{self.phase}"


class StepTimeout(ReconcileError):
    """A step ran past its timeout; it was abandoned and its outcome is unknown."""


@attrs.frozen
class Job:
    """One unit of work: prerequisites that must succeed, and ones that need only finish."""

    id: Hashable  # apply's are ``JobId``s; the scheduler only compares and hashes them
    after: tuple[Hashable, ...]
    kind: str
    after_finished: tuple[Hashable, ...] = ()


@attrs.frozen
class Done:
    """How a job ended: ``ok``, ``failed``, ``skipped``, ``unknown`` or ``cancelled``."""

    status: Status
    result: Any = None
    error: BaseException | None = None
    blocked_by: Hashable | None = None
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
