"""assert_converges and assert_idempotent: they pass on a healthy world and, when they
fail, the message says what came back, what failed, and shows the plan that remained."""

from __future__ import annotations

import re

import attrs
import pytest

import reconcile as rc
from reconcile.testing import (
    CountingProvider,
    MemoryProvider,
    assert_converges,
    assert_idempotent,
)


@rc.resource("kit_assert_item")
class Item:
    name: str = rc.field(key=True)
    size: int = 0


class Stubborn(MemoryProvider[Item]):
    """Never takes ``size``: the same update comes back every round."""

    def update(self, have: Item, want: Item, diff: rc.Diff) -> Item:
        return super().update(have, attrs.evolve(want, size=have.size), diff)


class DriftsOnce(MemoryProvider[Item]):
    """On the third read something else changes ``size``: a second converge has work."""

    def read(self, want: Item) -> Item | None:
        found = super().read(want)
        if found is not None and self.calls["read"] == 3:
            return self.drift(rc.address_of(found), size=found.size + 1)
        return found


class DictProvider(rc.Provider[Item]):
    """A provider that counts nothing; ``bump_on_read`` makes every read drift."""

    resource = Item

    def __init__(self, bump_on_read: bool = False) -> None:
        self.items: dict[str, Item] = {}
        self.bump = bump_on_read
        self.reads = 0

    def read(self, want: Item) -> Item | None:
        self.reads += 1
        found = self.items.get(want.name)
        if found is not None and self.bump and self.reads > 2:
            found = self.items[want.name] = attrs.evolve(found, size=found.size + 1)
        return found

    def create(self, want: Item) -> Item:
        self.items[want.name] = want
        return want

    def update(self, have: Item, want: Item, diff: rc.Diff) -> Item:
        return self.create(want)

    def delete(self, have: Item) -> None:
        self.items.pop(have.name, None)


def test_a_healthy_world_converges_and_the_report_comes_back():
    report = assert_converges([Item("a", 1), Item("b", 2)], [MemoryProvider(Item)])
    assert report.converged
    assert len(report.rounds) == 2


def test_an_oscillation_names_the_addresses_and_paths_and_shows_the_plan():
    items = Stubborn(Item)
    items.put(Item("a", size=1))
    with pytest.raises(AssertionError) as caught:
        assert_converges([Item("a", size=2)], [items])
    message = str(caught.value)
    assert "came back once applied" in message
    assert "kit_assert_item[a]: size" in message
    assert "The plan that remained:" in message
    assert "~ size = 1 -> 2" in message
    assert "Plan: 0 to add, 1 to change" in message


def test_failed_steps_are_listed_with_their_errors():
    items = MemoryProvider(Item)
    items.fail("create", address="kit_assert_item[a]", times=None)
    with pytest.raises(AssertionError) as caught:
        assert_converges([Item("a"), Item("b", size=1, depends_on=["kit_assert_item[a]"])], [items])
    message = str(caught.value)
    assert "planned the same changes as the round before" in message
    assert re.search(r"kit_assert_item\[a\]: create failed: InjectedFailure\(", message)
    assert "kit_assert_item[b]: skipped, kit_assert_item[a] did not succeed" in message
    assert "+ kit_assert_item[a]" in message


def test_the_round_bound_is_named():
    with pytest.raises(AssertionError, match="within max_rounds=1"):
        assert_converges([Item("a")], [MemoryProvider(Item)], max_rounds=1)


def test_idempotent_worlds_pass_whatever_counts_their_calls():
    desired = [Item("a", 1), Item("b", 2)]
    assert_idempotent(desired, [MemoryProvider(Item)])
    assert_idempotent(desired, [CountingProvider(MemoryProvider(Item))])
    assert_idempotent(desired, [DictProvider()])


def test_writes_in_the_second_converge_are_counted_and_the_plan_shown():
    with pytest.raises(AssertionError) as caught:
        assert_idempotent([Item("a", size=1)], [DriftsOnce(Item)])
    message = str(caught.value)
    assert "converging a second time changed things" in message
    assert "kit_assert_item: 1 write(s)" in message
    assert "~ size = 2 -> 1" in message


def test_without_counts_the_second_plan_is_the_evidence():
    with pytest.raises(AssertionError) as caught:
        assert_idempotent([Item("a", size=1)], [DictProvider(bump_on_read=True)])
    message = str(caught.value)
    assert "converging a second time changed things" in message
    assert "write(s)" not in message, "nothing counted the writes of this provider"
    assert "~ size = 2 -> 1" in message


def test_a_first_converge_that_fails_is_reported_as_such():
    items = MemoryProvider(Item)
    items.fail("create", times=None)
    with pytest.raises(AssertionError, match="the first converge failed"):
        assert_idempotent([Item("a")], [items])
