"""The dependency graph under random DAGs and random failure and latency schedules.

An instrumented provider logs every call with a start and an end tick taken
from its own lock-protected counter, so ordering is checked from event order,
never from wall time: no step starts before every call of its dependencies
ended, steps whose dependencies succeeded run, dependents of failures are
skipped and never called, the final world does not depend on the parallelism,
and deletes run after everything that depended on what they delete.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs
from hypothesis import event, given
from hypothesis import strategies as st

import reconcile as rc


@rc.resource("g_node")
class GNode:
    name: str = rc.field(key=True)
    value: int = 0
    links: dict[str, Any] = rc.field(factory=dict)  # parent name -> ref(parent, "id")
    zone: str = rc.field(default="a", replace=True)
    id: str | None = rc.field(default=None, computed=True)


def address(name: str) -> str:
    return f"g_node[{name}]"


@attrs.frozen
class Call:
    method: str
    address: str
    start: int
    end: int
    ok: bool


class InjectedFault(Exception):
    """A permanent failure from the schedule."""


class Recording(rc.Provider[GNode]):
    """Thread-safe, I/O-like provider: logs each call's start and end ticks, sleeps the
    schedule's latency, and fails (permanently or transiently) as the schedule says."""

    resource = GNode
    blocking_io = True

    def __init__(
        self,
        latency: Mapping[str, float] | None = None,
        failing: set[str] | None = None,
        transient: Mapping[str, int] | None = None,
        barrier: threading.Barrier | None = None,
    ) -> None:
        self.latency = dict(latency or {})
        self.failing = set(failing or ())
        self.transient = Counter(transient or {})
        self.barrier = barrier
        self.store: dict[str, GNode] = {}
        self.creates: Counter[str] = Counter()
        self.alive: set[str] = set()  # ids of every object that exists, old ones included
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._tick = itertools.count()

    def _call(self, method: str, addr: str, body: Any) -> Any:
        with self._lock:
            start = next(self._tick)
        ok = False
        try:
            delay = self.latency.get(addr, 0.0)
            if delay:
                time.sleep(delay)
            if self.barrier is not None and method == "delete":
                self.barrier.wait()
            with self._lock:
                if method != "read":
                    if addr in self.failing:
                        raise InjectedFault(f"{addr}: {method} fails (scheduled)")
                    if self.transient[addr] > 0:
                        self.transient[addr] -= 1
                        raise rc.TransientError(f"{addr}: {method} fails once (scheduled)")
                result = body()
            ok = True
            return result
        finally:
            with self._lock:
                self.calls.append(Call(method, addr, start, next(self._tick), ok))

    def read(self, want: GNode) -> GNode | None:
        addr = rc.address_of(want)
        return self._call("read", addr, lambda: self.store.get(addr))

    def create(self, want: GNode) -> GNode:
        addr = rc.address_of(want)

        def make() -> GNode:
            self.creates[addr] += 1
            made = attrs.evolve(want, id=f"{want.name}-{self.creates[addr]}", depends_on=())
            self.store[addr] = made
            self.alive.add(made.id)
            return made

        return self._call("create", addr, make)

    def update(self, have: GNode, want: GNode, diff: rc.Diff) -> GNode:
        addr = rc.address_of(want)

        def change() -> GNode:
            made = attrs.evolve(want, id=self.store[addr].id, depends_on=())
            self.store[addr] = made
            return made

        return self._call("update", addr, change)

    def delete(self, have: GNode) -> None:
        """Delete the object ``have`` names by its id, as a real API would."""
        addr = rc.address_of(have)

        def remove() -> None:
            self.alive.discard(have.id)  # type: ignore[arg-type]
            current = self.store.get(addr)
            if current is not None and current.id == have.id:
                del self.store[addr]

        self._call("delete", addr, remove)

    def put(self, res: GNode) -> None:
        self.store[rc.address_of(res)] = res
        self.alive.add(res.id)  # type: ignore[arg-type]

    def clear_schedule(self) -> None:
        self.failing.clear()
        self.transient.clear()
        self.latency.clear()

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "read"]


@attrs.frozen
class Scenario:
    """A DAG over ``n`` nodes (``deps``/``refs`` point to earlier nodes) and a schedule."""

    names: tuple[str, ...]
    deps: Mapping[str, tuple[str, ...]]  # edges through depends_on
    refs: Mapping[str, tuple[str, ...]]  # edges through references to the parent's id
    values: Mapping[str, int]
    zones: Mapping[str, str]  # a replace=True field
    existing: Mapping[str, tuple[int, str]]  # pre-existing nodes: (maybe drifted) value, zone
    cbd: frozenset[str]  # nodes declared with create_before_destroy
    latency: Mapping[str, float]
    failing: frozenset[str]  # addresses whose writes always fail
    transient: Mapping[str, int]  # addresses whose writes fail this many times first
    order: tuple[str, ...]  # the order desired state is given in

    def parents(self, name: str) -> tuple[str, ...]:
        return self.deps[name] + self.refs[name]

    def desired(self) -> list[GNode]:
        made = {
            n: GNode(
                n,
                value=self.values[n],
                links={p: rc.ref(address(p), "id") for p in self.refs[n]},
                zone=self.zones[n],
                depends_on=[address(p) for p in self.deps[n]],
                lifecycle=rc.Lifecycle(create_before_destroy=True) if n in self.cbd else None,
            )
            for n in self.names
        }
        return [made[n] for n in self.order]

    def world(self, **schedule: Any) -> Recording:
        provider = Recording(**schedule)
        for n, (value, zone) in self.existing.items():
            provider.put(GNode(n, value=value, zone=zone, id=f"{n}-0"))
        return provider


# Most graphs are small; about one in twelve is large (up to 300 nodes).
sizes = st.one_of(*[st.integers(1, 8)] * 8, *[st.integers(1, 40)] * 3, st.integers(1, 300))
DRAWN = 12  # graphs up to this size are drawn choice by choice, so failures shrink well


class Chooser:
    """Random choices: drawn from Hypothesis for small graphs (so failures shrink to a
    minimal graph and schedule), from a seeded ``random.Random`` for large ones (so a
    300-node graph does not overflow Hypothesis' buffer). Every choice shrinks toward
    "no": no edge, no failure, no latency, the given order."""

    def __init__(self, draw: st.DrawFn, rng: random.Random | None) -> None:
        self._draw = draw
        self._rng = rng

    def chance(self, p: float) -> bool:
        if p <= 0:
            return False
        if self._rng is not None:
            return self._rng.random() < p
        return self._draw(st.integers(0, 999)) >= 1000 - round(p * 1000)

    def integer(self, low: int, high: int) -> int:
        if self._rng is not None:
            return self._rng.randint(low, high)
        return self._draw(st.integers(low, high))

    def subset(self, items: tuple[str, ...], most: int) -> set[str]:
        if self._rng is not None:
            return set(self._rng.sample(items, min(len(items), self._rng.randint(0, most))))
        if not items:
            return set()
        return set(self._draw(st.lists(st.sampled_from(items), max_size=most, unique=True)))

    def latency(self) -> float:
        if self._rng is not None:
            return self._rng.uniform(0, 0.002)
        return self._draw(st.integers(0, 20)) / 10_000

    def order(self, items: tuple[str, ...]) -> tuple[str, ...]:
        if self._rng is not None:
            shuffled = list(items)
            self._rng.shuffle(shuffled)
            return tuple(shuffled)
        return tuple(self._draw(st.permutations(items)))


@st.composite
def scenarios(draw: st.DrawFn, *, failures: bool = True, replaces: bool = False) -> Scenario:
    n = draw(sizes)
    pick = Chooser(draw, random.Random(draw(st.integers(0, 2**32 - 1))) if n > DRAWN else None)
    max_parents = draw(st.integers(0, 4))
    chain = draw(st.sampled_from([0.0, 0.5, 1.0]))  # how often a node needs the one before
    ref_share = draw(st.sampled_from([0.0, 0.5, 1.0]))
    fail_rate = draw(st.sampled_from([0.0, 0.05, 0.2, 0.5])) if failures else 0.0
    flaky_rate = draw(st.sampled_from([0.0, 0.1, 0.3])) if failures else 0.0
    exist_rate = draw(st.sampled_from([0.0, 0.3, 0.8]))
    slow_share = draw(st.sampled_from([0.0, 0.1, 0.5]))
    names = tuple(f"n{i:03d}" for i in range(n))
    deps: dict[str, tuple[str, ...]] = {}
    refs: dict[str, tuple[str, ...]] = {}
    for i, name in enumerate(names):
        parents = pick.subset(names[:i], max_parents)
        if i and pick.chance(chain):
            parents.add(names[i - 1])
        by_ref = {p for p in sorted(parents) if pick.chance(ref_share)}
        deps[name] = tuple(sorted(parents - by_ref))
        refs[name] = tuple(sorted(by_ref))
    values = {name: pick.integer(0, 3) for name in names}
    zones = {name: "b" if replaces and pick.chance(0.5) else "a" for name in names}
    existing = {}
    for name in names:
        if pick.chance(exist_rate):
            value = values[name] + (1 if pick.chance(0.3) else 0)
            zone = "c" if replaces and pick.chance(0.5) else zones[name]
            existing[name] = (value, zone)
    cbd = frozenset(name for name in names if replaces and pick.chance(0.5))
    slow = [nm for nm in names if pick.chance(slow_share)][:20]  # bounds a test's duration
    latency = {address(nm): pick.latency() for nm in slow}
    failing = frozenset(address(nm) for nm in names if pick.chance(fail_rate))
    transient = {
        address(nm): pick.integer(1, 2)
        for nm in names
        if address(nm) not in failing and pick.chance(flaky_rate)
    }
    order = pick.order(names)
    event(f"size {'1-8' if n <= 8 else '9-40' if n <= 40 else '41-300'}")
    return Scenario(
        names, deps, refs, values, zones, existing, cbd, latency, failing, transient, order
    )  # fmt: skip


RETRY = rc.RetryPolicy(attempts=3, base=0.0)


def _apply(
    scenario: Scenario, parallelism: int, state: rc.State | None = None
) -> tuple[Recording, rc.Plan, rc.ApplyResult]:
    provider = scenario.world(
        latency=scenario.latency,
        failing=set(scenario.failing),
        transient=scenario.transient,
    )
    reconciler = rc.Reconciler(
        [provider], state=state, parallelism=parallelism, retry=RETRY, seed=0
    )
    plan = reconciler.plan(scenario.desired())
    provider.calls.clear()
    return provider, plan, reconciler.apply(plan)


def _expected_bad(scenario: Scenario, plan: rc.Plan) -> tuple[set[str], set[str]]:
    """(steps that must fail, steps that must be skipped), from the schedule and the plan."""
    failed: set[str] = set()
    skipped: set[str] = set()
    for name in _topological(scenario):
        addr = address(name)
        if any(address(p) in failed | skipped for p in scenario.parents(name)):
            skipped.add(addr)
        elif addr in scenario.failing and plan.step(addr).action is not rc.Action.NOOP:
            failed.add(addr)
    return failed, skipped


def _topological(scenario: Scenario) -> list[str]:
    return list(scenario.names)  # parents always come earlier in ``names``


def _check_order(scenario: Scenario, calls: list[Call]) -> None:
    """No call of a step starts before every call of each of its dependencies ended."""
    by_address: dict[str, list[Call]] = {}
    for call in calls:
        by_address.setdefault(call.address, []).append(call)
    for name in scenario.names:
        mine = by_address.get(address(name), [])
        if not mine:
            continue
        first_start = min(c.start for c in mine)
        for parent in scenario.parents(name):
            for before in by_address.get(address(parent), []):
                assert before.end < first_start, (
                    f"{address(name)} started (tick {first_start}) before its dependency "
                    f"{address(parent)} ended (tick {before.end})"
                )


@given(scenarios(), st.sampled_from([1, 4, 32]))
def test_apply_respects_the_graph_under_failures_and_latency(scenario, parallelism):
    provider, plan, result = _apply(scenario, parallelism)
    calls = provider.writes()
    _check_order(scenario, calls)

    failed, skipped = _expected_bad(scenario, plan)
    called = {c.address for c in calls}
    for name in scenario.names:
        addr = address(name)
        outcome = result.outcome(addr)
        action = plan.step(addr).action
        if addr in skipped:
            assert outcome.status is rc.Status.SKIPPED, outcome
            assert outcome.blocked_by is not None
            assert outcome.blocked_by in {address(p) for p in scenario.parents(name)}
            assert outcome.blocked_by in failed | skipped
            assert addr not in called, f"{addr} was called though it was skipped"
        elif addr in failed:
            assert outcome.status is rc.Status.FAILED, outcome
            assert isinstance(outcome.error, InjectedFault)
            assert [c.ok for c in calls if c.address == addr] == [False], "failed: not retried"
        else:
            assert outcome.status is rc.Status.OK, outcome
            mine = [c for c in calls if c.address == addr]
            if action is rc.Action.NOOP:
                assert not mine
            else:
                assert mine, f"{addr} ({action}) had all dependencies succeed but never ran"
                assert mine[-1].ok
                assert len(mine) == 1 + scenario.transient.get(addr, 0)
                made = provider.store[addr]
                assert made.value == scenario.values[name]
                assert made.links == {p: provider.store[address(p)].id for p in scenario.refs[name]}
    assert result.ok == (not failed and not skipped)


@given(scenarios())
def test_the_final_world_does_not_depend_on_the_parallelism(scenario):
    outcomes = {}
    worlds = {}
    for parallelism in (1, 4, 32):
        provider, _, result = _apply(scenario, parallelism)
        outcomes[parallelism] = {
            o.address: (o.status, o.blocked_by is not None) for o in result.outcomes
        }
        worlds[parallelism] = dict(provider.store)
    assert outcomes[1] == outcomes[4] == outcomes[32]
    assert worlds[1] == worlds[4] == worlds[32]


@given(scenarios(), st.sampled_from([1, 32]))
def test_a_clean_second_converge_reaches_the_desired_state(scenario, parallelism):
    provider, _, _ = _apply(scenario, parallelism)
    provider.clear_schedule()
    reconciler = rc.Reconciler([provider], parallelism=parallelism, retry=RETRY)
    desired = scenario.desired()
    report = reconciler.converge(desired)
    assert report.converged, report.final_plan.render()
    assert reconciler.plan(desired).is_empty
    assert set(provider.store) >= {address(n) for n in scenario.names}
    for name in scenario.names:
        made = provider.store[address(name)]
        assert made.value == scenario.values[name]
        assert made.links == {p: provider.store[address(p)].id for p in scenario.refs[name]}
    assert all(count == 1 for count in provider.creates.values()), "nothing created twice"


@given(scenarios(replaces=True), st.sampled_from([1, 4, 32]))
def test_replaces_in_random_graphs_keep_order_and_leave_no_old_object(scenario, parallelism):
    """Replaces, delete-then-create or create-before-destroy, among failures: dependents run
    after the new object exists, a create-before-destroy deletes the old object only after
    its dependents moved, and after a clean converge no old object is left behind."""
    state = rc.MemoryState()
    provider, plan, result = _apply(scenario, parallelism, state)
    calls = provider.writes()
    by_address: dict[str, list[Call]] = {}
    for call in calls:
        by_address.setdefault(call.address, []).append(call)

    def two_phase(name: str) -> bool:
        step = plan.step(address(name))
        return step.action is rc.Action.REPLACE and step.create_before_destroy

    for name in scenario.names:
        mine = by_address.get(address(name), [])
        if two_phase(name):
            creates = [c for c in mine if c.method == "create"]
            deletes = [c for c in mine if c.method == "delete"]
            assert all(c.end < d.start for c in creates for d in deletes), mine
            assert not deletes or any(c.ok for c in creates), "old deleted, new never made"
        if not mine:
            continue
        for parent in scenario.parents(name):
            for before in by_address.get(address(parent), []):
                if two_phase(parent) and before.method == "delete":
                    assert max(c.end for c in mine) < before.start, (
                        f"old {address(parent)} deleted before its dependent {address(name)} "
                        "moved to the new one"
                    )
                else:
                    assert before.end < min(c.start for c in mine), (
                        f"{address(name)} started before {address(parent)} finished"
                    )

    failed, skipped = _expected_bad(scenario, plan)
    for name in scenario.names:
        outcome = result.outcome(address(name))
        if address(name) in skipped:
            assert outcome.status is rc.Status.SKIPPED, outcome
        elif address(name) in failed:
            assert outcome.status is rc.Status.FAILED, outcome
        else:
            assert outcome.status is rc.Status.OK, (outcome, plan.step(address(name)).action)

    provider.clear_schedule()
    reconciler = rc.Reconciler([provider], state=state, parallelism=parallelism)
    desired = scenario.desired()
    assert reconciler.converge(desired).converged
    for name in scenario.names:
        made = provider.store[address(name)]
        assert (made.value, made.zone) == (scenario.values[name], scenario.zones[name])
        assert made.links == {p: provider.store[address(p)].id for p in scenario.refs[name]}
    assert provider.alive == {o.id for o in provider.store.values()}, "old objects leaked"


@given(scenarios(failures=False), st.sampled_from([1, 4, 32]))
def test_deletes_run_after_everything_that_depended_on_them(scenario, parallelism):
    provider = Recording(latency=scenario.latency)  # nothing pre-exists: all is managed
    reconciler = rc.Reconciler([provider], state=rc.MemoryState(), parallelism=parallelism)
    assert reconciler.converge(scenario.desired()).converged
    provider.calls.clear()
    report = reconciler.converge([])
    assert report.converged
    assert provider.store == {}, "everything managed was deleted"
    deletes = {c.address: c for c in provider.writes() if c.method == "delete"}
    assert set(deletes) == {address(n) for n in scenario.names}
    for name in scenario.names:
        for parent in scenario.parents(name):
            dependent, needed = deletes[address(name)], deletes[address(parent)]
            assert dependent.end < needed.start, (
                f"{address(parent)} was deleted (tick {needed.start}) before "
                f"{address(name)}, which depends on it, was (ended tick {dependent.end})"
            )
    if parallelism > 1:
        calls = sorted(deletes.values(), key=lambda c: c.start)
        overlapped = any(b.start < a.end for a, b in itertools.pairwise(calls))
        event(f"deletes overlapped: {overlapped}")


def test_independent_deletes_overlap_in_time():
    """A wide graph: with parallelism 4, four deletes are in flight at once (a barrier of
    four would time out, failing the deletes, if they ran one by one)."""
    names = [f"w{i}" for i in range(4)]
    provider = Recording()
    reconciler = rc.Reconciler([provider], state=rc.MemoryState(), parallelism=4)
    assert reconciler.converge([GNode(n) for n in names]).converged
    provider.barrier = threading.Barrier(4, timeout=5)
    provider.calls.clear()
    report = reconciler.converge([])
    assert report.converged
    assert provider.store == {}
    deletes = [c for c in provider.writes() if c.method == "delete"]
    assert len(deletes) == 4
    assert all(c.ok for c in deletes)
    assert max(c.start for c in deletes) < min(c.end for c in deletes), "all four overlapped"


def test_deletes_of_a_chain_and_a_wide_layer_follow_the_reverse_graph():
    """root <- mid1..mid3 <- leaf (leaf depends on every mid): leaf goes first, root last,
    and the three mids overlap (barrier of three)."""
    root = GNode("root")
    mids = [GNode(f"mid{i}", links={"root": rc.ref(root, "id")}) for i in range(3)]
    leaf = GNode("leaf", depends_on=mids)
    provider = Recording()
    reconciler = rc.Reconciler([provider], state=rc.MemoryState(), parallelism=8)
    assert reconciler.converge([root, *mids, leaf]).converged
    provider.calls.clear()

    mids_barrier = threading.Barrier(3, timeout=5)
    original = provider._call

    def call(method: str, addr: str, body: Any) -> Any:
        if method == "delete" and "mid" in addr:
            mids_barrier.wait()
        return original(method, addr, body)

    provider._call = call  # type: ignore[method-assign]
    assert reconciler.converge([]).converged
    order = {c.address: c for c in provider.writes()}
    assert order[address("leaf")].end < min(order[address(f"mid{i}")].start for i in range(3))
    assert max(order[address(f"mid{i}")].end for i in range(3)) < order[address("root")].start


def test_whether_an_in_sync_resource_becomes_managed_does_not_depend_on_other_changes():
    """A desired thing that already exists as desired is either adopted into state or not;
    it must not depend on whether something else in the same converge changed."""
    managed = {}
    for others in ([], [GNode("other")]):
        provider = Recording()
        provider.store[address("same")] = GNode("same", id="same-0")
        state = rc.MemoryState()
        assert rc.Reconciler([provider], state=state).converge([GNode("same"), *others]).converged
        managed[len(others)] = address("same") in state.snapshot().records
    assert managed[0] == managed[1], (
        f"adopted when alone: {managed[0]}; adopted when something else changed: {managed[1]}"
    )
