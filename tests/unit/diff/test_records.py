"""Recorded state stories, each run against MemoryState and SQLiteState.

Pruning, provider-assigned ids, the three-way diff, import, orphans, drift versus
config, partial creation, protection, retain, renames, locking, the journal,
stale plans and secrets. ``Cloud`` below is a provider like a cloud API: objects
are addressed by an id the provider chooses, so ``read`` needs the recorded id.
"""

from __future__ import annotations

import contextlib
import getpass
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import reconcile as rc
from reconcile.testing import InjectedFailure, MemoryProvider
from tests.crashes import Crash, InlineExecutor

# -- resources and providers -----------------------------------------------------


@rc.resource("rs_item")
class Item:
    name: str = rc.field(key=True)
    value: int = 0
    labels: dict[str, str] = rc.field(factory=dict)


@rc.resource("rs_vm")
class VM:
    name: str = rc.field(key=True)
    size: int = 1
    tags: dict[str, str] = rc.field(factory=dict)
    id: str | None = rc.field(default=None, computed=True)


@rc.resource("rs_login")
class Login:
    name: str = rc.field(key=True)
    password: str = rc.field(default="", sensitive=True)
    role: str = "reader"


@rc.resource("rs_bucket", retain=True)
class Bucket:
    name: str = rc.field(key=True)
    size: int = 1


@rc.resource("rs_vault", prevent_destroy=True)
class Vault:
    name: str = rc.field(key=True)
    region: str = "eu"


class Cloud(rc.Provider[VM]):
    """VMs addressed by an id the cloud picks; several VMs may share a name, as in EC2."""

    resource = VM

    def __init__(self) -> None:
        self.objects: dict[str, VM] = {}
        self.log: list[tuple[str, str | None]] = []
        self.partial = 0  # this many next creates raise PartiallyCreated
        self._ids = itertools.count(1)

    def read(self, want: VM) -> VM | None:
        self.log.append(("read", want.id))
        return None if want.id is None else self.objects.get(want.id)

    def create(self, want: VM) -> VM:
        made = attrs.evolve(want, id=f"i-{next(self._ids)}", depends_on=())
        self.objects[made.id] = made
        self.log.append(("create", made.id))
        if self.partial:
            self.partial -= 1
            raise rc.PartiallyCreated(made, RuntimeError("created, but it never booted"))
        return made

    def update(self, have: VM, want: VM, diff: rc.Diff) -> VM:
        assert have.id in self.objects, f"update of unknown id {have.id}"
        made = attrs.evolve(want, id=have.id, depends_on=())
        self.objects[made.id] = made
        self.log.append(("update", have.id))
        return made

    def delete(self, have: VM) -> None:
        self.log.append(("delete", have.id))
        self.objects.pop(have.id or "", None)

    def list(self) -> list[VM]:
        self.log.append(("list", None))
        return list(self.objects.values())

    # behind the engine's back
    def add(self, vm: VM) -> VM:
        made = attrs.evolve(vm, id=f"i-{next(self._ids)}")
        self.objects[made.id] = made
        return made

    @property
    def writes(self) -> list[tuple[str, str | None]]:
        return [entry for entry in self.log if entry[0] in ("create", "update", "delete")]


@pytest.fixture(params=["memory", "sqlite"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[rc.State]:
    if request.param == "memory":
        yield rc.MemoryState()
        return
    store = rc.SQLiteState(tmp_path / ".reconcile" / "state.db")
    yield store
    store.close()


@pytest.fixture
def items() -> MemoryProvider[Item]:
    return MemoryProvider(Item)


@pytest.fixture
def cloud() -> Cloud:
    return Cloud()


def _records(state: rc.State) -> dict[str, rc.Record]:
    return dict(state.snapshot().records)


def _actions(plan: rc.Plan) -> dict[str, rc.Action]:
    return {s.address: s.action for s in plan.steps}


def _writes(provider: MemoryProvider[Any]) -> list[tuple[str, str]]:
    return [(m, a) for m, a in provider.log if m in ("create", "update", "delete")]


def _lock_is_free(state: rc.State) -> bool:
    probe = rc.LockInfo(1, "probe-host", "probe")
    held = state.acquire(probe)
    if held is None:
        state.release(probe)
    return held is None


# -- pruning ------------------------------------------------------------------------


def test_what_is_no_longer_desired_is_deleted_in_reverse_dependency_order(state, items):
    reconciler = rc.Reconciler([items], state=state)
    a = Item("a")
    b = Item("b", depends_on=[a])
    c = Item("c", depends_on=[b])
    d = Item("d")
    assert reconciler.converge([c, d, a, b]).converged
    assert set(_records(state)) == {"rs_item[a]", "rs_item[b]", "rs_item[c]", "rs_item[d]"}
    assert _records(state)["rs_item[c]"].depends_on == ("rs_item[b]",)

    items.reset_calls()
    plan = reconciler.plan([d])
    assert _actions(plan) == {
        "rs_item[a]": rc.Action.DELETE,
        "rs_item[b]": rc.Action.DELETE,
        "rs_item[c]": rc.Action.DELETE,
        "rs_item[d]": rc.Action.NOOP,
    }
    assert all(s.reason is rc.Reason.NOT_DESIRED for s in plan.changes)
    assert "rs_item[a]" in plan.render()
    assert reconciler.apply(plan).ok
    assert _writes(items) == [
        ("delete", "rs_item[c]"),
        ("delete", "rs_item[b]"),
        ("delete", "rs_item[a]"),
    ]
    assert [i.name for i in items] == ["d"]
    assert set(_records(state)) == {"rs_item[d]"}
    assert reconciler.plan([d]).is_empty


def test_a_thing_that_was_never_managed_is_never_deleted(state, items):
    stranger = Item("stranger", value=9, labels={"owner": "someone else"})
    items.put(stranger)
    reconciler = rc.Reconciler([items], state=state)
    assert reconciler.converge([Item("mine")]).converged
    plan = reconciler.plan([])
    assert _actions(plan) == {"rs_item[mine]": rc.Action.DELETE}
    assert reconciler.converge([]).converged
    assert items.get("rs_item[stranger]") == stranger
    assert ("delete", "rs_item[stranger]") not in items.log
    assert "rs_item[stranger]" not in _records(state)


def test_a_recorded_thing_already_gone_is_forgotten_not_deleted(state, items):
    reconciler = rc.Reconciler([items], state=state)
    reconciler.converge([Item("a")])
    items.remove("rs_item[a]")
    items.reset_calls()
    plan = reconciler.plan([])
    assert _actions(plan) == {"rs_item[a]": rc.Action.FORGET}
    assert plan.step("rs_item[a]").reason is rc.Reason.GONE
    assert reconciler.apply(plan).ok
    assert _writes(items) == []
    assert _records(state) == {}


# -- provider-assigned ids -----------------------------------------------------------


def test_provider_assigned_ids_are_recorded_and_used(state, cloud):
    reconciler = rc.Reconciler([cloud], state=state)
    assert reconciler.converge([VM("web", size=1)]).converged
    assert list(cloud.objects) == ["i-1"]
    assert _records(state)["rs_vm[web]"].outputs == {"id": "i-1"}

    again = reconciler.plan([VM("web", size=1)])
    assert again.is_empty, again.render()
    assert again.step("rs_vm[web]").action is rc.Action.NOOP
    assert reconciler.converge([VM("web", size=1)]).converged
    assert list(cloud.objects) == ["i-1"], "a second VM was created"

    cloud.log.clear()
    plan = reconciler.plan([VM("web", size=2)])
    assert _actions(plan) == {"rs_vm[web]": rc.Action.UPDATE}
    assert reconciler.apply(plan).ok
    assert cloud.writes == [("update", "i-1")]
    assert cloud.objects == {"i-1": VM("web", size=2, id="i-1")}
    assert reconciler.plan([VM("web", size=2)]).is_empty

    cloud.log.clear()
    assert reconciler.apply(reconciler.plan([])).ok
    assert cloud.writes == [("delete", "i-1")]
    assert cloud.objects == {}
    assert _records(state) == {}


def test_a_fresh_reconciler_finds_ids_in_state(state, cloud):
    rc.Reconciler([cloud], state=state).converge([VM("web"), VM("db", size=3)])
    fresh = rc.Reconciler([cloud], state=state)
    assert fresh.plan([VM("web"), VM("db", size=3)]).is_empty
    assert len(cloud.objects) == 2


# -- three-way diff --------------------------------------------------------------------


def test_keys_we_set_are_removed_and_keys_others_set_are_kept(state, items):
    reconciler = rc.Reconciler([items], state=state)
    address = "rs_item[cfg]"
    reconciler.converge([Item("cfg", labels={"app": "web", "tier": "front"})])
    items.drift(address, labels={"app": "web", "tier": "front", "owner": "ops"})

    plan = reconciler.plan([Item("cfg", labels={"app": "web"})])
    step = plan.step(address)
    assert step.action is rc.Action.UPDATE
    assert [(c.op, c.path) for c in step.diff] == [("remove", ("labels", "tier"))]
    assert reconciler.apply(plan).ok
    assert items.get(address).labels == {"app": "web", "owner": "ops"}
    assert reconciler.plan([Item("cfg", labels={"app": "web"})]).is_empty

    assert reconciler.converge([Item("cfg", labels={"app": "api"})]).converged
    assert items.get(address).labels == {"app": "api", "owner": "ops"}
    assert reconciler.plan([Item("cfg", labels={"app": "api"})]).is_empty


def test_without_a_record_every_live_key_is_compared(state, items):
    """The other half of the three-way merge: nothing recorded, nothing assumed foreign."""
    items.put(Item("cfg", labels={"app": "web", "owner": "ops"}))
    reconciler = rc.Reconciler([items], state=state)
    step = reconciler.plan([Item("cfg", labels={"app": "web"})]).step("rs_item[cfg]")
    assert [(c.op, c.path) for c in step.diff] == [("remove", ("labels", "owner"))]


# -- import ----------------------------------------------------------------------------


def test_import_adopts_without_writing(state, items):
    legacy = Item("legacy", value=3, labels={"x": "1"})
    items.put(legacy)
    reconciler = rc.Reconciler([items], state=state)
    assert reconciler.import_(Item("legacy")) == legacy
    assert _writes(items) == []
    record = _records(state)["rs_item[legacy]"]
    assert record.spec["value"] == 3
    assert record.revision == "import"
    assert items.get("rs_item[legacy]") == legacy

    assert reconciler.plan([legacy]).is_empty
    assert _actions(reconciler.plan([])) == {"rs_item[legacy]": rc.Action.DELETE}
    with pytest.raises(rc.StateError, match=r"rs_item\[legacy\]: already managed"):
        reconciler.import_(Item("legacy"))
    with pytest.raises(rc.StateError, match=r"rs_item\[ghost\]: does not exist"):
        reconciler.import_(Item("ghost"))
    assert _writes(items) == []


def test_import_by_provider_id(state, cloud):
    existing = cloud.add(VM("old", size=4))
    reconciler = rc.Reconciler([cloud], state=state)
    reconciler.import_(VM("old", id=existing.id))
    assert cloud.writes == []
    assert _records(state)["rs_vm[old]"].outputs == {"id": existing.id}
    assert reconciler.plan([VM("old", size=4)]).is_empty
    assert reconciler.converge([VM("old", size=5)]).converged
    assert cloud.writes == [("update", existing.id)]


# -- orphans -----------------------------------------------------------------------------


def test_orphans_lists_unmanaged_things_and_deletes_none(state, items, cloud):
    reconciler = rc.Reconciler([items, cloud], state=state)
    reconciler.converge([Item("a"), VM("web")])
    stray = cloud.add(VM("stray"))
    items.put(Item("loose"))
    items.reset_calls()
    cloud.log.clear()

    found = reconciler.orphans()
    assert sorted(rc.address_of(o) for o in found) == ["rs_item[loose]", "rs_vm[stray]"]
    assert stray in found
    assert [rc.address_of(o) for o in reconciler.orphans([Item("loose")])] == ["rs_vm[stray]"]
    assert _writes(items) == []
    assert cloud.writes == []
    assert len(cloud.objects) == 2
    assert items.get("rs_item[loose]") is not None


def test_an_unmanaged_twin_of_a_managed_vm_is_an_orphan(state, cloud):
    """Identity at a cloud is the id: a second VM named like a managed one is not managed."""
    reconciler = rc.Reconciler([cloud], state=state)
    reconciler.converge([VM("web")])
    twin = cloud.add(VM("web"))
    assert twin.id != _records(state)["rs_vm[web]"].outputs["id"]
    assert reconciler.orphans() == [twin]
    assert len(cloud.objects) == 2


# -- drift versus config --------------------------------------------------------------------


def _plan_changes(plan: rc.Plan, address: str) -> list[dict[str, Any]]:
    doc = json.loads(plan.to_json())
    (entry,) = [e for e in doc["resource_changes"] if e["address"] == address]
    return list(entry["change"]["diff"])


@pytest.mark.parametrize(
    ("live", "wanted", "cause"),
    [(5, 1, "drift"), (1, 2, "config"), (5, 2, "both")],
)
def test_each_change_says_whether_config_or_the_live_system_moved(
    state, items, live, wanted, cause
):
    reconciler = rc.Reconciler([items], state=state)
    reconciler.converge([Item("c", value=1)])
    items.drift("rs_item[c]", value=live)
    plan = reconciler.plan([Item("c", value=wanted)])
    (change,) = plan.step("rs_item[c]").diff.changes
    assert (change.path, change.old, change.new) == (("value",), live, wanted)
    assert change.cause == cause
    text = plan.render()
    line = next(x for x in text.splitlines() if "value" in x)
    if cause == "config":
        assert "#" not in line, line
    else:
        assert f"# {cause}" in line, text
    (encoded,) = _plan_changes(plan, "rs_item[c]")
    assert encoded["cause"] == cause
    assert rc.Plan.from_json(plan.to_json()).step("rs_item[c]").diff.changes[0].cause == cause


def test_a_nested_drift_is_a_drift(state, items):
    reconciler = rc.Reconciler([items], state=state)
    reconciler.converge([Item("c", labels={"app": "web"})])
    items.drift("rs_item[c]", labels={"app": "api"})
    plan = reconciler.plan([Item("c", labels={"app": "web"})])
    (change,) = plan.step("rs_item[c]").diff.changes
    assert change.path == ("labels", "app")
    assert change.cause == "drift"
    assert "# drift" in plan.render()


def test_without_state_no_cause_is_claimed(items):
    items.put(Item("c", value=5))
    plan = rc.Reconciler([items]).plan([Item("c", value=1)])
    (change,) = plan.step("rs_item[c]").diff.changes
    assert change.cause is None
    assert "cause" not in _plan_changes(plan, "rs_item[c]")[0]


# -- partial creation --------------------------------------------------------------------


def test_a_partially_created_resource_is_tainted_then_replaced(state, cloud):
    cloud.partial = 1
    reconciler = rc.Reconciler([cloud], state=state)
    result = reconciler.apply(reconciler.plan([VM("web")]))
    assert not result.ok
    outcome = result.outcome("rs_vm[web]")
    assert outcome.status is rc.Status.FAILED
    assert isinstance(outcome.error, rc.PartiallyCreated)
    record = _records(state)["rs_vm[web]"]
    assert record.tainted
    assert record.outputs == {"id": "i-1"}
    assert state.snapshot().intents == ()

    plan = reconciler.plan([VM("web")])
    step = plan.step("rs_vm[web]")
    assert (step.action, step.reason) == (rc.Action.REPLACE, rc.Reason.TAINTED)
    assert "tainted" in plan.render()
    cloud.log.clear()
    assert reconciler.apply(plan).ok
    assert cloud.writes == [("delete", "i-1"), ("create", "i-2")]
    assert list(cloud.objects) == ["i-2"]
    record = _records(state)["rs_vm[web]"]
    assert not record.tainted
    assert record.outputs == {"id": "i-2"}
    assert reconciler.plan([VM("web")]).is_empty


def test_converge_through_a_partial_create_leaves_one_object(state, cloud):
    cloud.partial = 1
    report = rc.Reconciler([cloud], state=state).converge([VM("web", size=2)])
    assert report.converged
    assert [vm.name for vm in cloud.objects.values()] == ["web"]
    assert [m for m, _ in cloud.writes].count("create") == 2
    assert [m for m, _ in cloud.writes].count("delete") == 1


# -- protection and retain --------------------------------------------------------------------


def test_prevent_destroy_is_recorded_and_lifted_only_explicitly(state, items):
    keep = Item("keep", lifecycle=rc.Lifecycle(prevent_destroy=True))
    reconciler = rc.Reconciler([items], state=state)
    reconciler.converge([keep, Item("other")])
    assert _records(state)["rs_item[keep]"].protected
    assert not _records(state)["rs_item[other]"].protected
    items.reset_calls()

    with pytest.raises(rc.ProtectedResourceError, match=r"rs_item\[keep\]"):
        reconciler.plan([Item("other")])
    with pytest.raises(rc.ProtectedResourceError):
        rc.Reconciler([items], state=state).converge([])
    assert _writes(items) == []
    assert items.get("rs_item[keep]") is not None

    reconciler.unprotect("rs_item[keep]")
    assert not _records(state)["rs_item[keep]"].protected
    plan = reconciler.plan([Item("other")])
    assert _actions(plan)["rs_item[keep]"] is rc.Action.DELETE
    assert reconciler.apply(plan).ok
    assert items.get("rs_item[keep]") is None
    with pytest.raises(rc.StateError, match=r"rs_item\[keep\]: not recorded"):
        reconciler.unprotect("rs_item[keep]")


def test_a_kind_level_prevent_destroy_is_recorded_too(state):
    vaults = MemoryProvider(Vault)
    reconciler = rc.Reconciler([vaults], state=state)
    reconciler.converge([Vault("secrets")])
    assert _records(state)["rs_vault[secrets]"].protected
    with pytest.raises(rc.ProtectedResourceError, match=r"rs_vault\[secrets\]"):
        reconciler.plan([])
    reconciler.unprotect("rs_vault[secrets]")
    assert reconciler.converge([]).converged
    assert len(vaults) == 0


@pytest.mark.parametrize("how", ["converge", "apply"])
def test_protection_added_to_an_existing_resource_is_recorded(state, items, how):
    reconciler = rc.Reconciler([items], state=state)
    reconciler.converge([Item("keep")])
    assert not _records(state)["rs_item[keep]"].protected
    protected = [Item("keep", lifecycle=rc.Lifecycle(prevent_destroy=True))]
    if how == "converge":
        assert reconciler.converge(protected).converged
    else:
        assert reconciler.apply(reconciler.plan(protected)).ok
    assert _records(state)["rs_item[keep]"].protected
    with pytest.raises(rc.ProtectedResourceError, match=r"rs_item\[keep\]"):
        reconciler.plan([])


def test_retain_forgets_instead_of_deleting(state, items):
    buckets = MemoryProvider(Bucket)
    reconciler = rc.Reconciler([items, buckets], state=state)
    kept = Item("tmp", lifecycle=rc.Lifecycle(retain=True))
    reconciler.converge([Bucket("logs"), kept, Item("gone")])
    assert _records(state)["rs_bucket[logs]"].retain
    assert _records(state)["rs_item[tmp]"].retain
    items.reset_calls()
    buckets.reset_calls()

    plan = reconciler.plan([])
    assert _actions(plan) == {
        "rs_bucket[logs]": rc.Action.FORGET,
        "rs_item[tmp]": rc.Action.FORGET,
        "rs_item[gone]": rc.Action.DELETE,
    }
    assert plan.step("rs_item[tmp]").reason is rc.Reason.RETAINED
    assert reconciler.apply(plan).ok
    assert _writes(buckets) == []
    assert _writes(items) == [("delete", "rs_item[gone]")]
    assert buckets.get("rs_bucket[logs]") == Bucket("logs")
    assert items.get("rs_item[tmp]") == Item("tmp")
    assert _records(state) == {}
    assert reconciler.plan([]).is_empty
    assert sorted(rc.address_of(o) for o in reconciler.orphans()) == [
        "rs_bucket[logs]",
        "rs_item[tmp]",
    ]


# -- renames ---------------------------------------------------------------------------------


def test_moved_rebinds_so_a_rename_is_not_delete_and_create(state, cloud):
    reconciler = rc.Reconciler([cloud], state=state)
    reconciler.converge([VM("web", size=2)])
    before = dict(cloud.objects)
    renamed = [VM("frontend", size=2)]
    assert _actions(reconciler.plan(renamed)) == {
        "rs_vm[frontend]": rc.Action.CREATE,
        "rs_vm[web]": rc.Action.DELETE,
    }

    reconciler.moved("rs_vm[web]", "rs_vm[frontend]")
    assert set(_records(state)) == {"rs_vm[frontend]"}
    assert _records(state)["rs_vm[frontend]"].address == "rs_vm[frontend]"
    cloud.log.clear()
    assert reconciler.plan(renamed).is_empty
    assert reconciler.converge(renamed).converged
    assert cloud.writes == []
    assert cloud.objects == before


def test_moved_refuses_other_kinds_taken_and_unknown_addresses(state, cloud, items):
    reconciler = rc.Reconciler([cloud, items], state=state)
    reconciler.converge([VM("web"), VM("db")])
    serial = state.snapshot().serial
    with pytest.raises(rc.StateError, match="kinds differ"):
        reconciler.moved("rs_vm[web]", "rs_item[web]")
    with pytest.raises(rc.StateError, match=r"rs_vm\[db\] is already recorded"):
        reconciler.moved("rs_vm[web]", "rs_vm[db]")
    with pytest.raises(rc.StateError, match=r"rs_vm\[nope\]"):
        reconciler.moved("rs_vm[nope]", "rs_vm[other]")
    assert state.snapshot().serial == serial
    assert set(_records(state)) == {"rs_vm[web]", "rs_vm[db]"}
    assert _lock_is_free(state)


# -- locking -------------------------------------------------------------------------------


SINCE = "2024-05-01T12:00:00+00:00"


def test_a_second_apply_fails_at_once_naming_the_holder(state, items):
    reconciler = rc.Reconciler([items], state=state)
    plan = reconciler.plan([Item("a")])
    other = rc.LockInfo(os.getpid(), socket.gethostname(), SINCE, "another apply")
    assert state.acquire(other) is None

    started = time.monotonic()
    with pytest.raises(rc.LockedError) as caught:
        reconciler.apply(plan)
    assert time.monotonic() - started < 1.0
    message = str(caught.value)
    assert f"pid {os.getpid()}" in message
    assert socket.gethostname() in message
    assert SINCE in message
    assert "(running)" in message
    assert caught.value.holder == other
    for write in (
        lambda: reconciler.converge([Item("a")]),
        lambda: reconciler.import_(Item("a")),
        lambda: reconciler.moved("rs_item[a]", "rs_item[b]"),
        lambda: reconciler.unprotect("rs_item[a]"),
    ):
        with pytest.raises(rc.LockedError):
            write()
    assert items.writes == 0
    assert reconciler.plan([Item("a")]) == plan  # planning reads only: no lock needed

    state.release(other)
    assert reconciler.apply(plan).ok
    assert _lock_is_free(state)


def test_lock_timeout_waits_for_the_holder(state, items):
    reconciler = rc.Reconciler([items], state=state, lock_timeout=10)
    plan = reconciler.plan([Item("a")])
    other = rc.LockInfo(os.getpid(), socket.gethostname(), SINCE, "another apply")
    assert state.acquire(other) is None
    timer = threading.Timer(0.3, state.release, args=(other,))
    started = time.monotonic()
    timer.start()
    try:
        result = reconciler.apply(plan)
    finally:
        timer.join()
    assert result.ok
    assert 0.25 <= time.monotonic() - started < 5
    assert _lock_is_free(state)


def test_lock_timeout_gives_up(state, items):
    reconciler = rc.Reconciler([items], state=state, lock_timeout=0.3)
    other = rc.LockInfo(os.getpid(), socket.gethostname(), SINCE)
    state.acquire(other)
    started = time.monotonic()
    with pytest.raises(rc.LockedError, match=f"pid {os.getpid()}"):
        reconciler.converge([Item("a")])
    assert 0.25 <= time.monotonic() - started < 5
    assert items.writes == 0


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lock_of_a_dead_process_is_reported_and_broken_only_explicitly(state, items):
    dead = rc.LockInfo(_dead_pid(), socket.gethostname(), SINCE, "crashed apply")
    if dead.alive is not False:
        pytest.skip("the dead child's pid was reused already")
    state.acquire(dead)
    reconciler = rc.Reconciler([items], state=state)
    with pytest.raises(rc.LockedError) as caught:
        reconciler.converge([Item("a")])
    message = str(caught.value)
    assert f"pid {dead.pid}" in message
    assert "no longer running" in message
    assert "force_unlock" in message
    assert state.acquire(rc.LockInfo.mine()) == dead, "a dead holder's lock was broken silently"

    assert reconciler.force_unlock() == dead
    assert reconciler.force_unlock() is None
    assert reconciler.converge([Item("a")]).converged
    assert _lock_is_free(state)


def test_a_lock_on_another_host_is_described_as_such(state, items):
    state.acquire(rc.LockInfo(12345, "build-agent-7", SINCE))
    with pytest.raises(rc.LockedError, match=r"build-agent-7.*on another host"):
        rc.Reconciler([items], state=state).converge([])


def test_the_lock_is_released_when_apply_raises(state, items):
    reconciler = rc.Reconciler([items], state=state)
    stale = reconciler.plan([Item("a")])
    reconciler.converge([Item("b")])
    with pytest.raises(rc.StalePlanError):
        reconciler.apply(stale)
    assert _lock_is_free(state)


# -- journal ---------------------------------------------------------------------------------


def test_every_apply_is_journaled_newest_first(state, items):
    reconciler = rc.Reconciler([items], state=state)
    first = reconciler.plan([Item("a"), Item("b", depends_on=["rs_item[a]"])])
    assert reconciler.apply(first, revision="rev-1").ok
    items.fail("update", address="rs_item[a]")
    second = reconciler.plan(
        [Item("a", value=1), Item("b", value=1, depends_on=["rs_item[a]"]), Item("c")]
    )
    result = reconciler.apply(second, revision="rev-2")
    assert not result.ok

    history = reconciler.history()
    assert [e.revision for e in history] == ["rev-2", "rev-1"]
    assert [e.status for e in history] == ["failed", "ok"]
    assert history[0].id != history[1].id
    for entry in history:
        assert entry.user == getpass.getuser()
        assert entry.host == socket.gethostname()
        assert entry.started_at <= (entry.ended_at or "")
        assert entry.plan is None
        assert entry.steps == ()
    assert reconciler.history(limit=1) == history[:1]

    whole = reconciler.history_entry(history[0].id)
    assert json.loads(whole.plan or "") == json.loads(second.to_json())
    outcomes = {s.address: (s.action, s.status) for s in whole.steps}
    assert outcomes == {
        "rs_item[a]": ("update", "failed"),
        "rs_item[b]": ("update", "skipped"),
        "rs_item[c]": ("create", "ok"),
    }
    (failed,) = [s for s in whole.steps if s.status == "failed"]
    assert "injected failure" in (failed.error or "")
    assert all(s.error is None for s in whole.steps if s.status != "failed")

    earlier = reconciler.history_entry(history[1].id)
    assert [(s.address, s.status) for s in earlier.steps] == [
        ("rs_item[a]", "ok"),
        ("rs_item[b]", "ok"),
    ]
    with pytest.raises(KeyError):
        reconciler.history_entry(10**9)


def test_a_failed_update_keeps_the_last_applied_record(state, items):
    reconciler = rc.Reconciler([items], state=state)
    reconciler.converge([Item("a", value=1)])
    items.fail("update", times=None)
    result = reconciler.apply(reconciler.plan([Item("a", value=2)]))
    assert isinstance(result.outcome("rs_item[a]").error, InjectedFailure)
    assert _records(state)["rs_item[a]"].spec["value"] == 1
    assert state.snapshot().intents == ()


# -- stale plans -------------------------------------------------------------------------------


def test_a_plan_made_before_another_apply_is_stale(state, items):
    reconciler = rc.Reconciler([items], state=state)
    stale = reconciler.plan([Item("a", value=1)])
    assert reconciler.apply(reconciler.plan([Item("b")])).ok
    items.reset_calls()
    records = _records(state)
    with pytest.raises(rc.StalePlanError, match="serial"):
        reconciler.apply(stale)
    assert items.writes == 0
    assert _records(state) == records
    assert items.get("rs_item[a]") is None


def test_a_saved_plan_is_stale_once_the_live_world_changed(state, items):
    reconciler = rc.Reconciler([items], state=state)
    reconciler.converge([Item("a", value=1)])
    saved = reconciler.plan([Item("a", value=2)]).to_json()
    items.drift("rs_item[a]", value=7)
    items.reset_calls()
    with pytest.raises(rc.StalePlanError, match=r"rs_item\[a\]"):
        reconciler.apply(rc.Plan.from_json(saved))
    assert items.writes == 0
    assert items.get("rs_item[a]").value == 7

    fresh = reconciler.plan([Item("a", value=2)]).to_json()
    assert reconciler.apply(rc.Plan.from_json(fresh)).ok
    assert items.get("rs_item[a]").value == 2


def test_a_saved_plan_is_stale_once_recorded_state_changed(state, items):
    reconciler = rc.Reconciler([items], state=state)
    saved = reconciler.plan([Item("a")]).to_json()
    assert json.loads(saved)["state_serial"] == state.snapshot().serial
    reconciler.converge([Item("b")])
    items.reset_calls()
    with pytest.raises(rc.StalePlanError):
        reconciler.apply(rc.Plan.from_json(saved))
    assert items.writes == 0


# -- secrets ------------------------------------------------------------------------------------


SECRET = "correct-horse-battery-staple-93771"
NEW_SECRET = "tr0ub4dor-and-3-41123"


def _stored_bytes(state: rc.State) -> bytes:
    """Everything the state keeps: the SQLite file and its WAL, or the memory store's contents."""
    if isinstance(state, rc.SQLiteState):
        path = state.path
        sidecars = [Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal")]
        assert Path(f"{path}-wal").exists(), "expected an open WAL file to inspect"
        return b"".join(p.read_bytes() for p in [path, *sidecars] if p.exists())
    snapshot = state.snapshot()
    entries = [state.entry(e.id) for e in state.history()]
    return repr((snapshot, entries)).encode()


def _hides(data: bytes, *secrets: str) -> None:
    for secret in secrets:
        assert secret.encode() not in data, f"{secret!r} is in the state"


def test_secrets_are_kept_only_as_digests_yet_changes_are_seen(state):
    logins = MemoryProvider(Login)
    reconciler = rc.Reconciler([logins], state=state)
    assert reconciler.converge([Login("admin", password=SECRET)]).converged
    stored = _records(state)["rs_login[admin]"].spec["password"]
    assert set(stored) == {"$sensitive"}
    assert re.fullmatch("hmac-sha256:[0-9a-f]{64}", stored["$sensitive"])
    _hides(_stored_bytes(state), SECRET)

    assert reconciler.plan([Login("admin", password=SECRET)]).is_empty
    plan = reconciler.plan([Login("admin", password=NEW_SECRET)])
    step = plan.step("rs_login[admin]")
    assert step.action is rc.Action.UPDATE
    (change,) = step.diff.changes
    assert change.path == ("password",)
    assert change.cause == "config"
    for text in (plan.render(), plan.to_json(), repr(plan)):
        assert SECRET not in text
        assert NEW_SECRET not in text

    assert reconciler.apply(plan, desired=[Login("admin", password=NEW_SECRET)]).ok
    assert logins.get("rs_login[admin]").password == NEW_SECRET
    assert _records(state)["rs_login[admin]"].spec["password"] != stored
    _hides(_stored_bytes(state), SECRET, NEW_SECRET)
    assert reconciler.plan([Login("admin", password=NEW_SECRET)]).is_empty


def test_a_secret_changed_live_is_seen_as_drift(state):
    logins = MemoryProvider(Login)
    reconciler = rc.Reconciler([logins], state=state)
    reconciler.converge([Login("admin", password=SECRET)])
    logins.drift("rs_login[admin]", password="reset-by-helpdesk")
    (change,) = reconciler.plan([Login("admin", password=SECRET)]).step("rs_login[admin]").diff
    assert change.cause == "drift"


def test_a_saved_plan_with_secrets_needs_the_same_desired_state(state):
    logins = MemoryProvider(Login)
    reconciler = rc.Reconciler([logins], state=state)
    reconciler.converge([Login("admin", password=SECRET)])
    logins.reset_calls()
    saved = reconciler.plan([Login("admin", password=NEW_SECRET, role="admin")]).to_json()
    assert NEW_SECRET not in saved
    with pytest.raises(rc.PlanNeedsDesiredStateError):
        reconciler.apply(rc.Plan.from_json(saved))
    with pytest.raises(rc.StalePlanError, match="password"):
        reconciler.apply(
            rc.Plan.from_json(saved), desired=[Login("admin", password="not-it", role="admin")]
        )
    assert logins.writes == 0
    result = reconciler.apply(
        rc.Plan.from_json(saved), desired=[Login("admin", password=NEW_SECRET, role="admin")]
    )
    assert result.ok
    assert logins.get("rs_login[admin]") == Login("admin", password=NEW_SECRET, role="admin")
    _hides(_stored_bytes(state), SECRET, NEW_SECRET)


# -- crash recovery, two stories (the property test covers the rest) ---------------------------


def _dies_after_first_create(cloud: Cloud) -> None:
    real_create = cloud.create

    def create_then_die(want: VM) -> VM:
        real_create(want)
        del cloud.create  # the process is gone; the next one runs the real code
        raise Crash

    cloud.create = create_then_die  # type: ignore[method-assign]


def test_a_create_killed_after_the_remote_call_is_adopted_not_repeated(state, cloud):
    _dies_after_first_create(cloud)
    with pytest.raises(Crash):
        rc.Reconciler([cloud], state=state, executor=InlineExecutor()).converge([VM("web")])
    assert "rs_vm[web]" not in _records(state)
    assert [i.address for i in state.snapshot().intents] == ["rs_vm[web]"]
    assert _lock_is_free(state), "an interrupted apply kept the lock"

    fresh = rc.Reconciler([cloud], state=state)
    assert fresh.converge([VM("web")]).converged
    assert list(cloud.objects) == ["i-1"], "the interrupted create was repeated"
    assert _records(state)["rs_vm[web]"].outputs == {"id": "i-1"}
    assert state.snapshot().intents == ()
    interrupted = fresh.history()[-1]
    assert interrupted.status != "ok"


def test_a_kill_inside_a_worker_thread_is_not_taken_for_an_ordinary_failure(state, cloud):
    """With the default thread pool, a BaseException from a provider must not close the intent.

    Closing it as a failed step forgets that the remote create happened: the next
    round creates a second VM and the first is orphaned.
    """
    _dies_after_first_create(cloud)
    with contextlib.suppress(Crash):
        rc.Reconciler([cloud], state=state).converge([VM("web")])
    rc.Reconciler([cloud], state=state).converge([VM("web")])
    assert [vm.id for vm in cloud.objects.values()] == ["i-1"], (
        f"{len(cloud.objects)} VMs named web exist; the killed create was orphaned"
    )


def _killed_at_next(provider: Any, method: str) -> None:
    """The next ``method`` call dies before reaching the remote system."""

    def die(*args: Any) -> Any:
        delattr(provider, method)  # the process is gone; the next one runs the real code
        raise Crash

    setattr(provider, method, die)


def _kill_during_update(state: rc.State, items: MemoryProvider[Item], desired: list[Item]) -> None:
    _killed_at_next(items, "update")
    inline = rc.Reconciler([items], state=state, executor=InlineExecutor(), parallelism=1)
    with pytest.raises(Crash):
        inline.converge(desired)
    assert len(state.snapshot().intents) == 1


def test_an_update_killed_before_the_call_still_removes_keys_we_dropped(state, items):
    reconciler = rc.Reconciler([items], state=state)
    reconciler.converge([Item("cfg", labels={"app": "web", "tier": "front"})])
    _kill_during_update(state, items, [Item("cfg", labels={"app": "web"})])
    fresh = rc.Reconciler([items], state=state)
    assert fresh.converge([Item("cfg", labels={"app": "web"})]).converged
    assert items.get("rs_item[cfg]").labels == {"app": "web"}, (
        "recovery recorded the intended spec as applied, so the key we dropped "
        "now looks like someone else's and is kept"
    )


def test_an_update_killed_after_the_call_still_removes_keys_it_added(state, items):
    """The write happened but its record did not: the keys it set are ours, not foreign."""
    reconciler = rc.Reconciler([items], state=state)
    reconciler.converge([Item("cfg", labels={"app": "web"})])
    items.drift("rs_item[cfg]", labels={"app": "web", "owner": "ops"})
    real_update = items.update

    def update_then_die(*args: Any) -> Any:
        real_update(*args)
        del items.update
        raise Crash

    items.update = update_then_die  # type: ignore[method-assign]
    inline = rc.Reconciler([items], state=state, executor=InlineExecutor(), parallelism=1)
    with pytest.raises(Crash):
        inline.converge([Item("cfg", labels={"app": "web", "tier": "front"})])
    assert items.get("rs_item[cfg]").labels == {"app": "web", "owner": "ops", "tier": "front"}

    fresh = rc.Reconciler([items], state=state)
    assert fresh.converge([Item("cfg", labels={"app": "web"})]).converged
    assert items.get("rs_item[cfg]").labels == {"app": "web", "owner": "ops"}, (
        "recovery kept the spec from before the update, so the key it added "
        "looks like someone else's and is kept"
    )


def test_an_interrupted_update_keeps_the_protection_recorded(state, items):
    keep = Item("keep", value=1, lifecycle=rc.Lifecycle(prevent_destroy=True))
    rc.Reconciler([items], state=state).converge([keep])
    _kill_during_update(state, items, [attrs.evolve(keep, value=2)])
    fresh = rc.Reconciler([items], state=state)
    with pytest.raises(rc.ProtectedResourceError, match=r"rs_item\[keep\]"):
        fresh.plan([])
    assert _records(state)["rs_item[keep]"].protected
    assert items.get("rs_item[keep]") is not None


def test_an_interrupted_update_keeps_retain_recorded(state, items):
    kept = Item("tmp", value=1, lifecycle=rc.Lifecycle(retain=True))
    rc.Reconciler([items], state=state).converge([kept])
    _kill_during_update(state, items, [attrs.evolve(kept, value=2)])
    plan = rc.Reconciler([items], state=state).plan([])
    assert _actions(plan) == {"rs_item[tmp]": rc.Action.FORGET}


# -- create before destroy: the old object is deposed until it is gone ---------------------


@rc.resource("rs_machine", create_before_destroy=True)
class Machine:
    name: str = rc.field(key=True)
    image: str = rc.field(default="debian", replace=True)
    id: str | None = rc.field(default=None, computed=True)


class MachineCloud(Cloud):
    resource = Machine  # type: ignore[assignment]


def _deposed(state: rc.State) -> dict[str, dict[str, Any]]:
    return {a: dict(r.outputs) for a, r in _records(state).items() if "~deposed-" in a}


def test_an_old_object_whose_destroy_failed_is_deposed_then_destroyed(state):
    cloud = MachineCloud()
    reconciler = rc.Reconciler([cloud], state=state)
    reconciler.converge([Machine("web")])

    def refuse(have: Any) -> None:
        del cloud.delete  # once
        raise RuntimeError("the old one is busy")

    cloud.delete = refuse  # type: ignore[method-assign]
    result = reconciler.apply(reconciler.plan([Machine("web", image="alpine")]))
    assert not result.ok
    assert sorted(cloud.objects) == ["i-1", "i-2"]
    assert _records(state)["rs_machine[web]"].outputs == {"id": "i-2"}
    ((address, outputs),) = _deposed(state).items()
    assert address.startswith("rs_machine[web]~deposed-")
    assert outputs == {"id": "i-1"}
    assert reconciler.orphans() == [], "the deposed machine is managed: it is no orphan"
    cloud.add(Machine("web"))  # a twin made behind our back still is one
    assert [m.id for m in reconciler.orphans()] == ["i-3"]
    del cloud.objects["i-3"]

    wanted = [Machine("web", image="alpine"), Machine("db")]
    targeted = reconciler.plan(wanted, include=["rs_machine[web]"])
    assert _actions(targeted)[address] is rc.Action.DELETE, "targeting web leaves its old one"
    spared = reconciler.plan(wanted, exclude=["rs_machine[web]"])
    assert address not in _actions(spared)
    assert dict(spared.excluded)[address] == "deposed by rs_machine[web], left out with it"

    plan = reconciler.plan([Machine("web", image="alpine")])
    assert _actions(plan) == {"rs_machine[web]": rc.Action.NOOP, address: rc.Action.DELETE}
    assert f"  - {address}" in plan.render()
    assert reconciler.apply(plan).ok
    assert list(cloud.objects) == ["i-2"]
    assert ("delete", "i-1") in cloud.log
    assert set(_records(state)) == {"rs_machine[web]"}
    assert reconciler.plan([Machine("web", image="alpine")]).is_empty


def test_a_deposed_object_read_by_its_key_is_gone_once_the_key_finds_its_replacement(state):
    """Found by the whole-API model: with a provider that finds things by key, reading
    the deposed record found the replacement, and the next plan destroyed it."""
    ids = itertools.count(1)
    world = MemoryProvider(
        Machine, fill=lambda m: m if m.id else attrs.evolve(m, id=f"k-{next(ids)}")
    )
    reconciler = rc.Reconciler([world], state=state)
    assert reconciler.converge([Machine("web")]).converged
    world.fail("delete")  # the old one cannot be destroyed: it stays deposed
    assert not reconciler.apply(reconciler.plan([Machine("web", image="alpine")])).ok
    assert list(_deposed(state).values()) == [{"id": "k-1"}]

    plan = reconciler.plan([Machine("web", image="alpine")])
    (action,) = [x for a, x in _actions(plan).items() if "~deposed-" in a]
    assert action is rc.Action.FORGET, plan.render()
    assert reconciler.apply(plan).ok
    assert [(m.image, m.id) for m in world] == [("alpine", "k-2")]
    assert set(_records(state)) == {"rs_machine[web]"}
    assert reconciler.plan([Machine("web", image="alpine")]).is_empty


def test_a_partly_created_replacement_still_deposes_the_old_object(state):
    cloud = MachineCloud()
    reconciler = rc.Reconciler([cloud], state=state)
    reconciler.converge([Machine("web")])
    cloud.partial = 1
    assert not reconciler.apply(reconciler.plan([Machine("web", image="alpine")])).ok
    assert _records(state)["rs_machine[web]"].tainted
    assert list(_deposed(state).values()) == [{"id": "i-1"}]

    assert reconciler.converge([Machine("web", image="alpine")]).converged
    assert list(cloud.objects) == ["i-3"], "the old machine outlived its tainted replacement"
    assert set(_records(state)) == {"rs_machine[web]"}


@pytest.mark.parametrize("kill", ["before the destroy", "after the destroy"])
def test_a_replace_killed_between_create_and_destroy_leaves_no_orphan(state, kill):
    cloud = MachineCloud()
    rc.Reconciler([cloud], state=state).converge([Machine("web")])
    real_delete = cloud.delete

    def die(have: Any) -> None:
        if kill == "after the destroy":
            real_delete(have)
        del cloud.delete
        raise Crash

    cloud.delete = die  # type: ignore[method-assign]
    inline = rc.Reconciler([cloud], state=state, executor=InlineExecutor(), parallelism=1)
    with pytest.raises(Crash):
        inline.converge([Machine("web", image="alpine")])
    assert list(_deposed(state).values()) == [{"id": "i-1"}]

    assert rc.Reconciler([cloud], state=state).converge([Machine("web", image="alpine")]).converged
    assert list(cloud.objects) == ["i-2"], "the old machine was left running, unrecorded"
    assert set(_records(state)) == {"rs_machine[web]"}


def test_a_replace_killed_right_after_its_create_adopts_the_replacement(state):
    cloud = MachineCloud()
    rc.Reconciler([cloud], state=state).converge([Machine("web")])
    _dies_after_first_create(cloud)
    inline = rc.Reconciler([cloud], state=state, executor=InlineExecutor(), parallelism=1)
    with pytest.raises(Crash):
        inline.converge([Machine("web", image="alpine")])
    assert _records(state)["rs_machine[web]"].outputs == {"id": "i-1"}

    fresh = rc.Reconciler([cloud], state=state)
    assert fresh.converge([Machine("web", image="alpine")]).converged
    assert list(cloud.objects) == ["i-2"], "the replacement was orphaned and made again"
    assert _records(state)["rs_machine[web]"].outputs == {"id": "i-2"}
    assert set(_records(state)) == {"rs_machine[web]"}
