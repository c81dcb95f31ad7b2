"""Planning: validate desired state, observe it through providers, choose each step.

Called by the reconciler. Validation (``validate``) runs before any provider is
called, so bad input changes nothing. Observation calls only ``read`` and
``diff``: planning is a dry run. Steps are chosen (``choose``) in dependency order
so a reference takes the value its target will have, or ``UNKNOWN`` until it is
created. With recorded state the planner also fills provider-assigned ids into
reads, targets (``targets``), follows ``moved`` blocks, and prunes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from reconcile._diff.changes import same_managed
from reconcile._diff.deposed import deposed_from
from reconcile._diff.documents import outputs_of
from reconcile._diff.records import rebuild, record_outdated, with_outputs
from reconcile._diff.taint import propagated_secrets
from reconcile._model.refs import without_refs
from reconcile._model.resource import Lifecycle, lifecycle_of, spec_of
from reconcile._model.secrets import PROCESS_SALT, use_salt
from reconcile._model.values import Moved
from reconcile._provider.contract import Provider
from reconcile._provider.limits import Limiter
from reconcile._provider.observe import Probe, Retrying, observe
from reconcile._state.values import Record, Snapshot
from reconcile._util.errors import InvalidStateError, ProtectedResourceError, UnknownKindError
from reconcile._util.gcpause import no_cycle_collection

from .choose import desired_step, prune_step, references_of
from .order import order_steps
from .plan import Plan
from .steps import Action, Step, in_sync_step
from .targets import select
from .validate import Desired, Providers, validate

__all__ = ["Planning", "plan", "rebound"]

_NONE: frozenset[str] = frozenset()


@attrs.frozen
class Planning:
    """How to observe: the read parallelism, each provider's limiter, how reads retry."""

    parallelism: int = 1
    limiters: Mapping[str, Limiter] = attrs.field(factory=dict)
    include: Collection[str] | None = None
    exclude: Collection[str] | None = None
    retrying: Retrying = attrs.field(factory=Retrying)


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
    declared_moves = [m for m in items if isinstance(m, Moved)]
    moves = _moves(declared_moves, records) if declared_moves else ()
    if moves:
        records = rebound(records, moves)
    resources = desired.resources
    gone = {a: r for a, r in records.items() if a not in resources}
    graph: Mapping[str, tuple[str, ...]] = desired.graph
    if gone:
        graph = {**graph, **{a: r.depends_on for a, r in gone.items()}}
    left_out: tuple[tuple[str, str], ...] = ()
    chosen: set[str] | None = None  # None: everything (nothing targeted)
    if planning.include is not None or planning.exclude:
        chosen, left_out = select(graph, planning.include, planning.exclude)
    only = chosen if left_out else None  # None: everything (nothing was left out)
    wanted = resources if only is None else {a: r for a, r in resources.items() if a in only}
    pruned = [r for a, r in gone.items() if only is None or a in only]
    salt = snapshot.salt if snapshot is not None else PROCESS_SALT
    with use_salt(salt):
        steps, stale = _plan_chosen(
            _Chosen(desired, records, wanted, pruned),
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


def rebound(records: Mapping[str, Record], moves: tuple[tuple[str, str], ...]) -> dict[str, Record]:
    """``records`` with each moved one at its new address, as ``State.move`` leaves them
    (apply uses it after moving, rather than reading the whole state again)."""
    rebound = dict(records)
    for old, new in moves:
        rebound[new] = attrs.evolve(rebound.pop(old), address=new)
    return rebound


@attrs.frozen
class _Chosen:
    """What one plan covers: the desired state and records, and of them the targeted
    desired resources and the targeted records no longer desired."""

    desired: Desired
    records: Mapping[str, Record]
    wanted: Mapping[str, Any]
    pruned: list[Record]


def _plan_chosen(
    chosen: _Chosen, providers: Providers, planning: Planning, *, track_records: bool
) -> tuple[list[Step], tuple[str, ...]]:
    """Every chosen address's step in dependency order, and the stale records among no-ops."""
    records, wanted, pruned = chosen.records, chosen.wanted, chosen.pruned
    probes = _probes(wanted, providers, records, linked=chosen.desired.linked)
    probes += [p for r in pruned if (p := _prune_probe(r, providers)) is not None]
    seen = observe(probes, planning.parallelism, planning.limiters, planning.retrying)
    facts: dict[type, _KindFacts] = {}
    desired = chosen.desired
    linked = desired.linked
    # Each resource's references, and the fields they copy a secret into over any number
    # of hops: worked out once, over all desired resources (a left-out one passes it on).
    refs = {a: references_of(r) for a, r in desired.resources.items()} if linked else {}
    copies = propagated_secrets(refs, desired.order) if refs else {}
    known: dict[str, Any] | None = {} if linked else None  # what references will see
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
        lifecycle = lifecycle_of(want)  # once per resource: the step and the record check
        step, after = desired_step(
            address,
            want,
            providers[kind.kind],
            (record, track_records),
            have,
            (known, refs.get(address, ()), copies.get(address, _NONE)),
            lifecycle=lifecycle,
            depends_on=desired.graph[address],
        )
        steps.append(step)
        if known is not None:
            known[address] = after
        if (
            track_records
            and step.action is noop
            and record_outdated(record, have, step.depends_on, lifecycle, kind.computed)
        ):
            stale.append(address)
    steps += [prune_step(r, _unless_replacement(r, seen.get(r.address), records)) for r in pruned]
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
    wanted: Mapping[str, Any],
    providers: Providers,
    records: Mapping[str, Record],
    *,
    linked: bool,
) -> list[Probe]:
    """What to read each desired resource by: the resource itself in the common case."""
    if linked:
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
