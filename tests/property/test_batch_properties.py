"""Batching is invisible to the result: any changes in ``batch()`` blocks end as without them.

For random sequences of state changes — saves, forgets, moves, intents opened and
closed, journal steps, and changes that fail (a move onto a taken address or of
an unknown one, a journal step for an unknown apply, a record SQLite cannot bind
after it journaled the step) — split into random blocks run plainly, in one
batch, in a batch nested in another, or in a batch the caller's error escapes,
every change raises the same error, every snapshot taken between changes (inside
a batch too) and the final records, intents, serial and journal are the same as
running the changes one by one without any batch. For SQLite the final state is
read again through a new connection: the batches committed.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc

NAMES = ("a", "b", "c", "d")
Op = tuple[Any, ...]


def _address(name: str) -> str:
    return f"rs_b[{name}]"


# -- strategies ---------------------------------------------------------------------------

_names = st.sampled_from(NAMES)
_refs = st.none() | st.integers(0, 5)  # the nth intent opened so far (modulo), if any
_specs = st.dictionaries(st.sampled_from("xy"), st.integers(0, 2) | st.text(max_size=2), max_size=2)

_ops: st.SearchStrategy[Op] = st.one_of(
    st.tuples(st.just("save"), _names, _specs, _refs, st.booleans()),
    st.tuples(st.just("forget"), _names, _refs, st.booleans()),
    st.tuples(st.just("move"), _names, _names),
    st.tuples(st.just("open"), _names, st.sampled_from(["create", "update", "delete"]), _specs),
    st.tuples(st.just("close"), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("journal"), _names, st.booleans()),
    st.tuples(st.just("unbindable"), _names, st.booleans()),
)
_modes = st.sampled_from(["plain", "batch", "nested", "escape"])
_blocks = st.lists(st.tuples(_modes, st.lists(_ops, max_size=6)), min_size=1, max_size=4)


# -- running changes ----------------------------------------------------------------------


class _Escape(Exception):
    """The caller's own error, raised at the end of a batch block."""


class Run:
    """One state, the changes made to it, and what it said after each one."""

    def __init__(self, state: rc.State) -> None:
        self.state = state
        self.apply_id = state.begin_apply(None, "{}", {})
        self.intents: list[int] = []
        self.said: list[Any] = []

    def intent(self, ref: int | None) -> int | None:
        return None if ref is None or not self.intents else self.intents[ref % len(self.intents)]

    def step(self, name: str, journal: bool, status: str = "ok") -> Any:
        return (self.apply_id, rc.StepEntry(_address(name), "create", status)) if journal else None

    def change(self, op: Op) -> None:
        """Make one change; note what it raised (if anything) and the snapshot after it."""
        try:
            self._change(op)
            outcome: Any = "ok"
        except Exception as err:
            outcome = (type(err).__name__, str(err))
        self.said.append((op, outcome, view(self.state.snapshot())))

    def _change(self, op: Op) -> None:
        kind, *args = op
        state = self.state
        if kind == "save":
            name, spec, ref, journal = args
            record = rc.Record(_address(name), "rs_b", spec)
            state.save(record, intent=self.intent(ref), step=self.step(name, journal))
        elif kind == "forget":
            name, ref, journal = args
            state.forget(_address(name), intent=self.intent(ref), step=self.step(name, journal))
        elif kind == "move":
            state.move(_address(args[0]), _address(args[1]))
        elif kind == "open":
            name, action, spec = args
            self.intents.append(state.open_intent(_address(name), "rs_b", action, spec, None))
        elif kind == "close":
            ref, journal = args
            intent = self.intent(ref)
            if intent is not None:
                state.close_intent(intent, step=self.step("closed", journal, "failed"))
        elif kind == "journal":
            name, known = args
            state.journal_step(self.apply_id if known else 10**6, rc.StepEntry(name, "x", "ok"))
        else:  # a row SQLite cannot bind, after the journal step went in
            name, journal = args
            record = rc.Record(_address(name), "rs_b", {}, revision=("not", "text"))  # type: ignore[arg-type]
            state.save(record, step=self.step(name, journal))

    def block(self, mode: str, ops: list[Op]) -> None:
        if mode == "plain":
            for op in ops:
                self.change(op)
        elif mode == "batch":
            with self.state.batch():
                for op in ops:
                    self.change(op)
        elif mode == "nested":
            half = len(ops) // 2
            with self.state.batch():
                self.change(("journal", "outer", True))
                with self.state.batch():
                    for op in ops[:half]:
                        self.change(op)
                for op in ops[half:]:
                    self.change(op)
        else:
            with contextlib.suppress(_Escape), self.state.batch():
                for op in ops:
                    self.change(op)
                raise _Escape

    def flat(self, mode: str, ops: list[Op]) -> None:
        """The same changes as ``block``, one by one, with no batch."""
        if mode == "nested":
            self.change(("journal", "outer", True))
        for op in ops:
            self.change(op)


def view(snapshot: rc.Snapshot) -> tuple[Any, ...]:
    """What the engine reads back: records (timestamps aside), intents, the serial."""
    intents = [(i.address, i.kind, i.action, dict(i.spec)) for i in snapshot.intents]
    return dict(snapshot.records), intents, snapshot.serial


def final(state: rc.State, apply_id: int) -> tuple[Any, ...]:
    return view(state.snapshot()), state.entry(apply_id).steps


@contextlib.contextmanager
def _stores(kind: str) -> Iterator[Callable[[str], rc.State]]:
    """Make fresh states of ``kind`` by name (SQLite: files in a folder for this example)."""
    if kind == "memory":
        yield lambda name: rc.MemoryState()
        return
    folder = Path(tempfile.mkdtemp(prefix="rs_batch_"))
    made: list[rc.SQLiteState] = []

    def make(name: str) -> rc.State:
        made.append(rc.SQLiteState(folder / f"{name}.db"))
        return made[-1]

    try:
        yield make
    finally:
        for state in made:
            state.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@given(blocks=_blocks)
def test_changes_in_batches_end_as_the_same_changes_one_by_one(kind, blocks):
    with _stores(kind) as make:
        batched, plain = Run(make("batched")), Run(make("plain"))
        for mode, ops in blocks:
            batched.block(mode, ops)
            plain.flat(mode, ops)
        for number, (got, want) in enumerate(zip(batched.said, plain.said, strict=True)):
            assert got == want, f"change {number} differs in a batch: {got} != {want}"
        expected = final(plain.state, plain.apply_id)
        assert final(batched.state, batched.apply_id) == expected
        if isinstance(batched.state, rc.SQLiteState):
            batched.state.close()
            reopened = make("batched")
            assert final(reopened, batched.apply_id) == expected, "a batch did not commit"
