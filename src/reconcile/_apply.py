"""Apply: run a plan's steps in order; a failure skips only what depends on it.

Called by the reconciler. Each step's prerequisites come from ``_order`` (what it
depends on; for deletes, what depended on it), so a failed step blocks exactly
its dependents while independent steps still run.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._errors import PlanNeedsDesiredStateError, StalePlanError
from ._model import address_of
from ._order import prerequisites
from ._plan import Plan
from ._provider import Provider
from ._recorder import Recorder
from ._records import document
from ._secrets import Redacted
from ._serialize import structure
from ._steps import Action, Step

__all__ = ["ApplyResult", "Outcome", "Status", "apply"]

log = logging.getLogger("reconcile.apply")

Providers = Mapping[str, Provider[Any]]


class Status(enum.StrEnum):
    """How one step of an apply ended."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@attrs.frozen
class Outcome:
    """One step's result: its status, the error if it failed, what blocked it if skipped."""

    address: str
    action: Action
    status: Status
    error: BaseException | None = attrs.field(default=None, eq=False)
    blocked_by: str | None = None
    result: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class ApplyResult:
    """Every step's outcome in the order they ran; ``ok`` when none failed or was skipped."""

    outcomes: tuple[Outcome, ...] = ()

    @property
    def ok(self) -> bool:
        return all(o.status is Status.OK for o in self.outcomes)

    def _with(self, status: Status) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status is status)

    @property
    def applied(self) -> tuple[Outcome, ...]:
        """Steps that changed something and succeeded."""
        return tuple(o for o in self._with(Status.OK) if o.action is not Action.NOOP)

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return self._with(Status.FAILED)

    @property
    def skipped(self) -> tuple[Outcome, ...]:
        return self._with(Status.SKIPPED)

    def outcome(self, address: str) -> Outcome:
        for o in self.outcomes:
            if o.address == address:
                return o
        raise KeyError(address)


def apply(
    plan: Plan,
    providers: Providers,
    desired: Iterable[Any] | None = None,
    recorder: Recorder | None = None,
) -> ApplyResult:
    """Execute ``plan``; ``desired`` supplies values a saved plan had to redact."""
    recorder = recorder or Recorder()
    steps = _complete(plan, providers, desired)
    before = prerequisites(steps)
    status: dict[str, Status] = {}
    outcomes = []
    for step in steps:
        blocked = next((d for d in before[step.address] if status[d] is not Status.OK), None)
        if blocked is not None:
            outcome = Outcome(step.address, step.action, Status.SKIPPED, blocked_by=blocked)
            log.info("%s: skipped, %s did not succeed", step.address, blocked)
            recorder.skipped(step)
        else:
            outcome = _run(step, providers.get(step.kind), recorder)
        status[step.address] = outcome.status
        outcomes.append(outcome)
    return ApplyResult(tuple(outcomes))


def _run(step: Step, provider: Provider[Any] | None, recorder: Recorder) -> Outcome:
    if step.changes_anything:
        log.info("%s: %s", step.address, step.action, extra={"address": step.address})
    intent = recorder.intend(step)
    try:
        result = _execute(step, provider)
    except Exception as err:
        log.warning("%s: %s failed: %r", step.address, step.action, err)
        recorder.failed(step, err, intent)
        return Outcome(step.address, step.action, Status.FAILED, error=err)
    recorder.succeeded(step, result, intent)
    return Outcome(step.address, step.action, Status.OK, result=result)


def _execute(step: Step, provider: Provider[Any] | None) -> Any:
    want, have = step.desired, step.actual
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
        case Action.REPLACE if step.create_before_destroy:
            made = provider.create(want)
            provider.delete(have)
            return made
        case Action.REPLACE:
            if have is not None:
                provider.delete(have)
            return provider.create(want)
    raise AssertionError(step.action)


_NEEDS_WANT = (Action.CREATE, Action.UPDATE, Action.REPLACE)
_NEEDS_HAVE = (Action.UPDATE, Action.REPLACE, Action.DELETE)


def _complete(plan: Plan, providers: Providers, desired: Iterable[Any] | None) -> tuple[Step, ...]:
    """Fill in what a saved plan could not rebuild, refusing it if the world moved since."""
    supplied = {address_of(r): r for r in desired or ()}
    out = []
    for step in plan.steps:
        if step.action in _NEEDS_WANT and step.desired is None:
            want, declared = _resupplied(step, supplied, plan.salt)
            step = attrs.evolve(step, desired=want, declared=declared)
        if plan.saved and step.action is not Action.FORGET:
            step = _reobserved(step, providers[step.kind], plan.salt)
        out.append(step)
    return tuple(out)


def _reobserved(step: Step, provider: Provider[Any], salt: str) -> Step:
    """Read again what a saved plan saw; any difference makes the plan stale."""
    probe = step.desired if step.desired is not None else step.actual
    if probe is None:
        if step.action in _NEEDS_HAVE:
            raise StalePlanError(f"{step.address}: cannot re-read it to check the saved plan")
        return step
    have = provider.read(probe)
    seen = document(have, salt) if have is not None else None
    if seen != step.before:
        raise StalePlanError(f"{step.address}: the actual state changed since planning")
    return attrs.evolve(step, actual=have)


def _resupplied(step: Step, supplied: Mapping[str, Any], salt: str) -> tuple[Any, Any]:
    """The plan's own ``after`` with its secrets taken from the re-supplied desired state."""
    declared = supplied.get(step.address)
    if declared is None or step.after is None:
        raise PlanNeedsDesiredStateError(
            f"{step.address}: the saved plan redacts sensitive values; "
            "apply it together with the desired state it was made from"
        )
    given = document(declared, salt)
    doc = dict(step.after)
    for name, value in step.after.items():
        if isinstance(value, Redacted):
            if given.get(name) != value:
                raise StalePlanError(f"{step.address}: {name} changed since planning")
            doc[name] = getattr(declared, name)
    want = attrs.evolve(structure(doc, type(declared)), depends_on=step.depends_on)
    return want, declared
