"""Changes a ``SQLiteState`` batch holds back, written with one ``executemany`` per run.

A batch of a hundred steps would otherwise cost five statements a step, each
through the ``sqlite3`` module's per-call overhead. Rows are kept in order per
table (statements on different tables commute; on one table they run in the
order made) and consecutive rows of one statement go in one call. The caller
checks each change before holding it back, so writing them fails only when the
database itself does (a full disk), and then the whole batch is lost.
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = [
    "DELETE_INTENT",
    "DELETE_RECORD",
    "INSERT_INTENT",
    "INSERT_STEP",
    "UPSERT_RECORD",
    "Pending",
    "bindable",
]

UPSERT_RECORD = (
    "INSERT INTO resources VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(address) DO "
    "UPDATE SET kind=excluded.kind, spec=excluded.spec, outputs=excluded.outputs, "
    "depends_on=excluded.depends_on, revision=excluded.revision, "
    "tainted=excluded.tainted, protected=excluded.protected, "
    "retain=excluded.retain, updated_at=excluded.updated_at"
)
DELETE_RECORD = "DELETE FROM resources WHERE address = ?"
INSERT_INTENT = (
    "INSERT INTO intents (id, address, kind, action, spec, apply_id, created_at) "
    "VALUES (?,?,?,?,?,?,?)"
)
DELETE_INTENT = "DELETE FROM intents WHERE id = ?"
INSERT_STEP = (
    "INSERT INTO steps (apply_id, address, action, status, error, at) VALUES (?,?,?,?,?,?)"
)
_BUMP = "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'serial'"
_TABLES = {
    UPSERT_RECORD: "resources",
    DELETE_RECORD: "resources",
    INSERT_INTENT: "intents",
    DELETE_INTENT: "intents",
    INSERT_STEP: "steps",
}
_BINDABLE = frozenset({str, int, float, bytes, type(None)})


def bindable(row: tuple[Any, ...]) -> bool:
    """Whether SQLite can bind every value of ``row`` (else the change runs at once, and
    raises SQLite's own error where it is made)."""
    return _BINDABLE.issuperset(map(type, row))


class Pending:
    """Rows waiting for their batch to commit, and the serial bumps they make (a change
    made outside a batch is written through one too, alone)."""

    __slots__ = ("_runs", "bumps", "next_intent")

    def __init__(self) -> None:
        self._runs: dict[str, list[tuple[str, list[tuple[Any, ...]]]]] = {}
        self.bumps = 0
        self.next_intent: int | None = None  # the id the next intent takes, once read

    def __bool__(self) -> bool:
        return bool(self._runs or self.bumps)

    def add(self, statement: str, row: tuple[Any, ...]) -> None:
        runs = self._runs.setdefault(_TABLES[statement], [])
        if runs and runs[-1][0] is statement:
            runs[-1][1].append(row)
        else:
            runs.append((statement, [row]))

    def intent_id(self, db: sqlite3.Connection) -> int:
        """The id ``AUTOINCREMENT`` would give the next intent (the batch holds the lock)."""
        if self.next_intent is None:
            row = db.execute(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'intents'), 0), "
                "coalesce((SELECT max(id) FROM intents), 0))"
            ).fetchone()
            self.next_intent = int(row[0]) + 1
        taken = self.next_intent
        self.next_intent += 1
        return taken

    def flush(self, db: sqlite3.Connection) -> None:
        """Write every held row, in order per table, then the serial."""
        runs, self._runs = self._runs, {}
        for table in runs.values():
            for statement, rows in table:
                cursor = db.executemany(statement, rows)
                if statement is DELETE_RECORD:  # a forget counts only if it dropped a record
                    self.bumps += cursor.rowcount
        if self.bumps:
            db.execute(_BUMP, (self.bumps,))
            self.bumps = 0
