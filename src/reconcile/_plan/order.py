"""Dependency ordering with ``graphlib``: dependencies first, deletes in reverse.

Called by the planner to validate desired state (cycles) and to order steps.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence

from reconcile._util.errors import CycleError

from .steps import Action, Step

__all__ = ["order_steps", "prerequisites", "topological"]


def topological(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Nodes with every predecessor first; edges to unknown nodes are ignored."""
    if not any(graph.values()):
        return list(graph)  # no edges at all: any order is an order (the common flat case)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for node, before in graph.items():
        sorter.add(node, *(b for b in before if b in graph))
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as err:
        cycle: list[str] = list(err.args[1])
        raise CycleError(cycle) from None


def order_steps(steps: Sequence[Step]) -> tuple[Step, ...]:
    """Order steps: after their dependencies, except deletes, which go after their dependents."""
    if not any(s.depends_on for s in steps):
        return tuple(steps)  # no edges: the order given is an order (the common flat case)
    by_address = {s.address: s for s in steps}
    return tuple(by_address[a] for a in topological(prerequisites(steps)))


def prerequisites(steps: Sequence[Step]) -> dict[str, list[str]]:
    """For each step, the steps that must finish (successfully) before it may run."""
    by_address = {s.address: s for s in steps}
    graph: dict[str, list[str]] = {s.address: [] for s in steps}
    for step in steps:
        for dep in step.depends_on:
            target = by_address.get(dep)
            if target is None:
                continue
            if step.action is Action.DELETE and target.action is Action.DELETE:
                graph[dep].append(step.address)  # a dependent goes before what it needs
            elif target.action is not Action.DELETE:
                graph[step.address].append(dep)
    return graph
