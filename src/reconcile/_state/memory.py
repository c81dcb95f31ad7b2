"""``MemoryState``: recorded state in a dict, for tests and short-lived tools.

Same semantics as SQLite state (serials, intents, lock, journal) without a file;
everything is lost with the process. ``force_unlock`` is the contract's default.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import attrs

from reconcile._model.secrets import keyed_salt, new_salt
from reconcile._util.errors import StateError

from .contract import State
from .values import (
    ApplyEntry,
    Intent,
    Journaled,
    LockInfo,
    Record,
    Snapshot,
    StepEntry,
    now,
)

__all__ = ["MemoryState"]


class MemoryState(State):
    """Recorded state kept in memory; thread-safe. The journal keeps ``keep_history`` applies."""

    def __init__(self, *, keep_history: int = 1000) -> None:
        self.keep_history = keep_history
        self._records: dict[str, Record] = {}
        self._intents: dict[int, Intent] = {}
        self._applies: dict[int, ApplyEntry] = {}  # without their steps, kept apart:
        self._steps: dict[int, list[StepEntry]] = {}  # appending stays O(1) per step
        self._serial = 0
        self._salt = keyed_salt(new_salt(), os.urandom(32))  # a key that lives only here
        self._holder: LockInfo | None = None
        self._next_id = 0
        self._mutex = threading.RLock()

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def snapshot(self) -> Snapshot:
        with self._mutex:
            return Snapshot(
                dict(self._records), self._serial, self._salt, tuple(self._intents.values())
            )

    def save(self, record: Record, *, intent: int | None = None, step: Journaled = None) -> None:
        with self._mutex:
            self._journal(step)
            old = self._records.get(record.address)
            if old is not None:
                record = attrs.evolve(record, created_at=old.created_at)
            self._records[record.address] = record
            self._serial += 1
            self._intents.pop(intent or 0, None)

    def forget(self, address: str, *, intent: int | None = None, step: Journaled = None) -> None:
        with self._mutex:
            self._journal(step)
            if self._records.pop(address, None) is not None:
                self._serial += 1
            self._intents.pop(intent or 0, None)

    def move(self, old: str, new: str) -> None:
        with self._mutex:
            if new in self._records:
                raise StateError(f"cannot move {old} to {new}: {new} is already recorded")
            record = self._records.pop(old, None)
            if record is None:
                raise StateError(f"cannot move {old}: it is not recorded")
            self._records[new] = attrs.evolve(record, address=new, updated_at=now())
            self._serial += 1

    def open_intent(
        self, address: str, kind: str, action: str, spec: Mapping[str, Any], apply_id: int | None
    ) -> int:
        with self._mutex:
            intent = Intent(self._id(), address, kind, action, dict(spec), apply_id)
            self._intents[intent.id] = intent
            return intent.id

    def close_intent(self, intent: int, *, step: Journaled = None) -> None:
        with self._mutex:
            self._journal(step)
            self._intents.pop(intent, None)

    def acquire(self, holder: LockInfo) -> LockInfo | None:
        with self._mutex:
            if self._holder is not None and self._holder != holder:
                return self._holder
            self._holder = holder
            return None

    def release(self, holder: LockInfo) -> None:
        with self._mutex:
            if self._holder == holder:
                self._holder = None

    def begin_apply(self, revision: str | None, plan: str, meta: Mapping[str, Any]) -> int:
        with self._mutex:
            entry = ApplyEntry(
                self._id(), now(), None, "running", revision,
                meta.get("user"), meta.get("host"), dict(meta), plan,
            )  # fmt: skip
            self._applies[entry.id] = entry
            self._steps[entry.id] = []
            for old in sorted(self._applies)[: -self.keep_history or None]:
                del self._applies[old]
                del self._steps[old]
            return entry.id

    def _journal(self, step: Journaled) -> None:
        if step is not None:
            self.journal_step(*step)

    def journal_step(self, apply_id: int, entry: StepEntry) -> None:
        with self._mutex:
            self._steps[apply_id].append(entry)

    def end_apply(self, apply_id: int, status: str) -> None:
        with self._mutex:
            old = self._applies[apply_id]
            self._applies[apply_id] = attrs.evolve(old, ended_at=now(), status=status)

    def history(self, limit: int | None = None) -> list[ApplyEntry]:
        with self._mutex:
            newest = sorted(self._applies.values(), key=lambda e: e.id, reverse=True)
            return [attrs.evolve(e, plan=None, steps=()) for e in newest[:limit]]

    def entry(self, apply_id: int) -> ApplyEntry:
        with self._mutex:
            return attrs.evolve(self._applies[apply_id], steps=tuple(self._steps[apply_id]))
