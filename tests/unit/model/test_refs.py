"""References between resources: ``rc.ref(other, "field")`` at plan, in JSON, at apply."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider


@rc.resource("g_ref_net")
class Net:
    name: str = rc.field(key=True)
    cidr: str = rc.field(default="10.0.0.0/16", replace=True)
    id: str | None = rc.field(default=None, computed=True)


@rc.resource("g_ref_net_cbd", create_before_destroy=True)
class BlueNet:
    name: str = rc.field(key=True)
    cidr: str = rc.field(default="10.0.0.0/16", replace=True)
    id: str | None = rc.field(default=None, computed=True)


@rc.resource("g_ref_vm")
class Vm:
    name: str = rc.field(key=True)
    net_id: str | None = None
    size: int = 1
    id: str | None = rc.field(default=None, computed=True)


@rc.resource("g_ref_tagged")
class Tagged:
    """References may stand nested inside dicts and lists."""

    name: str = rc.field(key=True)
    tags: dict[str, Any] = rc.field(factory=dict)
    peers: list[Any] = rc.field(factory=list)


@rc.resource("g_ref_cbd_vm", create_before_destroy=True)
class BlueVm:
    """A create-before-destroy VM pinned to its network."""

    name: str = rc.field(key=True)
    net_id: str | None = rc.field(default=None, replace=True)
    id: str | None = rc.field(default=None, computed=True)


@rc.resource("g_ref_pinned_vm")
class PinnedVm:
    """A VM whose network cannot change in place: a new network id forces replacement."""

    name: str = rc.field(key=True)
    net_id: str | None = rc.field(default=None, replace=True)
    id: str | None = rc.field(default=None, computed=True)


def _ids(prefix: str) -> Any:
    """A ``fill`` giving each created object a fresh id, keeping it across updates."""
    counter = itertools.count(1)

    def fill(res: Any) -> Any:
        return res if res.id is not None else attrs.evolve(res, id=f"{prefix}-{next(counter)}")

    return fill


class Logged(MemoryProvider[Any]):
    """A ``MemoryProvider`` that also appends its writes to a log shared across kinds."""

    def __init__(self, resource_cls: type[Any], log: list[tuple[str, str]], **options: Any):
        super().__init__(resource_cls, **options)
        self.shared = log
        self.deleted_ids: list[str | None] = []

    def create(self, want: Any) -> Any:
        self.shared.append(("create", rc.address_of(want)))
        return super().create(want)

    def update(self, have: Any, want: Any, diff: rc.Diff) -> Any:
        self.shared.append(("update", rc.address_of(want)))
        return super().update(have, want, diff)

    def delete(self, have: Any) -> None:
        self.shared.append(("delete", rc.address_of(have)))
        self.deleted_ids.append(getattr(have, "id", None))
        super().delete(have)


def _world(**options: Any) -> tuple[dict[str, Logged], rc.Reconciler, list[tuple[str, str]]]:
    log: list[tuple[str, str]] = []
    providers = {
        "net": Logged(Net, log, fill=_ids("net")),
        "cbd": Logged(BlueNet, log, fill=_ids("bnet")),
        "vm": Logged(Vm, log, fill=_ids("vm")),
        "pinned": Logged(PinnedVm, log, fill=_ids("pvm")),
        "tagged": Logged(Tagged, log),
        "bluevm": Logged(BlueVm, log, fill=_ids("bvm")),
    }
    return providers, rc.Reconciler(list(providers.values()), **options), log


def _change(plan: rc.Plan, address: str) -> dict[str, Any]:
    doc = json.loads(plan.to_json())
    return next(e for e in doc["resource_changes"] if e["address"] == address)


def test_a_reference_to_a_resource_not_created_yet_is_known_after_apply():
    _, reconciler, _ = _world()
    net = Net("main")
    vm = Vm("web", net_id=rc.ref(net, "id"))
    plan = reconciler.plan([vm, net])
    step = plan.step("g_ref_vm[web]")
    assert step.action is rc.Action.CREATE
    assert ("net_id",) in step.unknown
    assert "g_ref_net[main]" in step.depends_on
    text = plan.render()
    vm_block = text[text.index("g_ref_vm[web]") :]
    assert "net_id" in vm_block
    net_id_line = next(line for line in vm_block.splitlines() if "net_id" in line)
    assert "(known after apply)" in net_id_line, text
    change = _change(plan, "g_ref_vm[web]")
    assert ["net_id"] in change["change"]["after_unknown"]
    assert {"path": ["net_id"], "address": "g_ref_net[main]", "field": "id"} in change["references"]
    assert "g_ref_net[main]" in change["depends_on"]


def test_a_reference_and_depends_on_both_show_in_the_json_plan():
    _, reconciler, _ = _world()
    net = Net("main")
    other = Net("other")
    vm = Vm("web", net_id=rc.ref(net, "id"), depends_on=[other])
    change = _change(reconciler.plan([net, other, vm]), "g_ref_vm[web]")
    assert set(change["depends_on"]) == {"g_ref_net[main]", "g_ref_net[other]"}
    assert [r["address"] for r in change["references"]] == ["g_ref_net[main]"]


def test_apply_creates_the_target_first_and_the_dependent_gets_its_id():
    providers, reconciler, log = _world()
    net = Net("main")
    vm = Vm("web", net_id=rc.ref(net, "id"))
    result = reconciler.apply(reconciler.plan([vm, net]))
    assert result.ok, result
    assert log == [
        ("create", "g_ref_net[main]"),
        ("create", "g_ref_vm[web]"),
    ]
    made_net = providers["net"].get("g_ref_net[main]")
    made_vm = providers["vm"].get("g_ref_vm[web]")
    assert made_net is not None
    assert made_net.id == "net-1"
    assert made_vm is not None
    assert made_vm.net_id == "net-1"
    again = reconciler.plan([vm, net])
    assert again.is_empty, again.render()


def test_a_reference_to_an_existing_target_is_known_at_plan_time():
    providers, reconciler, _ = _world()
    providers["net"].put(Net("main", id="net-42"))
    vm = Vm("web", net_id=rc.ref("g_ref_net[main]", "id"))
    plan = reconciler.plan([Net("main"), vm])
    step = plan.step("g_ref_vm[web]")
    assert step.unknown == (("id",),), "only the vm's own computed id is unknown"
    assert step.after is not None
    assert step.after["net_id"] == "net-42"
    net_id_line = next(line for line in plan.render().splitlines() if "net_id" in line)
    assert "net-42" in net_id_line
    assert "(known after apply)" not in net_id_line


def test_a_replaced_target_updates_its_dependents_in_the_same_plan():
    providers, reconciler, log = _world()
    net = Net("main", cidr="10.0.0.0/16")
    vm = Vm("web", net_id=rc.ref(net, "id"))
    assert reconciler.converge([net, vm]).converged
    assert providers["vm"].get("g_ref_vm[web]").net_id == "net-1"

    moved = Net("main", cidr="10.1.0.0/16")
    vm2 = Vm("web", net_id=rc.ref(moved, "id"))
    plan = reconciler.plan([moved, vm2])
    assert plan.step("g_ref_net[main]").action is rc.Action.REPLACE
    step = plan.step("g_ref_vm[web]")
    assert step.action is rc.Action.UPDATE
    assert ("net_id",) in step.unknown
    assert "(known after apply)" in plan.render()

    log.clear()
    assert reconciler.apply(plan).ok
    assert log == [
        ("delete", "g_ref_net[main]"),
        ("create", "g_ref_net[main]"),
        ("update", "g_ref_vm[web]"),
    ]
    assert providers["net"].get("g_ref_net[main]").id == "net-2"
    assert providers["vm"].get("g_ref_vm[web]").net_id == "net-2"
    assert providers["vm"].get("g_ref_vm[web]").id == "vm-1", "updated in place, not recreated"
    again = reconciler.plan([moved, vm2])
    assert again.is_empty, again.render()


def test_a_new_target_id_replaces_a_dependent_whose_field_forces_replacement():
    providers, reconciler, _ = _world()
    net = Net("main", cidr="10.0.0.0/16")
    vm = PinnedVm("db", net_id=rc.ref(net, "id"))
    assert reconciler.converge([net, vm]).converged
    assert providers["pinned"].get("g_ref_pinned_vm[db]").id == "pvm-1"

    moved = Net("main", cidr="10.1.0.0/16")
    plan = reconciler.plan([moved, PinnedVm("db", net_id=rc.ref(moved, "id"))])
    step = plan.step("g_ref_pinned_vm[db]")
    assert step.action is rc.Action.REPLACE
    assert ("net_id",) in step.diff.replace_paths
    assert reconciler.apply(plan).ok
    made = providers["pinned"].get("g_ref_pinned_vm[db]")
    assert made.net_id == providers["net"].get("g_ref_net[main]").id == "net-2"
    assert made.id == "pvm-2", "replaced: a new object"


def test_create_before_destroy_target_creates_updates_dependents_then_destroys():
    providers, reconciler, log = _world()
    net = BlueNet("main", cidr="10.0.0.0/16")
    vm = Vm("web", net_id=rc.ref(net, "id"))
    assert reconciler.converge([net, vm]).converged

    moved = BlueNet("main", cidr="10.1.0.0/16")
    plan = reconciler.plan([moved, Vm("web", net_id=rc.ref(moved, "id"))])
    assert plan.step("g_ref_net_cbd[main]").action is rc.Action.REPLACE
    assert plan.step("g_ref_vm[web]").action is rc.Action.UPDATE
    log.clear()
    result = reconciler.apply(plan)
    assert result.ok, result
    assert log == [
        ("create", "g_ref_net_cbd[main]"),
        ("update", "g_ref_vm[web]"),
        ("delete", "g_ref_net_cbd[main]"),
    ]
    assert providers["vm"].get("g_ref_vm[web]").net_id == "bnet-2"


def test_two_create_before_destroy_replaces_delete_the_old_dependent_first():
    """Old web still uses the old network, so the old network goes only after old web."""
    _, reconciler, log = _world(parallelism=1)
    net = BlueNet("main", cidr="10.0.0.0/16")
    assert reconciler.converge([net, BlueVm("web", net_id=rc.ref(net, "id"))]).converged
    moved = BlueNet("main", cidr="10.1.0.0/16")
    plan = reconciler.plan([moved, BlueVm("web", net_id=rc.ref(moved, "id"))])
    assert plan.step("g_ref_cbd_vm[web]").action is rc.Action.REPLACE
    log.clear()
    assert reconciler.apply(plan).ok
    assert log == [
        ("create", "g_ref_net_cbd[main]"),
        ("create", "g_ref_cbd_vm[web]"),
        ("delete", "g_ref_cbd_vm[web]"),
        ("delete", "g_ref_net_cbd[main]"),
    ]


def test_a_failed_dependent_does_not_make_the_replaced_target_look_not_run():
    """create_before_destroy target whose dependent's update fails: the new target was
    created, so it is not "not run" nor blocked by its own dependent, and no old object
    is left behind once a clean converge finishes."""
    providers, reconciler, log = _world(state=rc.MemoryState())
    net = BlueNet("main", cidr="10.0.0.0/16")
    assert reconciler.converge([net, Vm("web", net_id=rc.ref(net, "id"))]).converged
    old_id = providers["cbd"].get("g_ref_net_cbd[main]").id
    moved = BlueNet("main", cidr="10.1.0.0/16")
    desired = [moved, Vm("web", net_id=rc.ref(moved, "id"))]
    providers["vm"].fail("update", address="g_ref_vm[web]")
    log.clear()
    result = reconciler.apply(reconciler.plan(desired))
    assert result.outcome("g_ref_vm[web]").status is rc.Status.FAILED
    assert log.index(("create", "g_ref_net_cbd[main]")) < log.index(("update", "g_ref_vm[web]"))
    target = result.outcome("g_ref_net_cbd[main]")
    assert target.blocked_by != "g_ref_vm[web]", "a step is never blocked by its own dependent"
    assert target not in result.not_run, f"its create ran, yet it is reported as {target}"

    report = reconciler.converge(desired)
    assert report.converged
    new_id = providers["cbd"].get("g_ref_net_cbd[main]").id
    assert providers["vm"].get("g_ref_vm[web]").net_id == new_id != old_id
    assert old_id in providers["cbd"].deleted_ids, "the old network was left behind"


def test_a_reference_to_an_address_not_desired_is_rejected_before_any_call():
    providers, reconciler, _ = _world()
    vm = Vm("web", net_id=rc.ref("g_ref_net[ghost]", "id"))
    with pytest.raises(rc.DanglingDependencyError) as err:
        reconciler.plan([Net("main"), vm])
    assert "g_ref_vm[web]" in str(err.value)
    assert "g_ref_net[ghost]" in str(err.value)
    assert err.value.address == "g_ref_vm[web]"
    assert err.value.missing == "g_ref_net[ghost]"
    assert all(not p.history for p in providers.values()), "nothing was read or written"


def test_a_reference_to_a_missing_field_is_a_definition_error_at_ref():
    with pytest.raises(rc.DefinitionError, match=r"g_ref_net\[main\].*nope"):
        rc.ref(Net("main"), "nope")


def test_a_reference_by_address_to_a_missing_field_is_rejected_at_plan():
    providers, reconciler, _ = _world()
    vm = Vm("web", net_id=rc.ref("g_ref_net[main]", "nope"))
    with pytest.raises(rc.InvalidStateError) as err:
        reconciler.plan([Net("main"), vm])
    text = str(err.value)
    for part in ("g_ref_vm[web]", "g_ref_net[main]", "nope"):
        assert part in text
    assert all(not p.history for p in providers.values())


def test_a_reference_in_a_key_field_is_rejected():
    providers, reconciler, _ = _world()
    net = Net("main")
    with pytest.raises(rc.InvalidStateError, match="key"):
        reconciler.plan([net, Vm(rc.ref(net, "id"))])
    assert all(not p.history for p in providers.values())


def test_a_cycle_through_a_reference_and_depends_on_names_every_address():
    providers, reconciler, _ = _world()
    # vm[a] -ref-> net[n] -depends_on-> vm[b] -ref-> vm[a]
    a = Vm("a", net_id=rc.ref("g_ref_net[n]", "id"))
    n = Net("n", depends_on=["g_ref_vm[b]"])
    b = Vm("b", net_id=rc.ref("g_ref_vm[a]", "id"))
    with pytest.raises(rc.CycleError) as err:
        reconciler.plan([a, n, b])
    on_cycle = {"g_ref_vm[a]", "g_ref_net[n]", "g_ref_vm[b]"}
    assert on_cycle <= set(err.value.cycle)
    assert all(address in str(err.value) for address in on_cycle)
    assert all(not p.history for p in providers.values())


def test_a_failed_target_skips_its_referencing_dependents():
    providers, reconciler, _ = _world()
    providers["net"].fail("create", address="g_ref_net[main]")
    net = Net("main")
    result = reconciler.apply(
        reconciler.plan([net, Vm("web", net_id=rc.ref(net, "id")), Vm("solo")])
    )
    assert result.outcome("g_ref_net[main]").status is rc.Status.FAILED
    assert result.outcome("g_ref_vm[web]").status is rc.Status.SKIPPED
    assert result.outcome("g_ref_vm[web]").blocked_by == "g_ref_net[main]"
    assert result.outcome("g_ref_vm[solo]").status is rc.Status.OK
    assert providers["vm"].get("g_ref_vm[web]") is None


def test_deleting_with_state_removes_referencing_dependents_first():
    _, reconciler, log = _world(state=rc.MemoryState(), parallelism=1)
    net = Net("main")
    assert reconciler.converge([net, Vm("web", net_id=rc.ref(net, "id"))]).converged
    log.clear()
    assert reconciler.converge([]).converged
    assert log == [
        ("delete", "g_ref_vm[web]"),
        ("delete", "g_ref_net[main]"),
    ], "a resource referencing another is deleted before it, as with depends_on"


def test_nested_references_resolve_inside_dicts_and_lists():
    providers, reconciler, _ = _world()
    net = Net("main")
    vm = Vm("web", net_id=rc.ref(net, "id"))
    tagged = Tagged(
        "t", tags={"net": rc.ref(net, "id"), "fixed": "x"}, peers=["a", rc.ref(vm, "id")]
    )
    plan = reconciler.plan([tagged, vm, net])
    step = plan.step("g_ref_tagged[t]")
    assert set(step.depends_on) == {"g_ref_net[main]", "g_ref_vm[web]"}
    assert {("tags",), ("peers",)} <= set(step.unknown)
    assert reconciler.apply(plan).ok
    made = providers["tagged"].get("g_ref_tagged[t]")
    assert made.tags == {"net": "net-1", "fixed": "x"}
    assert made.peers == ["a", "vm-1"]
    again = reconciler.plan([tagged, vm, net])
    assert again.is_empty, again.render()


@pytest.mark.parametrize("state", [rc.MemoryState, None])
def test_converging_twice_with_references_writes_nothing_the_second_time(state):
    providers, reconciler, log = _world(state=state() if state else None)
    net = Net("main")
    desired = [Vm("web", net_id=rc.ref(net, "id")), net]
    first = reconciler.converge(desired)
    assert first.converged
    assert len(first.rounds) == 2
    log.clear()
    second = reconciler.converge(desired)
    assert second.converged
    assert len(second.rounds) == 1
    assert log == []
    assert providers["vm"].get("g_ref_vm[web]").net_id == "net-1"


# -- references in fields with validators and converters ------------------------------


def _tcp_port(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"port {value!r} is not a TCP port")


def _text_labels(instance: Any, attribute: Any, value: dict[str, Any]) -> None:
    if not all(isinstance(v, str) for v in value.values()):
        raise TypeError("every label is text")


def _whole(value: Any, instance: Any) -> int:
    return int(value)


@rc.resource("g_ref_listener")
class Listener:
    """Checked fields: a validator, a converter, a validated dict, an attrs.Converter."""

    name: str = rc.field(key=True)
    port: int = rc.field(default=80, validator=_tcp_port)
    host: str = rc.field(default="localhost", converter=str.lower)
    labels: dict[str, Any] = rc.field(factory=dict, validator=_text_labels)
    backlog: int = attrs.field(default=1, converter=attrs.Converter(_whole, takes_self=True))


@rc.resource("g_ref_vault")
class Vault:
    name: str = rc.field(key=True)
    token: str = rc.field(default="", sensitive=True)
    host: str = "HOST.example"


def _checked_world() -> tuple[dict[str, Logged], rc.Reconciler]:
    log: list[tuple[str, str]] = []
    providers = {
        "vm": Logged(Vm, log, fill=_ids("vm")),
        "listener": Logged(Listener, log),
        "vault": Logged(Vault, log),
    }
    return providers, rc.Reconciler(list(providers.values()))


def test_a_reference_stands_in_checked_fields_until_apply_gives_the_value():
    providers, reconciler = _checked_world()
    vm, vault = Vm("app", size=8080), Vault("v")
    listener = Listener(
        "l",
        port=rc.ref(vm, "size"),
        host=rc.ref(vault, "host"),
        labels={"vm": rc.ref(vm, "id")},
        backlog=rc.ref("g_ref_vm[app]", "size"),
    )
    assert isinstance(listener.port, rc.Ref)  # neither validated nor converted yet

    plan = reconciler.plan([vm, vault, listener])
    step = plan.step("g_ref_listener[l]")
    assert step.after is not None
    assert (step.after["port"], step.after["host"]) == (8080, "host.example")
    assert ("labels",) in step.unknown  # the vm's id is known only once it exists

    assert reconciler.apply(plan).ok
    made = providers["listener"].get("g_ref_listener[l]")
    assert made == Listener(
        "l", port=8080, host="host.example", labels={"vm": "vm-1"}, backlog=8080
    )
    assert reconciler.plan([vm, vault, listener]).is_empty


def test_a_known_referenced_value_the_validator_refuses_fails_the_plan_by_address():
    _, reconciler = _checked_world()
    vm = Vm("big", size=70000)
    with pytest.raises(rc.InvalidStateError) as caught:
        reconciler.plan([vm, Listener("l", port=rc.ref(vm, "size"))])
    assert str(caught.value) == (
        "g_ref_listener[l]: port = ref(g_ref_vm[big].size): refused: port 70000 is not a TCP port"
    )


def test_a_value_known_only_at_apply_and_refused_fails_that_step_and_writes_nothing():
    providers, reconciler = _checked_world()
    vm = Vm("app")
    plan = reconciler.plan([vm, Listener("l", port=rc.ref(vm, "id"))])
    assert ("port",) in plan.step("g_ref_listener[l]").unknown

    result = reconciler.apply(plan)
    (failed,) = result.failed
    assert failed.address == "g_ref_listener[l]"
    assert str(failed.error) == (
        "g_ref_listener[l]: port = ref(g_ref_vm[app].id): refused: port 'vm-1' is not a TCP port"
    )
    assert providers["vm"].get("g_ref_vm[app]") is not None
    assert providers["listener"].get("g_ref_listener[l]") is None


def test_a_refused_sensitive_value_is_not_quoted_in_the_error_or_its_cause():
    _, reconciler = _checked_world()
    vault = Vault("v", token="s3cret-token")
    with pytest.raises(rc.InvalidStateError) as caught:
        reconciler.plan([vault, Listener("l", port=rc.ref(vault, "token"))])
    err = caught.value
    assert "g_ref_listener[l]: port = ref(g_ref_vault[v].token)" in str(err)
    assert "hidden" in str(err)
    assert "s3cret" not in str(err)
    assert "s3cret" not in repr(err)
    assert err.__cause__ is None
    assert err.__suppress_context__


def test_a_reference_equal_to_one_that_died_is_still_seen():
    """Live refs were kept in a set by equality: the first of two equal refs to die
    took the entry with it, and the planner then skipped the second ref entirely."""
    worker = Path(__file__).with_name("equal_refs_worker.py")
    out = subprocess.run(
        [sys.executable, str(worker)], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["('eq_net[main]',)", "net-7"]
