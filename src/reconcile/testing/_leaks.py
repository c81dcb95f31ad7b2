"""Where a secret could show: every text a plan, an apply, an error or a log makes.

The conformance suite drives one resource through create, update, a saved plan
and a rejected desired state, collecting each text a person or a log file could
see, then searches them for the secrets it planted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

from reconcile._apply.outcomes import ApplyResult
from reconcile._diff.changes import diff
from reconcile._plan.plan import Plan
from reconcile._provider.contract import Provider
from reconcile._reconciler import Reconciler
from reconcile._util.errors import ReconcileError

__all__ = ["Surface", "captured_logs", "leak_surfaces"]

Surface = tuple[str, str]  # (where it showed, the text)


def leak_surfaces(provider: Provider[Any], want: Any, target: Any) -> list[Surface]:
    """Create ``want``, update it to ``target`` (also through a saved plan); every text made."""
    reconciler = Reconciler([provider])
    found = [("repr of a resource", repr(want)), ("str of a resource", str(target))]
    found += _diff_surfaces(want, target)
    create = reconciler.plan([want])
    found += _plan_surfaces("the create plan", create)
    found += _result_surfaces("applying the create plan", reconciler.apply(create))
    update = reconciler.plan([target])
    found += _plan_surfaces("the update plan", update)
    saved = Plan.from_json(update.to_json())
    found += _plan_surfaces("the update plan read from JSON", saved)
    found += _attempt("applying a saved plan without desired state", reconciler.apply, saved)
    resupplied = functools.partial(reconciler.apply, desired=[target])
    found += _attempt("applying a saved plan with desired state", resupplied, saved)
    found += _attempt("planning a duplicate address", reconciler.plan, [want, target])
    return found


@contextlib.contextmanager
def captured_logs() -> Iterator[list[Surface]]:
    """Every log record emitted meanwhile, at any level, formatted with its traceback."""
    found: list[Surface] = []
    handler = _Collect(found)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield found
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


class _Collect(logging.Handler):
    def __init__(self, into: list[Surface]) -> None:
        super().__init__(logging.DEBUG)
        self._into = into
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self._into.append((f"a log record of {record.name}", self.format(record)))


def _plan_surfaces(name: str, plan: Plan) -> list[Surface]:
    found = [(f"{name}, rendered", plan.render()), (f"{name} as JSON", plan.to_json())]
    found.append((f"repr of {name}", repr(plan)))
    found += [(f"a step of {name}", f"{step!r} {step}") for step in plan.steps]
    return found


def _diff_surfaces(want: Any, target: Any) -> list[Surface]:
    changes = diff(target, want)
    patch = json.dumps(changes.to_json_patch())
    return [("repr of a diff", repr(changes)), ("a diff as JSON Patch", patch)]


def _result_surfaces(name: str, result: ApplyResult) -> list[Surface]:
    found = [(f"{name}: the result", repr(result))]
    for outcome in result.outcomes:
        if outcome.error is not None:
            found += _error_surfaces(f"{name}: {outcome.address} failed", outcome.error)
    return found


def _attempt(name: str, action: Any, *args: Any) -> list[Surface]:
    """Run ``action``; its error's texts, or the texts of the result it returned."""
    try:
        outcome = action(*args)
    except ReconcileError as err:
        return _error_surfaces(name, err)
    if isinstance(outcome, ApplyResult):
        return _result_surfaces(name, outcome)
    return [(name, repr(outcome))]


def _error_surfaces(name: str, err: BaseException) -> list[Surface]:
    """An error as str, repr and formatted traceback (causes and notes included)."""
    formatted = "".join(traceback.format_exception(err))
    return [(f"{name}: the error", f"{err} {err!r}"), (f"{name}: the traceback", formatted)]
