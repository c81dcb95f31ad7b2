"""Planning: validate desired state, observe it through providers, choose each step.

Called by the reconciler. Validation (kinds, duplicate addresses, dangling
dependencies and references, cycles) runs before any provider is called, so
bad input changes nothing. Observation calls only ``read`` and ``diff``:
planning is a dry run. Steps are chosen in dependency order so a reference
takes the value its target will have, or ``UNKNOWN`` until it is created.
With recorded state the planner also fills provider-assigned ids into reads,
keeps fields others set (three-way merge), tells drift from config, and prunes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from reconcile._diff.changes import Change, Diff, same_managed
from reconcile._diff.deposed import deposed_from
from reconcile._diff.documents import document, load_spec, normalized_document, outputs_of
from reconcile._diff.merge import cause_of, preserve_foreign, write_only_changes, written_as_desired
from reconcile._diff.records import rebuild, record_outdated, with_outputs
from reconcile._diff.taint import propagated_secrets, recorded_copies
from reconcile._model.refs import dependencies, ref_paths, resolve, unknown_fields, without_refs
from reconcile._model.resource import (
    Lifecycle,
    ResourceSpec,
    lifecycle_of,
    replace_fields,
    resource_spec,
    spec_of,
)
from reconcile._model.secrets import PROCESS_SALT, redact, use_salt
from reconcile._model.values import UNKNOWN, Moved, Ref, refs_exist
from reconcile._provider.contract import Provider
from reconcile._provider.limits import Limiter
from reconcile._provider.observe import Probe, Retrying, observe
from reconcile._state.contract import Record, Snapshot
from reconcile._util.errors import (
    DanglingDependencyError,
    DuplicateAddressError,
    InvalidStateError,
    ProtectedResourceError,
    UnknownKindError,
    did_you_mean,
)
from reconcile._util.gcpause import no_cycle_collection

from .order import order_steps, topological
from .plan import Plan
from .steps import Action, Reason, Step, in_sync_step
from .targets import select

__all__ = ["Desired", "Planning", "plan", "validate"]

Providers = Mapping[str, Provider[Any]]
_NONE: frozenset[str] = frozenset()
References = tuple[tuple[tuple[str | int, ...], str, str], ...]


@attrs.frozen
class Desired:
    """Validated desired state: resources and their edges by address, and a dependency order."""

    resources: dict[str, Any]
    graph: dict[str, tuple[str, ...]]
    order: list[str]


@attrs.frozen
class Planning:
    """How to observe: the read parallelism, each provider's limiter, how reads retry."""

    parallelism: int = 1
    limiters: Mapping[str, Limiter] = attrs.field(factory=dict)
    include: Collection[str] | None = None
    exclude: Collection[str] | None = None
    retrying: Retrying = attrs.field(factory=Retrying)


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
    return Desired(by_address, graph, topological(graph))


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


def plan(
    desired: Iterable[Any],
    providers: Providers,
    snapshot: Snapshot | None = None,
    planning: Planning = Planning(),
) -> Plan:
    """Observe every desired (and recorded) resource and return the ordered plan."""
    with no_cycle_collection():  # a plan makes no cycles; GC passes on big heaps cost a third
        return _plan(list(desired), providers, snapshot, planning)


def _plan(
    items: list[Any], providers: Providers, snapshot: Snapshot | None, planning: Planning
) -> Plan:
    desired = validate([r for r in items if not isinstance(r, Moved)], providers)
    records = snapshot.records if snapshot is not None else {}
    moves = _moves([m for m in items if isinstance(m, Moved)], records)
    if moves:
        records = _rebound(records, moves)
    resources = desired.resources
    gone = {a: r for a, r in records.items() if a not in resources}
    graph: Mapping[str, tuple[str, ...]] = desired.graph
    if gone:
        graph = {**graph, **{a: r.depends_on for a, r in gone.items()}}
    chosen, left_out = select(graph, planning.include, planning.exclude)
    salt = snapshot.salt if snapshot is not None else PROCESS_SALT
    with use_salt(salt):
        steps, stale = _plan_chosen(
            _Chosen(desired, records, gone, chosen if left_out else None),
            providers,
            planning,
            track_records=snapshot is not None,
        )
    return Plan(
        # Desired steps come in the desired order, already topological; only pruned
        # ones (deletes go after their dependents) need the steps ordered again.
        tuple(steps) if not gone else order_steps(steps),
        salt=salt,
        serial=snapshot.serial if snapshot is not None else None,
        excluded=left_out,
        moves=moves,
        stale_records=stale,
    )


def _moves(declared: list[Moved], records: Mapping[str, Record]) -> tuple[tuple[str, str], ...]:
    """The declared renames that still have work to do: the old address is recorded."""
    found = []
    for m in declared:
        if m.old.split("[", 1)[0] != m.new.split("[", 1)[0]:
            raise InvalidStateError(f"moved {m.old} to {m.new}: a move cannot change the kind")
        if m.old in records and m.new in records:
            raise InvalidStateError(f"moved {m.old} to {m.new}: both are recorded already")
        if m.old in records:
            found.append((m.old, m.new))
    return tuple(found)


def _rebound(
    records: Mapping[str, Record], moves: tuple[tuple[str, str], ...]
) -> dict[str, Record]:
    rebound = dict(records)
    for old, new in moves:
        rebound[new] = attrs.evolve(rebound.pop(old), address=new)
    return rebound


@attrs.frozen
class _Chosen:
    """What one plan covers: the desired state, records, recorded-but-gone, the targets."""

    desired: Desired
    records: Mapping[str, Record]
    gone: Mapping[str, Record]
    only: set[str] | None  # None: everything (no include/exclude left anything out)

    def wanted(self) -> dict[str, Any]:
        resources, only = self.desired.resources, self.only
        return resources if only is None else {a: r for a, r in resources.items() if a in only}

    def pruned(self) -> list[Record]:
        only = self.only
        return [r for a, r in self.gone.items() if only is None or a in only]


def _plan_chosen(
    chosen: _Chosen, providers: Providers, planning: Planning, *, track_records: bool
) -> tuple[list[Step], tuple[str, ...]]:
    """Every chosen address's step in dependency order, and the stale records among no-ops."""
    records = chosen.records
    wanted, pruned = chosen.wanted(), chosen.pruned()
    probes = _probes(wanted, providers, records)
    probes += [p for r in pruned if (p := _prune_probe(r, providers)) is not None]
    seen = observe(probes, planning.parallelism, planning.limiters, planning.retrying)
    facts: dict[type, _KindFacts] = {}
    linked = refs_exist()
    desired = chosen.desired
    # Each resource's references, and the fields they copy a secret into over any number
    # of hops: worked out once, over all desired resources (a left-out one passes it on).
    refs = {a: _references(r) for a, r in desired.resources.items()} if linked else {}
    copies = propagated_secrets(refs, desired.order)
    known: dict[str, Any] = {}
    steps: list[Step] = []
    stale: list[str] = []
    noop = Action.NOOP
    for address in desired.order:
        want = wanted.get(address)
        if want is None:
            continue  # left out by include/exclude
        kind = facts.get(type(want))
        if kind is None:
            kind = facts[type(want)] = _KindFacts.of(type(want), providers, linked=linked)
        have, record = seen[address], records.get(address)
        if (
            kind.fast
            and have is not None
            and (record is None or not record.tainted)
            and same_managed(want, have)  # True only without a per-resource lifecycle
        ):  # the equality fast path: generic diff, no refs, not tainted, managed fields equal
            steps.append(in_sync_step(address, kind.kind, want.depends_on, want, have))
            if track_records and record_outdated(
                record, have, want.depends_on, kind.lifecycle, kind.computed
            ):
                stale.append(address)
            continue
        step, known[address] = _desired_step(
            address,
            want,
            providers[kind.kind],
            (record, track_records),
            have,
            (known, refs.get(address, ()), copies.get(address, _NONE)),
        )
        steps.append(step)
        if track_records and step.action is noop:
            lifecycle = lifecycle_of(want)
            if record_outdated(record, have, step.depends_on, lifecycle, kind.computed):
                stale.append(address)
    steps += [_prune_step(r, _unless_replacement(r, seen.get(r.address), records)) for r in pruned]
    return steps, tuple(stale)


def _unless_replacement(record: Record, have: Any, records: Mapping[str, Record]) -> Any:
    """What a pruned record's probe read, or None when a deposed record's probe read the
    replacement (a thing found by its key): the old object is gone, the new one stays."""
    owner = deposed_from(record.address)
    if have is None or owner is None:
        return have
    current = records.get(owner)
    if current is not None and current.outputs and dict(current.outputs) == outputs_of(have):
        return None
    return have


@attrs.frozen
class _KindFacts:
    """What the planning loop needs of a resource class, worked out once per plan."""

    kind: str
    fast: bool  # the provider keeps the generic diff and no reference exists
    lifecycle: Lifecycle
    computed: tuple[str, ...]

    @classmethod
    def of(cls, resource_class: type, providers: Providers, *, linked: bool) -> _KindFacts:
        spec = spec_of(resource_class)
        fast = (
            type(providers[spec.kind]).diff is Provider.diff
            and not linked
            and not spec.write_only_fields  # never compared with what a read returns
        )
        return cls(spec.kind, fast, spec.lifecycle, spec.computed)


def _probes(
    wanted: Mapping[str, Any], providers: Providers, records: Mapping[str, Record]
) -> list[Probe]:
    """What to read each desired resource by: the resource itself in the common case."""
    if refs_exist():
        return [_probe(a, r, providers, records.get(a)) for a, r in wanted.items()]
    by_key = {k: p for k, p in providers.items() if p.identified_by_key}
    probes: list[Probe] = []
    for address, want in wanted.items():
        provider = by_key.get(spec_of(want).kind)
        if provider is None:
            probes.append(_probe(address, want, providers, records.get(address)))
        else:
            probes.append((address, want, provider))
    return probes


def _probe(address: str, want: Any, providers: Providers, record: Record | None) -> Probe:
    provider = providers[spec_of(want).kind]
    if record is not None and not provider.identified_by_key:
        want = with_outputs(want, record.outputs)  # e.g. a cloud VM is read by its id
    return address, without_refs(want), provider


def _prune_probe(record: Record, providers: Providers) -> Probe | None:
    if record.retain:
        return None
    if record.protected:
        raise ProtectedResourceError(record.address, "destroy it (it is no longer desired)")
    provider = providers.get(record.kind)
    if provider is None:
        raise UnknownKindError(record.address, record.kind, list(providers))
    probe = rebuild(provider.resource, record.spec, record.outputs, address=record.address)
    return record.address, probe, provider


def _desired_step(
    address: str,
    declared: Any,
    provider: Provider[Any],
    recorded: tuple[Record | None, bool],
    have: Any,
    linked: tuple[Mapping[str, Any], References, frozenset[str]],
) -> tuple[Step, Any]:
    """The step for one desired resource, and what it will look like after apply.

    ``recorded`` is the resource's record, and whether there is recorded state at all;
    ``linked`` what references will see of each resource planned so far, this one's
    references, and its fields they copy a secret into (``propagated_secrets``).
    """
    record, tracked = recorded
    known, references, copied = linked
    lifecycle = lifecycle_of(declared)
    common: dict[str, Any] = {
        "address": address,
        "kind": spec_of(declared).kind,
        "depends_on": dependencies(declared),
        "references": references,
        "copied_sensitive": copied,
        "declared": declared,
        "create_before_destroy": lifecycle.create_before_destroy,
    }
    if have is None:
        resolved = resolve(declared, lambda r: _known_value(r, known), copied)
        step = _step(Action.CREATE, Reason.MISSING, declared, resolved, None, Diff(), **common)
        return step, _known_after(resolved, None)
    last = load_spec(record.spec) if record is not None else None
    want = preserve_foreign(declared, have, last)
    resolved = resolve(want, lambda r: _known_value(r, known), copied)
    applied = _normalized(declared, last)
    diff = _diff(provider, resolved, written_as_desired(resolved, have))
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
    step = _step(action, reason, want, resolved, have, diff, **common, record=record)
    return step, _known_after(resolved, None if action is Action.REPLACE else have)


def _references(declared: Any) -> References:
    """Each ``Ref`` in a resource as its path and the address and field it names."""
    return tuple((path, r.address, r.field) for path, r in ref_paths(declared))


def _with_written(diff: Diff, written: tuple[Change, ...], spec: ResourceSpec) -> Diff:
    """``diff`` and the changes to write-only fields (a ``replace`` one forces replacement)."""
    forced = tuple(c.path for c in written if spec.field(str(c.path[0])).flags.replace)
    return Diff(diff.changes + written, diff.replace_paths + forced)


def _known_after(resolved: Any, have: Any) -> Any:
    """What references to this resource will see; only worked out when refs exist."""
    return _after(resolved, have) if refs_exist() else None


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


def _diff(provider: Provider[Any], resolved: Any, have: Any) -> Diff:
    """The provider's diff, with fields whose references are still unknown marked so."""
    unknown = unknown_fields(resolved)
    if not unknown:
        return provider.diff(resolved, have)
    comparable = replace_fields(resolved, {f: getattr(have, f) for f in unknown})
    diff = provider.diff(comparable, have)
    spec = spec_of(resolved)
    marked = tuple(Change((f,), "replace", getattr(have, f), UNKNOWN) for f in unknown)
    forced = tuple((f,) for f in unknown if spec.field(f).flags.replace)
    return Diff(diff.changes + marked, diff.replace_paths + forced)


def _step(
    action: Action,
    reason: Reason,
    want: Any,
    resolved: Any,
    have: Any,
    diff: Diff,
    record: Record | None = None,
    **common: Any,
) -> Step:
    """The step's documents and diff, with secrets masked: what a reference copies one
    into now, and on the side of what exists, what the record keeps as one (a field that
    held a copied secret until this change)."""
    if action is Action.NOOP:  # nothing to show: no documents (they cost most of a plan)
        return Step(action=action, reason=reason, desired=want, actual=have, **common)
    unknown = unknown_fields(resolved)
    computed: tuple[str, ...] = ()
    if action in (Action.CREATE, Action.REPLACE):
        computed = tuple(
            f.name
            for f in spec_of(resolved).computed_fields
            if f.is_unset(getattr(resolved, f.name))
        )
    shown = replace_fields(resolved, dict.fromkeys(unknown)) if unknown else resolved
    copied = common["copied_sensitive"]
    was = copied
    if record is not None and have is not None:
        was = copied | recorded_copies(record.kind, record.spec)
    return Step(
        action=action,
        reason=reason,
        diff=_masked(diff, was, resolved, have) if have is not None else diff,
        before=document(have, copied=was) if have is not None else None,
        after=document(shown, copied=copied),
        unknown=tuple((name,) for name in dict.fromkeys(computed + unknown)),
        desired=want,
        actual=have,
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
        kept.append(Change((name,), "replace", redact(getattr(have, name)), new, first.cause))
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


def _prune_step(record: Record, have: Any) -> Step:
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
