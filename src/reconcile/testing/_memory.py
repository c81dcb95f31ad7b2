"""``MemoryProvider``: a real in-memory store behind the provider interface.

For examples and users' tests: it counts calls per method, can be told to fail
chosen calls, and lets a test change the "live" store behind the engine's back
(drift). ``fill`` computes provider-set fields on create and update.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

import attrs

from reconcile._diff import Diff
from reconcile._errors import ReconcileError
from reconcile._model import address_of, spec_of
from reconcile._provider import Provider

__all__ = ["InjectedFailure", "MemoryProvider"]

R = TypeVar("R")

WRITES = ("create", "update", "delete")


class InjectedFailure(ReconcileError):
    """The error a ``MemoryProvider`` raises for a failure a test asked for."""


@attrs.define
class _Fault:
    method: str
    address: str | None
    nth: int | None
    times: int
    error: Callable[[str], BaseException]


class MemoryProvider(Provider[R], Generic[R]):
    """An in-memory provider for ``resource_cls``; one instance is one isolated "world"."""

    def __init__(
        self,
        resource_cls: type[R],
        *,
        fill: Callable[[R], R] | None = None,
    ) -> None:
        spec_of(resource_cls)  # a clear error now if it is not a resource class
        self._resource_cls = resource_cls
        self._fill = fill
        self._items: dict[str, R] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.log: list[tuple[str, str]] = []

    @property
    def resource(self) -> type[R]:  # type: ignore[override]
        return self._resource_cls

    # -- the provider contract -------------------------------------------------

    def read(self, want: R) -> R | None:
        address = self._record("read", want)
        return self._items.get(address)

    def list(self) -> Iterable[R]:
        self._record("list", None)
        return list(self._items.values())

    def create(self, want: R) -> R:
        address = self._record("create", want)
        made = self._filled(want)
        self._items[address] = made
        return made

    def update(self, have: R, want: R, diff: Diff) -> R:
        address = self._record("update", want)
        made = self._filled(want)
        self._items[address] = made
        return made

    def delete(self, have: R) -> None:
        address = self._record("delete", have)
        if self._items.get(address) == have:
            del self._items[address]

    # -- test helpers ----------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        address: str | None = None,
        nth: int | None = None,
        times: int = 1,
        error: Callable[[str], BaseException] = InjectedFailure,
    ) -> None:
        """Make ``method`` fail ``times`` times: its ``nth`` call (1-based) or for ``address``."""
        self._faults.append(_Fault(method, address, nth, times, error))

    def put(self, res: R) -> None:
        """Make ``res`` exist as it is, bypassing the engine (drift, or pre-existing things)."""
        self._items[address_of(res)] = res

    def remove(self, address: str) -> None:
        """Make the thing at ``address`` vanish behind the engine's back."""
        self._items.pop(address, None)

    def get(self, address: str) -> R | None:
        return self._items.get(address)

    def __iter__(self) -> Iterator[R]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    @property
    def writes(self) -> int:
        """How many create, update and delete calls were made."""
        return sum(self.calls[m] for m in WRITES)

    def reset_calls(self) -> None:
        self.calls.clear()
        self.log.clear()

    # -- internals -------------------------------------------------------------

    def _filled(self, want: R) -> R:
        made = attrs.evolve(want, depends_on=())  # type: ignore[misc]
        return self._fill(made) if self._fill is not None else made

    def _record(self, method: str, res: Any) -> str:
        address = address_of(res) if res is not None else ""
        with self._lock:
            self.calls[method] += 1
            self.log.append((method, address))
            count = self.calls[method]
            fault = self._matching_fault(method, address, count)
        if fault is not None:
            raise fault.error(f"{address}: injected failure of {method} (call {count})")
        return address

    def _matching_fault(self, method: str, address: str, count: int) -> _Fault | None:
        for fault in self._faults:
            if fault.method != method or fault.times <= 0:
                continue
            if fault.address is not None and fault.address != address:
                continue
            if fault.nth is not None and fault.nth != count:
                continue
            fault.times -= 1
            return fault
        return None
