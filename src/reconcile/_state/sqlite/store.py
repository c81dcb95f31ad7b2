"""``SQLiteState``: recorded state in one SQLite file (WAL; a transaction per change,
or per ``batch()``, whose step rows are written together by ``batch.Pending``).

The default store. Opening checks the file before anything runs: not SQLite,
not reconcile's, a newer schema, corruption or no write access each raise
``StateError`` and leave the file untouched, as does damage (``DamagedStateError``:
a missing table or meta row, a row that is not JSON, or an emptied file where the
``marker`` says records were). SQLite's own faults later (a full disk) are
``StateError``s too (``faults``). Older schemas migrate in place, and a new file
is created, under the apply's file lock (``schema``), so concurrent openers build
it once. The apply lock is an OS file lock beside the database (``lock``), which
dies with its holder; the ``lock`` row names the holder to older versions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconcile._model.secrets import keyed_salt
from reconcile._state.contract import State
from reconcile._state.key import state_key
from reconcile._state.values import (
    ApplyEntry,
    Journaled,
    LockInfo,
    Record,
    Snapshot,
    StepEntry,
    now,
)
from reconcile._util.errors import StateError

from . import journal, rows
from .batch import DELETE_INTENT, DELETE_RECORD, INSERT_INTENT, UPSERT_RECORD, bindable
from .connection import Connection
from .faults import check_file, rows_of, translated, translating
from .lock import ApplyLock

__all__ = ["SQLiteState"]


class SQLiteState(State):
    """Recorded state in the SQLite file at ``path`` (created with its folder if absent).

    The journal keeps the newest ``keep_history`` applies (default 1,000).
    ``synchronous="NORMAL"`` (default, WAL) survives any crash of the process,
    kill -9 included; ``"FULL"`` also survives power loss, at an fsync per step.
    The apply lock is an ``flock`` on ``<path>.lock``: the OS releases it when its
    holder ends, however it ends.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ".reconcile/state.db",
        *,
        keep_history: int = 1000,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path = Path(path)
        self.keep_history = keep_history
        self.synchronous = synchronous
        check_file(self.path)
        # Open intents' specs as given and as JSON: a record of the same spec skips a dump.
        self._intent_specs: dict[int | None, tuple[Mapping[str, Any], str]] = {}
        self._conn = Connection(self.path, synchronous)
        self._db = self._conn.db
        # Digests are keyed by a key kept outside the file: the file alone checks no guess.
        try:
            self._salt = keyed_salt(self._conn.meta("salt"), state_key(self.path))
        except BaseException:
            self._db.close()  # a refused key leaves no connection open
            raise
        self._closed = False
        self._lock = ApplyLock(self._conn)

    def __repr__(self) -> str:
        return f"SQLiteState({str(self.path)!r})"

    def close(self) -> None:
        """Close the database; a lock held through this object ends with it."""
        with self._conn.mutex:
            if self._closed:
                return
            self._closed = True
            if self._lock.holder is not None:
                self.release(self._lock.holder)
            try:
                with translating(self.path):
                    self._conn.mark(always=True)
            finally:
                self._db.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for every change inside.

        Intents, records, forgets and journal steps are checked when made and written
        together at the end (``batch.Pending``); any other change flushes them first and
        runs in its own savepoint, so each change is whole or undone.
        """
        with self._conn.batch():
            yield

    # -- records ---------------------------------------------------------------

    @translated
    def snapshot(self) -> Snapshot:
        with self._conn.mutex, self._conn.reading():
            found = self._db.execute(rows.RECORDS).fetchall()
            intents = self._db.execute("SELECT * FROM intents ORDER BY id").fetchall()
            serial = int(self._conn.meta("serial"))
        with rows_of(self.path):
            records = {r[0]: rows.record(*r) for r in found}
            opened = tuple(rows.intent(i) for i in intents)
        return Snapshot(records, serial, self._salt, opened)

    @translated
    def save(self, record: Record, *, intent: int | None = None, step: Journaled = None) -> None:
        columns = rows.row(record, self._intent_specs.pop(intent, None))
        changes = [*rows.journaled(step), (UPSERT_RECORD, columns), *rows.closing(intent)]
        self._conn.change(changes, bumps=1)

    @translated
    def forget(self, address: str, *, intent: int | None = None, step: Journaled = None) -> None:
        self._intent_specs.pop(intent, None)  # the serial counts the record it drops, if any
        self._conn.change(
            [*rows.journaled(step), (DELETE_RECORD, (address,)), *rows.closing(intent)]
        )

    @translated
    def move(self, old: str, new: str) -> None:
        with self._conn.tx() as db:
            if db.execute("SELECT 1 FROM resources WHERE address = ?", (new,)).fetchone():
                raise StateError(f"cannot move {old} to {new}: {new} is already recorded")
            moved = db.execute(
                "UPDATE resources SET address = ?, updated_at = ? WHERE address = ?",
                (new, now(), old),
            ).rowcount
            if not moved:
                raise StateError(f"cannot move {old}: it is not recorded")
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'serial'")

    # -- intents ---------------------------------------------------------------

    @translated
    def open_intent(
        self, address: str, kind: str, action: str, spec: Mapping[str, Any], apply_id: int | None
    ) -> int:
        text = rows.dump(spec)
        columns = (address, kind, action, text, apply_id, now())
        with self._conn.mutex:
            pending = self._conn.holding()
            if pending is not None and bindable(columns):
                opened = pending.intent_id(self._db)
                pending.add(INSERT_INTENT, (opened, *columns))
            else:
                with self._conn.tx() as db:
                    cursor = db.execute(
                        "INSERT INTO intents (address, kind, action, spec, apply_id, created_at) "
                        "VALUES (?,?,?,?,?,?)",
                        columns,
                    )
                    opened = int(cursor.lastrowid or 0)
                self._conn.pending.next_intent = None  # ids move on from the one taken here
        self._intent_specs[opened] = (spec, text)  # the record that closes it may reuse it
        return opened

    @translated
    def close_intent(self, intent: int, *, step: Journaled = None) -> None:
        self._intent_specs.pop(intent, None)
        self._conn.change([*rows.journaled(step), (DELETE_INTENT, (intent,))])

    # -- the apply lock --------------------------------------------------------

    @translated
    def acquire(self, holder: LockInfo) -> LockInfo | None:
        return self._lock.acquire(holder)

    @translated
    def release(self, holder: LockInfo) -> None:
        self._lock.release(holder)

    @translated
    def force_unlock(self) -> LockInfo | None:
        return self._lock.force_unlock()

    # -- the journal -----------------------------------------------------------

    @translated
    def begin_apply(self, revision: str | None, plan: str, meta: Mapping[str, Any]) -> int:
        return journal.begin_apply(self._conn, revision, plan, meta, self.keep_history)

    @translated
    def journal_step(self, apply_id: int, entry: StepEntry) -> None:
        self._conn.change(rows.journaled((apply_id, entry)))

    @translated
    def end_apply(self, apply_id: int, status: str) -> None:
        journal.end_apply(self._conn, apply_id, status)

    @translated
    def history(self, limit: int | None = None) -> list[ApplyEntry]:
        return journal.history(self._conn, limit)

    @translated
    def entry(self, apply_id: int) -> ApplyEntry:
        return journal.entry(self._conn, apply_id)
