"""A plan saved to JSON and read back, whose steps hide a secret: references, destroys.

The JSON form redacts sensitive values, so such a step's resources are rebuilt
from the desired state given again (a create, an update) or read by the record
(a destroy). Found by the whole-API model (tests/property/test_whole_api_model.py).
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider


@rc.resource("t_sps_group")
class Group:
    name: str = rc.field(key=True)
    id: str | None = rc.field(default=None, computed=True)


@rc.resource("t_sps_member")
class Member:
    name: str = rc.field(key=True)
    group_id: str | None = None
    token: str = rc.field(default="", sensitive=True)


def _world(tmp_path: Any) -> tuple[MemoryProvider[Group], MemoryProvider[Member], rc.Reconciler]:
    ids = itertools.count(1)
    groups = MemoryProvider(
        Group, fill=lambda g: g if g.id is not None else attrs.evolve(g, id=f"g-{next(ids)}")
    )
    members = MemoryProvider(Member)
    state = rc.SQLiteState(tmp_path / "state.db")
    return groups, members, rc.Reconciler([groups, members], state=state)


def _saved(plan: rc.Plan) -> rc.Plan:
    return rc.Plan.from_json(plan.to_json())


def test_a_saved_create_with_a_secret_and_a_reference_gets_the_referenced_id(tmp_path):
    groups, members, reconciler = _world(tmp_path)
    desired = [Group("g"), Member("m", group_id=rc.ref("t_sps_group[g]", "id"), token="t0k3n")]
    assert reconciler.apply(_saved(reconciler.plan(desired)), desired=desired).ok
    made = members.get("t_sps_member[m]")
    assert made is not None
    assert made.group_id == groups.get("t_sps_group[g]").id
    assert made.token == "t0k3n"
    again = reconciler.plan(desired)
    assert again.is_empty, again.render()


@pytest.mark.parametrize("with_desired", [False, True])
def test_a_saved_plan_destroys_a_resource_with_a_secret(tmp_path, with_desired):
    _, members, reconciler = _world(tmp_path)
    assert reconciler.converge([Member("m", token="t0k3n")]).converged
    plan = _saved(reconciler.plan([]))
    assert [s.action for s in plan.steps] == [rc.Action.DELETE]
    assert reconciler.apply(plan, desired=[] if with_desired else None).ok
    assert members.get("t_sps_member[m]") is None
    assert reconciler.state.snapshot().records == {}


def test_a_saved_destroy_of_a_secret_changed_since_is_stale(tmp_path):
    _, members, reconciler = _world(tmp_path)
    assert reconciler.converge([Member("m", token="t0k3n")]).converged
    plan = _saved(reconciler.plan([]))
    members.drift("t_sps_member[m]", token="rotated")
    with pytest.raises(rc.StalePlanError, match="changed since planning"):
        reconciler.apply(plan)
    assert members.get("t_sps_member[m]") is not None
