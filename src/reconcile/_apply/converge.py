"""Converge: observe, plan, apply, repeated until nothing is left to do.

Called by the reconciler with two closures (plan and apply), so this module
holds only the loop's policy: stop on an empty plan, stop when the same
non-empty change comes back (a provider that never takes a value), stop at the bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from reconcile._plan.plan import Plan

from .outcomes import ApplyResult

__all__ = ["ConvergeReport", "Round", "converge"]

Path = tuple[str | int, ...]


@attrs.frozen
class Round:
    """One observe-plan-apply pass; ``result`` is None when the plan was empty."""

    plan: Plan
    result: ApplyResult | None = None


@attrs.frozen
class ConvergeReport:
    """How converge ended: ``converged``, every round, and what kept coming back."""

    converged: bool
    rounds: tuple[Round, ...]
    oscillating: tuple[tuple[str, Path], ...] = ()

    @property
    def final_plan(self) -> Plan:
        return self.rounds[-1].plan

    @property
    def stuck(self) -> bool:
        """True when converge stopped early because the same change came back."""
        return (
            not self.converged
            and len(self.rounds) >= 2
            and _same_change(self.rounds[-1].plan, self.rounds[-2].plan)
        )


def converge(
    plan: Callable[[], Plan],
    apply: Callable[[Plan], ApplyResult],
    max_rounds: int,
    cancelled: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = lambda _: None,
    settle: int = 3,
) -> ConvergeReport:
    """Run rounds until a plan is empty, a change repeats, ``max_rounds``, or cancellation.

    A change that comes back right after it was applied may only be a read that
    lags the write (eventual consistency): it is read again up to ``settle``
    times, with growing pauses, before it counts as oscillation.
    """
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1, not {max_rounds}")
    rounds: list[Round] = []
    for _ in range(max_rounds):
        if cancelled():
            break
        current = plan()
        if rounds and _same_change(current, rounds[-1].plan) and _applied(rounds[-1]):
            current = _settled(plan, current, rounds[-1].plan, sleep, settle)
        if current.is_empty:
            refreshed = apply(current) if current.stale_records else None
            rounds.append(Round(current, refreshed))
            return ConvergeReport(True, tuple(rounds))
        if rounds and _same_change(current, rounds[-1].plan):
            oscillating = _oscillating(rounds[-1])
            rounds.append(Round(current))
            return ConvergeReport(False, tuple(rounds), oscillating)
        rounds.append(Round(current, apply(current)))
    return ConvergeReport(False, tuple(rounds))


def _applied(last: Round) -> bool:
    return last.result is not None and last.result.ok


def _settled(
    plan: Callable[[], Plan],
    current: Plan,
    previous: Plan,
    sleep: Callable[[float], None],
    settle: int,
) -> Plan:
    """Read again while the change applied last round keeps coming back (lagging reads)."""
    for attempt in range(settle):
        sleep(0.1 * 2**attempt)
        current = plan()
        if not _same_change(current, previous):
            break
    return current


def _signature(plan: Plan) -> frozenset[Any]:
    return frozenset(
        (s.address, s.action, tuple((c.path, c.op, repr(c.new)) for c in s.diff))
        for s in plan.changes
    )


def _same_change(a: Plan, b: Plan) -> bool:
    return _signature(a) == _signature(b)


def _oscillating(previous: Round) -> tuple[tuple[str, Path], ...]:
    """Addresses and paths the previous round applied successfully that came back anyway."""
    if previous.result is None or not previous.result.ok:
        return ()
    found: list[tuple[str, Path]] = []
    for step in previous.plan.changes:
        found.extend((step.address, c.path) for c in step.diff)
        if not step.diff:
            found.append((step.address, ()))
    return tuple(found)
