"""The SQLite store's apply lock: an OS file lock beside the database, which dies with
its holder, and the ``lock`` row that names the holder to older versions."""

from __future__ import annotations

import sqlite3

from reconcile._state.filelock import FileLock
from reconcile._state.values import LockInfo
from reconcile._util.errors import LockedError

from .connection import Connection

__all__ = ["ApplyLock"]


class ApplyLock:
    """Who holds the apply lock of one state file, and taking, giving and breaking it."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._file_lock = FileLock(conn.path.with_name(conn.path.name + ".lock"))
        self.holder: LockInfo | None = None  # who holds the lock through this object

    def acquire(self, holder: LockInfo) -> LockInfo | None:
        """Take the file lock, then the row: a row is stale only when its holder held
        the file lock too (the file still names it) and has died, releasing it."""
        with self._conn.mutex:
            if self.holder is not None:
                return None if self.holder == holder else self.holder
            taken = self._file_lock.acquire(holder)
            if taken is False:
                return self._live_holder()
            with self._conn.tx() as db:
                current = _lock_row(db)
                stale = taken and current == self._file_lock.previous
                if current is not None and current != holder and not stale:
                    self._file_lock.release()
                    return current  # an older version's, or the row alone: not ours to judge
                db.execute(
                    "INSERT OR REPLACE INTO lock VALUES (1, ?, ?, ?, ?)",
                    (holder.pid, holder.host, holder.since, holder.note),
                )
            self.holder = holder
            return None

    def _live_holder(self) -> LockInfo:
        """Who holds the file lock in another process (its row while the file is unwritten)."""
        found = self._file_lock.holder()
        if found is None:
            with self._conn.mutex:
                found = _lock_row(self._conn.db)
        return found if found is not None else LockInfo(0, "unknown host", "unknown time")

    def release(self, holder: LockInfo) -> None:
        with self._conn.mutex:
            with self._conn.tx() as db:
                db.execute(
                    "DELETE FROM lock WHERE pid = ? AND host = ? AND since = ? AND note = ?",
                    (holder.pid, holder.host, holder.since, holder.note),
                )
            if self.holder == holder:
                self.holder = None
                self._file_lock.release()
            self._conn.mark(always=True)

    def force_unlock(self) -> LockInfo | None:
        """Remove a lock no live process holds (an older version's row, or the row alone
        where files cannot be locked); a lock a running process holds is refused."""
        with self._conn.mutex:
            if self.holder is not None:
                held = self.holder
                self.release(held)
                return held
            probe = LockInfo.mine("force_unlock")
            if self._file_lock.acquire(probe) is False:
                live = self._live_holder()
                raise LockedError(
                    f"state is locked by {live.describe()}: a running process holds it, "
                    "and the lock ends when it does; stop that process instead",
                    live,
                )
            try:
                with self._conn.tx() as db:
                    row = _lock_row(db)
                    db.execute("DELETE FROM lock")
            finally:
                self._file_lock.release()
            return row


def _lock_row(db: sqlite3.Connection) -> LockInfo | None:
    row = db.execute("SELECT pid, host, since, note FROM lock").fetchone()
    return None if row is None else LockInfo(row[0], row[1], row[2], row[3])
