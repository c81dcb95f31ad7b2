"""The agreement machine behind ``StateConformance``: the same random calls on a
backend and on ``MemoryState``, which must agree on everything the engine reads back.

Differential, as Hypothesis tests its example databases: ``MemoryState`` is the
reference, so a backend is checked against behaviour, not against a list of cases.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from reconcile._plan.steps import Action
from reconcile._state.contract import State
from reconcile._state.memory import MemoryState
from reconcile._state.values import ApplyEntry, LockInfo, Record, Snapshot, StepEntry
from reconcile._util.errors import StateError

__all__ = ["ADDRESSES", "StatesAgree", "apply_view", "records"]

ADDRESSES = ("rs_a[x]", "rs_a[y]", "rs_b[x]", "rs_b[z]")
_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=4), st.sampled_from([0, 1, 1.5])
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
_json_objects = st.dictionaries(st.text(max_size=4), _json, max_size=3)


@st.composite
def records(draw: st.DrawFn) -> Record:
    """Records at a few addresses (so changes collide), with JSON specs and outputs."""
    address = draw(st.sampled_from(ADDRESSES))
    return Record(
        address=address,
        kind=address.split("[", 1)[0],
        spec=draw(_json_objects),
        outputs=draw(_json_objects),
        depends_on=tuple(draw(st.lists(st.sampled_from(ADDRESSES), max_size=2))),
        revision=draw(st.none() | st.text(max_size=5)),
        tainted=draw(st.booleans()),
        protected=draw(st.booleans()),
        retain=draw(st.booleans()),
    )


_steps = st.builds(
    StepEntry,
    address=st.sampled_from(ADDRESSES),
    action=st.sampled_from([a.value for a in Action]),
    status=st.sampled_from(["ok", "failed", "skipped"]),
    error=st.none() | st.text(max_size=8),
)
# Two holders share pid, host and since and differ only in their note.
_HOLDERS = (
    LockInfo(101, "host-a", "2024-01-01T00:00:00+00:00"),
    LockInfo(101, "host-a", "2024-01-01T00:00:00+00:00", "other note"),
    LockInfo(202, "host-b", "2024-02-02T00:00:00+00:00"),
)
_meta = st.fixed_dictionaries(
    {}, optional={"user": st.text(max_size=4), "host": st.text(max_size=4), "n": st.integers()}
)
_Pair = tuple[int, int]


def apply_view(entry: ApplyEntry, *, whole: bool = True) -> ApplyEntry:
    """An entry without what legitimately differs between stores: id and times (and,
    unless ``whole``, the plan and steps a backend's ``history`` may carry)."""
    ended = "ended" if entry.ended_at is not None else None
    view = attrs.evolve(entry, id=0, started_at="", ended_at=ended)
    return view if whole else attrs.evolve(view, plan=None, steps=())


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as err:
        return "error", (type(err), str(err))


class _Refused(Exception):
    """Both stores raised the same error for a call (its messages are the args)."""


class StatesAgree(RuleBasedStateMachine):
    """The same calls on ``MemoryState`` and the backend; they must agree at every step.

    A subclass sets ``make`` (a fresh backend), ``close`` and ``exact`` (serials and
    error messages equal to ``MemoryState``'s, not only serials that move together
    and errors of the same class).
    """

    make: ClassVar[Callable[[], State]]
    close: ClassVar[Callable[[State], None]]
    exact: ClassVar[bool] = False

    intents = Bundle("intents")
    applies = Bundle("applies")

    def __init__(self) -> None:
        super().__init__()
        self.mem = MemoryState()
        self.other = type(self).make()
        self.salts = (self.mem.snapshot().salt, self.other.snapshot().salt)
        self.serials = (0, self.other.snapshot().serial)
        self.apply_pairs: list[_Pair] = []

    def teardown(self) -> None:
        type(self).close(self.other)

    def both(self, on_mem: Callable[[], Any], on_other: Callable[[], Any]) -> tuple[Any, Any]:
        mem, other = _outcome(on_mem), _outcome(on_other)
        assert mem[0] == other[0], f"MemoryState: {mem}, the backend: {other}"
        if mem[0] == "error":
            kind, got = mem[1][0], other[1][0]
            assert issubclass(kind, StateError | KeyError), mem[1]
            same = got is kind if self.exact else issubclass(got, kind)
            assert same, f"MemoryState raised {mem[1]}, the backend raised {other[1]}"
            if self.exact:
                assert mem[1][1] == other[1][1], f"messages differ: {mem[1][1]!r}, {other[1][1]!r}"
            raise _Refused(mem[1][1], other[1][1])
        return mem[1], other[1]

    @staticmethod
    def _step(step: tuple[_Pair, StepEntry] | None, i: int) -> Any:
        return None if step is None else (step[0][i], step[1])

    @staticmethod
    def _intent(pair: _Pair | None, i: int) -> int | None:
        return None if pair is None else pair[i]

    # -- rules ------------------------------------------------------------------

    @rule(record=records(), intent=st.none() | intents, step=st.none() | st.tuples(applies, _steps))
    def save(self, record: Record, intent: _Pair | None, step: Any) -> None:
        self.both(
            lambda: self.mem.save(record, intent=self._intent(intent, 0), step=self._step(step, 0)),
            lambda: self.other.save(
                record, intent=self._intent(intent, 1), step=self._step(step, 1)
            ),
        )

    @rule(
        address=st.sampled_from(ADDRESSES),
        intent=st.none() | intents,
        step=st.none() | st.tuples(applies, _steps),
    )
    def forget(self, address: str, intent: _Pair | None, step: Any) -> None:
        self.both(
            lambda: self.mem.forget(
                address, intent=self._intent(intent, 0), step=self._step(step, 0)
            ),
            lambda: self.other.forget(
                address, intent=self._intent(intent, 1), step=self._step(step, 1)
            ),
        )

    @rule(old=st.sampled_from(ADDRESSES), new=st.sampled_from(ADDRESSES))
    def move(self, old: str, new: str) -> None:
        with contextlib.suppress(_Refused):
            self.both(lambda: self.mem.move(old, new), lambda: self.other.move(old, new))

    @rule(
        target=intents,
        address=st.sampled_from(ADDRESSES),
        action=st.sampled_from(["create", "update", "delete", "replace"]),
        spec=_json_objects,
        apply=st.none() | applies,
    )
    def open_intent(self, address: str, action: str, spec: Any, apply: _Pair | None) -> Any:
        kind = address.split("[", 1)[0]
        return self.both(
            lambda: self.mem.open_intent(address, kind, action, spec, self._intent(apply, 0)),
            lambda: self.other.open_intent(address, kind, action, spec, self._intent(apply, 1)),
        )

    @rule(intent=intents, step=st.none() | st.tuples(applies, _steps))
    def close_intent(self, intent: _Pair, step: Any) -> None:
        """Closing an intent twice, or one closed by a save, is allowed and does nothing."""
        self.both(
            lambda: self.mem.close_intent(intent[0], step=self._step(step, 0)),
            lambda: self.other.close_intent(intent[1], step=self._step(step, 1)),
        )

    @rule(holder=st.sampled_from(_HOLDERS))
    def acquire(self, holder: LockInfo) -> None:
        mem, other = self.both(lambda: self.mem.acquire(holder), lambda: self.other.acquire(holder))
        assert mem == other

    @rule(holder=st.sampled_from(_HOLDERS))
    def release(self, holder: LockInfo) -> None:
        self.both(lambda: self.mem.release(holder), lambda: self.other.release(holder))

    @rule()
    def force_unlock(self) -> None:
        mem, other = self.both(self.mem.force_unlock, self.other.force_unlock)
        assert mem == other

    @rule(
        target=applies,
        revision=st.none() | st.text(max_size=5),
        plan=st.text(max_size=10),
        meta=_meta,
    )
    def begin_apply(self, revision: str | None, plan: str, meta: dict[str, Any]) -> Any:
        pair = self.both(
            lambda: self.mem.begin_apply(revision, plan, meta),
            lambda: self.other.begin_apply(revision, plan, meta),
        )
        self.apply_pairs.append(pair)
        return pair

    @rule(apply=applies, entry=_steps)
    def journal_step(self, apply: _Pair, entry: StepEntry) -> None:
        self.both(
            lambda: self.mem.journal_step(apply[0], entry),
            lambda: self.other.journal_step(apply[1], entry),
        )

    @rule(apply=applies, status=st.sampled_from(["ok", "failed"]))
    def end_apply(self, apply: _Pair, status: str) -> None:
        self.both(
            lambda: self.mem.end_apply(apply[0], status),
            lambda: self.other.end_apply(apply[1], status),
        )

    @rule(limit=st.sampled_from([None, 0, 1, 2, 5]))
    def history(self, limit: int | None) -> None:
        mem, other = self.both(lambda: self.mem.history(limit), lambda: self.other.history(limit))
        newest_first = list(reversed(self.apply_pairs))
        assert [(m.id, o.id) for m, o in zip(mem, other, strict=True)] == newest_first[: len(mem)]
        whole = self.exact  # a backend's history may carry plans and steps
        assert [apply_view(e, whole=whole) for e in mem] == [
            apply_view(e, whole=whole) for e in other
        ]
        if self.exact:
            assert all(e.plan is None and e.steps == () for e in [*mem, *other])
        expected = len(self.apply_pairs) if limit is None else min(limit, len(self.apply_pairs))
        assert len(mem) == expected

    @precondition(lambda self: self.apply_pairs)
    @rule(data=st.data())
    def entry(self, data: st.DataObject) -> None:
        apply = data.draw(st.sampled_from(self.apply_pairs))
        mem, other = self.both(lambda: self.mem.entry(apply[0]), lambda: self.other.entry(apply[1]))
        assert apply_view(mem) == apply_view(other)

    @rule()
    def unknown_entry(self) -> None:
        with contextlib.suppress(_Refused):
            self.both(lambda: self.mem.entry(10**9), lambda: self.other.entry(10**9))
            raise AssertionError("entry() of an unknown id returned something")

    # -- invariants -------------------------------------------------------------

    @invariant()
    def snapshots_agree(self) -> None:
        mem, other = self.mem.snapshot(), self.other.snapshot()
        assert mem.records == other.records
        for address, record in mem.records.items():
            assert record.address == address
            assert other.records[address].created_at == record.created_at, address
        self._serials_agree(mem, other)
        assert (mem.salt, other.salt) == self.salts, "the salt changed"
        to_mem: dict[int | None, int | None] = {o: m for m, o in self.apply_pairs}
        assert [(i.address, i.kind, i.action, i.spec, i.apply_id) for i in mem.intents] == [
            (i.address, i.kind, i.action, i.spec, to_mem.get(i.apply_id, i.apply_id))
            for i in other.intents
        ]

    def _serials_agree(self, mem: Snapshot, other: Snapshot) -> None:
        """Exactly equal, or (for a backend) moving on exactly when MemoryState's does."""
        if self.exact:
            assert mem.serial == other.serial
            return
        was_mem, was_other = self.serials
        assert other.serial >= was_other, f"the serial went back: {was_other} -> {other.serial}"
        moved = (mem.serial != was_mem, other.serial != was_other)
        assert moved[0] == moved[1], f"the records changed but not the serial, or back: {moved}"
        self.serials = (mem.serial, other.serial)
