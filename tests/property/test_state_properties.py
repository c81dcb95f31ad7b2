"""Crash safety as a property: whatever happens, a later converge reaches desired state.

For random sequences of steps — change the desired state, drift the live world
behind the engine's back, apply, converge, and crash at a random provider write —
a final converge by a fresh reconciler makes the live world equal the desired
state, and recorded state match the live world: every recorded address exists
with the recorded outputs, every live object is recorded, nothing exists twice.
Drift may add another writer's key to a mapping; no update ever drops or changes
one, and the final comparison leaves them aside.

A crash is simulated in-process: a wrapper raises ``Crash`` (a ``BaseException``,
as a kill cannot be caught) just before or just after the Nth provider write.
Steps run one at a time on an inline executor, so the crash stops the apply where
it happens, as a killed process would, and the Nth write is the same on replay.
A new ``Reconciler`` on the same state object then plays the next process.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import MemoryProvider
from tests.crashes import Crash, Fuse, InlineExecutor

# -- the world ---------------------------------------------------------------------------


@rc.resource("rs_pvm")
class VM:
    name: str = rc.field(key=True)
    size: int = 1
    tags: dict[str, str] = rc.field(factory=dict)
    zone: str = rc.field(default="a", replace=True)
    id: str | None = rc.field(default=None, computed=True)


@rc.resource("rs_pitem")
class Item:
    name: str = rc.field(key=True)
    value: int = 0
    labels: dict[str, str] = rc.field(factory=dict)
    tier: str = rc.field(default="a", replace=True)


class Cloud(rc.Provider[VM]):
    """VMs addressed by ids the cloud picks: ``read`` needs the id; names may repeat."""

    resource = VM
    blocking_io = False

    def __init__(self) -> None:
        self.objects: dict[str, VM] = {}
        self._ids = itertools.count(1)

    def read(self, want: VM) -> VM | None:
        return None if want.id is None else self.objects.get(want.id)

    def create(self, want: VM) -> VM:
        made = attrs.evolve(want, id=f"i-{next(self._ids)}", depends_on=())
        self.objects[made.id] = made
        return made

    def update(self, have: VM, want: VM, diff: rc.Diff) -> VM:
        assert have.id in self.objects, f"update of a VM that does not exist: {have.id}"
        made = attrs.evolve(want, id=have.id, depends_on=())
        self.objects[made.id] = made
        return made

    def delete(self, have: VM) -> None:
        self.objects.pop(have.id or "", None)

    def list(self) -> list[VM]:
        return list(self.objects.values())


class _Crashing(rc.Provider[Any]):
    blocking_io = False

    def __init__(self, inner: rc.Provider[Any], fuse: Fuse) -> None:
        self.inner = inner
        self.fuse = fuse

    def read(self, want: Any) -> Any:
        return self.inner.read(want)

    def list(self) -> Any:
        return self.inner.list()

    def diff(self, want: Any, have: Any) -> rc.Diff:
        return self.inner.diff(want, have)

    def create(self, want: Any) -> Any:
        return self.fuse.write(rc.address_of(want), lambda: self.inner.create(want))

    def update(self, have: Any, want: Any, diff: rc.Diff) -> Any:
        theirs = _foreign(have)
        assert _foreign(want) == theirs, f"an update changes another writer's key: {diff}"
        return self.fuse.write(rc.address_of(want), lambda: self.inner.update(have, want, diff))

    def delete(self, have: Any) -> None:
        self.fuse.write(rc.address_of(have), lambda: self.inner.delete(have))


def _foreign(res: Any) -> dict[str, str]:
    mapping = res.tags if isinstance(res, VM) else res.labels
    return {k: v for k, v in mapping.items() if k == FOREIGN}


class CrashingCloud(_Crashing):
    resource = VM


class CrashingItems(_Crashing):
    resource = Item


class World:
    """The live systems, the fuse and the recorded state one test example shares."""

    def __init__(self, state: rc.State) -> None:
        self.cloud = Cloud()
        self.items: MemoryProvider[Item] = MemoryProvider(Item)
        self.fuse = Fuse()
        self.state = state
        self.crashes = 0

    def reconciler(self) -> rc.Reconciler:
        """A new reconciler, as a freshly started process would build."""
        providers = [CrashingCloud(self.cloud, self.fuse), CrashingItems(self.items, self.fuse)]
        return rc.Reconciler(providers, state=self.state, executor=InlineExecutor(), parallelism=1)

    def run(self, action: Callable[[rc.Reconciler], Any], crash: tuple[int, bool] | None) -> None:
        if crash is not None:
            self.fuse.arm(*crash)
        try:
            action(self.reconciler())
        except Crash:
            self.crashes += 1
            assert _lock_is_free(self.state), "a crashed apply left the state locked"
        finally:
            self.fuse.disarm()


def _lock_is_free(state: rc.State) -> bool:
    probe = rc.LockInfo(1, "probe-host", "probe")
    held = state.acquire(probe)
    if held is None:
        state.release(probe)
    return held is None


# -- strategies ----------------------------------------------------------------------------

FOREIGN = "o"  # a key only another writer sets
_CREATE_FIRST = rc.Lifecycle(create_before_destroy=True)  # a replace leaves the old VM a while
_tags = st.dictionaries(st.sampled_from("xyz"), st.sampled_from(["1", "2"]), max_size=3)


@st.composite
def desired_states(draw: st.DrawFn) -> list[Any]:
    vm_names = draw(st.lists(st.sampled_from("abc"), unique=True, max_size=3))
    vms = [
        VM(
            name,
            size=draw(st.integers(1, 3)),
            tags=draw(_tags),
            zone=draw(st.sampled_from("ab")),
            lifecycle=draw(st.sampled_from([None, _CREATE_FIRST])),
        )
        for name in vm_names
    ]
    items = []
    for name in draw(st.lists(st.sampled_from("pqr"), unique=True, max_size=3)):
        deps = draw(st.lists(st.sampled_from(vms), max_size=1)) if vms else []
        items.append(
            Item(
                name,
                value=draw(st.integers(0, 3)),
                labels=draw(_tags),
                tier=draw(st.sampled_from("ab")),
                depends_on=deps,
            )
        )
    return [*vms, *items]


def _tweaked(draw: st.DrawFn, desired: list[Any]) -> list[Any]:
    """A small change to the desired state: one field of one resource, or one resource less."""
    if not desired:
        return draw(desired_states())
    target = draw(st.sampled_from(desired))
    how = draw(st.sampled_from(["mapping", "scalar", "replace-field", "remove"]))
    if how == "remove":
        gone = rc.address_of(target)
        return [
            attrs.evolve(r, depends_on=tuple(d for d in r.depends_on if d != gone))
            for r in desired
            if r is not target
        ]
    mapping, scalar, replace = (
        ("tags", "size", "zone") if isinstance(target, VM) else ("labels", "value", "tier")
    )
    if how == "mapping":
        current = getattr(target, mapping)
        changes: dict[str, Any] = {
            mapping: draw(st.sampled_from([_shrunk_mapping(draw, current), draw(_tags)]))
        }
    elif how == "scalar":
        changes = {scalar: draw(st.integers(1, 3))}
    else:
        changes = {replace: draw(st.sampled_from("ab"))}
    return [attrs.evolve(r, **changes) if r is target else r for r in desired]


def _drift(draw: st.DrawFn, world: World) -> None:
    """Change or delete one live object behind the engine's back, or add a key of its own.

    Another writer's keys (``FOREIGN``) are never in a desired state; the engine must
    converge around them without taking them for its own or them for ours.
    """
    vms = sorted(world.cloud.objects)
    items = sorted(rc.address_of(i) for i in world.items)
    targets = [("vm", v) for v in vms] + [("item", i) for i in items]
    if not targets:
        return
    which, key = draw(st.sampled_from(targets))
    how = draw(st.sampled_from(["scalar", "replace-field", "mapping", "foreign", "delete"]))
    if which == "vm":
        vm = world.cloud.objects[key]
        if how == "delete":
            del world.cloud.objects[key]
            return
        changes: dict[str, Any] = {
            "scalar": {"size": draw(st.integers(1, 3))},
            "replace-field": {"zone": draw(st.sampled_from("ab"))},
            "mapping": {"tags": _shrunk_mapping(draw, vm.tags)},
            "foreign": {"tags": _with_foreign(draw, vm.tags)},
        }[how]
        world.cloud.objects[key] = attrs.evolve(vm, **changes)
        return
    if how == "delete":
        world.items.remove(key)
        return
    item = world.items.get(key)
    assert item is not None
    changes = {
        "scalar": {"value": draw(st.integers(0, 3))},
        "replace-field": {"tier": draw(st.sampled_from("ab"))},
        "mapping": {"labels": _shrunk_mapping(draw, item.labels)},
        "foreign": {"labels": _with_foreign(draw, item.labels)},
    }[how]
    world.items.drift(key, **changes)


def _shrunk_mapping(draw: st.DrawFn, mapping: dict[str, str]) -> dict[str, str]:
    """The mapping with some keys dropped and some values changed; no new keys."""
    out = {}
    for key, value in mapping.items():
        fate = draw(st.sampled_from(["keep", "drop", "change"]))
        if fate != "drop":
            out[key] = value if fate == "keep" else draw(st.sampled_from(["1", "2", "3"]))
    return out


def _with_foreign(draw: st.DrawFn, mapping: dict[str, str]) -> dict[str, str]:
    """The mapping with a key another writer set (one no desired state ever has)."""
    return {**mapping, FOREIGN: draw(st.sampled_from(["1", "2"]))}


_crashes = st.none() | st.tuples(st.integers(1, 6), st.booleans())


# -- checks -------------------------------------------------------------------------------------


def _managed(res: Any) -> dict[str, Any]:
    """The fields desired state manages, without another writer's keys."""
    doc = attrs.asdict(res, filter=lambda a, _: a.name not in ("id", "depends_on", "lifecycle"))
    for name in ("tags", "labels"):
        if name in doc:
            doc[name] = {k: v for k, v in doc[name].items() if k != FOREIGN}
    return doc


def _check_converged(world: World, desired: list[Any]) -> None:
    state = world.state
    wanted_vms = {r.name: _managed(r) for r in desired if isinstance(r, VM)}
    wanted_items = {r.name: _managed(r) for r in desired if isinstance(r, Item)}

    live_vms = list(world.cloud.objects.values())
    names = [vm.name for vm in live_vms]
    assert sorted(names) == sorted(set(names)), f"a VM exists twice: {sorted(names)}"
    assert {vm.name: _managed(vm) for vm in live_vms} == wanted_vms
    assert {i.name: _managed(i) for i in world.items} == wanted_items

    snapshot = state.snapshot()
    assert snapshot.intents == (), f"intents left open: {snapshot.intents}"
    records = snapshot.records
    recorded_vms = {a: r for a, r in records.items() if r.kind == "rs_pvm"}
    assert set(recorded_vms) == {f"rs_pvm[{vm.name}]" for vm in live_vms}
    for vm in live_vms:
        record = recorded_vms[f"rs_pvm[{vm.name}]"]
        assert record.outputs == {"id": vm.id}, (record, vm)
        assert not record.tainted
    recorded_items = {a for a, r in records.items() if r.kind == "rs_pitem"}
    assert recorded_items == {rc.address_of(i) for i in world.items}
    assert set(records) == {rc.address_of(r) for r in desired}
    assert _lock_is_free(state)


@contextlib.contextmanager
def _state(kind: str) -> Iterator[rc.State]:
    if kind == "memory":
        yield rc.MemoryState()
        return
    folder = tempfile.mkdtemp(prefix="rs_props_")
    state = rc.SQLiteState(Path(folder) / "state.db")
    try:
        yield state
    finally:
        state.close()
        shutil.rmtree(folder, ignore_errors=True)


# -- the property -----------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@given(data=st.data())
def test_after_any_crashes_and_drift_converge_reaches_desired_state(store, data):
    with _state(store) as state:
        world = World(state)
        desired = data.draw(desired_states(), label="initial desired")
        steps = data.draw(st.integers(1, 8), label="steps")
        for _ in range(steps):
            op = data.draw(
                st.sampled_from(["desire", "tweak", "tweak", "drift", "apply", "converge"]),
                label="op",
            )
            if op == "desire":
                desired = data.draw(desired_states(), label="desired")
            elif op == "tweak":
                desired = _tweaked(data.draw, desired)
            elif op == "drift":
                _drift(data.draw, world)
            elif op == "apply":
                crash = data.draw(_crashes, label="crash at write (nth, after the call)")
                wanted = list(desired)
                world.run(lambda r, wanted=wanted: r.apply(r.plan(wanted)), crash)
            else:
                crash = data.draw(_crashes, label="crash at write (nth, after the call)")
                wanted = list(desired)
                world.run(lambda r, wanted=wanted: r.converge(wanted), crash)

        final = world.reconciler()
        report = final.converge(desired)
        assert report.converged, [r.plan.render() for r in report.rounds]
        _check_converged(world, desired)
        again = world.reconciler().plan(desired)
        assert again.is_empty, again.render()


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@given(st.lists(st.integers(0, 253_402_300_799 * 10**9), min_size=1, max_size=5))
def test_timestamps_are_datetimes_isoformat_at_any_instant(instants):
    """``now()`` formats each second once; its text must stay datetime's, second after
    second (the cache) and at whole seconds (no microseconds to drop)."""
    from reconcile._state import values as _state

    for ns in sorted(instants):
        expected = (_EPOCH + datetime.timedelta(microseconds=ns // 1000)).isoformat(
            timespec="microseconds"
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_state.time, "time_ns", lambda ns=ns: ns)
            assert _state.now() == expected
