"""The pytest plugin reconcile registers (entry point ``pytest11``: ``reconcile``).

Fixtures for users' tests, available without a conftest: ``simulated_clock``,
and factories of ``MemoryProvider`` (``reconcile_memory``) and ``Reconciler``
(``reconciler_factory``) that share it, so latency and backoff cost no time.
Imports nothing that needs Hypothesis: pytest loads it wherever reconcile is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pytest

from reconcile._provider.contract import Provider
from reconcile._reconciler import Reconciler
from reconcile.testing._clock import SimulatedClock
from reconcile.testing._memory import MemoryProvider

__all__ = ["MemoryFactory", "reconcile_memory", "reconciler_factory", "simulated_clock"]


class MemoryFactory(Protocol):
    """``reconcile_memory(ResourceClass, **options) -> MemoryProvider``."""

    def __call__(self, resource_cls: type[Any], /, **options: Any) -> MemoryProvider[Any]: ...


@pytest.fixture
def simulated_clock() -> SimulatedClock:
    """A clock whose sleeps return at once; shared by this test's memory providers."""
    return SimulatedClock()


@pytest.fixture
def reconcile_memory(simulated_clock: SimulatedClock) -> MemoryFactory:
    """Make ``MemoryProvider(ResourceClass, **options)``, on ``simulated_clock`` by default."""

    def make(resource_cls: type[Any], /, **options: Any) -> MemoryProvider[Any]:
        options.setdefault("clock", simulated_clock)
        return MemoryProvider(resource_cls, **options)

    return make


@pytest.fixture
def reconciler_factory(simulated_clock: SimulatedClock) -> Callable[..., Reconciler]:
    """Make ``Reconciler([*providers], **options)``, on ``simulated_clock`` by default."""

    def make(*providers: Provider[Any], **options: Any) -> Reconciler:
        options.setdefault("clock", simulated_clock)
        return Reconciler(providers, **options)

    return make
