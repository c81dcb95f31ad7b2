"""Recorded state: what reconcile manages, between runs. The ``State`` contract.

The engine reads a ``Snapshot`` before planning and writes through small,
atomic calls while applying: an intent before a provider call, the record and
the journal step after it, each in one transaction. ``State`` is four small
parts, each with the fewest abstract methods and defaults built from them:
``StateRecords``, ``StateIntents``, ``StateLock`` and ``StateJournal``. A
third-party backend subclasses ``State`` and writes eleven methods;
``MemoryState`` and ``SQLiteState`` override the defaults where they can do better.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import attrs

from reconcile._util.errors import StateError

from .values import ApplyEntry, Journaled, LockInfo, Record, Snapshot, StepEntry, now

__all__ = [
    "State",
    "StateIntents",
    "StateJournal",
    "StateLock",
    "StateRecords",
]


class StateRecords(abc.ABC):
    """The records: read all at once, written one atomic change at a time.

    Required: ``snapshot``, ``save``, ``forget``. Derived: ``move``, ``batch``,
    ``records`` and iteration.
    """

    @abc.abstractmethod
    def snapshot(self) -> Snapshot:
        """Everything the planner needs, read consistently: records, serial, salt, open intents.

        The salt is made once for the store and never changes; it keys the digests
        of sensitive values, so keep it secret like the state itself.
        """

    @abc.abstractmethod
    def save(self, record: Record, *, intent: int | None = None, step: Journaled = None) -> None:
        """Record ``record``, close ``intent``, journal ``step``: one transaction; serial + 1.

        Saving over a recorded address keeps the old record's ``created_at``. A step
        for an apply the journal does not know is an error, and nothing changes.
        """

    @abc.abstractmethod
    def forget(self, address: str, *, intent: int | None = None, step: Journaled = None) -> None:
        """Drop ``address``, close ``intent``, journal ``step``: one transaction.

        The serial moves on only if a record was dropped: forgetting an address
        that is not recorded changes nothing else.
        """

    def move(self, old: str, new: str) -> None:
        """Rebind the record at ``old`` to ``new``; a ``StateError`` if ``new`` is taken
        or ``old`` unknown. By default a save and a forget in one ``batch``."""
        with self.batch():
            records = self.snapshot().records
            if new in records:
                raise StateError(f"cannot move {old} to {new}: {new} is already recorded")
            record = records.get(old)
            if record is None:
                raise StateError(f"cannot move {old}: it is not recorded")
            self.save(attrs.evolve(record, address=new, updated_at=now()))
            self.forget(old)

    def batch(self) -> AbstractContextManager[None]:
        """Changes made inside commit together when the block ends (each stays atomic).

        Apply batches the intents of the calls it is about to start, and the records
        of the calls that finished, so a step costs no transaction of its own. A
        crash inside the block loses all of its changes; the intents opened before
        it stay open for recovery. By default each change commits at once.
        """
        return contextlib.nullcontext()

    def records(self) -> Mapping[str, Record]:
        """The records by address, as ``snapshot`` reads them."""
        return self.snapshot().records

    def __iter__(self) -> Iterator[Record]:
        return iter(self.snapshot().records.values())


class StateIntents(abc.ABC):
    """Intents: a provider call noted durably before it runs, so a crash is recovered.

    An open intent shows in ``snapshot().intents`` until ``close_intent`` or the
    ``save``/``forget`` that records its outcome closes it.
    """

    @abc.abstractmethod
    def open_intent(
        self, address: str, kind: str, action: str, spec: Mapping[str, Any], apply_id: int | None
    ) -> int:
        """Durably note that a provider call for ``address`` is about to run; its new id.

        Ids are never reused, even after the intent is closed.
        """

    @abc.abstractmethod
    def close_intent(self, intent: int, *, step: Journaled = None) -> None:
        """The intent's call finished with nothing to record (it failed); journal ``step``.

        Closing an intent that is already closed does nothing (but still journals).
        """


class StateLock(abc.ABC):
    """The apply lock: one apply at a time per state.

    Required: ``acquire`` and ``release``. Derived: ``force_unlock``.
    """

    @abc.abstractmethod
    def acquire(self, holder: LockInfo) -> LockInfo | None:
        """Take the apply lock; returns None on success, else the current holder.

        Taking it again as the same holder succeeds. The lock should end with the
        process holding it, as an OS file lock does.
        """

    @abc.abstractmethod
    def release(self, holder: LockInfo) -> None:
        """Give the lock back if ``holder`` (equal in every field) has it; else nothing."""

    def force_unlock(self) -> LockInfo | None:
        """Remove a lock whose holder cannot release it; returns who held it.

        A store whose lock dies with its holder (``SQLiteState``'s file lock) refuses,
        with ``LockedError``, to break one a running process holds. By default the
        holder is found by trying to take the lock, and released on its behalf.
        """
        probe = LockInfo.mine("force_unlock")
        holder = self.acquire(probe)
        if holder is None:
            self.release(probe)
            return None
        self.release(holder)
        return holder


class StateJournal(abc.ABC):
    """The journal: one entry per apply, with its plan and every step's outcome.

    Required: ``begin_apply``, ``journal_step``, ``end_apply``, ``history``.
    Derived: ``entry``, found in ``history``.
    """

    @abc.abstractmethod
    def begin_apply(self, revision: str | None, plan: str, meta: Mapping[str, Any]) -> int:
        """Open a journal entry for an apply (status ``running``); returns its new id."""

    @abc.abstractmethod
    def journal_step(self, apply_id: int, entry: StepEntry) -> None:
        """Append one step outcome to an apply's journal entry; an error if it is unknown."""

    @abc.abstractmethod
    def end_apply(self, apply_id: int, status: str) -> None:
        """Close a journal entry with the apply's overall status."""

    @abc.abstractmethod
    def history(self, limit: int | None = None) -> list[ApplyEntry]:
        """Journal entries, newest first, at most ``limit``.

        An entry may leave out its plan and steps (the built-in stores do, to stay
        small); a backend whose ``history`` does must override ``entry``.
        """

    def entry(self, apply_id: int) -> ApplyEntry:
        """One journal entry, whole: plan JSON and every step; ``KeyError`` if unknown.

        By default the entry of that id in ``history()``.
        """
        for found in self.history():
            if found.id == apply_id:
                return found
        raise KeyError(apply_id)


class State(StateRecords, StateIntents, StateLock, StateJournal):
    """Where recorded state lives. Every method is one atomic change unless noted.

    Subclass it for a new backend; ``reconcile.testing.StateConformance`` checks it.
    """
