"""Deposed addresses, for all addresses and outputs: where a create-before-destroy
replace records the old object, and back to the address it was replaced at."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile._diff.deposed import deposed, deposed_address, deposed_from
from reconcile._diff.documents import outputs_of
from reconcile._diff.records import record_for

ADDRESSES = st.text(min_size=1, max_size=30)
OUTPUTS = st.dictionaries(
    st.text(min_size=1, max_size=5),
    st.integers() | st.text(max_size=8) | st.none() | st.lists(st.integers(), max_size=3),
    max_size=4,
)


@rc.resource("dp_vm")
class Vm:
    name: str = rc.field(key=True)
    size: int = 0
    id: str | None = rc.field(default=None, computed=True)


@given(ADDRESSES, OUTPUTS)
def test_a_deposed_address_leads_back_to_its_owner(address: str, outputs: dict) -> None:
    old = deposed_address(address, outputs)
    assert deposed_from(old) == address
    assert re.fullmatch(r"~deposed-[0-9a-f]{8}", old[len(address) :])


@given(ADDRESSES)
def test_an_address_never_deposed_has_no_owner(address: str) -> None:
    if "~deposed-" not in address:
        assert deposed_from(address) is None


@given(ADDRESSES, OUTPUTS)
def test_the_address_depends_on_the_outputs_not_their_order(address: str, outputs: dict) -> None:
    shuffled = dict(reversed(list(outputs.items())))
    assert deposed_address(address, outputs) == deposed_address(address, shuffled)


@given(
    st.text(min_size=1, max_size=10), st.integers(0, 5), st.text(max_size=6), st.text(max_size=6)
)
def test_the_old_object_is_recorded_deposed_only_when_its_outputs_tell_it_apart(
    name: str, size: int, old_id: str, new_id: str
) -> None:
    old, new = Vm(name, size, id=old_id), Vm(name, size + 1, id=new_id)
    record = record_for(old, old, "r1", depends_on=("dp_vm[other]",))
    found: Any = deposed(record, old, new)
    if old_id == new_id:
        assert found is None  # destroying "the old one" would destroy the replacement
        return
    assert found.address == deposed_address(record.address, outputs_of(old))
    assert deposed_from(found.address) == record.address
    assert found.outputs == outputs_of(old)
    assert (found.tainted, found.protected, found.retain) == (False, False, False)
    assert (found.spec, found.depends_on, found.kind) == (record.spec, record.depends_on, "dp_vm")
