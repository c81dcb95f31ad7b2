"""Saved plans: fill in what a plan read from JSON lacks, and refuse it when stale.

Called by apply before anything runs. A saved plan is re-observed: if what it
saw changed, or the re-supplied desired state's secrets differ from its
digests, it raises ``StalePlanError`` and nothing is applied. Its no-op steps
carry no documents: each is read again by its re-supplied resource (or its
record), so references to it resolve and its record is refreshed as a fresh
apply would refresh it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from reconcile._diff.documents import document
from reconcile._diff.records import rebuild, with_outputs
from reconcile._model.refs import without_refs
from reconcile._model.resource import address_of, registered_kind
from reconcile._model.secrets import Redacted
from reconcile._model.serialize import structure, structure_reported, unstructure_value
from reconcile._model.values import Moved, Ref
from reconcile._provider.contract import Provider
from reconcile._provider.observe import Retrying
from reconcile._state.values import Record
from reconcile._util.errors import (
    InvalidStateError,
    PlanNeedsDesiredStateError,
    StalePlanError,
    UnknownKindError,
)

from .plan import Plan
from .steps import Action, Step

__all__ = ["complete"]

Providers = Mapping[str, Provider[Any]]


_NEEDS_WANT = (Action.CREATE, Action.UPDATE, Action.REPLACE)
_NEEDS_HAVE = (Action.UPDATE, Action.REPLACE, Action.DELETE)


def complete(
    plan: Plan,
    providers: Providers,
    desired: Iterable[Any] | None,
    records: Mapping[str, Record] | None = None,
    reads: Retrying | None = None,
) -> tuple[Step, ...]:
    """Fill in what a saved plan could not rebuild, refusing it if the world moved since.

    ``records`` (the recorded state the plan was made against) gives a no-op step's
    ids for its read, and its spec when the desired state is not given again.
    ``reads`` retries a read raising ``TransientError``, as planning does.
    """
    if not plan.saved and all(
        s.desired is not None or s.action not in _NEEDS_WANT for s in plan.steps
    ):
        return plan.steps  # a fresh plan, or a saved one completed before it was journaled
    reads = reads or Retrying()
    unknown = [s for s in plan.steps if s.kind not in providers] if plan.saved else []
    if unknown:  # a saved plan edited by hand, or saved with other providers
        raise UnknownKindError(unknown[0].address, unknown[0].kind, list(providers))
    supplied = {address_of(r): r for r in desired or () if not isinstance(r, Moved)}
    out = []
    for step in plan.steps:
        if plan.saved and step.action is Action.NOOP:
            provider, record = providers[step.kind], (records or {}).get(step.address)
            out.append(_unchanged(step, provider, supplied.get(step.address), record, reads))
            continue
        if plan.saved and step.changes_anything:
            step = _with_resources(step)
        if step.action in _NEEDS_WANT and step.desired is None:
            want, declared = _resupplied(step, supplied, plan.salt)
            step = attrs.evolve(step, desired=want, declared=declared)
        if plan.saved and step.action is not Action.FORGET:
            record = (records or {}).get(step.address)
            step = _reobserved(step, providers[step.kind], plan.salt, reads, record)
        out.append(step)
    return tuple(out)


def _reobserved(
    step: Step, provider: Provider[Any], salt: str, reads: Retrying, record: Record | None
) -> Step:
    """Read again what a saved plan saw; any difference makes the plan stale.

    A step whose resources the JSON hides (a secret to destroy) is read by its record.
    """
    probe = step.desired if step.desired is not None else step.actual
    if probe is None and record is not None:
        probe = rebuild(provider.resource, record.spec, record.outputs, address=step.address)
    if probe is None:
        if step.action in _NEEDS_HAVE:
            raise StalePlanError(f"{step.address}: cannot re-read it to check the saved plan")
        return step
    have = reads.call(step.address, "read", lambda: provider.read(probe), probe)
    masked = step.copied_sensitive | {
        k for k, v in (step.before or {}).items() if type(v) is Redacted
    }
    seen = document(have, salt, masked) if have is not None else None
    if seen != step.before:
        raise StalePlanError(f"{step.address}: the actual state changed since planning")
    return attrs.evolve(step, actual=have)


def _unchanged(
    step: Step, provider: Provider[Any], declared: Any, record: Record | None, reads: Retrying
) -> Step:
    """A saved no-op with its resource objects: the declared one, when given again, and
    the one that exists now, read by it (or by the record) as the planner read it."""
    outputs = record.outputs if record is not None and not provider.identified_by_key else {}
    if declared is not None:
        probe = without_refs(with_outputs(declared, outputs))
    elif record is not None:
        probe = rebuild(provider.resource, record.spec, record.outputs, address=step.address)
    else:
        return step  # neither given nor recorded: nothing refers to what it is
    have = reads.call(step.address, "read", lambda: provider.read(probe), probe)
    if have is None:
        raise StalePlanError(f"{step.address}: it no longer exists since planning")
    return attrs.evolve(step, desired=declared, declared=declared, actual=have)


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
        if name in step.copied_sensitive:  # set by apply: its source's step checks it
            doc[name] = unstructure_value(getattr(without_refs(declared), name))
        elif isinstance(value, Redacted):
            if given.get(name) != value:
                raise StalePlanError(f"{step.address}: {name} changed since planning")
            doc[name] = getattr(declared, name)
    want = attrs.evolve(
        structure(doc, type(declared)), depends_on=step.depends_on, **_references(step, declared)
    )
    return want, declared


def _references(step: Step, declared: Any) -> dict[str, Any]:
    """The fields holding references, as the plan saw them (nested: as declared), which
    apply resolves; the plan's ``after`` shows them only as known after apply."""
    return {
        str(path[0]): Ref(address, field) if len(path) == 1 else getattr(declared, str(path[0]))
        for path, address, field in step.references
    }


def _with_resources(step: Step) -> Step:
    """Rebuild a saved step's resource objects from its documents, where nothing hides them."""
    resource_cls = registered_kind(step.kind)
    if resource_cls is None:
        return step
    deps = tuple(d for d in step.depends_on if d not in {a for _, a, _ in step.references})
    try:
        desired = _rebuild(step.after, resource_cls, deps, step.references)
        actual = _rebuild(step.before, resource_cls, ())
    except InvalidStateError as err:
        raise InvalidStateError(f"{step.address}: {err}") from None
    return attrs.evolve(step, desired=desired, declared=desired, actual=actual)


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
    rebuilt, problems = structure_reported(doc, resource_cls)
    if rebuilt is None or problems:
        where = "; ".join(
            f"{'.'.join(map(str, p.path)) or 'the document'}: {p.message}" for p in problems
        )
        raise InvalidStateError(f"the saved plan holds a value its field refuses: {where}")
    with_refs = {str(path[0]): Ref(address, field) for path, address, field in refs}
    return attrs.evolve(rebuilt, depends_on=deps, **with_refs)
