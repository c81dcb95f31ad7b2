"""Validation of desired state before any provider is called, so bad input changes nothing.

Kinds, duplicate addresses, dangling dependencies and references, cycles (through
the topological order). Called first by the planner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from reconcile._model.refs import dependencies, ref_paths
from reconcile._model.resource import resource_spec, spec_of
from reconcile._model.values import refs_exist
from reconcile._provider.contract import Provider
from reconcile._util.errors import (
    DanglingDependencyError,
    DuplicateAddressError,
    InvalidStateError,
    UnknownKindError,
    did_you_mean,
)

from .order import topological

__all__ = ["Desired", "Providers", "validate"]

Providers = Mapping[str, Provider[Any]]


@attrs.frozen
class Desired:
    """Validated desired state: resources and their edges by address, and a dependency order.

    ``linked`` is whether any reference exists in the process (``refs_exist``), checked
    once per plan: without one, nothing needs resolving, probing by ids or marking unknown.
    """

    resources: dict[str, Any]
    graph: dict[str, tuple[str, ...]]
    order: list[str]
    linked: bool = False


def validate(desired: Iterable[Any], providers: Providers) -> Desired:
    """Desired resources by address, their edges and an order; or an error naming the problem."""
    by_address: dict[str, Any] = {}
    for res in desired:
        spec = resource_spec(res)
        if spec is None or isinstance(res, type):
            raise InvalidStateError(f"desired state holds {res!r}, which is not a resource")
        address = spec.address(res)
        if address in by_address:
            raise DuplicateAddressError(address, by_address[address], res)
        if spec.kind not in providers:
            raise UnknownKindError(address, spec.kind, list(providers))
        by_address[address] = res
    linked = refs_exist()
    for address, res in by_address.items():
        if res.depends_on or linked:
            _check_edges(address, res, by_address)
    graph = {a: dependencies(r) if linked else r.depends_on for a, r in by_address.items()}
    return Desired(by_address, graph, topological(graph), linked)


def _check_edges(address: str, res: Any, by_address: Mapping[str, Any]) -> None:
    for dep in res.depends_on:
        if dep not in by_address:
            raise DanglingDependencyError(address, dep, hint=did_you_mean(dep, by_address))
    keys = set(spec_of(res).keys)
    for path, r in ref_paths(res):
        if path[0] in keys:
            raise InvalidStateError(f"{address}: key field {path[0]} cannot be a reference")
        target = by_address.get(r.address)
        if target is None:
            hint = did_you_mean(r.address, by_address)
            raise DanglingDependencyError(address, r.address, what="references", hint=hint)
        if r.field not in {f.name for f in spec_of(target).fields}:
            raise InvalidStateError(
                f"{address}: {'.'.join(map(str, path))} references {r.address}.{r.field}, "
                f"but {spec_of(target).kind} has no field {r.field!r}"
            )
