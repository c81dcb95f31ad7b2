"""The faults a ``MemoryProvider`` was asked to inject: failures and latency.

``MemoryProvider`` asks :meth:`Faults.decide` once per call, under its lock, and
then sleeps and raises outside it. Probabilities draw from one seeded
``random.Random``, so a given seed and call sequence always fail the same calls.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import attrs

from reconcile._util.errors import ReconcileError

__all__ = ["METHODS", "Decision", "Faults", "InjectedFailure", "methods_named"]

METHODS = frozenset({"read", "read_many", "list", "create", "update", "delete"})

ErrorFactory = Callable[[str], BaseException]


class InjectedFailure(ReconcileError):
    """The error a ``MemoryProvider`` raises for a failure a test asked for."""


def methods_named(method: str | Iterable[str]) -> frozenset[str]:
    """One method name or several, checked against the provider's methods."""
    names = frozenset([method] if isinstance(method, str) else method)
    unknown = names - METHODS
    if unknown or not names:
        raise ValueError(
            f"cannot inject into {sorted(unknown) or 'no method'}; "
            f"MemoryProvider methods are {sorted(METHODS)}"
        )
    return names


@attrs.define
class _Fault:
    methods: frozenset[str]
    address: str | None
    nth: int | None
    times: int | None  # None: without limit
    probability: float
    error: ErrorFactory

    def matches(self, method: str, address: str, count: int) -> bool:
        return (
            method in self.methods
            and (self.times is None or self.times > 0)
            and (self.address is None or self.address == address)
            and (self.nth is None or self.nth == count)
        )


@attrs.frozen
class _Delay:
    methods: frozenset[str]
    address: str | None
    seconds: float

    def matches(self, method: str, address: str) -> bool:
        return method in self.methods and self.address in (None, address)


@attrs.frozen
class Decision:
    """What one call suffers: ``delay`` seconds of latency, then ``error`` if set."""

    delay: float = 0.0
    error: BaseException | None = None


class Faults:
    """The registered faults and delays; not thread-safe, the provider's lock guards it."""

    def __init__(self, seed: int | None) -> None:
        self._random = random.Random(seed)
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []

    def add_failure(
        self,
        methods: frozenset[str],
        address: str | None,
        nth: int | None,
        times: int | None,
        probability: float,
        error: ErrorFactory,
    ) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, not {probability!r}")
        if nth is not None and nth < 1:
            raise ValueError(f"nth counts calls from 1, not {nth!r}")
        self._faults.append(_Fault(methods, address, nth, times, probability, error))

    def add_delay(self, methods: frozenset[str], address: str | None, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"a delay must be a non-negative number of seconds, not {seconds!r}")
        self._delays.append(_Delay(methods, address, seconds))

    def decide(self, method: str, address: str, count: int) -> Decision:
        """The latency and failure for call number ``count`` of ``method`` on ``address``."""
        delay = sum(d.seconds for d in self._delays if d.matches(method, address))
        fault = self._firing(method, address, count)
        if fault is None:
            return Decision(delay)
        message = f"{address or '(all)'}: injected failure of {method} (call {count})"
        return Decision(delay, fault.error(message))

    def _firing(self, method: str, address: str, count: int) -> _Fault | None:
        for fault in self._faults:
            if not fault.matches(method, address, count):
                continue
            if fault.probability < 1.0 and self._random.random() >= fault.probability:
                continue
            if fault.times is not None:
                fault.times -= 1
            return fault
        return None
