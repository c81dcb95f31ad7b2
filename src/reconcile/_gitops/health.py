"""Resource health, read as Argo CD reads it: each provider's optional ``health(have)``.

Used by the sync status; kept apart so the order of healths (worst first) has one home.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconcile._plan.steps import Step
from reconcile._provider.contract import Provider
from reconcile._util.vocabulary import Health

__all__ = ["Health", "health_of", "worst"]


_WORST_FIRST = list(Health)


def health_of(step: Step, provider: Provider[Any] | None) -> Health:
    """A step's resource health: missing when absent, else what its provider says."""
    if step.actual is None:
        return Health.MISSING
    if provider is None:
        return Health.HEALTHY
    return Health(provider.health(step.actual))


def worst(healths: Iterable[Health]) -> Health:
    """The worst of ``healths``; healthy when there are none."""
    seen = set(healths) or {Health.HEALTHY}
    return next(h for h in _WORST_FIRST if h in seen)
