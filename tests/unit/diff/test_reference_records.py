"""Records of resources that hold references: values only, and a clear error when unreadable.

A member holding ``group_id=rc.ref(group, "id")`` that is a no-op in an apply
must still be recorded with the id, never with the reference, or pruning it
later cannot rebuild it from its record. A record that cannot be read (written
so by an older version, or edited by hand) is a ``StateError`` naming it.
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider


@rc.resource("t_rr_group")
class Group:
    name: str = rc.field(key=True)
    id: int | None = rc.field(default=None, computed=True)


@rc.resource("t_rr_member")
class Member:
    name: str = rc.field(key=True)
    group_id: int | None = None
    size: int = 1


def _world(state: rc.State) -> tuple[MemoryProvider[Member], rc.Reconciler]:
    ids = itertools.count(100)

    def fill(group: Any) -> Any:
        return group if group.id is not None else attrs.evolve(group, id=next(ids))

    members = MemoryProvider(Member)
    return members, rc.Reconciler([MemoryProvider(Group, fill=fill), members], state=state)


GROUP = Group("g")
FIRST = Member("a", group_id=rc.ref(GROUP, "id"))
SECOND = Member("b", group_id=rc.ref(GROUP, "id"))


def test_a_noop_member_is_recorded_with_the_value_its_reference_resolved_to(store: rc.State):
    members, reconciler = _world(store)
    assert reconciler.converge([GROUP, FIRST, SECOND]).converged
    group_id = store.snapshot().records["t_rr_group[g]"].outputs["id"]
    members.drift("t_rr_member[a]", size=5)

    report = reconciler.converge([GROUP, FIRST, SECOND])  # b is a no-op in this apply

    assert report.converged
    assert store.snapshot().records["t_rr_member[b]"].spec["group_id"] == group_id


def test_pruning_a_member_that_was_a_noop_beside_a_drifted_one_deletes_it(store: rc.State):
    members, reconciler = _world(store)
    reconciler.converge([GROUP, FIRST, SECOND])
    members.drift("t_rr_member[a]", size=5)
    reconciler.converge([GROUP, FIRST, SECOND])

    plan = reconciler.plan([GROUP, FIRST])

    assert [(s.address, s.action) for s in plan.changes] == [("t_rr_member[b]", rc.Action.DELETE)]
    assert reconciler.apply(plan).ok
    assert members.get("t_rr_member[b]") is None
    assert "t_rr_member[b]" not in store.snapshot().records


def test_a_record_holding_an_unresolved_reference_is_a_state_error_naming_it(store: rc.State):
    members, reconciler = _world(store)
    reconciler.converge([GROUP, FIRST, SECOND])
    record = store.snapshot().records["t_rr_member[b]"]
    unresolved = {"address": "t_rr_group[g]", "field": "id"}  # as an older version wrote it
    store.save(attrs.evolve(record, spec={**record.spec, "group_id": unresolved}))

    with pytest.raises(rc.StateError) as raised:
        reconciler.plan([GROUP, FIRST])

    message = str(raised.value)
    assert message.startswith("t_rr_member[b]: its recorded state cannot be read")
    assert "group_id holds an unresolved reference to t_rr_group[g].id" in message
    assert members.get("t_rr_member[b]") is not None  # nothing ran


def test_a_record_with_a_field_of_the_wrong_type_is_a_state_error_naming_the_field(
    store: rc.State,
):
    _, reconciler = _world(store)
    reconciler.converge([GROUP, FIRST, SECOND])
    record = store.snapshot().records["t_rr_member[b]"]
    store.save(attrs.evolve(record, spec={**record.spec, "size": [1, 2]}))

    with pytest.raises(rc.StateError, match=r"^t_rr_member\[b\]: .*\(size: expected int\)"):
        reconciler.plan([GROUP, FIRST])


def test_declaring_it_again_and_applying_rewrites_an_unreadable_record(store: rc.State):
    _, reconciler = _world(store)
    reconciler.converge([GROUP, FIRST, SECOND])
    record = store.snapshot().records["t_rr_member[b]"]
    broken = {**record.spec, "group_id": {"address": "t_rr_group[g]", "field": "id"}}
    store.save(attrs.evolve(record, spec=broken))

    assert reconciler.apply(reconciler.plan([GROUP, FIRST, SECOND])).ok  # the advice given

    assert reconciler.converge([GROUP, FIRST]).converged
    assert "t_rr_member[b]" not in store.snapshot().records


def test_a_resource_still_holding_a_reference_is_never_recorded():
    from reconcile._diff.records import record_for

    with pytest.raises(rc.StateError, match=r"^t_rr_member\[a\]: group_id is still an unresolved"):
        record_for(FIRST, FIRST, None)
