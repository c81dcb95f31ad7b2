"""Choosing one resource's step: resolve its references, merge, diff, tell drift from
config, pick the action, and build the step's documents with secrets masked.

Called by the planner for each desired resource (``desired_step``) in dependency
order, and for each recorded one no longer desired (``prune_step``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs

from reconcile._diff.changes import EMPTY_DIFF, Change, Diff
from reconcile._diff.documents import (
    as_stored,
    document,
    load_spec,
    normalized_document,
    outputs_of,
)
from reconcile._diff.merge import (
    cause_of,
    preserve_foreign,
    write_only_changes,
    written_as_desired,
)
from reconcile._diff.records import with_outputs
from reconcile._diff.taint import recorded_copies
from reconcile._model.refs import ref_paths, resolve, unknown_fields
from reconcile._model.resource import Lifecycle, ResourceSpec, replace_fields, spec_of
from reconcile._model.secrets import current_salt, redact
from reconcile._model.values import UNKNOWN, Ref
from reconcile._provider.contract import Provider
from reconcile._state.values import Record
from reconcile._util.errors import ProtectedResourceError
from reconcile._util.vocabulary import ChangeKind

from .steps import Action, Reason, Step

__all__ = ["References", "desired_step", "prune_step", "references_of"]

References = tuple[tuple[tuple[str | int, ...], str, str], ...]


def desired_step(
    address: str,
    declared: Any,
    provider: Provider[Any],
    recorded: tuple[Record | None, bool],
    have: Any,
    linked: tuple[Mapping[str, Any] | None, References, frozenset[str]],
    *,
    lifecycle: Lifecycle,
    depends_on: tuple[str, ...],
) -> tuple[Step, Any]:
    """The step for one desired resource, and what it will look like after apply.

    ``recorded`` is the resource's record, and whether there is recorded state at all;
    ``linked`` what references will see of each resource planned so far (None when no
    reference exists in the process: nothing to resolve), this one's references, and
    its fields they copy a secret into (``propagated_secrets``). ``lifecycle`` and
    ``depends_on`` are worked out once per resource by the planner.
    """
    record, tracked = recorded
    known, references, copied = linked
    common: dict[str, Any] = {
        "address": address,
        "kind": spec_of(declared).kind,
        "depends_on": depends_on,
        "references": references,
        "copied_sensitive": copied,
        "declared": declared,
        "create_before_destroy": lifecycle.create_before_destroy,
    }
    if have is None:
        resolved = declared if known is None else _resolved(declared, known, copied)
        unknown = () if known is None else unknown_fields(resolved)
        step = _step(
            Action.CREATE, Reason.MISSING, declared, resolved, None, EMPTY_DIFF, unknown, **common
        )
        return step, None if known is None else _after(resolved, None)
    last = load_spec(record.spec) if record is not None else None
    want = preserve_foreign(declared, have, last)
    resolved = want if known is None else _resolved(want, known, copied)
    unknown = () if known is None else unknown_fields(resolved)
    applied = _normalized(declared, last)
    diff = _diff(provider, resolved, written_as_desired(resolved, have), unknown)
    written = write_only_changes(resolved, have, applied, recorded=tracked)
    if written:
        diff = _with_written(diff, written, spec_of(declared))
    diff = _with_causes(diff, applied)
    action, reason = _choose(diff, record)
    if action is Action.UPDATE:
        want = with_outputs(want, outputs_of(have))  # update what exists, by its id
    if action is Action.REPLACE and lifecycle.prevent_destroy:
        forced = ", ".join(str(p[0]) for p in diff.replace_paths) or "taint"
        raise ProtectedResourceError(address, f"replace it ({forced} forces replacement)")
    step = _step(action, reason, want, resolved, have, diff, unknown, **common, record=record)
    if known is None:
        return step, None  # no reference exists: nothing will look at it
    return step, _after(resolved, None if action is Action.REPLACE else have)


def _resolved(want: Any, known: Mapping[str, Any], copied: frozenset[str]) -> Any:
    """``want`` with its references resolved to what is known of their targets (called
    only when a reference exists in the process: ``bench_plan``'s rows have none)."""
    return resolve(want, lambda r: _known_value(r, known), copied)


def references_of(declared: Any) -> References:
    """Each ``Ref`` in a resource as its path and the address and field it names."""
    return tuple((path, r.address, r.field) for path, r in ref_paths(declared))


def _with_written(diff: Diff, written: tuple[Change, ...], spec: ResourceSpec) -> Diff:
    """``diff`` and the changes to write-only fields (a ``replace`` one forces replacement)."""
    forced = tuple(c.path for c in written if spec.field(str(c.path[0])).flags.replace)
    return Diff(diff.changes + written, diff.replace_paths + forced)


def _choose(diff: Diff, record: Record | None) -> tuple[Action, Reason]:
    if record is not None and record.tainted:
        return Action.REPLACE, Reason.TAINTED
    if not diff:
        return Action.NOOP, Reason.IN_SYNC
    if diff.requires_replace:
        return Action.REPLACE, Reason.REPLACE_FORCED
    return Action.UPDATE, Reason.CHANGED


def _known_value(r: Ref, known: Mapping[str, Any]) -> Any:
    target = known.get(r.address)
    return UNKNOWN if target is None else getattr(target, r.field)


def _after(resolved: Any, have: Any) -> Any:
    """What a resource will be after apply: computed fields from ``have``, else unknown."""
    changes = {
        f.name: getattr(have, f.name) if have is not None else UNKNOWN
        for f in spec_of(resolved).computed_fields
        if f.is_unset(getattr(resolved, f.name))
    }
    return replace_fields(resolved, changes) if changes else resolved


def _diff(provider: Provider[Any], resolved: Any, have: Any, unknown: tuple[str, ...]) -> Diff:
    """The provider's diff, with ``unknown`` fields (references still unknown) marked so."""
    if not unknown:
        return provider.diff(resolved, have)
    comparable = replace_fields(resolved, {f: getattr(have, f) for f in unknown})
    diff = provider.diff(comparable, have)
    spec = spec_of(resolved)
    marked = tuple(Change((f,), ChangeKind.REPLACE, getattr(have, f), UNKNOWN) for f in unknown)
    forced = tuple((f,) for f in unknown if spec.field(f).flags.replace)
    return Diff(diff.changes + marked, diff.replace_paths + forced)


def _step(
    action: Action,
    reason: Reason,
    want: Any,
    resolved: Any,
    have: Any,
    diff: Diff,
    unknown: tuple[str, ...],
    record: Record | None = None,
    **common: Any,
) -> Step:
    """The step's documents and diff, with secrets masked: what a reference copies one
    into now, and on the side of what exists, what the record keeps as one (a field that
    held a copied secret until this change)."""
    if action is Action.NOOP:  # nothing to show: no documents (they cost most of a plan)
        return Step(action=action, reason=reason, desired=want, actual=have, **common)
    computed: tuple[str, ...] = ()
    if action in (Action.CREATE, Action.REPLACE):
        computed = tuple(
            f.name
            for f in spec_of(resolved).computed_fields
            if f.is_unset(getattr(resolved, f.name))
        )
    shown = replace_fields(resolved, dict.fromkeys(unknown)) if unknown else resolved
    copied = common["copied_sensitive"]
    after = document(shown, copied=copied)
    was = copied
    if record is not None and have is not None:
        was = copied | recorded_copies(record.kind, record.spec)
    # The record's spec is ``after`` when that shows exactly what is declared (no merge,
    # outputs or references changed it), kept with the salt of its digests.
    exact = shown is common["declared"] and not common["references"]
    return Step(
        action=action,
        reason=reason,
        diff=_masked(diff, was, resolved, have) if have is not None else diff,
        before=document(have, copied=was) if have is not None else None,
        after=after,
        unknown=tuple((name,) for name in dict.fromkeys(computed + unknown)),
        desired=want,
        actual=have,
        stored=(current_salt(), as_stored(after)) if exact else None,
        **common,
    )


def _masked(diff: Diff, copied: Collection[str], want: Any, have: Any) -> Diff:
    """``diff`` with each field a secret was copied into shown as one change of digests
    of its whole values (``UNKNOWN`` stays so: known after apply)."""
    touched = dict.fromkeys(str(c.path[0]) for c in diff.changes if c.path[0] in copied)
    if not touched:
        return diff
    kept = [c for c in diff.changes if c.path[0] not in touched]
    for name in touched:
        first = next(c for c in diff.changes if c.path[0] == name)
        new = UNKNOWN if first.new is UNKNOWN else redact(getattr(want, name))
        kept.append(
            Change((name,), ChangeKind.REPLACE, redact(getattr(have, name)), new, first.cause)
        )
    return attrs.evolve(diff, changes=tuple(kept))


def _normalized(declared: Any, last: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The last applied spec in the form the diff compares (each field's ``normalize``)."""
    return None if last is None else normalized_document(type(declared), last)


def _with_causes(diff: Diff, last: Mapping[str, Any] | None) -> Diff:
    if last is None or not diff:
        return diff
    changes = tuple(
        attrs.evolve(c, cause=cause_of(c, last)) if c.new is not UNKNOWN else c
        for c in diff.changes
    )
    return attrs.evolve(diff, changes=changes)


def prune_step(record: Record, have: Any) -> Step:
    """A recorded resource no longer desired: delete it, or forget it when retained or gone.

    A field its record keeps as a digest, where a reference had copied a secret, is
    masked in what is read of it too."""
    copied = recorded_copies(record.kind, record.spec)
    common: dict[str, Any] = {
        "address": record.address,
        "kind": record.kind,
        "depends_on": record.depends_on,
        "before": load_spec(record.spec),
        "copied_sensitive": copied,
    }
    if record.retain:
        return Step(action=Action.FORGET, reason=Reason.RETAINED, **common)
    if have is None:
        return Step(action=Action.FORGET, reason=Reason.GONE, **common)
    common["before"] = document(have, copied=copied)
    return Step(action=Action.DELETE, reason=Reason.NOT_DESIRED, actual=have, **common)
