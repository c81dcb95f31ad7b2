"""Saved plans: fill in what a plan read from JSON lacks, and refuse it when stale.

Called by apply before anything runs. A saved plan is re-observed: if what it
saw changed, or the re-supplied desired state's secrets differ from its
digests, it raises ``StalePlanError`` and nothing is applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._errors import PlanNeedsDesiredStateError, StalePlanError
from ._model import address_of, registered_kind
from ._plan import Plan
from ._provider import Provider
from ._records import document
from ._secrets import Redacted
from ._serialize import structure
from ._steps import Action, Step
from ._values import Ref

__all__ = ["complete"]

Providers = Mapping[str, Provider[Any]]


_NEEDS_WANT = (Action.CREATE, Action.UPDATE, Action.REPLACE)
_NEEDS_HAVE = (Action.UPDATE, Action.REPLACE, Action.DELETE)


def complete(plan: Plan, providers: Providers, desired: Iterable[Any] | None) -> tuple[Step, ...]:
    """Fill in what a saved plan could not rebuild, refusing it if the world moved since."""
    supplied = {address_of(r): r for r in desired or ()}
    out = []
    for step in plan.steps:
        if plan.saved and step.changes_anything:
            step = _with_resources(step)
        if step.action in _NEEDS_WANT and step.desired is None:
            want, declared = _resupplied(step, supplied, plan.salt)
            step = attrs.evolve(step, desired=want, declared=declared)
        if plan.saved and step.action is not Action.FORGET:
            step = _reobserved(step, providers[step.kind], plan.salt)
        out.append(step)
    return tuple(out)


def _reobserved(step: Step, provider: Provider[Any], salt: str) -> Step:
    """Read again what a saved plan saw; any difference makes the plan stale."""
    probe = step.desired if step.desired is not None else step.actual
    if probe is None:
        if step.action in _NEEDS_HAVE:
            raise StalePlanError(f"{step.address}: cannot re-read it to check the saved plan")
        return step
    have = provider.read(probe)
    seen = document(have, salt) if have is not None else None
    if seen != step.before:
        raise StalePlanError(f"{step.address}: the actual state changed since planning")
    return attrs.evolve(step, actual=have)


def _resupplied(step: Step, supplied: Mapping[str, Any], salt: str) -> tuple[Any, Any]:
    """The plan's own ``after`` with its secrets taken from the re-supplied desired state."""
    declared = supplied.get(step.address)
    if declared is None or step.after is None:
        raise PlanNeedsDesiredStateError(
            f"{step.address}: the saved plan redacts sensitive values; "
            "apply it together with the desired state it was made from"
        )
    given = document(declared, salt)
    doc = dict(step.after)
    for name, value in step.after.items():
        if isinstance(value, Redacted):
            if given.get(name) != value:
                raise StalePlanError(f"{step.address}: {name} changed since planning")
            doc[name] = getattr(declared, name)
    want = attrs.evolve(structure(doc, type(declared)), depends_on=step.depends_on)
    return want, declared


def _with_resources(step: Step) -> Step:
    """Rebuild a saved step's resource objects from its documents, where nothing hides them."""
    resource_cls = registered_kind(step.kind)
    if resource_cls is None:
        return step
    deps = tuple(d for d in step.depends_on if d not in {a for _, a, _ in step.references})
    desired = _rebuild(step.after, resource_cls, deps, step.references)
    return attrs.evolve(
        step,
        desired=desired,
        declared=desired,
        actual=_rebuild(step.before, resource_cls, ()),
    )


def _rebuild(
    doc: dict[str, Any] | None,
    resource_cls: type[Any],
    deps: tuple[str, ...],
    refs: tuple[tuple[tuple[str | int, ...], str, str], ...] = (),
) -> Any:
    """The resource a document describes, or None when secrets or nested refs hide it."""
    if doc is None or any(isinstance(v, Redacted) for v in doc.values()):
        return None
    if any(len(path) != 1 for path, _, _ in refs):
        return None
    rebuilt: Any = structure(doc, resource_cls)
    with_refs = {str(path[0]): Ref(address, field) for path, address, field in refs}
    return attrs.evolve(rebuilt, depends_on=deps, **with_refs)
