"""A plan saved to JSON and read back, applied with recorded state: its no-op steps.

The JSON form keeps no documents for a no-op. Applied with state, such a plan
must still run (it failed with ``NoneType is not a @reconcile.resource class``),
resolve references to its no-op resources, and leave the records the same plan
applied fresh would leave, whether or not the desired state is given again.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import attrs
import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider


@rc.resource("t_spn_page")
class Page:
    path: str = rc.field(key=True)
    body: str = ""
    etag: str | None = rc.field(default=None, computed=True)


@rc.resource("t_spn_group")
class Group:
    name: str = rc.field(key=True)
    id: int | None = rc.field(default=None, computed=True)


@rc.resource("t_spn_member")
class Member:
    name: str = rc.field(key=True)
    group_id: int | None = None
    size: int = 1


class World:
    """Pages, groups and members in memory, with ids and etags set by the "server"."""

    def __init__(self, state: rc.State) -> None:
        ids = itertools.count(100)
        self.pages = MemoryProvider(Page, fill=lambda p: attrs.evolve(p, etag=f"e{len(p.body)}"))
        self.groups = MemoryProvider(
            Group, fill=lambda g: g if g.id is not None else attrs.evolve(g, id=next(ids))
        )
        self.members = MemoryProvider(Member)
        self.state = state
        self.reconciler = rc.Reconciler([self.pages, self.groups, self.members], state=state)


GROUP = Group("g")
DESIRED = [
    Page("a", "alpha"),
    Page("b", "beta"),
    GROUP,
    Member("m1", group_id=rc.ref(GROUP, "id")),
    Member("m2", group_id=rc.ref(GROUP, "id")),
]


def _round_trip(plan: rc.Plan) -> rc.Plan:
    return rc.Plan.from_json(plan.to_json())


def _applied_world(state: rc.State) -> World:
    world = World(state)
    assert world.reconciler.converge(DESIRED).converged
    world.pages.drift("t_spn_page[a]", body="edited by hand")
    world.members.drift("t_spn_member[m1]", size=9)
    return world


@pytest.mark.parametrize("resupplied", [True, False], ids=["with-desired", "without-desired"])
def test_a_round_tripped_plan_with_noop_steps_applies_with_state(
    store: rc.State, resupplied: bool
) -> None:
    world = _applied_world(store)
    plan = world.reconciler.plan(DESIRED)
    assert {s.action for s in plan.steps} == {rc.Action.NOOP, rc.Action.UPDATE}

    result = world.reconciler.apply(_round_trip(plan), desired=DESIRED if resupplied else None)

    assert result.ok, [(o.address, o.error) for o in result.outcomes]
    assert world.pages.get("t_spn_page[a]") == Page("a", "alpha", etag="e5")
    assert world.members.get("t_spn_member[m1]") == Member("m1", group_id=100)  # ref resolved
    assert world.reconciler.plan(DESIRED).is_empty


@pytest.mark.parametrize("resupplied", [True, False], ids=["with-desired", "without-desired"])
def test_a_saved_plan_leaves_the_records_the_same_plan_applied_fresh_leaves(
    tmp_path: Path, resupplied: bool
) -> None:
    fresh, saved = (_applied_world(rc.SQLiteState(tmp_path / f"{n}.db")) for n in ("f", "s"))
    for world in (fresh, saved):  # an output changes behind the engine: no-ops refresh it
        world.pages.set_server_fields("t_spn_page[b]", etag="server-side")

    fresh.reconciler.apply(fresh.reconciler.plan(DESIRED))
    plan = _round_trip(saved.reconciler.plan(DESIRED))
    saved.reconciler.apply(plan, desired=DESIRED if resupplied else None)

    kept, made = fresh.state.snapshot().records, saved.state.snapshot().records
    if resupplied:
        assert made == kept
    else:  # nothing declared to record for a no-op: its record stays as the plan saw it
        assert {a: r for a, r in made.items() if a != "t_spn_page[b]"} == {
            a: r for a, r in kept.items() if a != "t_spn_page[b]"
        }


def test_a_saved_plan_whose_noop_resource_vanished_is_stale(store: rc.State) -> None:
    world = _applied_world(store)
    plan = _round_trip(world.reconciler.plan(DESIRED))
    world.pages.remove("t_spn_page[b]")

    with pytest.raises(rc.StalePlanError, match=r"t_spn_page\[b\]: it no longer exists"):
        world.reconciler.apply(plan, desired=DESIRED)

    assert world.pages.get("t_spn_page[a]") == Page("a", "edited by hand", etag="e5")


def test_a_saved_plan_without_state_applies_its_noop_steps() -> None:
    world = World(rc.MemoryState())
    world.reconciler.converge(DESIRED)
    stateless = rc.Reconciler([world.pages, world.groups, world.members])
    world.members.drift("t_spn_member[m1]", size=9)

    plan = _round_trip(stateless.plan(DESIRED))
    result: Any = stateless.apply(plan, desired=DESIRED)

    assert result.ok
    assert world.members.get("t_spn_member[m1]") == Member("m1", group_id=100)
