"""Observation: read many resources through their providers, in parallel where it helps.

Called by the planner. Providers doing I/O (``Provider.blocking_io``) are read
on a thread pool of ``parallelism`` workers, each call holding its provider's
limiter slot; in-memory providers are read inline, which is faster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._errors import InvalidStateError, ObserveError
from ._limits import Limiter
from ._model import address_of
from ._provider import Provider

__all__ = ["Probe", "observe"]

Probe = tuple[str, Any, Provider[Any]]
"""An address, the resource to read it by, and the provider to ask."""


def observe(
    probes: Sequence[Probe], parallelism: int, limiters: Mapping[str, Limiter]
) -> dict[str, Any]:
    """Every probe's actual state (None when absent), by address; ``ObserveError`` on failure.

    A provider that observes by ``list`` or reads in batches is asked once for all
    its probes; others are read one by one, on threads when they do I/O.
    """
    found: dict[str, Any] = {}
    single: list[Probe] = []
    for provider, group in _by_provider(probes).items():
        if provider.observe_by_list or provider.reads_in_batches:
            found.update(_batch(provider, group))
        else:
            single += group
    pooled = [p for p in single if parallelism > 1 and p[2].blocking_io]
    inline = [p for p in single if not (parallelism > 1 and p[2].blocking_io)]
    found.update({a: _read(a, probe, provider, limiters) for a, probe, provider in inline})
    if pooled:
        with ThreadPoolExecutor(min(parallelism, len(pooled)), "reconcile-read") as pool:
            futures = [(p[0], pool.submit(_read, *p, limiters)) for p in pooled]
            for address, future in futures:
                found[address] = future.result()
    return found


def _by_provider(probes: Sequence[Probe]) -> dict[Provider[Any], list[Probe]]:
    groups: dict[Provider[Any], list[Probe]] = {}
    for probe in probes:
        groups.setdefault(probe[2], []).append(probe)
    return groups


def _batch(provider: Provider[Any], group: list[Probe]) -> dict[str, Any]:
    """One ``list()`` matched by address, or one ``read_many`` for the whole group."""
    try:
        if provider.observe_by_list:
            listed = {address_of(item): item for item in provider.list()}
            return {address: listed.get(address) for address, _, _ in group}
        results = provider.read_many([probe for _, probe, _ in group])
    except InvalidStateError:
        raise
    except Exception as err:
        raise ObserveError(group[0][0] if len(group) == 1 else provider.kind, err) from err
    if len(results) != len(group):
        raise ObserveError(
            provider.kind, ValueError("read_many returned a wrong number of results")
        )
    return {address: have for (address, _, _), have in zip(group, results, strict=True)}


def _read(
    address: str, probe: Any, provider: Provider[Any], limiters: Mapping[str, Limiter]
) -> Any:
    limiter = limiters.get(provider.kind)
    try:
        if limiter is None:
            return provider.read(probe)
        with limiter.slot():
            return provider.read(probe)
    except InvalidStateError:
        raise  # the desired state is wrong (e.g. a path escape): say so, not "read failed"
    except Exception as err:
        raise ObserveError(address, err) from err
