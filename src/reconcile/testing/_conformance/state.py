"""``StateConformance`` and ``check_state``: the contract every state backend must keep.

The built-in stores pass it, and a third-party backend runs the same checks: an
agreement machine against ``MemoryState`` (``state_machine``) and the cases it
has found before, each kept as a check of its own. Subclass ``StateConformance``
as ``Test...`` for pytest, or call ``check_state(factory)`` anywhere.
"""

from __future__ import annotations

import abc
import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import attrs
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from reconcile._state.contract import State
from reconcile._state.values import LockInfo, Record, StepEntry
from reconcile._util.errors import StateError

from .state_machine import StatesAgree

__all__ = ["StateConformance", "check_state"]

Factory = Callable[[], State]


def _close(state: State) -> None:
    """Close a backend that can be closed (``SQLiteState`` can); others need nothing."""
    close = getattr(state, "close", None)
    if callable(close):
        close()


def check_state(
    make_state: Factory,
    *,
    close: Callable[[State], None] = _close,
    exact: bool = False,
    hypothesis_settings: settings | None = None,
) -> None:
    """Run every conformance check on fresh states from ``make_state``; raises on the first failure.

    ``exact`` also requires serial numbers and error messages equal to
    ``MemoryState``'s (the built-in stores keep them); a backend need only move its
    serial exactly when the records change and raise errors of the same classes.
    """
    for check in CHECKS:
        check(make_state, close, exact, hypothesis_settings)


class StateConformance(abc.ABC):
    """Subclass as ``Test...`` and define ``make_state``; pytest runs every check on it.

    Set ``exact`` for serials and messages equal to ``MemoryState``'s, and
    ``conformance_settings`` to tune Hypothesis (by default the active profile
    without a deadline: backends do I/O). ``fresh_directory()`` gives a new empty
    folder under pytest's ``tmp_path`` for a backend that keeps files.
    """

    exact: ClassVar[bool] = False
    conformance_settings: ClassVar[settings | None] = None

    @pytest.fixture(autouse=True)
    def _conformance_directory(self, tmp_path: Path) -> None:
        """Remember pytest's ``tmp_path`` for :meth:`fresh_directory`."""
        self._tmp_path = tmp_path

    @abc.abstractmethod
    def make_state(self) -> State:
        """A fresh, empty state of the backend; called once per example."""

    def close_state(self, state: State) -> None:
        """Release what ``state`` holds at the end of an example; by default its ``close()``."""
        _close(state)

    def fresh_directory(self) -> Path:
        """A new empty directory under pytest's ``tmp_path``, for states kept on disk."""
        return Path(tempfile.mkdtemp(dir=getattr(self, "_tmp_path", None)))

    def _run(self, check: _Check) -> None:
        check(self.make_state, self.close_state, self.exact, self.conformance_settings)

    def test_agrees_with_memory_state(self) -> None:
        self._run(agrees_with_memory_state)

    def test_move_refuses_a_taken_or_unknown_address(self) -> None:
        self._run(move_refuses_a_taken_or_unknown_address)

    def test_a_closed_intent_id_never_closes_a_later_intent(self) -> None:
        self._run(a_closed_intent_id_never_closes_a_later_intent)

    def test_release_by_another_holder_does_nothing(self) -> None:
        self._run(release_by_another_holder_does_nothing)

    def test_save_keeps_created_at_and_serial_counts_changes(self) -> None:
        self._run(save_keeps_created_at_and_serial_counts_changes)

    def test_force_unlock_frees_the_lock_and_names_its_holder(self) -> None:
        self._run(force_unlock_frees_the_lock_and_names_its_holder)

    def test_entry_is_whole(self) -> None:
        self._run(entry_is_whole)


# -- the checks ------------------------------------------------------------------

_Check = Callable[[Factory, Callable[[State], None], bool, "settings | None"], None]


@contextlib.contextmanager
def _fresh(make: Factory, close: Callable[[State], None]) -> Iterator[State]:
    state = make()
    try:
        assert not state.snapshot().records, "make_state() must return an empty state"
        yield state
    finally:
        close(state)


def agrees_with_memory_state(
    make: Factory, close: Callable[[State], None], exact: bool, chosen: settings | None
) -> None:
    """Random calls on the backend and on ``MemoryState`` agree (``state_machine``)."""
    machine = type(
        "StatesAgree",
        (StatesAgree,),
        {"make": staticmethod(make), "close": staticmethod(close), "exact": exact},
    )
    base = chosen or settings(deadline=None)
    run_state_machine_as_test(machine, settings=settings(base, stateful_step_count=25))


def move_refuses_a_taken_or_unknown_address(
    make: Factory, close: Callable[[State], None], exact: bool, chosen: settings | None
) -> None:
    with _fresh(make, close) as store:
        store.save(Record("rs_a[x]", "rs_a", {"v": 1}))
        store.save(Record("rs_a[y]", "rs_a", {"v": 2}))
        serial = store.snapshot().serial
        taken = r"rs_a\[y\] is already recorded" if exact else None
        with pytest.raises(StateError, match=taken):
            store.move("rs_a[x]", "rs_a[y]")
        with pytest.raises(
            StateError, match=r"rs_a\[nope\]: it is not recorded" if exact else None
        ):
            store.move("rs_a[nope]", "rs_a[z]")
        snapshot = store.snapshot()
        assert snapshot.serial == serial, "a refused move changed the serial"
        assert snapshot.records["rs_a[x]"].spec == {"v": 1}
        store.move("rs_a[x]", "rs_a[z]")
        after = store.snapshot()
        assert set(after.records) == {"rs_a[y]", "rs_a[z]"}
        assert after.records["rs_a[z]"].address == "rs_a[z]"
        assert after.serial == serial + 1 if exact else after.serial > serial


def a_closed_intent_id_never_closes_a_later_intent(
    make: Factory, close: Callable[[State], None], exact: bool, chosen: settings | None
) -> None:
    with _fresh(make, close) as store:
        first = store.open_intent("rs_a[x]", "rs_a", "create", {}, None)
        store.close_intent(first)
        second = store.open_intent("rs_a[y]", "rs_a", "create", {}, None)
        store.close_intent(first)  # a late, repeated close of the first one
        store.save(Record("rs_a[x]", "rs_a", {}), intent=first)
        assert [i.id for i in store.snapshot().intents] == [second]


def release_by_another_holder_does_nothing(
    make: Factory, close: Callable[[State], None], exact: bool, chosen: settings | None
) -> None:
    with _fresh(make, close) as store:
        holder = LockInfo(7, "host", "2024-01-01T00:00:00+00:00", "apply")
        impostor = attrs.evolve(holder, note="something else")
        assert store.acquire(holder) is None
        assert store.acquire(impostor) == holder
        store.release(impostor)
        assert store.acquire(LockInfo(8, "host", "now")) == holder, (
            "the lock was released by a LockInfo that is not its holder"
        )


def save_keeps_created_at_and_serial_counts_changes(
    make: Factory, close: Callable[[State], None], exact: bool, chosen: settings | None
) -> None:
    with _fresh(make, close) as store:
        start = store.snapshot().serial
        first = Record("rs_a[x]", "rs_a", {"v": 1}, created_at="2000-01-01T00:00:00+00:00")
        store.save(first)
        store.save(Record("rs_a[x]", "rs_a", {"v": 2}))
        saved = store.snapshot().serial
        store.forget("rs_a[nope]")  # nothing recorded there: no change
        snapshot = store.snapshot()
        assert snapshot.serial == saved, "forgetting an address not recorded moved the serial"
        assert snapshot.serial == 2 if exact else start < snapshot.serial
        assert snapshot.records["rs_a[x]"].created_at == first.created_at
        assert snapshot.records["rs_a[x]"].spec == {"v": 2}


def force_unlock_frees_the_lock_and_names_its_holder(
    make: Factory, close: Callable[[State], None], exact: bool, chosen: settings | None
) -> None:
    with _fresh(make, close) as store:
        assert store.force_unlock() is None, "force_unlock() of a free lock named a holder"
        gone = LockInfo(2**22 + 7, "another host", "2024-01-01T00:00:00+00:00", "apply")
        assert store.acquire(gone) is None
        assert store.force_unlock() == gone
        mine = LockInfo.mine("after force_unlock")
        assert store.acquire(mine) is None, "force_unlock() left the lock taken"
        store.release(mine)


def entry_is_whole(
    make: Factory, close: Callable[[State], None], exact: bool, chosen: settings | None
) -> None:
    with _fresh(make, close) as store:
        apply_id = store.begin_apply("rev", '{"plan": 1}', {"user": "u"})
        store.save(
            Record("rs_a[x]", "rs_a", {}), step=(apply_id, StepEntry("rs_a[x]", "create", "ok"))
        )
        store.journal_step(apply_id, StepEntry("rs_a[y]", "create", "failed", "boom"))
        store.end_apply(apply_id, "failed")
        entry = store.entry(apply_id)
        assert (entry.id, entry.status, entry.revision, entry.plan) == (
            apply_id,
            "failed",
            "rev",
            '{"plan": 1}',
        )
        assert entry.ended_at is not None
        assert [(s.address, s.status, s.error) for s in entry.steps] == [
            ("rs_a[x]", "ok", None),
            ("rs_a[y]", "failed", "boom"),
        ]
        with pytest.raises(KeyError):
            store.entry(apply_id + 10**6)


CHECKS: tuple[_Check, ...] = (
    agrees_with_memory_state,
    move_refuses_a_taken_or_unknown_address,
    a_closed_intent_id_never_closes_a_later_intent,
    release_by_another_holder_does_nothing,
    save_keeps_created_at_and_serial_counts_changes,
    force_unlock_frees_the_lock_and_names_its_holder,
    entry_is_whole,
)
