"""MemoryProvider as a fake world: injected faults, latency, drift, the call log, threads."""

from __future__ import annotations

import threading

import attrs
import pytest

import reconcile as rc
from reconcile.testing import Call, InjectedFailure, MemoryProvider, SimulatedClock


@rc.resource("kit_box")
class Box:
    name: str = rc.field(key=True)
    size: int = 0
    color: str = rc.field(default="red", replace=True)
    note: str = rc.field(default="", ignore=True)
    id: int | None = rc.field(default=None, computed=True)


def _numbered(box: Box) -> Box:
    return attrs.evolve(box, id=box.id if box.id is not None else 7)


def test_the_nth_call_fails_and_only_that_one():
    boxes = MemoryProvider(Box)
    boxes.fail("create", nth=2)
    boxes.create(Box("a"))
    with pytest.raises(
        InjectedFailure, match=r"kit_box\[b\]: injected failure of create \(call 2\)"
    ):
        boxes.create(Box("b"))
    boxes.create(Box("c"))
    assert sorted(b.name for b in boxes) == ["a", "c"], "a failed create changes nothing"


def test_several_methods_can_fail_without_limit():
    boxes = MemoryProvider(Box)
    boxes.put(Box("a"))
    boxes.fail(["update", "delete"], times=None, error=RuntimeError)
    for _ in range(5):
        with pytest.raises(RuntimeError):
            boxes.update(Box("a"), Box("a", size=1), rc.Diff())
        with pytest.raises(RuntimeError):
            boxes.delete(Box("a"))
    assert boxes.get("kit_box[a]") == Box("a")


def test_unknown_methods_and_bad_arguments_are_refused():
    boxes = MemoryProvider(Box)
    with pytest.raises(ValueError, match="methods are"):
        boxes.fail("crate")
    with pytest.raises(ValueError, match="probability"):
        boxes.fail("read", probability=1.5)
    with pytest.raises(ValueError, match="from 1"):
        boxes.fail("read", nth=0)
    with pytest.raises(ValueError, match="non-negative"):
        boxes.delay("read", -1)
    with pytest.raises(ValueError, match="non-negative"):
        boxes.lag_reads(-1)


def test_transient_failures_run_out():
    boxes = MemoryProvider(Box)
    boxes.fail_transiently("create", times=2)
    for _ in range(2):
        with pytest.raises(rc.TransientError):
            boxes.create(Box("a"))
    assert boxes.create(Box("a")) == Box("a")
    assert [c.failed for c in boxes.history] == [True, True, False]


def test_random_failures_follow_the_seed():
    def pattern(seed: int) -> list[bool]:
        boxes = MemoryProvider(Box, seed=seed)
        boxes.fail("read", probability=0.3, times=None)
        return [_fails(boxes.read, Box("a")) for _ in range(400)]

    assert pattern(1) == pattern(1)
    assert pattern(1) != pattern(2)
    assert 60 < sum(pattern(1)) < 180, "about 30% of 400 calls"


def _fails(call, *args) -> bool:
    try:
        call(*args)
    except InjectedFailure:
        return True
    return False


def test_latency_advances_the_clock_and_stamps_the_log():
    clock = SimulatedClock()
    boxes = MemoryProvider(Box, clock=clock)
    boxes.delay("read", 2.5)
    boxes.delay("create", 1.0, address="kit_box[slow]")
    boxes.read(Box("a"))
    boxes.create(Box("fast"))
    boxes.create(Box("slow"))
    boxes.read(Box("a"))
    assert clock.sleeps == (2.5, 1.0, 2.5)
    assert boxes.history == (
        Call("read", "kit_box[a]", 0.0),
        Call("create", "kit_box[fast]", 2.5),
        Call("create", "kit_box[slow]", 2.5),
        Call("read", "kit_box[a]", 3.5),
    )
    assert boxes.log == [(c.method, c.address) for c in boxes.history]


def test_reset_calls_forgets_calls_and_restarts_nth():
    boxes = MemoryProvider(Box)
    boxes.read(Box("a"))
    boxes.fail("read", nth=1)
    boxes.reset_calls()
    assert boxes.history == ()
    assert not boxes.calls
    with pytest.raises(InjectedFailure):
        boxes.read(Box("a"))


def test_drift_changes_managed_fields_and_the_engine_repairs_it():
    boxes = MemoryProvider(Box)
    reconciler = rc.Reconciler([boxes])
    reconciler.converge([Box("a", size=1)])
    assert boxes.drift("kit_box[a]", size=9) == Box("a", size=9)
    plan = reconciler.plan([Box("a", size=1)])
    assert [(s.action, s.diff.paths) for s in plan.changes] == [(rc.Action.UPDATE, (("size",),))]
    with pytest.raises(KeyError, match="nothing exists"):
        boxes.drift("kit_box[missing]", size=1)


def test_server_fields_change_without_the_engine_planning_anything():
    boxes = MemoryProvider(Box, fill=_numbered)
    reconciler = rc.Reconciler([boxes])
    reconciler.converge([Box("a")])
    boxes.set_server_fields("kit_box[a]", id=42, note="set by the server")
    assert reconciler.plan([Box("a")]).is_empty
    reconciler.converge([Box("a", size=3)])
    assert boxes.get("kit_box[a]") == Box("a", size=3, id=42), "an update keeps the server's id"
    with pytest.raises(ValueError, match="use drift"):
        boxes.set_server_fields("kit_box[a]", size=1)


def test_reads_lag_writes_by_the_given_number_of_calls():
    boxes = MemoryProvider(Box)
    boxes.lag_reads(2)
    boxes.create(Box("a", size=1))  # call 1
    assert boxes.read(Box("a")) is None  # call 2
    assert list(boxes.list()) == []  # call 3
    assert boxes.read(Box("a")) == Box("a", size=1)  # call 4 > 1 + 2
    assert boxes.get("kit_box[a]") == Box("a", size=1), "get() shows the truth at once"


def test_helpers_change_the_world_for_lagging_reads_too():
    boxes = MemoryProvider(Box)
    boxes.lag_reads(5)
    boxes.create(Box("a", size=1))
    boxes.put(Box("a", size=2))
    assert boxes.read(Box("a")) == Box("a", size=2)


def test_concurrent_calls_are_all_counted_and_faults_fire_exactly():
    boxes = MemoryProvider(Box)
    boxes.fail("create", times=50)
    failures: list[int] = []

    def work(worker: int) -> None:
        for i in range(100):
            box = Box(f"{worker}-{i}")
            if _fails(boxes.create, box):
                failures.append(1)
            boxes.read(box)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(failures) == 50
    assert boxes.calls["create"] == 800
    assert boxes.calls["read"] == 800
    assert len(boxes.history) == 1600
    assert len(boxes) == 750


def test_converge_outlasts_reads_that_lag_one_call():
    boxes = MemoryProvider(Box)
    boxes.put(Box("a", size=0))
    boxes.lag_reads(1)
    report = rc.Reconciler([boxes]).converge([Box("a", size=1)], max_rounds=10)
    assert report.converged, (report.oscillating, boxes.log)


def test_fill_may_look_at_the_world_it_fills():
    boxes: MemoryProvider[Box] = MemoryProvider(Box, fill=lambda b: attrs.evolve(b, id=len(boxes)))
    boxes.create(Box("a"))
    assert boxes.create(Box("b")).id == 1
