"""Assertions for users' tests whose failure messages show the plan that remained.

``assert_converges`` and ``assert_idempotent`` run the real ``Reconciler`` over
the given providers; on failure they say what kept coming back, which steps
failed and with what, and print the remaining plan as a person would read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from reconcile._apply.converge import ConvergeReport
from reconcile._apply.outcomes import ApplyResult
from reconcile._plan.render import render_path
from reconcile._provider.contract import Provider
from reconcile._reconciler import Reconciler

from ._counting import CountingProvider
from ._memory import MemoryProvider

__all__ = ["assert_converges", "assert_idempotent"]

_ROUNDS = 10  # the Reconciler's own default bound


def assert_converges(
    desired: Iterable[Any],
    providers: Iterable[Provider[Any]],
    *,
    max_rounds: int = _ROUNDS,
    **options: Any,
) -> ConvergeReport:
    """Converge ``desired`` through ``providers``; fail unless it ends with an empty plan.

    ``options`` go to the ``Reconciler`` (``state=``, ``clock=``, ``parallelism=``...).
    """
    report = Reconciler(providers, **options).converge(desired, max_rounds=max_rounds)
    if not report.converged:
        raise AssertionError(_not_converged(report, max_rounds))
    return report


def assert_idempotent(
    desired: Iterable[Any], providers: Iterable[Provider[Any]], **options: Any
) -> None:
    """Converge, then converge again: the second time must plan and write nothing.

    Writes are counted through providers that count them (``MemoryProvider``,
    ``CountingProvider``); for others the empty second plan is the evidence.
    ``options`` go to the ``Reconciler``.
    """
    wanted, given = list(desired), list(providers)
    reconciler = Reconciler(given, **options)
    first = reconciler.converge(wanted, max_rounds=_ROUNDS)
    if not first.converged:
        raise AssertionError("the first converge failed: " + _not_converged(first, _ROUNDS))
    before = [_writes(p) for p in given]
    second = reconciler.converge(wanted)
    made = {
        p.kind: after - start
        for p, start, after in zip(given, before, (_writes(p) for p in given), strict=True)
        if start is not None and after is not None and after != start
    }
    plan = second.rounds[0].plan
    if made or not plan.is_empty:
        raise AssertionError(_not_idempotent(made, plan.render()))


def _writes(provider: Provider[Any]) -> int | None:
    if isinstance(provider, MemoryProvider | CountingProvider):
        return provider.writes
    return None


def _not_converged(report: ConvergeReport, max_rounds: int) -> str:
    rounds = len(report.rounds)
    if report.oscillating:
        lines = [f"did not converge: after {rounds} rounds these changes came back once applied:"]
        lines += [f"  {address}: {render_path(path)}" for address, path in report.oscillating]
    elif report.stuck:
        lines = [f"did not converge: round {rounds} planned the same changes as the round before"]
    else:
        lines = [f"did not converge within max_rounds={max_rounds}"]
    lines += _failures(report)
    lines += ["", "The plan that remained:", report.final_plan.render()]
    return "\n".join(lines)


def _failures(report: ConvergeReport) -> list[str]:
    """Failed and skipped steps of the last round that applied anything."""
    applied = [r.result for r in report.rounds if r.result is not None]
    return _outcome_lines(applied[-1]) if applied else []


def _outcome_lines(result: ApplyResult) -> list[str]:
    lines = [f"  {o.address}: {o.action} failed: {o.error!r}" for o in result.failed]
    lines += [f"  {o.address}: skipped, {o.blocked_by} did not succeed" for o in result.skipped]
    return ["Last apply:", *lines] if lines else []


def _not_idempotent(made: dict[str, int], rendered: str) -> str:
    lines: Sequence[str] = [f"  {kind}: {n} write(s)" for kind, n in sorted(made.items())]
    return "\n".join(
        [
            "converging a second time changed things; it should have done nothing",
            *lines,
            "",
            "The plan of the second converge:",
            rendered,
        ]
    )
