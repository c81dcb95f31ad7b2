"""Renames: moved(old, new) rebinds a record instead of a delete plus a create."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import attrs
import pytest

import reconcile as rc
from reconcile.sources import load_manifests
from reconcile.testing import MemoryProvider


@rc.resource("mv_vm")
class Vm:
    name: str = rc.field(key=True)
    size: str = "small"
    id: str | None = rc.field(default=None, computed=True)


@rc.resource("mv_listed")
class Listed:
    name: str = rc.field(key=True)


class Cloud(rc.Provider[Vm]):
    """VMs found by the id the cloud chose; the name is only how we address them."""

    resource = Vm
    blocking_io = False

    def __init__(self) -> None:
        self.by_id: dict[str, Vm] = {}
        self.calls: Counter[str] = Counter()

    def read(self, want: Vm) -> Vm | None:
        found = self.by_id.get(want.id or "")
        return None if found is None else attrs.evolve(found, name=want.name)

    def create(self, want: Vm) -> Vm:
        self.calls["create"] += 1
        made = attrs.evolve(want, id=f"i-{len(self.by_id) + 1}", depends_on=())
        self.by_id[made.id or ""] = made
        return made

    def update(self, have: Vm, want: Vm, diff: rc.Diff) -> Vm:
        self.calls["update"] += 1
        self.by_id[have.id or ""] = attrs.evolve(want, id=have.id, depends_on=())
        return self.by_id[have.id or ""]

    def delete(self, have: Vm) -> None:
        self.calls["delete"] += 1
        self.by_id.pop(have.id or "", None)


def _cloud() -> tuple[Cloud, rc.Reconciler]:
    vms = Cloud()
    return vms, rc.Reconciler([vms], state=rc.MemoryState())


@pytest.mark.parametrize("how", ["python", "manifest"])
def test_a_declared_move_renames_without_delete_or_create(how):
    vms, reconciler = _cloud()
    assert reconciler.converge([Vm("old")]).converged
    vms.calls.clear()
    if how == "python":
        desired = [Vm("new"), rc.moved("mv_vm[old]", "mv_vm[new]")]
    else:
        folder = Path(tempfile.mkdtemp())
        (folder / "vms.yaml").write_text(
            "kind: mv_vm\nspec: {name: new}\n---\n"
            "kind: moved\nspec: {from: 'mv_vm[old]', to: 'mv_vm[new]'}\n"
        )
        desired = load_manifests(folder)
    plan = reconciler.plan(desired)
    assert plan.moves == (("mv_vm[old]", "mv_vm[new]"),)
    assert "mv_vm[old] has moved to mv_vm[new]" in plan.render()
    assert rc.Plan.from_json(plan.to_json()).moves == plan.moves
    assert all(s.action is not rc.Action.DELETE for s in plan.steps)
    assert reconciler.apply(plan).ok
    records = reconciler.state.snapshot().records
    assert set(records) == {"mv_vm[new]"}
    assert vms.calls["delete"] == vms.calls["create"] == 0
    assert list(vms.by_id) == ["i-1"]
    # the record kept the old object's id; the next plan with the move still declared is empty
    assert records["mv_vm[new]"].outputs["id"] == "i-1"
    assert reconciler.plan(desired).is_empty


def test_a_move_cannot_change_the_kind_or_overwrite_a_record():
    _, reconciler = _cloud()
    reconciler.converge([Vm("a"), Vm("b")])
    with pytest.raises(rc.InvalidStateError, match="cannot change the kind"):
        reconciler.plan([rc.moved("mv_vm[a]", "other[a]")])
    with pytest.raises(rc.InvalidStateError, match="both are recorded"):
        reconciler.plan([Vm("b"), rc.moved("mv_vm[a]", "mv_vm[b]")])


def test_a_bad_moved_document_is_named_by_file_and_line():
    folder = Path(tempfile.mkdtemp())
    (folder / "m.yaml").write_text("kind: moved\nspec: {from: 'mv_vm[a]'}\n")
    with pytest.raises(rc.ManifestError, match=r"m\.yaml:2.*from: ADDRESS, to: ADDRESS"):
        load_manifests(folder)


def test_orphans_takes_the_desired_state_with_its_moves():
    """The list given to plan, moved declarations included, is the list orphans() takes."""
    world = MemoryProvider(Listed)
    reconciler = rc.Reconciler([world], state=rc.MemoryState())
    assert reconciler.converge([Listed("old")]).converged
    world.remove("mv_listed[old]")
    world.put(Listed("new"))
    world.put(Listed("stray"))
    desired = [Listed("new"), rc.moved("mv_listed[old]", "mv_listed[new]")]
    assert [rc.address_of(o) for o in reconciler.orphans(desired)] == ["mv_listed[stray]"]


def test_a_plan_applies_with_the_desired_state_and_its_moves():
    """``apply(plan, desired=...)`` takes the list plan took, moved declarations included."""
    vms, reconciler = _cloud()
    assert reconciler.converge([Vm("old")]).converged
    desired = [Vm("new"), rc.moved("mv_vm[old]", "mv_vm[new]")]
    assert reconciler.apply(reconciler.plan(desired), desired=desired).ok
    assert set(reconciler.state.snapshot().records) == {"mv_vm[new]"}
    assert vms.calls["create"] == 1


def _renamed_in_the_world(tmp_path: Path) -> tuple[MemoryProvider[Listed], rc.Reconciler]:
    """A thing found by its key, renamed by hand from old to new after it was applied."""
    world = MemoryProvider(Listed)
    reconciler = rc.Reconciler([world], state=rc.SQLiteState(tmp_path / "state.db"))
    assert reconciler.converge([Listed("old")]).converged
    world.remove("mv_listed[old]")
    world.put(Listed("new"))
    return world, reconciler


def test_a_move_to_an_address_no_longer_declared_destroys_what_moved(tmp_path):
    """The moved record is read at its new address, not at the key its spec kept."""
    world, reconciler = _renamed_in_the_world(tmp_path)
    plan = reconciler.plan([rc.moved("mv_listed[old]", "mv_listed[new]")])
    assert [(s.address, s.action) for s in plan.steps] == [("mv_listed[new]", rc.Action.DELETE)]
    assert reconciler.apply(plan).ok
    assert list(world) == []
    assert reconciler.state.snapshot().records == {}


def test_a_saved_plan_with_a_move_applies_without_the_desired_state(tmp_path):
    world, reconciler = _renamed_in_the_world(tmp_path)
    desired = [Listed("new"), rc.moved("mv_listed[old]", "mv_listed[new]")]
    plan = rc.Plan.from_json(reconciler.plan(desired).to_json())
    assert reconciler.apply(plan).ok
    assert set(reconciler.state.snapshot().records) == {"mv_listed[new]"}
    assert reconciler.plan(desired).is_empty
    assert list(world) == [Listed("new")]
