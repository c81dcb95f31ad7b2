"""The scheduler's bookkeeping of one run: what waits, what is ready, running and done.

A job becomes ready when its prerequisites finished; a failure skips (or a
cancel cancels) its dependents all the way down. Ready jobs queue per kind.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import itertools
import queue
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from reconcile._util.vocabulary import Status

from .calls import Running
from .execution import Done, Hooks, Job

__all__ = ["Ready", "Run", "blocked"]


class Run:
    """Book-keeping of one run: what waits, what is ready, running, done."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = {j.id: j for j in jobs}
        self.waiting: dict[Hashable, int] = {}
        self.dependents: dict[Hashable, list[Hashable]] = {j.id: [] for j in jobs}
        self.ready = Ready({j.id: j.kind for j in jobs})
        self.running: dict[cf.Future[Any], Running] = {}  # on the executor
        self.called: list[Running] = []  # made on this thread, not yet completed
        # Pool calls put their future here as they end: waiting costs the same for 1 or 1,000.
        self.completions: queue.SimpleQueue[cf.Future[Any]] = queue.SimpleQueue()
        self.timers: list[tuple[float, int, Hashable, int]] = []
        self.done: dict[Hashable, Done] = {}
        self.seq = itertools.count()
        self.soft: set[tuple[Hashable, Hashable]] = set()
        for job in jobs:
            prereqs = [p for p in job.after if p in self.jobs]
            soft = [p for p in job.after_finished if p in self.jobs and p not in prereqs]
            for p in prereqs + soft:
                self.dependents[p].append(job.id)
            self.soft.update((p, job.id) for p in soft)
            if prereqs or soft:
                self.waiting[job.id] = len(prereqs) + len(soft)
            else:
                self.ready.append((job.id, 1))

    def completed(self, wait: float | None) -> list[cf.Future[Any]]:
        """Running pool calls that ended, in the order they ended; with ``wait``, the
        first is waited for that long. Abandoned (timed-out) calls are left out."""
        ended: list[cf.Future[Any]] = []
        if wait is not None:
            try:
                ended.append(self.completions.get(timeout=wait))
            except queue.Empty:
                # The queue is a hint: a Ctrl-C between taking a future and keeping it
                # loses it. Nothing came for a whole tick, so look at the calls themselves.
                return [f for f in self.running if f.done()]
        while True:
            try:
                ended.append(self.completions.get_nowait())
            except queue.Empty:
                break
        return [f for f in ended if f in self.running]

    @property
    def finished(self) -> bool:
        return len(self.done) == len(self.jobs)

    def finish(self, job_id: Hashable, done: Done, hooks: Hooks) -> None:
        """Record ``done``; release dependents, or skip (cancel) them all the way down."""
        pending = [(job_id, done)]
        while pending:
            current, outcome = pending.pop()
            if current in self.done:
                continue
            self.done[current] = outcome
            hooks.finished(self.jobs[current], outcome)
            for dependent in self.dependents[current]:
                if dependent in self.done:
                    continue
                if outcome.status is not Status.OK and (current, dependent) not in self.soft:
                    self.waiting.pop(dependent, None)
                    self.ready.discard(dependent)
                    pending.append((dependent, blocked(outcome, current)))
                    continue
                if dependent not in self.waiting:
                    continue
                self.waiting[dependent] -= 1
                if self.waiting[dependent] == 0:
                    del self.waiting[dependent]
                    self.ready.append((dependent, 1))


class Ready:
    """Jobs whose prerequisites finished: a first-in, first-out queue per kind."""

    def __init__(self, kinds: Mapping[Hashable, str]) -> None:
        self._kind = kinds  # each job's kind, by id
        self._queues: dict[str, collections.deque[tuple[Hashable, int]]] = {}
        self._ids: set[Hashable] = set()

    def __bool__(self) -> bool:
        return bool(self._ids)

    def queues(self) -> list[tuple[str, collections.deque[tuple[Hashable, int]]]]:
        """The kinds with ready jobs, and their queues (live: take with ``pop``)."""
        return [(kind, fifo) for kind, fifo in self._queues.items() if fifo]

    def append(self, item: tuple[Hashable, int]) -> None:
        self._queue(item[0]).append(item)
        self._ids.add(item[0])

    def put_back(self, items: list[tuple[Hashable, int]]) -> None:
        """Ahead of their kinds' queues, in the order given (they were first before)."""
        for item in reversed(items):
            self._queue(item[0]).appendleft(item)
            self._ids.add(item[0])

    def pop(self, kind: str) -> tuple[Hashable, int]:
        item = self._queues[kind].popleft()
        self._ids.discard(item[0])
        return item

    def discard(self, job_id: Hashable) -> None:
        if job_id in self._ids:  # rare: most jobs blocked by a failure were never ready
            fifo = self._queue(job_id)  # changed in place: a cycle may be reading it
            fifo.remove(next(item for item in fifo if item[0] == job_id))
            self._ids.discard(job_id)

    def take_all(self) -> list[tuple[Hashable, int]]:
        items = [item for fifo in self._queues.values() for item in fifo]
        self._queues.clear()
        self._ids.clear()
        return items

    def _queue(self, job_id: Hashable) -> collections.deque[tuple[Hashable, int]]:
        kind = self._kind[job_id]
        fifo = self._queues.get(kind)
        if fifo is None:
            fifo = self._queues[kind] = collections.deque()
        return fifo


def blocked(outcome: Done, by: Hashable) -> Done:
    status = Status.CANCELLED if outcome.status is Status.CANCELLED else Status.SKIPPED
    return Done(status, blocked_by=by)
