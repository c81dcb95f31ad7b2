"""The SQLite store's connection and its transaction rules, shared by its parts.

Each change is one transaction (``tx``), or a savepoint inside a ``batch``, whose
checked rows wait in ``Pending`` and are written together when it commits. An
interrupt (Ctrl-C included) rolls back what it left open before the next change.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconcile._state.marker import read_marker, write_marker
from reconcile._util.errors import DamagedStateError

from .batch import INSERT_STEP, Pending, bindable
from .faults import translating
from .schema import connect

__all__ = ["Change", "Connection"]

Change = tuple[str, tuple[Any, ...]]
"""A statement and the row it writes."""


class Connection:
    """One connection to the state file, its batch and its marker; thread-safe via ``mutex``."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.path = path
        self.mutex = threading.RLock()
        self.batched = False
        self.pending = Pending()  # a batch's checked changes, written when it commits
        self.applies: set[int] = set()  # apply ids a batch has seen exist
        self.db = connect(path, synchronous)
        self.marked = read_marker(path) or 0  # the serial the marker records

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for every change inside (a nested batch joins the outer one)."""
        with self.mutex:
            if self.batched:
                yield  # nested: the outer batch commits
                return
            self.settle()
            with translating(self.path):
                self.db.execute("BEGIN IMMEDIATE")
            self.batched = True
            try:
                yield
            finally:
                self.batched = False
                pending, self.pending = self.pending, Pending()
                self.applies.clear()
                try:
                    with translating(self.path):
                        if self.db.in_transaction:
                            pending.flush(self.db)
                            self.db.execute("COMMIT")
                            self.mark()
                finally:
                    self.settle()

    def holding(self) -> Pending | None:
        """The batch's pending changes, when a change may join them instead of running."""
        return self.pending if self.batched else None

    def flush(self) -> None:
        """Write what the batch holds, before a change or a read that must see it."""
        if self.batched and self.pending:
            self.pending.flush(self.db)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back if anything (Ctrl-C included) interrupts it.

        In a batch (after writing what it holds), a savepoint instead.
        """
        with self.mutex:
            if self.batched:
                self.flush()
                with self._savepoint():
                    yield self.db
                return
            self.settle()
            self.db.execute("BEGIN IMMEDIATE")
            done = False
            try:
                yield self.db
                self.db.execute("COMMIT")
                done = True
                self.mark()
            finally:
                if not done:
                    self.settle()

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """Inside a batch: the change applies whole or not at all, and the batch goes on."""
        self.db.execute("SAVEPOINT change")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:  # some errors end the whole transaction themselves
                self.db.execute("ROLLBACK TO change")
                self.db.execute("RELEASE change")
            raise
        self.db.execute("RELEASE change")

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A consistent read: its own transaction, or the batch's (which sees its changes)."""
        if self.batched:
            self.flush()
            yield
            return
        self.settle()
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.settle()

    def settle(self) -> None:
        """Roll back a transaction an interrupt left open, so the next one can begin."""
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def meta(self, key: str) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise DamagedStateError(f"{self.path}: the state is damaged: meta has no {key!r}")
        return str(row[0])

    def mark(self, *, always: bool = False) -> None:
        """Record in the marker that this state holds records: when the first lands, and
        (``always``) when an apply ends, so that an emptied file is refused later."""
        if self.marked and not always:
            return
        serial = int(self.meta("serial"))
        if serial > self.marked:
            write_marker(self.path, serial)
            self.marked = serial

    def change(self, changes: list[Change], bumps: int = 0) -> None:
        """One change's rows: held for the batch when they may be, else written now,
        whole, in a transaction (or a batch's savepoint) of their own."""
        with self.mutex:
            if self._defer(changes, bumps):
                return
            alone = Pending()
            for statement, row in changes:
                alone.add(statement, row)
            alone.bumps = bumps
            with self.tx() as db:
                alone.flush(db)

    def _defer(self, changes: list[Change], bumps: int) -> bool:
        """Hold a change's rows until the batch commits; False when it must run now:
        outside a batch, or SQLite would refuse a row (it then raises its own error)."""
        pending = self.holding()
        if pending is None:
            return False
        for statement, row in changes:
            if not bindable(row) or (statement is INSERT_STEP and not self._known(row[0])):
                return False
        for statement, row in changes:
            pending.add(statement, row)
        pending.bumps += bumps
        return True

    def _known(self, apply_id: int) -> bool:
        """Whether a journal entry ``apply_id`` exists (a step for any other is refused)."""
        if apply_id not in self.applies:
            found = self.db.execute("SELECT 1 FROM applies WHERE id = ?", (apply_id,))
            if found.fetchone() is None:
                return False
            self.applies.add(apply_id)
        return True
