"""The façade users hold: ``Reconciler(providers).plan / apply / converge``.

Top of the core: it maps kinds to providers and hands each request to the
planner, the applier and the converge loop; it holds no policy of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import _apply, _converge, _planner
from ._apply import ApplyResult
from ._converge import ConvergeReport
from ._errors import DefinitionError
from ._plan import Plan
from ._provider import Provider

__all__ = ["Reconciler"]


class Reconciler:
    """Makes live state match desired state through one provider per kind."""

    def __init__(self, providers: Iterable[Provider[Any]]) -> None:
        self._providers: dict[str, Provider[Any]] = {}
        for provider in providers:
            kind = provider.kind
            if kind in self._providers:
                raise DefinitionError(f"two providers given for kind {kind!r}")
            self._providers[kind] = provider

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds this reconciler has providers for."""
        return tuple(self._providers)

    def plan(self, desired: Iterable[Any]) -> Plan:
        """Observe and diff ``desired``; returns the ordered plan and changes nothing."""
        return _planner.plan(desired, self._providers)

    def apply(self, plan: Plan, *, desired: Iterable[Any] | None = None) -> ApplyResult:
        """Execute ``plan``. A saved plan with sensitive values needs ``desired`` again."""
        return _apply.apply(plan, self._providers, desired)

    def converge(self, desired: Iterable[Any], *, max_rounds: int = 10) -> ConvergeReport:
        """Plan and apply until the plan is empty, a change repeats, or ``max_rounds``."""
        wanted = list(desired)
        return _converge.converge(lambda: self.plan(wanted), self.apply, max_rounds)
