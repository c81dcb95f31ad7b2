"""Targeting: restrict a plan to some addresses, as Terraform's ``-target`` and its inverse.

``include`` pulls in everything the named addresses depend on; ``exclude`` drops
the named addresses and everything that depends on them. The plan lists what
was left out and why.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from reconcile._diff.deposed import deposed_from
from reconcile._util.errors import InvalidStateError, did_you_mean

__all__ = ["select"]

Graph = Mapping[str, Iterable[str]]


def select(
    graph: Graph, include: Collection[str] | None, exclude: Collection[str] | None
) -> tuple[set[str], tuple[tuple[str, str], ...]]:
    """The addresses to plan, and ``(address, reason)`` for each one left out."""
    everything = set(graph)
    for name, given in (("include", include), ("exclude", exclude)):
        unknown = sorted(set(given or ()) - everything)
        if unknown:
            hint = did_you_mean(unknown[0], everything) if len(unknown) == 1 else ""
            names = ", ".join(unknown)
            raise InvalidStateError(f"{name} names {names}: not desired or recorded{hint}")
    reasons: dict[str, str] = {}
    chosen = everything
    deposed = _deposed_by_owner(everything) if include is not None or exclude else {}
    if include is not None:
        chosen = _with_deposed(_closure(include, graph), deposed)
        for address in everything - chosen:
            reasons[address] = "not included, and nothing included depends on it"
    if exclude:
        dependents = _reverse(graph)
        named = set(exclude)
        for root in sorted(named):  # the same reasons whatever order the user named them in
            for address in _with_deposed(_closure([root], dependents), deposed) & chosen:
                if address in named:
                    reasons[address] = _why_excluded(address, address)  # named: "excluded"
                else:
                    reasons.setdefault(address, _why_excluded(address, root))
        chosen = chosen - set(reasons)
    return chosen, tuple(sorted(reasons.items()))


def _closure(roots: Iterable[str], edges: Graph) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(n for n in edges.get(node, ()) if n in edges)
    return seen


def _why_excluded(address: str, root: str) -> str:
    if address == root:
        return "excluded"
    owner = deposed_from(address)
    if owner is not None:
        return f"deposed by {owner}, left out with it"
    return f"depends on excluded {root}"


def _deposed_by_owner(everything: Iterable[str]) -> dict[str, list[str]]:
    """Each address's deposed old objects (records left by create-before-destroy)."""
    owners: dict[str, list[str]] = {}
    for address in everything:
        owner = deposed_from(address)
        if owner is not None:
            owners.setdefault(owner, []).append(address)
    return owners


def _with_deposed(chosen: set[str], deposed: Mapping[str, list[str]]) -> set[str]:
    """What targeting an address does to it, it does to its deposed old objects too."""
    return chosen.union(*(deposed[a] for a in chosen if a in deposed)) if deposed else chosen


def _reverse(graph: Graph) -> dict[str, list[str]]:
    reverse: dict[str, list[str]] = {node: [] for node in graph}
    for node, deps in graph.items():
        for dep in deps:
            if dep in reverse:
                reverse[dep].append(node)
    return reverse
