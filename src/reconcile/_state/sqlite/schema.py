"""The SQLite store's schema: creating a new file, checking an old one, migrating it.

``connect`` opens a file for ``SQLiteState``: checked sound and ours, built or
migrated under the apply's file lock (so concurrent openers build it once),
checked whole, and only then switched to WAL.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reconcile._model.secrets import new_salt
from reconcile._state.filelock import FileLock
from reconcile._state.values import LockInfo
from reconcile._util.errors import DamagedStateError, LockedError, StateError

from .faults import fault, refuse_lost

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "connect"]

SCHEMA_VERSION = 2
_TABLES = frozenset({"meta", "resources", "intents", "applies", "plans", "steps", "lock"})
_BUILD_WAIT = 30.0  # seconds a new or old file waits for another process building it

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE resources (
    address TEXT PRIMARY KEY, kind TEXT NOT NULL, spec TEXT NOT NULL, outputs TEXT NOT NULL,
    depends_on TEXT NOT NULL, revision TEXT, tainted INTEGER NOT NULL, protected INTEGER NOT NULL,
    retain INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, address TEXT NOT NULL, kind TEXT NOT NULL,
    action TEXT NOT NULL, spec TEXT NOT NULL, apply_id INTEGER, created_at TEXT NOT NULL);
CREATE TABLE applies (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, ended_at TEXT,
    status TEXT NOT NULL, revision TEXT, user TEXT, host TEXT, meta TEXT NOT NULL, plan TEXT);
CREATE TABLE steps (
    apply_id INTEGER NOT NULL REFERENCES applies(id), seq INTEGER PRIMARY KEY,
    address TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    at TEXT NOT NULL);
CREATE TABLE lock (
    id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL,
    since TEXT NOT NULL, note TEXT NOT NULL);
"""


def _plans_apart(db: sqlite3.Connection) -> None:
    """Schema 2: each apply's plan in a table of its own, so that closing an apply
    rewrites a small row, not its plan (megabytes for thousands of steps)."""
    db.execute(
        "CREATE TABLE plans ("
        "apply_id INTEGER PRIMARY KEY REFERENCES applies(id), plan TEXT NOT NULL)"
    )
    db.execute("INSERT INTO plans SELECT id, plan FROM applies WHERE plan IS NOT NULL")
    db.execute("UPDATE applies SET plan = NULL WHERE plan IS NOT NULL")


# MIGRATIONS[n] upgrades a database at schema version n to n + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _plans_apart}


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """Open, check it is ours and sound, migrate it, and only then switch it to WAL."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.row_factory = sqlite3.Row
    try:
        _verify(db, path)
        if _unbuilt(db):
            with _building(path):
                _migrate(db, path)  # the first to get the lock builds; the others find it built
        else:
            _migrate(db, path)  # checks it is ours and not newer: nothing to build
        _check_shape(db, path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as err:
        db.close()
        raise fault(path, err) or StateError(f"{path}: cannot use state database: {err}") from None
    except BaseException:
        db.close()
        raise
    return db


def _unbuilt(db: sqlite3.Connection) -> bool:
    """Whether opening must create or migrate the file (then under the file lock)."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return True
    if "meta" not in tables:
        return False  # refused by _migrate
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return row is not None and str(row[0]).isdigit() and int(row[0]) < SCHEMA_VERSION


@contextmanager
def _building(path: Path) -> Iterator[None]:
    """Hold the apply's file lock while a file is created or migrated, so that processes
    opening a new file at once build it once; the others wait, then find it built."""
    lock = FileLock(path.with_name(path.name + ".lock"))
    deadline = time.monotonic() + _BUILD_WAIT
    while lock.acquire(LockInfo.mine("creating or migrating the state")) is False:
        if time.monotonic() > deadline:
            holder = lock.holder() or LockInfo(0, "unknown host", "unknown time")
            raise LockedError(
                f"{path}: cannot create or migrate the state: it is locked by {holder.describe()}",
                holder,
            )
        time.sleep(0.05)
    try:
        yield
    finally:
        lock.release()


def _check_shape(db: sqlite3.Connection, path: Path) -> None:
    """Every table and meta row a schema-2 state has, each meta value of the right form."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = sorted(_TABLES - tables)
    if missing:
        raise DamagedStateError(
            f"{path}: the state is damaged: table {', '.join(missing)} is missing; "
            "restore it from a backup"
        )
    meta = {str(r[0]): r[1] for r in db.execute("SELECT key, value FROM meta")}
    for key in ("schema_version", "serial", "salt"):
        value = meta.get(key)
        if not isinstance(value, str) or not value or (key != "salt" and not value.isdigit()):
            raise DamagedStateError(
                f"{path}: the state is damaged: meta {key!r} is missing or invalid; "
                "restore it from a backup"
            )


def _verify(db: sqlite3.Connection, path: Path) -> None:
    result = db.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        raise StateError(f"{path}: state database is corrupt ({result}); restore a backup")


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        refuse_lost(path, "empty")
        _create(db)  # schema 1, then the migrations: a new file is built as an old one moves on
    elif "meta" not in tables:
        raise StateError(f"{path}: a SQLite database, but not reconcile state; refusing it")
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None or not str(row[0]).isdigit():
        raise DamagedStateError(
            f"{path}: the state is damaged: meta has no valid schema_version; "
            "restore it from a backup"
        )
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{path}: state schema {version} is newer than this reconcile ({SCHEMA_VERSION}); "
            "upgrade reconcile"
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise StateError(f"{path}: no migration from state schema {version}; upgrade reconcile")
        db.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            version += 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
        except BaseException as err:
            db.execute("ROLLBACK")
            raise StateError(
                f"{path}: migrating state to schema {version + 1} failed: {err}"
            ) from err
        db.execute("COMMIT")


def _create(db: sqlite3.Connection) -> None:
    """The whole schema and its meta rows in one transaction: all or nothing."""
    db.executescript(
        "BEGIN IMMEDIATE;"
        + _SCHEMA_V1
        + "INSERT INTO meta VALUES ('schema_version', '1');"
        + "INSERT INTO meta VALUES ('serial', '0');"
        + f"INSERT INTO meta VALUES ('salt', '{new_salt()}');"
        + "COMMIT;"
    )
