"""Scheduling an apply: per-provider limits, targeting, events and logs, timeouts,
cancellation, Ctrl-C, and starting each step as soon as its own dependencies finished."""

from __future__ import annotations

import _thread
import concurrent.futures as cf
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import pytest

import reconcile as rc
from reconcile.testing import SimulatedClock

WAIT = 5.0  # seconds a test waits for another thread before giving up (never reached when green)


@rc.resource("g_sched")
class Box:
    name: str = rc.field(key=True)
    value: int = 0


Hook = Callable[[str, str], None]


class Boxes(rc.Provider[Box]):
    """A thread-safe in-memory provider that counts calls in flight and logs each call.

    ``hook(method, address)`` runs inside every call (after it is counted as
    started), so a test can block, fail, cancel or interrupt from there.
    """

    resource = Box
    blocking_io = True

    def __init__(self, hook: Hook | None = None, clock: rc.Clock | None = None) -> None:
        self.clock = clock
        self.store: dict[str, Box] = {}
        self.cond = threading.Condition()
        self.in_flight = 0
        self.peak = 0
        self.started = 0
        self.starts: list[tuple[str, str, float]] = []  # method, address, monotonic time
        self.log: list[tuple[str, str]] = []
        self.threads: list[str] = []
        self.hook = hook

    def _call(self, method: str, res: Box, body: Callable[[], Any]) -> Any:
        address = rc.address_of(res)
        with self.cond:
            self.in_flight += 1
            self.started += 1
            self.peak = max(self.peak, self.in_flight)
            now = self.clock.monotonic() if self.clock is not None else time.monotonic()
            self.starts.append((method, address, now))
            self.log.append((method, address))
            self.threads.append(threading.current_thread().name)
            self.cond.notify_all()
        try:
            if self.hook is not None:
                self.hook(method, address)
            with self.cond:
                return body()
        finally:
            with self.cond:
                self.in_flight -= 1
                self.cond.notify_all()

    def read(self, want: Box) -> Box | None:
        return self._call("read", want, lambda: self.store.get(rc.address_of(want)))

    def create(self, want: Box) -> Box:
        return self._call("create", want, lambda: self._put(want))

    def update(self, have: Box, want: Box, diff: rc.Diff) -> Box:
        return self._call("update", want, lambda: self._put(want))

    def delete(self, have: Box) -> None:
        self._call("delete", have, lambda: self.store.pop(rc.address_of(have), None))

    def _put(self, want: Box) -> Box:
        made = attrs.evolve(want, depends_on=())
        self.store[rc.address_of(want)] = made
        return made

    def writes(self) -> list[tuple[str, str]]:
        return [(m, a) for m, a in self.log if m != "read"]

    def wait_for_partner(self, total: int) -> None:
        """Hold this call until another is in flight too (or every call has started)."""
        with self.cond:
            self.cond.wait_for(lambda: self.in_flight >= 2 or self.started >= total, WAIT)


def addr(name: str) -> str:
    return f"g_sched[{name}]"


def _statuses(result: rc.ApplyResult) -> dict[str, rc.Status]:
    return {o.address: o.status for o in result.outcomes}


# -- per-provider limits -------------------------------------------------------


class TwoAtATime(Boxes):
    max_concurrency: ClassVar[int | None] = 2


def test_max_concurrency_bounds_apply_calls_whatever_the_parallelism():
    total = 12
    provider = TwoAtATime(lambda m, a: provider.wait_for_partner(total))
    reconciler = rc.Reconciler([provider], parallelism=32)
    plan = reconciler.plan([Box(f"b{i}") for i in range(total)])
    provider.peak, provider.started = 0, 0
    assert reconciler.apply(plan).ok
    assert provider.peak == 2, "two calls ran together, never more"


def test_max_concurrency_bounds_plan_reads_too():
    total = 12
    provider = TwoAtATime(lambda m, a: provider.wait_for_partner(total))
    reconciler = rc.Reconciler([provider], parallelism=32)
    reconciler.plan([Box(f"b{i}") for i in range(total)])
    assert [m for m, _ in provider.log] == ["read"] * total
    assert provider.peak == 2


class FiftyPerSecond(Boxes):
    rate_limit: ClassVar[float | None] = 50.0


def _gaps(starts: list[float]) -> list[float]:
    ordered = sorted(starts)
    return [b - a for a, b in itertools.pairwise(ordered)]


# Simulated time: only the engine's waits move it, so the spacing is exact on any
# machine (a wall clock would add each worker's dispatch delay to the starts).
EPS = 1e-9


def test_rate_limit_spaces_apply_calls_whatever_the_parallelism():
    clock = SimulatedClock()
    provider = FiftyPerSecond(clock=clock)
    reconciler = rc.Reconciler([provider], parallelism=32, clock=clock)
    plan = reconciler.plan([Box(f"b{i}") for i in range(8)])
    provider.starts.clear()
    assert reconciler.apply(plan).ok
    starts = [t for m, _, t in provider.starts if m == "create"]
    assert len(starts) == 8
    assert min(_gaps(starts)) >= 1 / 50 - EPS, _gaps(starts)
    assert max(starts) - min(starts) >= 7 / 50 - EPS


def test_rate_limit_spaces_plan_reads():
    """Parallel reads sleep on their own threads (concurrent sleeps add up in simulated
    time), so the bound is on the time they took: seven waits of 1/50 at least."""
    clock = SimulatedClock()
    provider = FiftyPerSecond(clock=clock)
    rc.Reconciler([provider], parallelism=32, clock=clock).plan([Box(f"b{i}") for i in range(8)])
    starts = [t for m, _, t in provider.starts if m == "read"]
    assert len(starts) == 8
    assert clock.monotonic() >= 7 / 50 - EPS, clock.sleeps


class OnePerSecond(Boxes):
    rate_limit: ClassVar[float | None] = 1.0


def test_steps_that_call_no_provider_do_not_spend_the_rate_budget():
    """A noop makes no call, so it must not wait for (or use up) a rate-limit slot."""
    clock = SimulatedClock()
    provider = OnePerSecond()
    for i in range(5):
        provider.store[addr(f"same{i}")] = Box(f"same{i}")
    reconciler = rc.Reconciler([provider], parallelism=4, clock=clock)
    desired = [Box(f"same{i}") for i in range(5)] + [Box("new")]
    plan = reconciler.plan(desired)
    assert [s.action for s in plan.changes] == [rc.Action.CREATE]
    clock.advance(10.0)  # whatever the reads spent is long past
    before = clock.monotonic()
    assert reconciler.apply(plan).ok
    waited = clock.monotonic() - before  # simulated seconds: deterministic
    assert waited <= 1.0, f"one create at 1/s needs no more than 1s, waited {waited}s"


# -- targeting -----------------------------------------------------------------


def _graph() -> list[Box]:
    a = Box("a")
    b = Box("b", depends_on=[a])
    c = Box("c", value=rc.ref(b, "value"))  # an edge through a reference
    d = Box("d")
    e = Box("e", depends_on=[d])
    return [e, d, c, b, a]


def test_include_plans_the_target_and_what_it_depends_on_only():
    provider = Boxes()
    reconciler = rc.Reconciler([provider])
    plan = reconciler.plan(_graph(), include=[addr("c")])
    assert {s.address for s in plan.steps} == {addr("a"), addr("b"), addr("c")}
    assert dict(plan.excluded) == {
        addr("d"): "not included, and nothing included depends on it",
        addr("e"): "not included, and nothing included depends on it",
    }
    text = plan.render()
    assert "Left out of this plan" in text
    left_out = text[text.index("Left out of this plan") :]
    assert addr("d") in left_out
    assert addr("e") in left_out
    assert {a for _, a in provider.log} == {addr("a"), addr("b"), addr("c")}, "nothing else read"
    assert reconciler.apply(plan).ok
    assert set(provider.store) == {addr("a"), addr("b"), addr("c")}


def test_include_of_a_leaf_pulls_nothing_else_in():
    plan = rc.Reconciler([Boxes()]).plan(_graph(), include=[addr("a")])
    assert [s.address for s in plan.steps] == [addr("a")]
    assert {a for a, _ in plan.excluded} == {addr(n) for n in "bcde"}


def test_exclude_drops_the_address_and_everything_depending_on_it():
    reconciler = rc.Reconciler([Boxes()])
    plan = reconciler.plan(_graph(), exclude=[addr("b")])
    assert {s.address for s in plan.steps} == {addr("a"), addr("d"), addr("e")}
    assert dict(plan.excluded) == {
        addr("b"): "excluded",
        addr("c"): f"depends on excluded {addr('b')}",
    }
    assert f"depends on excluded {addr('b')}" in plan.render()
    assert '"excluded"' in plan.to_json()


def test_include_and_exclude_together():
    plan = rc.Reconciler([Boxes()]).plan(
        _graph(), include=[addr("c"), addr("e")], exclude=["g_sched[d]"]
    )
    assert {s.address for s in plan.steps} == {addr("a"), addr("b"), addr("c")}
    assert dict(plan.excluded)[addr("e")] == f"depends on excluded {addr('d')}"


@pytest.mark.parametrize("option", ["include", "exclude"])
def test_an_unknown_address_in_targeting_is_rejected(option):
    provider = Boxes()
    with pytest.raises(rc.InvalidStateError, match=r"g_sched\[ghost\]"):
        rc.Reconciler([provider]).plan(_graph(), **{option: [addr("ghost")]})
    assert provider.log == []


def test_excluding_a_recorded_resource_keeps_it_from_being_pruned():
    provider = Boxes()
    reconciler = rc.Reconciler([provider], state=rc.MemoryState())
    assert reconciler.converge([Box("keep"), Box("gone")]).converged
    plan = reconciler.plan([Box("keep")], exclude=[addr("gone")])
    assert plan.is_empty, plan.render()
    assert dict(plan.excluded) == {addr("gone"): "excluded"}
    reconciler.apply(plan)
    assert addr("gone") in provider.store
    assert reconciler.plan([Box("keep")]).step(addr("gone")).action is rc.Action.DELETE


# -- events and logs -----------------------------------------------------------


def _eventful() -> tuple[Boxes, list[Box]]:
    """ok: created; flaky: one TransientError then ok; broken: fails; after: depends on broken."""
    flaky = {"left": 1}

    def hook(method: str, address: str) -> None:
        if method == "read":
            return
        if address == addr("flaky") and flaky["left"]:
            flaky["left"] -= 1
            raise rc.TransientError("try again")
        if address == addr("broken") and method == "create":
            raise RuntimeError("broken for good")

    provider = Boxes(hook)
    provider.store[addr("same")] = Box("same")
    desired = [
        Box("ok"),
        Box("flaky"),
        Box("broken"),
        Box("after", depends_on=["g_sched[broken]"]),
        Box("same"),
    ]
    return provider, desired


def test_events_report_each_step_s_life():
    events: list[rc.Event] = []
    provider, desired = _eventful()
    reconciler = rc.Reconciler(
        [provider], on_event=events.append, retry=rc.RetryPolicy(attempts=3, base=0.0)
    )
    plan = reconciler.plan(desired)
    provider.log.clear()
    result = reconciler.apply(plan)

    def kinds(name: str) -> list[tuple[rc.EventKind, int]]:
        return [(e.kind, e.attempt) for e in events if e.address == addr(name)]

    S, F, R = rc.EventKind.STARTED, rc.EventKind.FINISHED, rc.EventKind.RETRIED
    assert kinds("ok") == [(S, 1), (F, 1)]
    assert kinds("flaky") == [(S, 1), (R, 1), (S, 2), (F, 2)]
    assert kinds("broken") == [(S, 1), (rc.EventKind.FAILED, 1)]
    assert [e.kind for e in events if e.address == addr("after")] == [rc.EventKind.SKIPPED]
    assert rc.EventKind.STARTED not in [e.kind for e in events if e.address == addr("same")]
    retried = next(e for e in events if e.kind is R)
    assert retried.delay == 0.0
    assert "TransientError" in (retried.error or "")
    failed = next(e for e in events if e.kind is rc.EventKind.FAILED)
    assert "broken for good" in (failed.error or "")
    assert all(e.action == "create" for e in events if e.address != addr("same"))
    assert result.outcome(addr("flaky")).attempts == 2
    assert _statuses(result)[addr("after")] is rc.Status.SKIPPED


def test_a_raising_event_callback_does_not_break_the_apply(caplog):
    def explode(event: rc.Event) -> None:
        raise RuntimeError("callback bug")

    provider = Boxes()
    reconciler = rc.Reconciler([provider], on_event=explode)
    with caplog.at_level(logging.ERROR, logger="reconcile"):
        result = reconciler.apply(reconciler.plan([Box("a"), Box("b", depends_on=["g_sched[a]"])]))
    assert result.ok
    assert set(provider.store) == {addr("a"), addr("b")}
    assert any("callback" in r.getMessage() for r in caplog.records)


def test_apply_log_records_name_the_address(caplog):
    provider, desired = _eventful()
    reconciler = rc.Reconciler([provider], retry=rc.RetryPolicy(attempts=3, base=0.0))
    plan = reconciler.plan(desired)
    with caplog.at_level(logging.DEBUG, logger="reconcile"):
        reconciler.apply(plan)
    records = [r for r in caplog.records if r.name.startswith("reconcile.apply")]
    assert records
    for record in records:
        assert any(addr(n) in record.getMessage() for n in ("ok", "flaky", "broken", "after"))
    messages = " ".join(r.getMessage() for r in records)
    for name in ("ok", "flaky", "broken"):
        assert addr(name) in messages


def test_every_apply_log_record_carries_the_address_as_an_attribute(caplog):
    """The issue asks for "the address on every record": a handler may filter on it."""
    provider, desired = _eventful()
    reconciler = rc.Reconciler([provider], retry=rc.RetryPolicy(attempts=3, base=0.0))
    plan = reconciler.plan(desired)
    with caplog.at_level(logging.DEBUG, logger="reconcile"):
        reconciler.apply(plan)
    records = [r for r in caplog.records if r.name.startswith("reconcile.apply")]
    missing = [r.getMessage() for r in records if not hasattr(r, "address")]
    assert not missing, f"records without an address attribute: {missing}"


# -- timeouts ------------------------------------------------------------------


class Blocker:
    """A hook that blocks the create of one address until released; says when it ended."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.release = threading.Event()
        self.entered = threading.Event()
        self.ended = threading.Event()

    def __call__(self, method: str, address: str) -> None:
        if address == self.address and method == "create":
            self.entered.set()
            try:
                self.release.wait(WAIT * 2)
            finally:
                self.ended.set()

    def finish(self) -> None:
        self.release.set()
        assert self.ended.wait(WAIT)


def _timeout_graph() -> list[Box]:
    return [Box("slow"), Box("after", depends_on=["g_sched[slow]"]), Box("free"), Box("free2")]


def test_a_step_past_its_timeout_is_unknown_and_blocks_only_its_dependents():
    blocker = Blocker(addr("slow"))
    events: list[rc.Event] = []
    provider = Boxes(blocker)
    reconciler = rc.Reconciler([provider], step_timeout=0.2, on_event=events.append)
    try:
        result = reconciler.apply(reconciler.plan(_timeout_graph()))
        slow = result.outcome(addr("slow"))
        assert slow.status is rc.Status.UNKNOWN
        assert isinstance(slow.error, rc.StepTimeout)
        assert addr("slow") in str(slow.error)
        assert result.outcome(addr("after")).status is rc.Status.SKIPPED
        assert result.outcome(addr("after")).blocked_by == addr("slow")
        assert result.outcome(addr("free")).status is rc.Status.OK
        assert result.outcome(addr("free2")).status is rc.Status.OK
        assert slow in result.failed
        assert (rc.EventKind.TIMED_OUT, addr("slow")) in [(e.kind, e.address) for e in events]
        assert ("create", addr("after")) not in provider.log
    finally:
        blocker.finish()


def test_an_abandoned_step_does_not_make_independent_steps_time_out():
    """With one worker busy with an abandoned call, the next step must still run, not
    be declared timed out while it waited for a worker it never got."""
    blocker = Blocker(addr("slow"))
    provider = Boxes(blocker)
    reconciler = rc.Reconciler([provider], step_timeout=0.2, parallelism=1)
    try:
        result = reconciler.apply(reconciler.plan([Box("slow"), Box("free")]))
        assert result.outcome(addr("slow")).status is rc.Status.UNKNOWN
        assert result.outcome(addr("free")).status is rc.Status.OK, result.outcome(addr("free"))
    finally:
        blocker.finish()


def test_a_timed_out_step_keeps_its_intent_and_the_next_converge_finishes(tmp_path):
    blocker = Blocker(addr("slow"))
    provider = Boxes(blocker)
    state = rc.SQLiteState(tmp_path / "state.db")
    try:
        reconciler = rc.Reconciler([provider], state=state, step_timeout=0.2)
        desired = _timeout_graph()
        result = reconciler.apply(reconciler.plan(desired))
        assert result.outcome(addr("slow")).status is rc.Status.UNKNOWN
        assert [i.address for i in state.snapshot().intents] == [addr("slow")]
        assert addr("slow") not in state.snapshot().records
        entry = reconciler.history_entry(reconciler.history()[0].id)
        assert ("g_sched[slow]", "unknown") in [(s.address, s.status) for s in entry.steps]

        blocker.finish()  # the abandoned call completes behind the engine's back
        report = reconciler.converge(desired)
        assert report.converged, report
        assert not state.snapshot().intents
        everything = {addr(n) for n in ("slow", "after", "free", "free2")}
        assert set(state.snapshot().records) == everything
        creates = [a for m, a in provider.writes() if m == "create"]
        assert sorted(creates) == sorted(set(creates)), f"something was created twice: {creates}"
        assert set(provider.store) == everything
        assert reconciler.plan(desired).is_empty
    finally:
        blocker.release.set()
        state.close()


# -- cancellation --------------------------------------------------------------


def _chain() -> list[Box]:
    a = Box("a")
    b = Box("b", depends_on=[a])
    c = Box("c", depends_on=[b])
    d = Box("d", depends_on=[c])
    return [d, c, b, a]


def test_cancel_from_a_provider_call_lets_it_finish_and_starts_nothing_new():
    holder: dict[str, rc.Reconciler] = {}

    def hook(method: str, address: str) -> None:
        if (method, address) == ("create", addr("b")):
            holder["r"].cancel()

    provider = Boxes(hook)
    state = rc.MemoryState()
    reconciler = holder["r"] = rc.Reconciler([provider], state=state, parallelism=4)
    result = reconciler.apply(reconciler.plan(_chain()))
    assert provider.writes() == [("create", addr("a")), ("create", addr("b"))]
    assert _statuses(result) == {
        addr("a"): rc.Status.OK,
        addr("b"): rc.Status.OK,
        addr("c"): rc.Status.CANCELLED,
        addr("d"): rc.Status.CANCELLED,
    }
    assert {o.address for o in result.not_run} == {addr("c"), addr("d")}
    assert not result.ok
    assert set(state.snapshot().records) == {addr("a"), addr("b")}, "what finished is recorded"
    steps = state.entry(state.history()[0].id).steps
    assert {(s.address, s.status) for s in steps} >= {
        (addr("c"), "cancelled"),
        (addr("d"), "cancelled"),
    }


def test_cancel_from_another_thread_stops_a_wide_apply():
    entered, go = threading.Event(), threading.Event()
    count = {"creates": 0}

    def hook(method: str, address: str) -> None:
        if method == "create":
            count["creates"] += 1
            if count["creates"] == 2:  # the second step to run blocks until cancelled
                entered.set()
                assert go.wait(WAIT)

    provider = Boxes(hook)
    state = rc.MemoryState()
    reconciler = rc.Reconciler([provider], state=state, parallelism=1)
    plan = reconciler.plan([Box(f"w{i}") for i in range(6)])

    def canceller() -> None:
        if entered.wait(WAIT):
            reconciler.cancel()
        go.set()

    thread = threading.Thread(target=canceller)
    thread.start()
    try:
        result = reconciler.apply(plan)
    finally:
        go.set()
        thread.join(WAIT)
    created = {a for m, a in provider.writes() if m == "create"}
    assert len(created) == 2
    statuses = _statuses(result)
    assert {a for a, s in statuses.items() if s is rc.Status.OK} == created
    assert {o.address for o in result.not_run} == set(statuses) - created
    assert all(o.status is rc.Status.CANCELLED for o in result.not_run)
    assert set(state.snapshot().records) == created


def test_cancel_during_converge_starts_no_further_round():
    holder: dict[str, rc.Reconciler] = {}

    def hook(method: str, address: str) -> None:
        if (method, address) == ("create", addr("b")):
            holder["r"].cancel()

    provider = Boxes(hook)
    reconciler = holder["r"] = rc.Reconciler([provider], parallelism=4)
    reconciler.converge(_chain())
    assert provider.writes() == [("create", addr("a")), ("create", addr("b"))], (
        "cancel() stops the converge: no new step starts afterwards"
    )


def test_a_cancelled_converge_with_state_does_not_cancel_the_next_one():
    holder: dict[str, Any] = {"armed": True}

    def hook(method: str, address: str) -> None:
        if (method, address) == ("create", addr("b")) and holder["armed"]:
            holder["armed"] = False
            holder["r"].cancel()

    provider = Boxes(hook)
    reconciler = holder["r"] = rc.Reconciler([provider], state=rc.MemoryState(), parallelism=4)
    reconciler.converge(_chain())
    assert addr("d") not in provider.store
    report = reconciler.converge(_chain())
    assert report.converged, [
        (o.address, o.status) for r in report.rounds if r.result for o in r.result.outcomes
    ]
    assert set(provider.store) == {addr(n) for n in "abcd"}


# -- Ctrl-C --------------------------------------------------------------------


def _interrupted_apply(
    state: rc.State,
) -> tuple[BaseException | None, Boxes, rc.Reconciler]:
    """Ctrl-C (simulated with interrupt_main from a worker) while b of a -> b -> c -> d runs."""
    cancelled = threading.Event()

    def hook(method: str, address: str) -> None:
        if (method, address) == ("create", addr("b")):
            _thread.interrupt_main()
            cancelled.wait(WAIT)  # keep running until the engine has reacted to Ctrl-C

    def on_event(event: rc.Event) -> None:
        if event.kind is rc.EventKind.CANCELLED:
            cancelled.set()

    provider = Boxes(hook)
    reconciler = rc.Reconciler([provider], state=state, parallelism=4, on_event=on_event)
    plan = reconciler.plan(_chain())
    caught: BaseException | None = None
    try:
        reconciler.apply(plan)
    except KeyboardInterrupt as err:  # catch it here, whatever it is, so pytest goes on
        caught = err
    return caught, provider, reconciler


def test_ctrl_c_in_the_middle_of_an_apply_records_what_finished(tmp_path):
    """b finishes and is recorded, c and d never start, the journal says "interrupted"."""
    state = rc.SQLiteState(tmp_path / "state.db")
    try:
        caught, provider, _ = _interrupted_apply(state)
        assert isinstance(caught, rc.Interrupted), caught
        assert isinstance(caught, KeyboardInterrupt)
        result = caught.result
        assert result.interrupted
        assert _statuses(result) == {
            addr("a"): rc.Status.OK,
            addr("b"): rc.Status.OK,
            addr("c"): rc.Status.CANCELLED,
            addr("d"): rc.Status.CANCELLED,
        }
        assert {o.address for o in result.not_run} == {addr("c"), addr("d")}
        assert provider.writes() == [("create", addr("a")), ("create", addr("b"))]
        assert set(state.snapshot().records) == {addr("a"), addr("b")}
        assert not state.snapshot().intents
        latest = state.history()[0]
        assert latest.status == "interrupted"
        steps = {(s.address, s.status) for s in state.entry(latest.id).steps}
        assert {(addr("a"), "ok"), (addr("b"), "ok"), (addr("c"), "cancelled")} <= steps
    finally:
        state.close()


def test_ctrl_c_without_state_raises_interrupted_too():
    caught, provider, reconciler = _interrupted_apply(None)
    assert isinstance(caught, rc.Interrupted), caught
    assert {o.address for o in caught.result.not_run} == {addr("c"), addr("d")}
    assert set(provider.store) == {addr("a"), addr("b")}
    assert reconciler.converge(_chain()).converged
    assert set(provider.store) == {addr(n) for n in "abcd"}


def test_after_ctrl_c_the_next_converge_with_state_finishes_the_work(tmp_path):
    state = rc.SQLiteState(tmp_path / "state.db")
    try:
        caught, provider, reconciler = _interrupted_apply(state)
        assert isinstance(caught, rc.Interrupted), caught
        report = reconciler.converge(_chain())
        assert report.converged, [
            (o.address, o.status) for r in report.rounds if r.result for o in r.result.outcomes
        ]
        assert set(provider.store) == {addr(n) for n in "abcd"}
    finally:
        state.close()


# -- starting as soon as possible ----------------------------------------------


def test_a_step_starts_when_its_own_dependencies_finish_not_level_by_level():
    """slow -> slow_child, fast -> fast_child: fast_child must start while slow still runs."""
    fast_child_started = threading.Event()
    seen = {}

    def hook(method: str, address: str) -> None:
        if method != "create":
            return
        if address == addr("slow"):
            seen["overlap"] = fast_child_started.wait(WAIT)
        elif address == addr("fast_child"):
            fast_child_started.set()

    events: list[rc.Event] = []
    provider = Boxes(hook)
    reconciler = rc.Reconciler([provider], parallelism=4, on_event=events.append)
    slow, fast = Box("slow"), Box("fast")
    desired = [
        slow,
        fast,
        Box("slow_child", depends_on=[slow]),
        Box("fast_child", depends_on=[fast]),
    ]
    assert reconciler.apply(reconciler.plan(desired)).ok
    assert seen["overlap"], "fast_child waited for slow, an unrelated step of the same level"
    order = [(e.kind, e.address) for e in events]
    assert order.index((rc.EventKind.STARTED, addr("fast_child"))) < order.index(
        (rc.EventKind.FINISHED, addr("slow"))
    )


def test_steps_run_on_the_executor_given():
    provider = Boxes()
    with cf.ThreadPoolExecutor(3, thread_name_prefix="g-custom") as pool:
        reconciler = rc.Reconciler([provider], executor=pool, parallelism=3)
        plan = reconciler.plan([Box(f"b{i}") for i in range(5)])
        provider.threads.clear()
        assert reconciler.apply(plan).ok
        assert pool.submit(lambda: 42).result() == 42, "apply leaves a given executor running"
    assert len(provider.threads) == 5
    assert all(name.startswith("g-custom") for name in provider.threads), provider.threads
