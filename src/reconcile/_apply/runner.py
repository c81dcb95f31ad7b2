"""Apply: run a plan's steps over its graph; a failure skips only what depends on it.

Called by the reconciler. Each step's prerequisites come from ``_order`` (what it
depends on; for deletes, what depended on it); the scheduler starts a step as
soon as those finished, so independent steps run in parallel and a failed step
blocks exactly its dependents. Every outcome is recorded from the calling thread.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
from collections.abc import Hashable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, cast

import attrs

from reconcile._model.refs import resolve
from reconcile._model.secrets import scrub, secret_texts
from reconcile._model.values import Ref
from reconcile._plan.order import prerequisites
from reconcile._plan.plan import Plan
from reconcile._plan.saved import complete
from reconcile._plan.steps import Action, Step
from reconcile._provider.contract import Provider
from reconcile._provider.events import Event, EventKind, emit
from reconcile._util.errors import ReconcileError
from reconcile._util.vocabulary import JobPhase, Status

from .execution import Done, Execution, Job, JobId, Prepared, StepTimeout
from .outcomes import ApplyResult, Interrupted, Outcome
from .recorder import Recorder
from .scheduler import Scheduler

__all__ = ["apply", "perform"]

log = logging.getLogger("reconcile.apply")

Providers = Mapping[str, Provider[Any]]


def apply(
    plan: Plan,
    providers: Providers,
    desired: Iterable[Any] | None = None,
    recorder: Recorder | None = None,
    execution: Execution | None = None,
) -> ApplyResult:
    """Execute ``plan`` over its graph; ``desired`` supplies what a saved plan redacted."""
    execution = execution or Execution()
    steps = complete(plan, providers, desired, reads=execution.reads())
    run = _ApplyRun(steps, providers, recorder or Recorder(), execution)

    def pool() -> cf.Executor:
        workers = max(1, execution.parallelism)
        return cf.ThreadPoolExecutor(workers, thread_name_prefix="reconcile-apply")

    executor = execution.executor or pool()
    renew = pool if execution.executor is None else None
    inline = _inline_kinds(providers, execution)
    scheduler = Scheduler(execution, executor, renew=renew, inline=inline)
    try:
        done, interrupted = scheduler.run(run.jobs(), run)
    finally:
        if execution.executor is None:
            for made in [executor, *scheduler.retired, scheduler.executor]:
                made.shutdown(wait=False, cancel_futures=True)
    result = ApplyResult(run.outcomes(done), interrupted)
    if interrupted:
        raise Interrupted(result)
    return result


def _inline_kinds(providers: Providers, execution: Execution) -> set[str]:
    """Kinds whose calls run on this thread: only with the own pool and no step timeout."""
    if execution.executor is not None or execution.step_timeout is not None:
        return set()
    return {kind for kind, provider in providers.items() if provider.inline_apply}


def perform(step: Step, provider: Provider[Any] | None, phase: JobPhase) -> Any:
    """The provider call(s) of one unit of a step; runs on the executor (keep it picklable)."""
    want, have = step.desired, step.actual
    if phase is JobPhase.DESTROY:
        provider.delete(have)  # type: ignore[union-attr]
        return None
    if step.action in (Action.NOOP, Action.FORGET):
        return have
    assert provider is not None, step.kind
    match step.action:
        case Action.CREATE:
            return provider.create(want)
        case Action.UPDATE:
            return provider.update(have, want, step.diff)
        case Action.DELETE:
            provider.delete(have)
            return None
        case Action.REPLACE if phase is JobPhase.CREATE:
            return provider.create(want)
        case Action.REPLACE:
            if have is not None:
                provider.delete(have)
            return provider.create(want)
    raise AssertionError(step.action)


class _ApplyRun:
    """One apply's units and their bookkeeping; the scheduler's ``Hooks``."""

    def __init__(
        self, steps: tuple[Step, ...], providers: Providers, recorder: Recorder, ex: Execution
    ) -> None:
        self.steps = {s.address: s for s in steps}
        self.order = [s.address for s in steps]
        self.providers = providers
        self.recorder = recorder
        self.execution = ex
        self.live: dict[str, Any] = {s.address: s.actual for s in steps}
        self.resolved: dict[str, Step] = {}
        self.intents: dict[str, int | None] = {}
        self.held: list[Event] | None = None  # outcome events waiting for a batch's commit
        self.messages: dict[str, str] = {}  # each failed step's error, its secrets masked

    def jobs(self) -> list[Job]:
        before = prerequisites(tuple(self.steps.values()))
        split = {a for a, s in self.steps.items() if s.creates_first}
        dependents: dict[str, list[str]] = {a: [] for a in self.steps}
        for address, prereqs in before.items():
            for p in prereqs:
                dependents[p].append(address)
        jobs = []
        for address in self.order:
            after = tuple(_unit(p, split, JobPhase.CREATE) for p in before[address])
            kind = self.steps[address].kind
            if address in split:
                create, destroy = _halves(address)
                jobs.append(Job(create, after, kind))
                users = tuple(  # dependents: their new objects, and their old ones gone
                    unit
                    for d in dependents[address]
                    for unit in (_halves(d) if d in split else (JobId(d),))
                )
                jobs.append(Job(destroy, (create,), kind, users))
            else:
                jobs.append(Job(JobId(address), after, kind))
        return jobs

    # -- Hooks -----------------------------------------------------------------

    def prepare(self, job: Job) -> Prepared | Done:
        """The call for a job (idempotent: asked again while waiting for a rate slot)."""
        address, phase = _id(job)
        step = self.steps[address]
        if phase is not JobPhase.DESTROY:
            try:
                step = self._resolved(step)
            except Exception as err:
                return Done(Status.FAILED, error=err)
            self.resolved[address] = step  # what is recorded: references resolved, even in a noop
            if step.action in (Action.NOOP, Action.FORGET) or (
                step.action is Action.UPDATE and not step.diff
            ):
                return Done(Status.OK, result=step.actual)
        self.resolved[address] = step
        if phase is not JobPhase.DESTROY and address not in self.intents:
            self.intents[address] = self.recorder.intend(step)
        return perform, (step, self.providers.get(step.kind), phase)

    def batch(self) -> AbstractContextManager[None]:
        """The recorder's batch; outcome events wait for its commit, so a callback
        that reads the state finds what they report (and takes no lock held here)."""
        if self.recorder.state is None:  # nothing is committed: nothing to wait for
            return contextlib.nullcontext()
        return self._batch()

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        outer = self.held is None
        if outer:
            self.held = []
        try:
            with self.recorder.batch():
                yield
        finally:
            if outer:
                held, self.held = self.held or [], None
                for event in held:
                    emit(self.execution.on_event, event)

    def _emit(self, event: Event) -> None:
        if self.execution.on_event is None:
            return
        if self.held is not None:
            self.held.append(event)
        else:
            emit(self.execution.on_event, event)

    def started(self, job: Job, attempt: int) -> None:
        address = _id(job).address
        step = self.steps[address]
        if attempt == 1 and log.isEnabledFor(logging.INFO):
            _log(logging.INFO, address, "%s: %s", address, step.action)
        if self.execution.on_event is not None:
            event = Event(EventKind.STARTED, address, step.action.value, attempt)
            emit(self.execution.on_event, event)

    def retrying(self, job: Job, attempt: int, error: BaseException, delay: float) -> None:
        address = _id(job).address
        text = self._message(address, error)
        _log(
            logging.WARNING,
            address,
            "%s: attempt %d failed (%s); retrying in %.2fs",
            address, attempt, text, delay,
        )  # fmt: skip
        action = self.steps[address].action.value
        emit(
            self.execution.on_event,
            Event(EventKind.RETRIED, address, action, attempt, text, delay),
        )

    def finished(self, job: Job, done: Done) -> None:
        address, phase = _id(job)
        step = self.resolved.get(address, self.steps[address])
        intent = self.intents.get(address)
        action = step.action.value
        if done.status is Status.OK:
            if phase is JobPhase.DESTROY:
                self.recorder.destroyed_old(step)
            else:
                self.live[address] = done.result
                self.recorder.succeeded(step, done.result, intent)
            if self.execution.on_event is not None:
                self._emit(Event(EventKind.FINISHED, address, action, done.attempts or 1))
        elif done.status is Status.FAILED:
            assert done.error is not None
            text = self.messages[address] = self._message(address, done.error)
            _log(
                logging.WARNING,
                address,
                "%s: %s failed: %s",
                address,
                step.action,
                text,
                failed=True,
            )
            if phase is not JobPhase.DESTROY:
                self.recorder.failed(step, done.error, intent, text)
            self._emit(Event(EventKind.FAILED, address, action, done.attempts, text))
        elif done.status is Status.UNKNOWN:
            timed_out = isinstance(done.error, StepTimeout)
            what = "timed out" if timed_out else "was interrupted"
            _log(logging.WARNING, address, "%s: %s %s; read again next run", address, action, what)
            self.recorder.abandoned(step)
            kind = EventKind.TIMED_OUT if timed_out else EventKind.CANCELLED
            self._emit(Event(kind, address, action, done.attempts))
        else:
            self.recorder.skipped(step, done.status, intent)
            kind = EventKind.SKIPPED if done.status is Status.SKIPPED else EventKind.CANCELLED
            self._emit(Event(kind, address, action))

    # -- helpers ---------------------------------------------------------------

    def _message(self, address: str, error: BaseException) -> str:
        """``repr(error)`` with every sensitive value of the step, before and after
        references were resolved, as desired and as read, masked: a provider may quote one."""
        plain, done = self.steps[address], self.resolved.get(address)
        seen: tuple[Any, ...] = (plain.desired, plain.declared, plain.actual)
        if done is not None:
            seen += (done.desired, done.declared)
        return scrub(repr(error), secret_texts(*seen, copied=plain.copied_sensitive))

    def _resolved(self, step: Step) -> Step:
        """The step with references resolved against what already ran."""
        if not step.references or step.desired is None:
            return step  # None: a saved plan's no-op without its desired state
        copied = step.copied_sensitive
        desired = resolve(step.desired, self._value, copied)
        declared = (
            resolve(step.declared, self._value, copied) if step.declared is not None else desired
        )
        changes: dict[str, Any] = {"desired": desired, "declared": declared}
        if step.action is Action.UPDATE and step.actual is not None:
            changes["diff"] = self.providers[step.kind].diff(desired, step.actual)
        return attrs.evolve(step, **changes)

    def _value(self, r: Ref) -> Any:
        target = self.live.get(r.address)
        if target is None:
            raise ReconcileError(f"reference to {r.address}.{r.field}: it does not exist")
        return getattr(target, r.field)

    def outcomes(self, done: Mapping[Hashable, Done]) -> tuple[Outcome, ...]:
        return tuple(self._outcome(a, done) for a in self.order)

    def _outcome(self, address: str, done: Mapping[Hashable, Done]) -> Outcome:
        step = self.steps[address]
        whole = done.get(JobId(address))  # one unit, unless a create-before-destroy split it
        parts = [whole] if whole is not None else [done[j] for j in _halves(address) if j in done]
        worst = next((d for d in parts if d.status is not Status.OK), parts[0])
        result = parts[0].result
        blocked = cast(JobId, worst.blocked_by).address if worst.blocked_by else None
        return Outcome(
            address, step.action, worst.status, worst.error, blocked,
            sum(d.attempts for d in parts), result, self.messages.get(address),
        )  # fmt: skip


def _log(level: int, address: str, message: str, *args: Any, failed: bool = False) -> None:
    """Every apply log record carries the resource address as ``record.address``;
    a step's failure also ``record.step_failed`` (the CLI's summary lists it already)."""
    log.log(level, message, *args, extra={"address": address, "step_failed": failed})


def _unit(address: str, split: set[str], phase: JobPhase) -> JobId:
    return JobId(address, phase) if address in split else JobId(address)


def _halves(address: str) -> tuple[JobId, JobId]:
    """The two jobs of a create-before-destroy replace: the new object, then the old gone."""
    return JobId(address, JobPhase.CREATE), JobId(address, JobPhase.DESTROY)


def _id(job: Job) -> JobId:
    """An apply job's id (the scheduler keeps ids opaque)."""
    return cast(JobId, job.id)
