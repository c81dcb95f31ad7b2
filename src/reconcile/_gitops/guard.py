"""What a sync may change: prune guards, and each resource's drift mode.

Called by the GitOps operations (``sync``, ``watch``, ``rollback``). Pruning
happens only when asked (a ``PrunePolicy``), deletes only what state records,
and is refused when it would remove everything or more than ``max_deletes``.
One policy serves the Python API, ``apply --git``, ``sync`` and ``watch``;
refusals name both spellings. Drift is corrected or only reported per resource.
"""

from __future__ import annotations

import attrs

from reconcile._model.resource import lifecycle_of
from reconcile._plan.plan import Plan
from reconcile._plan.steps import Action, Step
from reconcile._util.errors import ReconcileError
from reconcile._util.vocabulary import DriftMode

__all__ = [
    "PrunePolicy",
    "PruneRefused",
    "drift_filtered",
    "guard_prune",
    "pruned",
    "without_prune",
]


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


def without_prune(plan: Plan) -> Plan:
    """The plan minus its deletes of things no longer desired (prune is off)."""
    return attrs.evolve(plan, steps=tuple(s for s in plan.steps if s.action is not Action.DELETE))


def pruned(plan: Plan, policy: PrunePolicy | None, recorded: int) -> Plan:
    """``plan`` under a prune policy: no deletes when off (None), else guarded
    (``recorded`` resources are managed)."""
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
        mode = _drift_mode(step) or (DriftMode.CORRECT if self_heal else DriftMode.DETECT)
        if mode is DriftMode.CORRECT:
            correct.append(step)
        elif mode is DriftMode.DETECT:
            report.append(step)
    kept = {s.address for s in correct}
    fixing = attrs.evolve(
        plan,
        steps=tuple(s for s in plan.steps if s.address in kept or not s.changes_anything),
    )
    return fixing, tuple(report)


def _drift_mode(step: Step) -> DriftMode | None:
    res = step.declared if step.declared is not None else step.desired
    drift = lifecycle_of(res).drift if res is not None else None
    return DriftMode(drift) if drift is not None else None
