"""Plan steps: what will happen to one address, and why.

Values only; ordering lives in ``_order``, rendering in ``_render``, the JSON
form in ``_planjson`` and the ``Plan`` that holds steps in ``_plan``.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from ._diff import EMPTY_DIFF, Diff

__all__ = ["Action", "Reason", "Step"]

Path = tuple[str | int, ...]


class Action(enum.StrEnum):
    """What a step does to its address."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    FORGET = "forget"
    NOOP = "noop"


class Reason(enum.StrEnum):
    """Why the planner chose a step's action (as Terraform's ``action_reason``)."""

    MISSING = "missing"
    CHANGED = "changed"
    REPLACE_FORCED = "replace_forced"
    IN_SYNC = "in_sync"
    NOT_DESIRED = "not_desired"
    TAINTED = "tainted"
    RETAINED = "retained"
    GONE = "gone"


@attrs.frozen
class Step:
    """One address in a plan: the action, its diff, before/after documents and edges.

    ``before`` and ``after`` are plain documents with sensitive values redacted;
    ``desired`` (what the provider is given), ``declared`` (what the user wrote,
    which is what gets recorded) and ``actual`` are the resource objects apply
    needs, kept out of equality and of the JSON form.
    """

    address: str
    kind: str
    action: Action
    reason: Reason
    diff: Diff = EMPTY_DIFF
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    unknown: tuple[Path, ...] = ()
    depends_on: tuple[str, ...] = ()
    references: tuple[tuple[Path, str, str], ...] = ()
    create_before_destroy: bool = False
    desired: Any = attrs.field(default=None, eq=False, repr=False)
    actual: Any = attrs.field(default=None, eq=False, repr=False)
    declared: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def changes_anything(self) -> bool:
        return self.action is not Action.NOOP

    @property
    def actions(self) -> tuple[str, ...]:
        """Terraform-style action list: a replace is two actions, in execution order."""
        if self.action is Action.REPLACE:
            return ("create", "delete") if self.create_before_destroy else ("delete", "create")
        if self.action is Action.NOOP:
            return ("no-op",)
        if self.action is Action.FORGET:
            return ("forget",)
        return (self.action.value,)
