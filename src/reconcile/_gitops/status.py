"""Sync status of a source's revision against live state: ``Synced`` or ``OutOfSync``.

Called by the GitOps operations (``status``, ``watch``). A status is a plan that
changes nothing, read as Argo CD reads an application: per resource in sync or
not, with its health (``.health``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from reconcile._plan.plan import Plan
from reconcile._plan.steps import Action, Step
from reconcile._provider.contract import Provider
from reconcile._util.vocabulary import Sync

from .health import Health, health_of, worst

__all__ = ["ResourceStatus", "Sync", "SyncStatus", "status_of"]


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
    health = worst(r.health for r in resources)
    return SyncStatus(sync, health, wanted, applied, resources, plan)


def _resource_status(step: Step, provider: Provider[Any] | None) -> ResourceStatus:
    sync = Sync.SYNCED if step.action in (Action.NOOP, Action.FORGET) else Sync.OUT_OF_SYNC
    paths = tuple(".".join(map(str, c.path)) for c in step.diff)
    return ResourceStatus(step.address, sync, health_of(step, provider), step.action, paths)
