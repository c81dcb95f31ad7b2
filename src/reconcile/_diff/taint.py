"""Which fields hold a copy of a secret: Terraform's sensitivity propagation.

A reference that copies a sensitive field (or a field a secret was copied into,
over any number of hops) makes its own field sensitive too. Used by the planner,
saved plans' JSON form and steps shown from a record.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from reconcile._model.resource import registered_kind, spec_of

from .documents import is_digest

__all__ = ["Path", "copied_secrets", "propagated_secrets", "recorded_copies"]

Path = tuple[str | int, ...]


def copied_secrets(
    references: Iterable[tuple[Path, str, str]], tainted: Collection[tuple[str, str]] = ()
) -> frozenset[str]:
    """Top-level fields whose value a reference copies from a sensitive field, or from a
    field of ``tainted`` (``(address, field)`` pairs a secret was copied into): they are
    sensitive too (Terraform's sensitivity propagation); an unknown kind counts as one."""
    names = set()
    for path, address, name in references:
        if (address, name) in tainted:
            names.add(str(path[0]))
            continue
        target = registered_kind(address.split("[", 1)[0])
        if target is None or any(f.name == name for f in spec_of(target).sensitive_fields):
            names.add(str(path[0]))
    return frozenset(names)


def propagated_secrets(
    references: Mapping[str, Iterable[tuple[Path, str, str]]], order: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Each address's ``copied_secrets`` over any number of hops: worked out once, in
    dependency ``order``, so a field that got a copy of a secret makes every field copied
    from it sensitive too. Addresses without any are left out."""
    tainted: set[tuple[str, str]] = set()
    found: dict[str, frozenset[str]] = {}
    for address in order:
        refs = references.get(address)
        names = copied_secrets(refs, tainted) if refs else None
        if names:
            found[address] = names
            tainted.update((address, name) for name in names)
    return found


def recorded_copies(kind: str, spec: Mapping[str, Any]) -> frozenset[str]:
    """The fields a record keeps as digests that its kind does not declare sensitive: a
    reference copied a secret into them when it was applied (for a step without one)."""
    cls = registered_kind(kind)
    declared = () if cls is None else {f.name for f in spec_of(cls).sensitive_fields}
    return frozenset(k for k, v in spec.items() if is_digest(v) and k not in declared)
