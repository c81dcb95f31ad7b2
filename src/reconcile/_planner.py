"""Planning: validate desired state, observe it through providers, choose each step.

Called by the reconciler. Validation (kinds, duplicate addresses, dangling
dependencies, cycles) runs before any provider is called, so bad input changes
nothing. Observation calls only ``read`` and ``diff``: planning is a dry run.
With recorded state it also fills provider-assigned ids into reads, keeps
fields others set (three-way merge), says drift from config, and prunes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._diff import Diff
from ._errors import (
    DanglingDependencyError,
    DuplicateAddressError,
    InvalidStateError,
    ObserveError,
    ProtectedResourceError,
    UnknownKindError,
)
from ._model import address_of, is_resource, lifecycle_of, spec_of
from ._order import order_steps, topological
from ._plan import Plan
from ._provider import Provider
from ._records import cause_of, document, load_spec, preserve_foreign, rebuild, with_outputs
from ._secrets import PROCESS_SALT, use_salt
from ._state import Record, Snapshot
from ._steps import Action, Reason, Step

__all__ = ["plan", "validate"]

Providers = Mapping[str, Provider[Any]]


def validate(desired: Iterable[Any], providers: Providers) -> dict[str, Any]:
    """Desired resources by address, or an :class:`InvalidStateError` naming the problem."""
    by_address: dict[str, Any] = {}
    for res in desired:
        if not is_resource(res):
            raise InvalidStateError(f"desired state holds {res!r}, which is not a resource")
        address = address_of(res)
        if address in by_address:
            raise DuplicateAddressError(address, by_address[address], res)
        kind = spec_of(res).kind
        if kind not in providers:
            raise UnknownKindError(address, kind, list(providers))
        by_address[address] = res
    for address, res in by_address.items():
        for dep in res.depends_on:
            if dep not in by_address:
                raise DanglingDependencyError(address, dep)
    topological({a: r.depends_on for a, r in by_address.items()})
    return by_address


def plan(desired: Iterable[Any], providers: Providers, snapshot: Snapshot | None = None) -> Plan:
    """Observe every desired (and recorded) resource and return the ordered plan."""
    resources = validate(desired, providers)
    records = snapshot.records if snapshot is not None else {}
    salt = snapshot.salt if snapshot is not None else PROCESS_SALT
    with use_salt(salt):
        steps = [
            _desired_step(address, want, providers[spec_of(want).kind], records.get(address))
            for address, want in resources.items()
        ]
        steps += [
            _prune_step(record, providers)
            for address, record in records.items()
            if address not in resources
        ]
    serial = snapshot.serial if snapshot is not None else None
    return Plan(order_steps(steps), salt=salt, serial=serial)


def _observe(address: str, want: Any, provider: Provider[Any]) -> Any:
    try:
        return provider.read(want)
    except Exception as err:
        raise ObserveError(address, err) from err


def _desired_step(
    address: str, declared: Any, provider: Provider[Any], record: Record | None
) -> Step:
    lifecycle = lifecycle_of(declared)
    last = load_spec(record.spec) if record is not None else None
    want = with_outputs(declared, record.outputs) if record is not None else declared
    have = _observe(address, want, provider)
    common: dict[str, Any] = {
        "address": address,
        "kind": spec_of(declared).kind,
        "depends_on": declared.depends_on,
        "declared": declared,
        "create_before_destroy": lifecycle.create_before_destroy,
    }
    if have is None:
        return _step(Action.CREATE, Reason.MISSING, want, None, Diff(), **common)
    want = preserve_foreign(want, have, last)
    diff = _with_causes(provider.diff(want, have), last)
    if record is not None and record.tainted:
        action, reason = Action.REPLACE, Reason.TAINTED
    elif not diff:
        action, reason = Action.NOOP, Reason.IN_SYNC
    elif diff.requires_replace:
        action, reason = Action.REPLACE, Reason.REPLACE_FORCED
    else:
        action, reason = Action.UPDATE, Reason.CHANGED
    if action is Action.REPLACE and lifecycle.prevent_destroy:
        forced = ", ".join(str(p[0]) for p in diff.replace_paths) or "taint"
        raise ProtectedResourceError(address, f"replace it ({forced} forces replacement)")
    return _step(action, reason, want, have, diff, **common)


def _step(action: Action, reason: Reason, want: Any, have: Any, diff: Diff, **common: Any) -> Step:
    creates = action in (Action.CREATE, Action.REPLACE)
    return Step(
        action=action,
        reason=reason,
        diff=diff,
        before=document(have) if have is not None else None,
        after=document(want),
        unknown=_unknown(want) if creates else (),
        desired=want,
        actual=have,
        **common,
    )


def _with_causes(diff: Diff, last: Mapping[str, Any] | None) -> Diff:
    if last is None or not diff:
        return diff
    changes = tuple(attrs.evolve(c, cause=cause_of(c, last)) for c in diff.changes)
    return attrs.evolve(diff, changes=changes)


def _prune_step(record: Record, providers: Providers) -> Step:
    """A recorded resource no longer desired: delete it, or forget it when retained or gone."""
    common: dict[str, Any] = {
        "address": record.address,
        "kind": record.kind,
        "depends_on": record.depends_on,
        "before": load_spec(record.spec),
    }
    if record.retain:
        return Step(action=Action.FORGET, reason=Reason.RETAINED, **common)
    if record.protected:
        raise ProtectedResourceError(record.address, "destroy it (it is no longer desired)")
    provider = providers.get(record.kind)
    if provider is None:
        raise UnknownKindError(record.address, record.kind, list(providers))
    have = _observe(
        record.address, rebuild(provider.resource, record.spec, record.outputs), provider
    )
    if have is None:
        return Step(action=Action.FORGET, reason=Reason.GONE, **common)
    common["before"] = document(have)
    return Step(action=Action.DELETE, reason=Reason.NOT_DESIRED, actual=have, **common)


def _unknown(want: Any) -> tuple[tuple[str | int, ...], ...]:
    """Computed fields the desired state leaves unset: known only after apply."""
    return tuple(
        (f.name,)
        for f in spec_of(want).fields
        if f.flags.computed and f.is_unset(getattr(want, f.name))
    )
