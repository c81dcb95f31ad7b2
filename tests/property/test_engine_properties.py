"""The engine's semantics as properties over generated desired/actual states and DAGs."""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile._plan.order import order_steps
from reconcile.testing import MemoryProvider
from reconcile.testing.strategies import desired_states, drifted, resources

_names = st.text("abcdefgh", min_size=1, max_size=3)
_labels = st.dictionaries(st.sampled_from(["app", "env", "tier"]), st.text("xyz", max_size=2))


@rc.resource("prop_item")
class Item:
    name: str = rc.field(key=True)
    value: int = 0
    labels: dict[str, str] = rc.field(factory=dict)
    ports: list[int] = rc.field(factory=list)
    zone: str = rc.field(default="a", replace=True)
    secret: str = rc.field(default="", sensitive=True)
    note: str = rc.field(default="", ignore=True)
    host: str = rc.field(default="h", normalize=str.lower)
    id: int | None = rc.field(default=None, computed=True)


@rc.resource("prop_swap", create_before_destroy=True)
class Swap:
    name: str = rc.field(key=True)
    image: str = rc.field(default="v1", replace=True)
    size: int = 1


def _fill(item: Item) -> Item:
    return attrs.evolve(item, id=len(item.name) + item.value)


items = resources(
    Item,
    name=_names,
    value=st.integers(-3, 3),
    labels=_labels,
    ports=st.lists(st.integers(1, 3), max_size=3),
    zone=st.sampled_from("ab"),
    secret=st.sampled_from(["", "hunter2", "swordfish"]),
    note=st.text("n", max_size=2),
    host=st.sampled_from(["h", "H", "k"]),
)
swaps = resources(Swap, name=_names, image=st.sampled_from(["v1", "v2"]), size=st.integers(0, 2))


def _world() -> tuple[MemoryProvider[Item], MemoryProvider[Swap], rc.Reconciler]:
    item_provider = MemoryProvider(Item, fill=_fill)
    swap_provider = MemoryProvider(Swap)
    return item_provider, swap_provider, rc.Reconciler([item_provider, swap_provider])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[object], list[object]]:
    """A desired state and an actual state near it (drifted, missing, or extra things)."""
    desired = draw(desired_states([items, swaps], max_size=10))
    actual: list[object] = []
    for res in desired:
        choice = draw(st.sampled_from(["same", "drifted", "missing"]))
        if choice == "same":
            actual.append(res)
        elif choice == "drifted":
            actual.append(draw(drifted(res)))
    known = {rc.address_of(r) for r in desired}
    extra = draw(st.lists(st.one_of(items, swaps), max_size=3, unique_by=rc.address_of))
    actual += [r for r in extra if rc.address_of(r) not in known]
    return desired, actual


def _seed(world: tuple[MemoryProvider[Item], MemoryProvider[Swap], rc.Reconciler], actual):
    items_p, swaps_p, _ = world
    for res in actual:
        (items_p if isinstance(res, Item) else swaps_p).put(attrs.evolve(res, depends_on=()))


@given(scenarios())
def test_apply_then_plan_is_empty(scenario):
    desired, actual = scenario
    world = _world()
    _seed(world, actual)
    reconciler = world[2]
    result = reconciler.apply(reconciler.plan(desired))
    assert result.ok, result
    again = reconciler.plan(desired)
    assert again.is_empty, again.render()


@given(scenarios())
def test_second_converge_makes_no_writes(scenario):
    desired, actual = scenario
    items_p, swaps_p, reconciler = world = _world()
    _seed(world, actual)
    first = reconciler.converge(desired)
    assert first.converged, first
    assert len(first.rounds) <= 2
    items_p.reset_calls()
    swaps_p.reset_calls()
    second = reconciler.converge(desired)
    assert second.converged
    assert len(second.rounds) == 1
    assert items_p.writes == 0, items_p.log
    assert swaps_p.writes == 0, swaps_p.log


@given(scenarios())
def test_extra_unmanaged_things_are_never_touched(scenario):
    desired, actual = scenario
    items_p, swaps_p, reconciler = world = _world()
    _seed(world, actual)
    known = {rc.address_of(r) for r in desired}
    extra = [r for r in actual if rc.address_of(r) not in known]
    reconciler.converge(desired)
    for res in extra:
        provider = items_p if isinstance(res, Item) else swaps_p
        assert provider.get(rc.address_of(res)) == attrs.evolve(res, depends_on=())


@given(scenarios())
def test_plan_orders_every_step_after_its_dependencies(scenario):
    desired, actual = scenario
    world = _world()
    _seed(world, actual)
    plan = world[2].plan(desired)
    position = {s.address: i for i, s in enumerate(plan.steps)}
    for step in plan.steps:
        for dep in step.depends_on:
            assert position[dep] < position[step.address]


@st.composite
def delete_graphs(draw: st.DrawFn) -> list[rc.Step]:
    """Random DAGs of steps where some are deletes (as pruning will make them)."""
    count = draw(st.integers(1, 25))
    steps = []
    for i in range(count):
        deps = draw(st.lists(st.integers(0, i - 1), unique=True)) if i else []
        action = draw(st.sampled_from([rc.Action.DELETE, rc.Action.CREATE, rc.Action.UPDATE]))
        steps.append(
            rc.Step(
                address=f"n[{i}]",
                kind="n",
                action=action,
                reason=rc.Reason.CHANGED,
                depends_on=tuple(f"n[{d}]" for d in deps),
            )
        )
    return draw(st.permutations(steps))


@given(delete_graphs())
def test_deletes_run_in_reverse_dependency_order(steps):
    order = [s.address for s in order_steps(steps)]
    position = {a: i for i, a in enumerate(order)}
    by_address = {s.address: s for s in steps}
    assert sorted(order) == sorted(by_address)
    for step in steps:
        for dep in step.depends_on:
            target = by_address[dep]
            if step.action is rc.Action.DELETE and target.action is rc.Action.DELETE:
                assert position[step.address] < position[dep], "dependent deleted first"
            elif target.action is not rc.Action.DELETE:
                assert position[dep] < position[step.address], "dependency applied first"


@given(scenarios(), st.data())
def test_failures_skip_only_dependents_and_a_clean_converge_completes(scenario, data):
    desired, actual = scenario
    items_p, swaps_p, reconciler = world = _world()
    _seed(world, actual)
    plan = reconciler.plan(desired)
    changing = [s.address for s in plan.changes]
    failing = (
        set(data.draw(st.lists(st.sampled_from(changing), unique=True))) if changing else set()
    )
    for address in failing:
        for provider in (items_p, swaps_p):
            for method in ("create", "update", "delete"):
                provider.fail(method, address=address, times=10)

    result = reconciler.apply(plan)

    prerequisites = {s.address: set(s.depends_on) for s in plan.steps}
    bad: set[str] = set()
    for step in plan.steps:  # plan order: prerequisites are decided first
        outcome = result.outcome(step.address)
        if prerequisites[step.address] & bad:
            assert outcome.status is rc.Status.SKIPPED
            bad.add(step.address)
        elif step.address in failing:
            assert outcome.status is rc.Status.FAILED
            assert outcome.error is not None
            bad.add(step.address)
        else:
            assert outcome.status is rc.Status.OK, outcome
    assert result.ok == (not bad)

    healthy_items, healthy_swaps = MemoryProvider(Item, fill=_fill), MemoryProvider(Swap)
    for res in items_p:
        healthy_items.put(res)
    for res in swaps_p:
        healthy_swaps.put(res)
    report = rc.Reconciler([healthy_items, healthy_swaps]).converge(desired)
    assert report.converged, report.final_plan.render()


@given(scenarios())
def test_plan_json_round_trips_exactly(scenario):
    desired, actual = scenario
    world = _world()
    _seed(world, actual)
    plan = world[2].plan(desired)
    text = plan.to_json()
    assert rc.Plan.from_json(text) == plan
    assert rc.Plan.from_json(text).to_json() == text
    for secret in ("hunter2", "swordfish"):
        assert secret not in text
        assert secret not in plan.render()
        assert secret not in repr(plan)
