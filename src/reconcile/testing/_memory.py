"""``MemoryProvider``: a real in-memory store behind the provider interface.

For examples and users' tests: it logs and counts every call, injects the
faults a test asks for (failures, random failures, latency on a clock, lagging
reads) and lets a test change the "live" world behind the engine's back
(drift). ``fill`` computes provider-set fields on create and update. Like the
APIs they stand for, reads never return ``write_only`` fields (see
``reveal_write_only``).
"""

from __future__ import annotations

import builtins
import threading
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from reconcile._diff.changes import Diff
from reconcile._model.resource import address_of, replace_fields, spec_of
from reconcile._provider.contract import Provider
from reconcile._util.errors import TransientError

from ._clock import Clock, SimulatedClock
from ._faults import ErrorFactory, Faults, InjectedFailure, methods_named
from ._store import Store

__all__ = ["Call", "InjectedFailure", "MemoryProvider"]

R = TypeVar("R")

WRITES = ("create", "update", "delete")


@attrs.frozen
class Call:
    """One call made to a ``MemoryProvider``: when (``at``, on its clock's monotonic time)."""

    method: str
    address: str
    at: float
    failed: bool = False


class MemoryProvider(Provider[R], Generic[R]):
    """An in-memory provider for ``resource_cls``; one instance is one isolated "world".

    ``clock`` times latency and the call log (a fresh :class:`SimulatedClock` by
    default, so tests never really wait); ``seed`` drives ``fail(probability=...)``.
    ``read``, ``read_many``, ``list``, ``create`` and ``update`` return ``write_only`` fields blank
    (their default, else None), as an API that never returns a password does;
    ``reveal_write_only=True`` returns them. :meth:`get` always shows what is stored.
    ``batch_reads=True`` makes it read in batches: planning calls ``read_many`` once
    for all its resources, a call that faults can be injected into as one.
    """

    blocking_io: ClassVar[bool] = False  # in memory: plan reads it inline, not on threads
    identified_by_key: ClassVar[bool] = True  # stored by address: reads need no recorded ids

    def __init__(
        self,
        resource_cls: type[R],
        *,
        fill: Callable[[R], R] | None = None,
        clock: Clock | None = None,
        seed: int | None = 0,
        reveal_write_only: bool = False,
        batch_reads: bool = False,
    ) -> None:
        spec = spec_of(resource_cls)  # a clear error now if it is not a resource class
        self._resource_cls = resource_cls
        self._blanks = (
            {}
            if reveal_write_only
            else {f.name: f.default if f.has_default else None for f in spec.write_only_fields}
        )
        self._fill = fill
        self._batch_reads = batch_reads
        self.clock: Clock = clock if clock is not None else SimulatedClock()
        self._store: Store[R] = Store()
        self._faults = Faults(seed)
        self._history: list[Call] = []
        self._numbered = 0  # every call ever made; reads lag by these numbers
        self._lock = threading.RLock()  # fill and subclasses may call back in
        self.calls: Counter[str] = Counter()

    @property
    def resource(self) -> type[R]:  # type: ignore[override]
        return self._resource_cls

    # -- the provider contract -------------------------------------------------

    def read(self, want: R) -> R | None:
        address = address_of(want)
        call = self._enter("read", address)
        with self._lock:
            return self._returned(self._store.seen_by(call, address))

    def list(self) -> Iterable[R]:
        call = self._enter("list", "")
        with self._lock:
            found = self._store.all_seen_by(call)
        return found if not self._blanks else [self._returned(r) for r in found]

    def read_many(self, wants: Sequence[R]) -> Sequence[R | None]:
        """All ``wants`` read by one call (logged as ``read_many``, with no address)."""
        call = self._enter("read_many", "")
        with self._lock:
            return [self._returned(self._store.seen_by(call, address_of(want))) for want in wants]

    @property
    def reads_in_batches(self) -> bool:
        return self._batch_reads

    def create(self, want: R) -> R:
        address = address_of(want)
        call = self._enter("create", address)
        with self._lock:
            made = self._filled(want, None)
            self._store.write(call, address, made)
        return self._returned(made)

    def update(self, have: R, want: R, diff: Diff) -> R:
        address = address_of(want)
        call = self._enter("update", address)
        with self._lock:
            made = self._filled(want, self._store.get(address))
            self._store.write(call, address, made)
        return self._returned(made)

    def delete(self, have: R) -> None:
        address = address_of(have)
        call = self._enter("delete", address)
        with self._lock:
            stored = self._store.get(address)
            if stored is not None and self._returned(stored) == self._returned(have):
                self._store.write(call, address, None)

    # -- fault injection -------------------------------------------------------

    def fail(
        self,
        method: str | Iterable[str],
        *,
        address: str | None = None,
        nth: int | None = None,
        times: int | None = 1,
        probability: float = 1.0,
        error: ErrorFactory = InjectedFailure,
    ) -> None:
        """Make ``method`` fail ``times`` times (None: always) with ``error(message)``.

        Only its ``nth`` call (1-based, counted since ``reset_calls``), only calls
        for ``address``, and only with ``probability`` (seeded), when given.
        """
        with self._lock:
            self._faults.add_failure(methods_named(method), address, nth, times, probability, error)

    def fail_transiently(
        self, method: str | Iterable[str], times: int = 1, *, address: str | None = None
    ) -> None:
        """Raise :class:`reconcile.TransientError` from the next ``times`` calls: retry bait."""
        self.fail(method, address=address, times=times, error=TransientError)

    def delay(
        self, method: str | Iterable[str], seconds: float, *, address: str | None = None
    ) -> None:
        """Calls of ``method`` (for ``address``, if given) first sleep ``seconds`` on the clock."""
        with self._lock:
            self._faults.add_delay(methods_named(method), address, seconds)

    def lag_reads(self, calls: int) -> None:
        """Eventual consistency: a write stays invisible to reads for the next ``calls`` calls.

        Calls are numbered in order; a write made by call ``w`` is seen by a read
        made by call ``r`` only when ``r > w + calls``. ``0`` restores read-your-writes.
        """
        if calls < 0:
            raise ValueError(f"lag_reads needs a non-negative number of calls, not {calls!r}")
        with self._lock:
            self._store.lag = calls

    # -- changing the world behind the engine's back ---------------------------

    def put(self, res: R) -> None:
        """Make ``res`` exist as it is, bypassing the engine (drift, or pre-existing things)."""
        with self._lock:
            self._store.force(address_of(res), res)

    def remove(self, address: str) -> None:
        """Make the thing at ``address`` vanish behind the engine's back."""
        with self._lock:
            self._store.force(address, None)

    def drift(self, address: str, **changes: Any) -> R:
        """Change fields of the thing at ``address`` behind the engine's back; returns it."""
        with self._lock:
            drifted: R = attrs.evolve(self._existing(address), **changes)  # type: ignore[misc]
            self._store.force(address, drifted)
        return drifted

    def set_server_fields(self, address: str, **values: Any) -> R:
        """Set fields the system owns (``computed`` or ``ignore``) as a server would.

        Unlike :meth:`drift`, these are fields the engine does not manage, so a
        correct engine plans nothing for them unless the desired state sets them.
        """
        owned = {
            f.name for f in spec_of(self._resource_cls).fields if f.flags.computed or f.flags.ignore
        }
        others = sorted(set(values) - owned)
        if others:
            raise ValueError(
                f"{address}: {others} are not computed or ignored fields; "
                "use drift() to change managed fields"
            )
        return self.drift(address, **values)

    # -- looking at the world and the calls ------------------------------------

    def get(self, address: str) -> R | None:
        """What is really at ``address`` now, whatever reads may lag behind."""
        with self._lock:
            return self._store.get(address)

    def __iter__(self) -> Iterator[R]:
        with self._lock:
            return iter(self._store)

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)

    @property
    def history(self) -> tuple[Call, ...]:
        """Every call since ``reset_calls``: method, address, clock time, whether it failed."""
        with self._lock:
            return tuple(self._history)

    @property
    def log(self) -> builtins.list[tuple[str, str]]:
        """The call log as ``(method, address)`` pairs (see :attr:`history` for more)."""
        return [(c.method, c.address) for c in self.history]

    @property
    def writes(self) -> int:
        """How many create, update and delete calls were made."""
        with self._lock:
            return sum(self.calls[m] for m in WRITES)

    def reset_calls(self) -> None:
        """Forget the calls made so far; ``nth`` in :meth:`fail` counts from here."""
        with self._lock:
            self.calls.clear()
            self._history.clear()

    # -- internals -------------------------------------------------------------

    def _enter(self, method: str, address: str) -> int:
        """Log and number a call, then suffer its injected latency and failure."""
        with self._lock:
            self.calls[method] += 1
            decision = self._faults.decide(method, address, self.calls[method])
            failed = decision.error is not None
            self._history.append(Call(method, address, self.clock.monotonic(), failed))
            self._numbered += 1
            number = self._numbered
        if decision.delay:
            self.clock.sleep(decision.delay)
        if decision.error is not None:
            raise decision.error
        return number

    @typing.overload
    def _returned(self, res: R) -> R: ...
    @typing.overload
    def _returned(self, res: None) -> None: ...
    def _returned(self, res: R | None) -> R | None:
        """What the API hands back: ``res`` with its write-only fields blank."""
        if res is None or not self._blanks:
            return res
        blanked: R = replace_fields(res, self._blanks)
        return blanked

    def _existing(self, address: str) -> R:
        found = self._store.get(address)
        if found is None:
            raise KeyError(f"{address}: nothing exists there to change")
        return found

    def _filled(self, want: R, current: R | None) -> R:
        """What the store keeps: ``want`` with the system's own fields filled.

        Computed fields ``want`` leaves unset keep their current value, as a
        server keeps an id across updates; then ``fill`` runs.
        """
        kept = _unset_computed(want, current) if current is not None else {}
        made: R = attrs.evolve(want, depends_on=(), **kept)  # type: ignore[misc]
        return self._fill(made) if self._fill is not None else made


def _unset_computed(want: object, current: object) -> dict[str, Any]:
    return {
        f.name: getattr(current, f.name)
        for f in spec_of(want).fields
        if f.flags.computed and f.is_unset(getattr(want, f.name))
    }
