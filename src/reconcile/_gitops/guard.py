"""Sync status and health of a source's revision against live state, and guarded syncs.

Called by the reconciler (``status``, ``sync``, ``watch``, ``rollback``). A
status is a plan that changes nothing, read as Argo CD reads an application:
``Synced`` or ``OutOfSync`` per resource, health from each provider's
optional ``health(have)``. A sync applies a revision; pruning happens only when
asked (a ``PrunePolicy``), deletes only what state records, and is refused when
it would remove everything or more than ``max_deletes``. One policy serves the
Python API, ``apply --git``, ``sync`` and ``watch``; refusals name both spellings.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from reconcile._model.resource import lifecycle_of
from reconcile._plan.plan import Plan
from reconcile._plan.steps import Action, Step
from reconcile._provider.contract import Provider
from reconcile._util.errors import ReconcileError

__all__ = [
    "Health",
    "PrunePolicy",
    "PruneRefused",
    "ResourceStatus",
    "Sync",
    "SyncStatus",
    "drift_filtered",
    "guard_prune",
    "pruned",
    "status_of",
    "without_prune",
]


class Sync(enum.StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"


class Health(enum.StrEnum):
    """Resource health, from worst to best as Argo CD aggregates it."""

    DEGRADED = "Degraded"
    MISSING = "Missing"
    PROGRESSING = "Progressing"
    HEALTHY = "Healthy"


_WORST_FIRST = list(Health)


@attrs.frozen
class PrunePolicy:
    """Prune, with its guards: at most ``max_deletes``; everything only with ``allow_prune_all``.

    Pass it as ``prune=`` to ``sync``, ``plan_sync`` and ``WatchOptions``; ``prune=True``
    is ``PrunePolicy()``, and ``False`` (the default) never deletes what a revision drops.
    The command line spells it ``--prune``, ``--max-deletes N`` and ``--allow-prune-all``.
    """

    max_deletes: int | None = attrs.field(default=None, kw_only=True)
    allow_prune_all: bool = attrs.field(default=False, kw_only=True)

    @classmethod
    def of(cls, prune: bool | PrunePolicy) -> PrunePolicy | None:
        """The policy ``prune=`` asks for, or None when pruning is off."""
        if isinstance(prune, PrunePolicy):
            return prune
        return cls() if prune else None


class PruneRefused(ReconcileError):
    """A sync would prune everything, or more than ``max_deletes``; nothing was applied.

    ``deletes`` lists the addresses it would have deleted.
    """

    def __init__(self, message: str, deletes: tuple[str, ...]) -> None:
        super().__init__(message)
        self.deletes = deletes


@attrs.frozen
class ResourceStatus:
    """One resource: in sync or not, its health, and the paths that differ."""

    address: str
    sync: Sync
    health: Health
    action: Action
    paths: tuple[str, ...] = ()


@attrs.frozen
class SyncStatus:
    """A revision against live state: overall sync and health, per resource detail."""

    sync: Sync
    health: Health
    revision_wanted: str
    revision_applied: str | None
    resources: tuple[ResourceStatus, ...]
    plan: Plan = attrs.field(eq=False, repr=False)

    @property
    def out_of_sync(self) -> tuple[ResourceStatus, ...]:
        return tuple(r for r in self.resources if r.sync is Sync.OUT_OF_SYNC)


def status_of(
    plan: Plan,
    providers: Mapping[str, Provider[Any]],
    wanted: str,
    applied: str | None,
) -> SyncStatus:
    """Read a plan as a status: nothing to do is Synced; health from the providers."""
    resources = tuple(_resource_status(s, providers.get(s.kind)) for s in plan.steps)
    sync = Sync.OUT_OF_SYNC if any(r.sync is Sync.OUT_OF_SYNC for r in resources) else Sync.SYNCED
    healths = {r.health for r in resources} or {Health.HEALTHY}
    health = next(h for h in _WORST_FIRST if h in healths)
    return SyncStatus(sync, health, wanted, applied, resources, plan)


def _resource_status(step: Step, provider: Provider[Any] | None) -> ResourceStatus:
    sync = Sync.SYNCED if step.action in (Action.NOOP, Action.FORGET) else Sync.OUT_OF_SYNC
    if step.actual is None:
        health = Health.MISSING
    elif provider is None:
        health = Health.HEALTHY
    else:
        health = Health(provider.health(step.actual))
    paths = tuple(".".join(map(str, c.path)) for c in step.diff)
    return ResourceStatus(step.address, sync, health, step.action, paths)


def without_prune(plan: Plan) -> Plan:
    """The plan minus its deletes of things no longer desired (prune is off)."""
    return attrs.evolve(plan, steps=tuple(s for s in plan.steps if s.action is not Action.DELETE))


def pruned(plan: Plan, prune: bool | PrunePolicy, recorded: int) -> Plan:
    """``plan`` under a prune policy: no deletes when off, else guarded (``recorded`` managed)."""
    policy = PrunePolicy.of(prune)
    if policy is None:
        return without_prune(plan)
    guard_prune(plan, recorded, policy)
    return plan


def guard_prune(plan: Plan, recorded: int, policy: PrunePolicy) -> None:
    """Refuse a prune of everything recorded, or of more than ``max_deletes``, listing them."""
    deletes = tuple(s.address for s in plan.steps if s.action is Action.DELETE)
    if not deletes:
        return
    listed = ", ".join(deletes[:20]) + (" ..." if len(deletes) > 20 else "")
    if len(deletes) >= recorded and not policy.allow_prune_all:
        raise PruneRefused(
            f"refusing to delete all {len(deletes)} managed resources ({listed}); "
            "pass --allow-prune-all (Python: PrunePolicy(allow_prune_all=True)) to do it",
            deletes,
        )
    limit = policy.max_deletes
    if limit is not None and len(deletes) > limit:
        raise PruneRefused(
            f"refusing to delete {len(deletes)} resources, more than --max-deletes {limit} "
            f"(Python: PrunePolicy(max_deletes={limit})): {listed}",
            deletes,
        )


def drift_filtered(plan: Plan, self_heal: bool) -> tuple[Plan, tuple[Step, ...]]:
    """Split drift by each resource's mode: steps to correct, and steps only to report.

    A resource's ``lifecycle.drift`` (``off``, ``detect`` or ``correct``) wins;
    otherwise ``correct`` when self-healing, else ``detect``.
    """
    correct, report = [], []
    for step in plan.changes:
        mode = _drift_mode(step) or ("correct" if self_heal else "detect")
        if mode == "correct":
            correct.append(step)
        elif mode == "detect":
            report.append(step)
    kept = {s.address for s in correct}
    fixing = attrs.evolve(
        plan,
        steps=tuple(s for s in plan.steps if s.address in kept or not s.changes_anything),
    )
    return fixing, tuple(report)


def _drift_mode(step: Step) -> str | None:
    res = step.declared if step.declared is not None else step.desired
    return lifecycle_of(res).drift if res is not None else None
