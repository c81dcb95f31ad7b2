"""Observation: read many resources through their providers, in parallel where it helps.

Called by the planner, and by apply for a saved plan's reads. Providers doing
I/O (``Provider.blocking_io``) are read on a thread pool of ``parallelism``
workers, each call holding its provider's limiter slot; in-memory providers are
read inline, which is faster. A read, ``read_many`` or ``list`` raising
``TransientError`` is retried as apply retries a write (:class:`Retrying`).
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs

from reconcile._model.resource import address_of
from reconcile._model.secrets import scrub, secret_texts
from reconcile._util.clock import Clock, SystemClock
from reconcile._util.errors import InvalidStateError, ObserveError, TransientError

from .contract import Provider
from .events import Event, EventKind, EventSink, emit
from .limits import Limiter
from .policy import RetryPolicy

__all__ = ["Probe", "Retrying", "observe"]

log = logging.getLogger("reconcile.observe")

T = TypeVar("T")

Probe = tuple[str, Any, Provider[Any]]
"""An address, the resource to read it by, and the provider to ask."""


@attrs.frozen
class Retrying:
    """How reads are retried: apply's ``RetryPolicy`` on its clock, each retry logged and
    reported as a ``retried`` event as apply reports a write's; other errors are final."""

    policy: RetryPolicy = attrs.field(factory=RetryPolicy)
    clock: Clock = attrs.field(factory=SystemClock)
    on_event: EventSink | None = None
    rng: random.Random = attrs.field(factory=random.Random, eq=False, repr=False)

    def call(self, address: str, action: str, fn: Callable[[], T], about: Any = None) -> T:
        """``fn()``, retried on ``TransientError``; a final failure is an ``ObserveError``.

        ``about`` is the resource read: its secrets are masked in what is logged and raised.
        """
        attempt = 1
        while True:
            try:
                return fn()
            except InvalidStateError:
                raise  # the desired state is wrong (e.g. a path escape): say so, not "read failed"
            except TransientError as err:
                text = scrub(repr(err), secret_texts(about))
                if attempt >= self.policy.attempts:
                    raise ObserveError(address, err, attempts=attempt, shown=text) from err
                self._wait(address, action, attempt, text)
                attempt += 1
            except Exception as err:
                text = scrub(repr(err), secret_texts(about))
                raise ObserveError(address, err, attempts=attempt, shown=text) from err

    def _wait(self, address: str, action: str, attempt: int, error: str) -> None:
        delay = self.policy.delay(attempt, self.rng)
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.2fs",
            address, attempt, error, delay, extra={"address": address},
        )  # fmt: skip
        emit(self.on_event, Event(EventKind.RETRIED, address, action, attempt, error, delay))
        self.clock.sleep(delay)


def observe(
    probes: Sequence[Probe],
    parallelism: int,
    limiters: Mapping[str, Limiter],
    retrying: Retrying | None = None,
) -> dict[str, Any]:
    """Every probe's actual state (None when absent), by address; ``ObserveError`` on failure.

    A provider that observes by ``list`` or reads in batches is asked once for all
    its probes; others are read one by one, on threads when they do I/O.
    """
    retrying = retrying or Retrying()
    found: dict[str, Any] = {}
    single: list[Probe] = []
    for provider, group in _by_provider(probes).items():
        if provider.observe_by_list or provider.reads_in_batches:
            found.update(_batch(provider, group, retrying))
        else:
            single += group
    pooled = [p for p in single if parallelism > 1 and p[2].blocking_io]
    inline = [p for p in single if not (parallelism > 1 and p[2].blocking_io)]
    found.update({p[0]: _read(*p, limiters, retrying) for p in inline})
    if pooled:
        with ThreadPoolExecutor(min(parallelism, len(pooled)), "reconcile-read") as pool:
            futures = [(p[0], pool.submit(_read, *p, limiters, retrying)) for p in pooled]
            for address, future in futures:
                found[address] = future.result()
    return found


def _by_provider(probes: Sequence[Probe]) -> dict[Provider[Any], list[Probe]]:
    groups: dict[Provider[Any], list[Probe]] = {}
    for probe in probes:
        groups.setdefault(probe[2], []).append(probe)
    return groups


def _batch(provider: Provider[Any], group: list[Probe], retrying: Retrying) -> dict[str, Any]:
    """One ``list()`` matched by address, or one ``read_many`` for the whole group."""
    where = group[0][0] if len(group) == 1 else provider.kind
    if provider.observe_by_list:
        listed = retrying.call(where, "list", lambda: list(provider.list()))
        by_address = {address_of(item): item for item in listed}
        return {address: by_address.get(address) for address, _, _ in group}
    wants = [probe for _, probe, _ in group]
    results = retrying.call(where, "read_many", lambda: provider.read_many(wants))
    if len(results) != len(group):
        raise ObserveError(
            provider.kind, ValueError("read_many returned a wrong number of results")
        )
    return {address: have for (address, _, _), have in zip(group, results, strict=True)}


def _read(
    address: str,
    probe: Any,
    provider: Provider[Any],
    limiters: Mapping[str, Limiter],
    retrying: Retrying,
) -> Any:
    limiter = limiters.get(provider.kind)
    if limiter is None:  # a partial, not a lambda: one frame less per read (plan rows)
        return retrying.call(address, "read", functools.partial(provider.read, probe), probe)

    def read_in_slot() -> Any:  # the slot is held for the call, not for the backoff
        with limiter.slot():
            return provider.read(probe)

    return retrying.call(address, "read", read_in_slot, probe)
