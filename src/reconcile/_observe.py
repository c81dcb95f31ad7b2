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
from ._provider import Provider

__all__ = ["Probe", "observe"]

Probe = tuple[str, Any, Provider[Any]]
"""An address, the resource to read it by, and the provider to ask."""


def observe(
    probes: Sequence[Probe], parallelism: int, limiters: Mapping[str, Limiter]
) -> dict[str, Any]:
    """Every probe's actual state (None when absent), by address; ``ObserveError`` on failure."""
    inline: list[Probe] = []
    pooled: list[Probe] = []
    for p in probes:
        (pooled if parallelism > 1 and p[2].blocking_io else inline).append(p)
    found = {a: _read(a, probe, provider, limiters) for a, probe, provider in inline}
    if pooled:
        with ThreadPoolExecutor(min(parallelism, len(pooled)), "reconcile-read") as pool:
            futures = [(p[0], pool.submit(_read, *p, limiters)) for p in pooled]
            for address, future in futures:
                found[address] = future.result()
    return found


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
