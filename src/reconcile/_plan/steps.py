"""Plan steps: what will happen to one address, and why.

Values only; ordering lives in ``_order``, rendering in ``_render``, the JSON
form in ``_planjson`` and the ``Plan`` that holds steps in ``_plan``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from reconcile._diff.changes import EMPTY_DIFF, Diff
from reconcile._model.secrets import current_salt
from reconcile._util.vocabulary import Action, Reason

__all__ = ["Action", "Reason", "Step", "in_sync_step", "planned_spec"]

Path = tuple[str | int, ...]


@attrs.frozen
class Step:
    """One address in a plan: the action, its diff, before/after documents and edges.

    ``before`` and ``after`` are plain documents with sensitive values redacted, and
    with the fields in ``copied_sensitive`` (a reference copied a secret into them,
    directly or through other copies) redacted too;
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
    copied_sensitive: frozenset[str] = frozenset()
    create_before_destroy: bool = False
    desired: Any = attrs.field(default=None, eq=False, repr=False)
    actual: Any = attrs.field(default=None, eq=False, repr=False)
    declared: Any = attrs.field(default=None, eq=False, repr=False)
    # The spec a record of ``declared`` keeps, and the salt of its digests, when the
    # planner had it already (its ``after``): apply records it without encoding again.
    stored: tuple[str, Mapping[str, Any]] | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def creates_first(self) -> bool:
        """A create-before-destroy replace of something that exists: the new object is
        made, then dependents, then the old one goes (apply runs it as two units)."""
        return (
            self.action is Action.REPLACE and self.create_before_destroy and self.actual is not None
        )

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


def _slot(name: str) -> Callable[[Step, Any], None]:
    setter: Callable[[Step, Any], None] = Step.__dict__[name].__set__
    return setter


_SLOTS = tuple(_slot(a.name) for a in attrs.fields(Step))
_NOOP, _IN_SYNC = Action.NOOP, Reason.IN_SYNC  # enum member lookups cost a call each
_NONE: frozenset[str] = frozenset()


def in_sync_step(
    address: str, kind: str, depends_on: tuple[str, ...], declared: Any, actual: Any
) -> Step:
    """A no-op step with its slots set directly: twice as fast as ``Step(...)``.

    Most steps of most plans are these (rows ``plan (observe+diff+order)`` and ``no-op
    converge``, ``benchmarks/bench_plan.py``); ``tests/unit/test_plan.py`` checks it
    equals ``Step(...)``.
    """
    step: Step = object.__new__(Step)
    address_, kind_, action, reason, diff, before, after = _SLOTS[:7]
    unknown, depends, references, copied, cbd, desired, actual_, declared_, stored = _SLOTS[7:]
    address_(step, address)
    kind_(step, kind)
    action(step, _NOOP)
    reason(step, _IN_SYNC)
    diff(step, EMPTY_DIFF)
    before(step, None)
    after(step, None)
    unknown(step, ())
    depends(step, depends_on)
    references(step, ())
    copied(step, _NONE)
    cbd(step, False)
    desired(step, declared)
    actual_(step, actual)
    declared_(step, declared)
    stored(step, None)
    return step


def planned_spec(step: Step) -> Mapping[str, Any] | None:
    """The spec to record for ``step.declared`` that the planner encoded, if its digests
    were made with the salt in force now (the state's); None: encode it again."""
    stored = step.stored
    return stored[1] if stored is not None and stored[0] == current_salt() else None
