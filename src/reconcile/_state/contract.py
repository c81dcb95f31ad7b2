"""Recorded state: what reconcile manages, between runs. The ``State`` interface.

The engine reads a ``Snapshot`` before planning and writes through small,
atomic calls while applying: an intent before a provider call, the record and
the journal step after it, each in one transaction. ``MemoryState`` and
``SQLiteState`` implement it; a shared database backend would too.
"""

from __future__ import annotations

import abc
import contextlib
import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import attrs

__all__ = [
    "ApplyEntry",
    "Intent",
    "LockInfo",
    "Record",
    "Snapshot",
    "State",
    "Journaled",
    "StepEntry",
    "now",
]


_second: tuple[int, str] = (-1, "")  # the last whole second seen, as ISO 8601 text


def now() -> str:
    """The current UTC time as ISO 8601 text, as every timestamp in state is kept.

    The same text as ``datetime.now(UTC).isoformat(timespec="microseconds")``; each
    second is formatted once (apply stamps several rows per step).
    """
    global _second
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    last, text = _second
    if seconds != last:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second = (seconds, text)
    return f"{text}.{micros:06d}+00:00"


@attrs.frozen
class Record:
    """One managed resource as last applied: spec (secrets hashed), outputs, edges."""

    address: str
    kind: str
    spec: Mapping[str, Any]
    outputs: Mapping[str, Any] = attrs.field(factory=dict)
    depends_on: tuple[str, ...] = ()
    revision: str | None = None
    tainted: bool = False
    protected: bool = False
    retain: bool = False
    created_at: str = attrs.field(factory=now, eq=False)
    updated_at: str = attrs.field(factory=now, eq=False)


@attrs.frozen
class Intent:
    """A provider call about to be made; open until its outcome is recorded."""

    id: int
    address: str
    kind: str
    action: str
    spec: Mapping[str, Any]
    apply_id: int | None = None


@attrs.frozen
class Snapshot:
    """Recorded state at one moment: records by address, the serial, the salt."""

    records: Mapping[str, Record]
    serial: int
    salt: str
    intents: tuple[Intent, ...] = ()


@attrs.frozen
class LockInfo:
    """Who holds the apply lock: process, host and since when."""

    pid: int
    host: str
    since: str
    note: str = ""

    @classmethod
    def mine(cls, note: str = "") -> LockInfo:
        return cls(os.getpid(), socket.gethostname(), now(), note)

    @property
    def alive(self) -> bool | None:
        """Whether the holder still runs; None when it is on another host."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        state = {True: "running", False: "no longer running", None: "on another host"}
        return f"pid {self.pid} on {self.host} since {self.since} ({state[self.alive]})"


@attrs.frozen
class StepEntry:
    """One journaled step outcome of an apply."""

    address: str
    action: str
    status: str
    error: str | None = None
    at: str = attrs.field(factory=now, eq=False)


@attrs.frozen
class ApplyEntry:
    """One apply in the journal: when, from which revision, by whom, its plan and steps."""

    id: int
    started_at: str
    ended_at: str | None
    status: str
    revision: str | None = None
    user: str | None = None
    host: str | None = None
    meta: Mapping[str, Any] = attrs.field(factory=dict)
    plan: str | None = None
    steps: tuple[StepEntry, ...] = ()


Journaled = tuple[int, "StepEntry"] | None
"""An apply id and the step outcome to journal with a change, or None."""


class State(abc.ABC):
    """Where recorded state lives. Every method is one atomic change unless noted."""

    @abc.abstractmethod
    def snapshot(self) -> Snapshot:
        """Everything the planner needs, read consistently."""

    @abc.abstractmethod
    def save(self, record: Record, *, intent: int | None = None, step: Journaled = None) -> None:
        """Record ``record``, close ``intent``, journal ``step``: one transaction; serial + 1."""

    @abc.abstractmethod
    def forget(self, address: str, *, intent: int | None = None, step: Journaled = None) -> None:
        """Drop ``address``, close ``intent``, journal ``step``: one transaction; serial + 1."""

    @abc.abstractmethod
    def move(self, old: str, new: str) -> None:
        """Rebind the record at ``old`` to ``new``; an error if ``new`` is taken."""

    @abc.abstractmethod
    def open_intent(
        self, address: str, kind: str, action: str, spec: Mapping[str, Any], apply_id: int | None
    ) -> int:
        """Durably note that a provider call for ``address`` is about to run."""

    @abc.abstractmethod
    def close_intent(self, intent: int, *, step: Journaled = None) -> None:
        """The intent's call finished with nothing to record (it failed); journal ``step``."""

    @abc.abstractmethod
    def acquire(self, holder: LockInfo) -> LockInfo | None:
        """Take the apply lock; returns None on success, else the current holder.

        The lock should end with the process holding it, as an OS file lock does.
        """

    @abc.abstractmethod
    def release(self, holder: LockInfo) -> None:
        """Give the lock back if ``holder`` has it."""

    @abc.abstractmethod
    def force_unlock(self) -> LockInfo | None:
        """Remove a lock whose holder cannot release it; returns who held it.

        A store whose lock dies with its holder (``SQLiteState``'s file lock) refuses,
        with ``LockedError``, to break one a running process holds.
        """

    @abc.abstractmethod
    def begin_apply(self, revision: str | None, plan: str, meta: Mapping[str, Any]) -> int:
        """Open a journal entry for an apply; returns its id."""

    @abc.abstractmethod
    def journal_step(self, apply_id: int, entry: StepEntry) -> None:
        """Append one step outcome to an apply's journal entry."""

    @abc.abstractmethod
    def end_apply(self, apply_id: int, status: str) -> None:
        """Close a journal entry with the apply's overall status."""

    @abc.abstractmethod
    def history(self, limit: int | None = None) -> list[ApplyEntry]:
        """Journal entries, newest first, without their plans and steps."""

    @abc.abstractmethod
    def entry(self, apply_id: int) -> ApplyEntry:
        """One journal entry, whole: plan JSON and every step; KeyError if unknown."""

    def batch(self) -> AbstractContextManager[None]:
        """Changes made inside commit together when the block ends (each stays atomic).

        Apply batches the intents of the calls it is about to start, and the records
        of the calls that finished, so a step costs no transaction of its own. A
        crash inside the block loses all of its changes; the intents opened before
        it stay open for recovery. By default each change commits at once.
        """
        return contextlib.nullcontext()

    def records(self) -> Mapping[str, Record]:
        return self.snapshot().records

    def __iter__(self) -> Iterator[Record]:
        return iter(self.snapshot().records.values())
