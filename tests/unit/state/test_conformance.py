"""A third-party state backend written against the public API passes the conformance suite.

``DictState`` implements only the eleven abstract methods of ``rc.State`` (``move``,
``batch``, ``force_unlock`` and ``entry`` come from the contract's defaults), in plain
dicts, as the "Write a state backend" page shows; the suite checks it against
``MemoryState``. A backend that breaks the contract is caught.
"""

from __future__ import annotations

import datetime
import itertools
import os
import threading
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from hypothesis import settings

import reconcile as rc
from reconcile.testing import StateConformance, check_state


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class DictState(rc.State):
    """Recorded state in dicts: the fewest methods a backend can write."""

    def __init__(self) -> None:
        self._records: dict[str, rc.Record] = {}
        self._intents: dict[int, rc.Intent] = {}
        self._applies: dict[int, rc.ApplyEntry] = {}
        self._serial = 0
        self._salt = os.urandom(16).hex()
        self._ids = itertools.count(1)
        self._holder: rc.LockInfo | None = None
        self._mutex = threading.RLock()

    def snapshot(self) -> rc.Snapshot:
        with self._mutex:
            intents = tuple(self._intents.values())
            return rc.Snapshot(dict(self._records), self._serial, self._salt, intents)

    def save(
        self, record: rc.Record, *, intent: int | None = None, step: rc.Journaled = None
    ) -> None:
        with self._mutex:
            self._journal(step)
            old = self._records.get(record.address)
            if old is not None:
                record = attrs.evolve(record, created_at=old.created_at)
            self._records[record.address] = record
            self._serial += 1
            self._intents.pop(intent or 0, None)

    def forget(self, address: str, *, intent: int | None = None, step: rc.Journaled = None) -> None:
        with self._mutex:
            self._journal(step)
            if self._records.pop(address, None) is not None:
                self._serial += 1
            self._intents.pop(intent or 0, None)

    def open_intent(
        self, address: str, kind: str, action: str, spec: Mapping[str, Any], apply_id: int | None
    ) -> int:
        with self._mutex:
            intent = rc.Intent(next(self._ids), address, kind, action, dict(spec), apply_id)
            self._intents[intent.id] = intent
            return intent.id

    def close_intent(self, intent: int, *, step: rc.Journaled = None) -> None:
        with self._mutex:
            self._journal(step)
            self._intents.pop(intent, None)

    def acquire(self, holder: rc.LockInfo) -> rc.LockInfo | None:
        with self._mutex:
            if self._holder is not None and self._holder != holder:
                return self._holder
            self._holder = holder
            return None

    def release(self, holder: rc.LockInfo) -> None:
        with self._mutex:
            if self._holder == holder:
                self._holder = None

    def begin_apply(self, revision: str | None, plan: str, meta: Mapping[str, Any]) -> int:
        with self._mutex:
            apply_id = next(self._ids)
            self._applies[apply_id] = rc.ApplyEntry(
                apply_id, _now(), None, "running", revision,
                meta.get("user"), meta.get("host"), dict(meta), plan,
            )  # fmt: skip
            return apply_id

    def journal_step(self, apply_id: int, entry: rc.StepEntry) -> None:
        with self._mutex:
            old = self._applies[apply_id]
            self._applies[apply_id] = attrs.evolve(old, steps=(*old.steps, entry))

    def end_apply(self, apply_id: int, status: str) -> None:
        with self._mutex:
            old = self._applies[apply_id]
            self._applies[apply_id] = attrs.evolve(old, ended_at=_now(), status=status)

    def history(self, limit: int | None = None) -> list[rc.ApplyEntry]:
        with self._mutex:
            return sorted(self._applies.values(), key=lambda e: e.id, reverse=True)[:limit]

    def _journal(self, step: rc.Journaled) -> None:
        if step is not None:
            self.journal_step(*step)


class TestDictStateConforms(StateConformance):
    def make_state(self) -> rc.State:
        return DictState()


def test_a_backend_needs_only_the_eleven_abstract_methods():
    assert sorted(rc.State.__abstractmethods__) == [
        "acquire", "begin_apply", "close_intent", "end_apply", "forget", "history",
        "journal_step", "open_intent", "release", "save", "snapshot",
    ]  # fmt: skip
    assert not DictState.__abstractmethods__


class SerialForgetter(DictState):
    """Breaks the contract: forgetting an address that is not recorded moves the serial."""

    def forget(self, address: str, *, intent: int | None = None, step: rc.Journaled = None) -> None:
        super().forget(address, intent=intent, step=step)
        if address not in self._records:
            self._serial += 1


class SharedLock(DictState):
    """Breaks the contract: any holder may release the lock."""

    def release(self, holder: rc.LockInfo) -> None:
        self._holder = None


@pytest.mark.parametrize("broken", [SerialForgetter, SharedLock])
def test_a_backend_that_breaks_the_contract_fails_the_suite(broken):
    with pytest.raises(AssertionError):
        check_state(broken, hypothesis_settings=settings(database=None, report_multiple_bugs=False))
