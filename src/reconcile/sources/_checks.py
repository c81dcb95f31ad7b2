"""Checks across all documents: duplicate addresses, dangling references, cycles.

Called by ``_manifests`` once every document is built. Documents that had
problems of their own still take part (their addresses are known when their
key fields are), so one bad field does not turn into a dozen dangling references.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from reconcile._model.resource import spec_of
from reconcile._plan.order import topological
from reconcile._util.errors import CycleError, ManifestProblem, did_you_mean

from ._build import Built

__all__ = ["check"]


def check(built: Sequence[Built]) -> list[ManifestProblem]:
    """Every problem that only shows when all documents are seen together."""
    first: dict[str, Built] = {}
    problems: list[ManifestProblem] = []
    for b in built:
        if b.address is None:
            continue
        if b.address in first:
            problems.append(_duplicate(first[b.address], b))
        else:
            first[b.address] = b
    for b in built:
        problems += _dangling(b, first)
    return problems + _cycles(first)


def _duplicate(first: Built, again: Built) -> ManifestProblem:
    at = first.doc.mark(())
    where = f"{first.doc.file}:{at.line}" if at is not None else first.doc.file
    message = f"{again.address} is declared twice; also at {where} (document {first.doc.index})"
    return again.doc.problem((), message, again.address)


def _dangling(b: Built, known: dict[str, Built]) -> list[ManifestProblem]:
    problems = [
        b.doc.problem(path, _undeclared("depends_on", dep, known), b.address)
        for path, dep in b.depends
        if dep not in known
    ]
    for path, ref in b.refs:
        target = known.get(ref.address)
        if target is None:
            problems.append(b.doc.problem(path, _undeclared("$ref", ref.address, known), b.address))
        elif target.kind is not None and ref.field not in _fields(target.kind):
            kind = spec_of(target.kind).kind
            hint = did_you_mean(ref.field, _fields(target.kind))
            message = f"$ref field {ref.field!r}: kind {kind} has no such field{hint}"
            problems.append(b.doc.problem(path, message, b.address))
    return problems


def _undeclared(key: str, address: str, known: dict[str, Built]) -> str:
    return f"{key} names {address}, which no manifest declares{did_you_mean(address, known)}"


def _fields(cls: type) -> list[str]:
    return [f.name for f in spec_of(cls).fields]


def _from_smallest(cycle: Sequence[str]) -> list[str]:
    """The cycle starting at its smallest address, so the same cycle reads the same way."""
    nodes = list(cycle[:-1]) if len(cycle) > 1 and cycle[0] == cycle[-1] else list(cycle)
    start = nodes.index(min(nodes))
    turned = nodes[start:] + nodes[:start]
    return [*turned, turned[0]]


def _cycles(first: dict[str, Built]) -> list[ManifestProblem]:
    """Every independent cycle: after each one is found, its edges are dropped and we look again."""
    graph = {
        address: {d for _, d in b.depends} | {r.address for _, r in b.refs}
        for address, b in first.items()
    }
    problems: list[ManifestProblem] = []
    for _ in range(len(graph)):
        try:
            topological(graph)
            break
        except CycleError as err:
            cycle = _from_smallest(err.cycle)
            message = f"dependency cycle: {' -> '.join(cycle)}"
            problems.append(first[cycle[0]].doc.problem((), message, cycle[0]))
            for a, b in itertools.pairwise(cycle):
                graph[a].discard(b)
                graph[b].discard(a)
    return problems
