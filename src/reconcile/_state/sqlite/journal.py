"""The SQLite store's journal of applies: opening and closing an entry, and reading
entries back. Step rows are written with the change they journal (``rows.journaled``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconcile._state.values import ApplyEntry, StepEntry, now

from .connection import Connection
from .faults import rows_of
from .rows import apply_entry, dump

__all__ = ["begin_apply", "end_apply", "entry", "history"]


def begin_apply(
    conn: Connection, revision: str | None, plan: str, meta: Mapping[str, Any], keep: int
) -> int:
    """A new entry, its plan apart; entries older than the newest ``keep`` are dropped."""
    with conn.tx() as db:
        cursor = db.execute(
            "INSERT INTO applies (started_at, status, revision, user, host, meta) "
            "VALUES (?, 'running', ?, ?, ?, ?)",
            (now(), revision, meta.get("user"), meta.get("host"), dump(meta)),
        )
        newest = int(cursor.lastrowid or 0)
        db.execute("INSERT INTO plans VALUES (?, ?)", (newest, plan))
        oldest_kept = newest - keep + 1
        db.execute("DELETE FROM steps WHERE apply_id < ?", (oldest_kept,))
        db.execute("DELETE FROM plans WHERE apply_id < ?", (oldest_kept,))
        db.execute("DELETE FROM applies WHERE id < ?", (oldest_kept,))
        conn.applies.clear()  # some may be gone now
        return newest


def end_apply(conn: Connection, apply_id: int, status: str) -> None:
    with conn.tx() as db:
        db.execute(
            "UPDATE applies SET ended_at = ?, status = ? WHERE id = ?",
            (now(), status, apply_id),
        )


def history(conn: Connection, limit: int | None) -> list[ApplyEntry]:
    with conn.mutex:
        conn.flush()
        rows = conn.db.execute(
            "SELECT id, started_at, ended_at, status, revision, user, host, meta "
            "FROM applies ORDER BY id DESC LIMIT ?",
            (-1 if limit is None else limit,),
        ).fetchall()
    with rows_of(conn.path):
        return [apply_entry(r, None, ()) for r in rows]


def entry(conn: Connection, apply_id: int) -> ApplyEntry:
    with conn.mutex:
        conn.flush()
        row = conn.db.execute("SELECT * FROM applies WHERE id = ?", (apply_id,)).fetchone()
        if row is None:
            raise KeyError(apply_id)
        steps = conn.db.execute(
            "SELECT address, action, status, error, at FROM steps WHERE apply_id = ? ORDER BY seq",
            (apply_id,),
        ).fetchall()
        plan = conn.db.execute("SELECT plan FROM plans WHERE apply_id = ?", (apply_id,))
        found = plan.fetchone()
    with rows_of(conn.path):
        return apply_entry(row, found and found[0], tuple(StepEntry(*s) for s in steps))
