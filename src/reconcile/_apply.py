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
from ._planner import document
from ._provider import Provider
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


def apply(plan: Plan, providers: Providers, desired: Iterable[Any] | None = None) -> ApplyResult:
    """Execute ``plan``; ``desired`` supplies values a saved plan had to redact."""
    steps = _complete(plan, providers, desired)
    before = prerequisites(steps)
    status: dict[str, Status] = {}
    outcomes = []
    for step in steps:
        blocked = next((d for d in before[step.address] if status[d] is not Status.OK), None)
        if blocked is not None:
            outcome = Outcome(step.address, step.action, Status.SKIPPED, blocked_by=blocked)
            log.info("%s: skipped, %s did not succeed", step.address, blocked)
        else:
            outcome = _run(step, providers[step.kind])
        status[step.address] = outcome.status
        outcomes.append(outcome)
    return ApplyResult(tuple(outcomes))


def _run(step: Step, provider: Provider[Any]) -> Outcome:
    log.info("%s: %s", step.address, step.action, extra={"address": step.address})
    try:
        result = _execute(step, provider)
    except Exception as err:
        log.warning("%s: %s failed: %r", step.address, step.action, err)
        return Outcome(step.address, step.action, Status.FAILED, error=err)
    return Outcome(step.address, step.action, Status.OK, result=result)


def _execute(step: Step, provider: Provider[Any]) -> Any:
    want, have = step.desired, step.actual
    match step.action:
        case Action.NOOP:
            return have
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
            provider.delete(have)
            return provider.create(want)
    raise AssertionError(step.action)


_NEEDS_WANT = (Action.CREATE, Action.UPDATE, Action.REPLACE)
_NEEDS_HAVE = (Action.UPDATE, Action.REPLACE)


def _complete(plan: Plan, providers: Providers, desired: Iterable[Any] | None) -> tuple[Step, ...]:
    """Fill in what a plan read from JSON could not rebuild, refusing it if stale."""
    supplied = {address_of(r): r for r in desired or ()}
    out = []
    for step in plan.steps:
        if step.action in _NEEDS_WANT and step.desired is None:
            step = attrs.evolve(step, desired=_resupplied(step, supplied, plan.salt))
        if step.action in _NEEDS_HAVE and step.actual is None:
            have = providers[step.kind].read(step.desired)
            if have is None or document(have, plan.salt) != step.before:
                raise StalePlanError(f"{step.address}: the actual state changed since planning")
            step = attrs.evolve(step, actual=have)
        out.append(step)
    return tuple(out)


def _resupplied(step: Step, supplied: Mapping[str, Any], salt: str) -> Any:
    want = supplied.get(step.address)
    if want is None:
        raise PlanNeedsDesiredStateError(
            f"{step.address}: the saved plan redacts sensitive values; "
            "apply it together with the desired state it was made from"
        )
    if document(want, salt) != step.after:
        raise StalePlanError(f"{step.address}: the desired state changed since planning")
    return want
