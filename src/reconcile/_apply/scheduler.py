"""The scheduler: run units of work over a dependency graph on any ``Executor``.

Called by apply. A unit starts as soon as its own prerequisites finished (not
level by level), within the global parallelism and its provider's limits.
Retries, timeouts and cancellation are decided here, in one place, on the
calling thread; workers only run the provider call they were handed, so any
``concurrent.futures.Executor`` (threads, processes, a Dask cluster) can run them.
Kinds named ``inline`` make their calls on the calling thread instead, up to
``_INLINE_BATCH`` per cycle. Each cycle prepares its jobs in one ``hooks.batch()``
and completes them in another, so their state changes commit together. Ready
jobs queue per kind, and a cycle takes from the front of each queue only what
may start, so its cost does not grow with what waits.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import random
from collections.abc import Callable, Collection, Hashable, Sequence
from typing import Any

from reconcile._util.errors import TransientError
from reconcile._util.vocabulary import Status

from .calls import Called, Running, timed
from .execution import Done, Execution, Hooks, Job, Prepared, StepTimeout
from .graph import Run

__all__ = ["Done", "Job", "Prepared", "Scheduler", "StepTimeout"]

_TICK = 0.05
_INLINE_BATCH = 100  # inline calls per cycle: their records commit together after them


class Scheduler:
    """Runs jobs in dependency order with retries, per-step timeouts and cancellation."""

    def __init__(
        self,
        options: Execution,
        executor: cf.Executor,
        *,
        renew: Callable[[], cf.Executor] | None = None,
        inline: Collection[str] = (),
    ) -> None:
        """Run on ``executor`` under ``options``; ``renew`` makes a fresh pool after a
        timeout abandons a call, and ``inline`` kinds make their calls on this thread."""
        self.executor = executor
        self._inline = frozenset(inline)
        self._renew = renew
        self.retired: list[cf.Executor] = []
        self._parallelism = max(1, options.parallelism)
        self._retry = options.retry
        self._timeout = options.step_timeout
        self._clock = options.clock
        self._limiters = options.limiters
        self._cancel = options.cancel
        self._rng = random.Random(options.seed)

    def run(self, jobs: Sequence[Job], hooks: Hooks) -> tuple[dict[Hashable, Done], bool]:
        """Run every job; each job's ``Done`` by id, and whether Ctrl-C interrupted the run."""
        state = Run(jobs)
        try:
            while not state.finished:
                self._start_ready(state, hooks)
                self._wait(state, hooks)
        except KeyboardInterrupt:
            self._cancel.set()
            self._drain(state, hooks)
            return state.done, True
        return state.done, False

    def _start_ready(self, state: Run, hooks: Hooks) -> None:
        now = self._clock.monotonic()
        while state.timers and state.timers[0][0] <= now:
            _, _, job_id, attempt = heapq.heappop(state.timers)
            state.ready.put_back([(job_id, attempt)])
        launches = self._prepare_cycle(state, hooks, now)
        for n, (job, attempt, prepared) in enumerate(launches):
            if self._cancel.is_set():  # by a call made here: start no more
                self._put_back(state, launches[n:])
                break
            try:
                self._launch(state, hooks, job, attempt, prepared)
            except BaseException:  # Ctrl-C: what did not start waits, to be cancelled
                self._put_back(state, launches[n + 1 :])
                raise
        if self._cancel.is_set():
            self._cancel_waiting(state, hooks)

    def _prepare_cycle(
        self, state: Run, hooks: Hooks, now: float
    ) -> list[tuple[Job, int, Prepared]]:
        """The ready jobs that start this cycle, prepared in one batch (their intents
        commit together, before any starts); jobs that need no call finish here.

        Each kind's queue is taken from the front while its lane (pool or inline) has
        room and its limiter admits, so a cycle costs what it starts, not what waits.
        """
        launches: list[tuple[Job, int, Prepared]] = []
        # Free pool slots, and how many calls may run here in a row (they take no slot).
        room = {
            False: self._parallelism - len(state.running),
            True: _INLINE_BATCH if self._inline else 0,
        }
        with hooks.batch():
            for kind, waiting in state.ready.queues():
                inline = kind in self._inline
                for _ in range(len(waiting)):  # what became ready meanwhile waits a cycle
                    if self._cancel.is_set() or room[inline] <= 0 or not waiting:
                        break
                    job_id, attempt = waiting[0]
                    job = state.jobs[job_id]
                    prepared = hooks.prepare(job)  # idempotent; decides steps that need no call
                    if isinstance(prepared, Done):
                        state.ready.pop(kind)
                        state.finish(job.id, prepared, hooks)
                        continue
                    admitted = self._admit(state, job, attempt, now)
                    if admitted is None:
                        break  # the kind's limiter is full: none of it starts this cycle
                    if admitted:
                        state.ready.pop(kind)
                        launches.append((job, attempt, prepared))
                        room[inline] -= 1
                if self._cancel.is_set() or (room[False] <= 0 and room[True] <= 0):
                    break
        return launches

    def _put_back(self, state: Run, unstarted: list[tuple[Job, int, Prepared]]) -> None:
        """Jobs admitted but not started: ready again (in order), their limiter slots free."""
        for job, _, _ in unstarted:
            self._release(job)
        state.ready.put_back([(job.id, attempt) for job, attempt, _ in unstarted])

    def _admit(self, state: Run, job: Job, attempt: int, now: float) -> bool | None:
        """True: start it now; False: it waits on a timer for its rate slot; None: the
        kind's limiter has no free slot (it stays first in its queue)."""
        limiter = self._limiters.get(job.kind)
        if limiter is None:
            return True
        wait = limiter.wait_time()
        if wait is None:
            return None
        if wait > 0:
            state.ready.pop(job.kind)
            heapq.heappush(state.timers, (now + wait, next(state.seq), job.id, attempt))
            return False
        limiter.acquire()
        return True

    def _launch(self, state: Run, hooks: Hooks, job: Job, attempt: int, prepared: Prepared) -> None:
        fn, args = prepared
        hooks.started(job, attempt)
        began: list[float] = []  # filled by the worker (shared memory in a thread pool)
        started = self._clock.monotonic()
        if job.kind not in self._inline:
            future = self.executor.submit(timed, began, self._clock, fn, *args)
            state.running[future] = Running(job, future, started, attempt, began)
            future.add_done_callback(state.completions.put)
            return
        run = Running(job, Called(fn, args), started, attempt, began)
        error = run.future.exception()
        if error is not None and not isinstance(error, Exception):
            self._complete(state, hooks, run)  # Ctrl-C: stop here
        state.called.append(run)

    def _release(self, job: Job) -> None:
        limiter = self._limiters.get(job.kind)
        if limiter is not None:
            limiter.release()

    def _wait(self, state: Run, hooks: Hooks) -> None:
        if state.called:  # calls made on this thread: done, and so are some on the pool
            done = state.completed(wait=None)
        elif state.running:
            done = state.completed(wait=_TICK)
        else:
            if state.timers and not state.ready:
                self._clock.sleep(state.timers[0][0] - self._clock.monotonic())
            return
        called, state.called = state.called, []
        with hooks.batch():  # this cycle's records commit together, before dependents start
            for run in called:
                self._complete(state, hooks, run)
            for future in done:
                self._complete(state, hooks, state.running.pop(future))
        self._expire(state, hooks)

    def _complete(self, state: Run, hooks: Hooks, run: Running) -> None:
        self._release(run.job)
        error = run.future.exception()
        if error is not None and not isinstance(error, Exception):
            # KeyboardInterrupt, SystemExit: not a step failure. What waits is cancelled;
            # the call's own outcome is unknown and its intent stays open.
            self._cancel.set()
            self._cancel_waiting(state, hooks)
            state.finish(run.job.id, Done(Status.UNKNOWN, error=error, attempts=run.attempt), hooks)
            raise error
        if error is None:
            state.finish(
                run.job.id, Done(Status.OK, run.future.result(), attempts=run.attempt), hooks
            )
        elif isinstance(error, TransientError) and run.attempt < self._retry.attempts:
            delay = self._retry.delay(run.attempt, self._rng)
            hooks.retrying(run.job, run.attempt, error, delay)
            at = self._clock.monotonic() + delay
            heapq.heappush(state.timers, (at, next(state.seq), run.job.id, run.attempt + 1))
        else:
            state.finish(run.job.id, Done(Status.FAILED, error=error, attempts=run.attempt), hooks)

    def _expire(self, state: Run, hooks: Hooks) -> None:
        if self._timeout is None:
            return
        now = self._clock.monotonic()
        for future, run in list(state.running.items()):
            if not run.began and not future.running():
                continue  # still queued: its time has not started
            started = run.began[0] if run.began else run.started
            if now - started > self._timeout:
                del state.running[future]
                job = run.job
                future.add_done_callback(self._release_when_done(job))  # slot held till it ends
                error = StepTimeout(f"{job.id}: still running after {self._timeout:g}s")
                state.finish(job.id, Done(Status.UNKNOWN, error=error, attempts=run.attempt), hooks)
                self._replace_executor()

    def _release_when_done(self, job: Job) -> Callable[[cf.Future[Any]], None]:
        return lambda _: self._release(job)

    def _replace_executor(self) -> None:
        """An abandoned call keeps its worker busy: submit the rest to a fresh pool."""
        if self._renew is not None:
            self.retired.append(self.executor)
            self.executor = self._renew()

    def _cancel_waiting(self, state: Run, hooks: Hooks) -> None:
        for job_id, _ in state.ready.take_all():
            state.finish(job_id, Done(Status.CANCELLED), hooks)
        for _, _, job_id, _ in state.timers:
            state.finish(job_id, Done(Status.CANCELLED), hooks)
        state.timers.clear()
        for job_id in list(state.waiting):
            state.finish(job_id, Done(Status.CANCELLED), hooks)

    def _drain(self, state: Run, hooks: Hooks) -> None:
        """After an interrupt: start nothing new, let running steps finish or time out."""
        self._cancel_waiting(state, hooks)
        while state.running or state.called:
            self._wait(state, hooks)
