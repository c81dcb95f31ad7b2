"""Batch observation: read_many and list-based observation give the same plans, in few calls."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc


@rc.resource("batch_item")
class Item:
    name: str = rc.field(key=True)
    size: int = 0


class OneByOne(rc.Provider[Item]):
    """Reads one at a time: the reference behaviour."""

    resource = Item
    blocking_io = False

    def __init__(self, live: dict[str, Item]) -> None:
        self.items = dict(live)
        self.calls = 0

    def read(self, want: Item) -> Item | None:
        self.calls += 1
        return self.items.get(rc.address_of(want))

    def create(self, want: Item) -> Item:
        self.items[rc.address_of(want)] = want
        return want

    def update(self, have: Item, want: Item, diff: rc.Diff) -> Item:
        return self.create(want)

    def delete(self, have: Item) -> None:
        self.items.pop(rc.address_of(have), None)


class Paged(OneByOne):
    """An API that reads 500 objects per call."""

    def read_many(self, wants: Sequence[Item]) -> list[Item | None]:
        self.calls += -(-len(wants) // 500)
        return [self.items.get(rc.address_of(w)) for w in wants]


class Listed(OneByOne):
    """An API whose cheapest observation is one listing of everything."""

    observe_by_list = True

    def list(self) -> list[Item]:
        self.calls += 1
        return list(self.items.values())


def _world(n: int, drift: set[int]) -> tuple[list[Item], dict[str, Item]]:
    desired = [Item(f"i{i}", i) for i in range(n)]
    live = {rc.address_of(r): Item(r.name, r.size + (i in drift)) for i, r in enumerate(desired)}
    live.pop("batch_item[i0]", None)
    return desired, live


@given(st.integers(1, 1200), st.sets(st.integers(0, 1200), max_size=20))
def test_batched_observation_plans_exactly_what_one_by_one_reads_plan(n, drift):
    desired, live = _world(n, drift)
    plans = {}
    for cls in (OneByOne, Paged, Listed):
        provider = cls(live)
        plans[cls] = rc.Reconciler([provider]).plan(desired)
        expected_calls = {OneByOne: n, Paged: -(-n // 500), Listed: 1}[cls]
        assert provider.calls == expected_calls
    assert plans[Paged] == plans[OneByOne]
    assert plans[Listed] == plans[OneByOne]


def test_a_hundred_thousand_reads_cost_two_hundred_calls_when_the_api_pages():
    desired, live = _world(100_000, set())
    provider = Paged(live)
    rc.Reconciler([provider]).plan(desired)
    assert provider.calls == 200
