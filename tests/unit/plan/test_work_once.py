"""Work done once per operation (issue 18): one state read per apply, one encoding of a
created resource, and the stored spec reused only where its digests still hold."""

from __future__ import annotations

from pathlib import Path

import attrs

import reconcile as rc
from reconcile._diff.documents import stored_spec
from reconcile._model.secrets import new_salt, use_salt
from reconcile._plan.steps import planned_spec
from reconcile._state.values import Snapshot
from reconcile.testing import MemoryProvider


@rc.resource("once_item")
class Item:
    name: str = rc.field(key=True)
    size: int = 0
    token: str = rc.field(default="", sensitive=True)
    labels: dict[str, str] = rc.field(factory=dict)
    id: str | None = rc.field(default=None, computed=True)


class Counted(rc.SQLiteState):
    """A real SQLite state that counts its whole-state reads."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.snapshots = 0

    def snapshot(self) -> Snapshot:
        self.snapshots += 1
        return super().snapshot()


def test_an_apply_with_moves_reads_the_state_once(tmp_path: Path) -> None:
    state = Counted(tmp_path / "state.db")
    reconciler = rc.Reconciler([MemoryProvider(Item)], state)
    assert reconciler.apply(reconciler.plan([Item("old", 1)])).ok
    desired = [Item("new", 1), rc.moved("once_item[old]", "once_item[new]")]
    plan = reconciler.plan(desired)
    assert plan.moves == (("once_item[old]", "once_item[new]"),)
    state.snapshots = 0
    assert reconciler.apply(plan).ok
    assert state.snapshots == 1
    assert set(state.snapshot().records) == {"once_item[new]"}
    assert reconciler.plan(desired).is_empty


def test_a_created_resource_is_recorded_with_the_spec_its_plan_encoded(tmp_path: Path) -> None:
    state = rc.SQLiteState(tmp_path / "state.db")
    reconciler = rc.Reconciler([MemoryProvider(Item)], state)
    plan = reconciler.plan([Item("a", 2, token="hunter2")])
    (step,) = plan.steps
    with use_salt(state.snapshot().salt):
        assert planned_spec(step) == stored_spec(step.declared)
    assert "hunter2" not in repr(planned_spec(step))
    assert reconciler.apply(plan).ok
    record = state.snapshot().records["once_item[a]"]
    with use_salt(state.snapshot().salt):
        assert record.spec == stored_spec(Item("a", 2, token="hunter2"))


def test_a_planned_spec_is_not_reused_under_another_salt(tmp_path: Path) -> None:
    reconciler = rc.Reconciler([MemoryProvider(Item)], rc.SQLiteState(tmp_path / "s.db"))
    (step,) = reconciler.plan([Item("a", token="hunter2")]).steps
    with use_salt(new_salt()):
        assert planned_spec(step) is None


def test_an_update_keeping_others_labels_is_recorded_as_declared(tmp_path: Path) -> None:
    """A three-way merge keeps a label someone else set: the step's after shows it, so the
    record's spec is encoded from what is declared, without it."""
    world = MemoryProvider(Item)
    state = rc.SQLiteState(tmp_path / "s.db")
    reconciler = rc.Reconciler([world], state)
    assert reconciler.apply(reconciler.plan([Item("a", 1)])).ok
    live = world.get("once_item[a]")
    world.put(attrs.evolve(live, labels={"theirs": "x"}))
    (step,) = reconciler.plan([Item("a", 2)]).steps
    assert step.action is rc.Action.UPDATE
    assert step.after is not None
    assert step.after["labels"] == {"theirs": "x"}
    assert step.stored is None
    assert reconciler.apply(reconciler.plan([Item("a", 2)])).ok
    assert state.snapshot().records["once_item[a]"].spec["labels"] == {}
