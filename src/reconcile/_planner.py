"""Planning: validate desired state, observe it through providers, choose each step.

Called by the reconciler. Validation (kinds, duplicate addresses, dangling
dependencies, cycles) runs before any provider is called, so bad input changes
nothing. Observation calls only ``read`` and ``diff``: planning is a dry run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._diff import Diff
from ._errors import (
    DanglingDependencyError,
    DuplicateAddressError,
    InvalidStateError,
    ObserveError,
    ProtectedResourceError,
    UnknownKindError,
)
from ._model import ResourceSpec, address_of, is_resource, lifecycle_of, spec_of
from ._order import order_steps, topological
from ._plan import Plan
from ._provider import Provider
from ._secrets import PROCESS_SALT, redact
from ._serialize import unstructure
from ._steps import Action, Reason, Step

__all__ = ["document", "plan", "validate"]

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


def plan(desired: Iterable[Any], providers: Providers) -> Plan:
    """Observe every desired resource and return the ordered plan; changes nothing."""
    resources = validate(desired, providers)
    steps = [
        _step(address, want, providers[spec_of(want).kind]) for address, want in resources.items()
    ]
    return Plan(order_steps(steps), salt=PROCESS_SALT)


def _observe(address: str, want: Any, provider: Provider[Any]) -> Any:
    try:
        return provider.read(want)
    except Exception as err:
        raise ObserveError(address, err) from err


def _step(address: str, want: Any, provider: Provider[Any]) -> Step:
    spec = spec_of(want)
    lifecycle = lifecycle_of(want)
    have = _observe(address, want, provider)
    common: dict[str, Any] = {
        "address": address,
        "kind": spec.kind,
        "depends_on": want.depends_on,
        "after": document(want),
        "desired": want,
        "create_before_destroy": lifecycle.create_before_destroy,
    }
    if have is None:
        return Step(
            action=Action.CREATE, reason=Reason.MISSING, unknown=_unknown(spec, want), **common
        )
    diff: Diff = provider.diff(want, have)
    common.update(before=document(have), actual=have, diff=diff)
    if not diff:
        return Step(action=Action.NOOP, reason=Reason.IN_SYNC, **common)
    if diff.requires_replace:
        if lifecycle.prevent_destroy:
            forced = ", ".join(str(p[0]) for p in diff.replace_paths)
            raise ProtectedResourceError(address, f"replace it ({forced} forces replacement)")
        return Step(
            action=Action.REPLACE,
            reason=Reason.REPLACE_FORCED,
            unknown=_unknown(spec, want),
            **common,
        )
    return Step(action=Action.UPDATE, reason=Reason.CHANGED, **common)


def _unknown(spec: ResourceSpec, want: Any) -> tuple[tuple[str | int, ...], ...]:
    """Computed fields the desired state leaves unset: known only after apply."""
    return tuple(
        (f.name,) for f in spec.fields if f.flags.computed and f.is_unset(getattr(want, f.name))
    )


def document(res: Any, salt: str = PROCESS_SALT) -> dict[str, Any]:
    """A resource as a plain document with its sensitive fields redacted."""
    doc = unstructure(res)
    for f in spec_of(res).fields:
        if f.flags.sensitive:
            doc[f.name] = redact(doc[f.name], salt)
    return doc
