"""Tools for testing providers and infrastructure logic built on reconcile.

``MemoryProvider`` (a fault-injecting in-memory world), ``SimulatedClock``,
``assert_converges`` / ``assert_idempotent``, ``CountingProvider``, the
``ProviderConformance`` suite and, for state backends, ``StateConformance`` /
``check_state``; Hypothesis strategies live in ``reconcile.testing.strategies``.
Only the suites and the strategies need Hypothesis (the ``testing`` extra): the
suites are imported on first use, so this package, and the pytest plugin that
imports it, work without Hypothesis.
"""

import importlib as _importlib
import typing as _typing

from ._assertions import assert_converges, assert_idempotent
from ._clock import Clock, SimulatedClock, SystemClock
from ._cluster import FakeCluster
from ._counting import CountingProvider
from ._memory import Call, InjectedFailure, MemoryProvider

if _typing.TYPE_CHECKING:
    from ._conformance.provider import ProviderConformance
    from ._conformance.state import StateConformance, check_state

__all__ = [
    "Call",
    "Clock",
    "CountingProvider",
    "FakeCluster",
    "InjectedFailure",
    "MemoryProvider",
    "ProviderConformance",
    "SimulatedClock",
    "StateConformance",
    "SystemClock",
    "assert_converges",
    "assert_idempotent",
    "check_state",
]

_NEEDS_HYPOTHESIS = {
    "ProviderConformance": "._conformance.provider",
    "StateConformance": "._conformance.state",
    "check_state": "._conformance.state",
}


def __getattr__(name: str) -> _typing.Any:
    """Import what needs Hypothesis only when it is asked for, with advice if it is missing."""
    module = _NEEDS_HYPOTHESIS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        found = getattr(_importlib.import_module(module, __name__), name)
    except ModuleNotFoundError as err:
        if err.name != "hypothesis":
            raise
        raise ImportError(
            f"reconcile.testing.{name} needs Hypothesis: pip install 'reconcile[testing]'"
        ) from err
    globals()[name] = found
    return found
