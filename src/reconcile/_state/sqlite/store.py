"""``SQLiteState``: recorded state in one SQLite file (WAL; a transaction per change,
or per ``batch()``, whose step rows are written together by ``_sqlpending``).

The default store. Opening checks the file before anything runs: not SQLite,
not reconcile's, a newer schema, corruption or no write access each raise
``StateError`` and leave the file untouched, as does damage (``DamagedStateError``:
a missing table or meta row, a row that is not JSON, or an emptied file where the
``_statemark`` marker says records were). SQLite's own faults later (a full disk)
are ``StateError``s too. Older schemas migrate in place, and a new file is
created, under the apply's file lock, so concurrent openers build it once.
The apply lock is an OS file lock beside the database (``_filelock``), which
dies with its holder; the ``lock`` row names the holder to older versions.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from reconcile._model.secrets import keyed_salt, new_salt
from reconcile._util.errors import DamagedStateError, LockedError, StateError

from .contract import (
    ApplyEntry,
    Intent,
    Journaled,
    LockInfo,
    Record,
    Snapshot,
    State,
    StepEntry,
    now,
)
from .filelock import FileLock
from .key import state_key
from .marker import marker_path, read_marker, write_marker
from .sqlite_batch import (
    DELETE_INTENT,
    DELETE_RECORD,
    INSERT_INTENT,
    INSERT_STEP,
    UPSERT_RECORD,
    Pending,
    bindable,
)

__all__ = ["SCHEMA_VERSION", "SQLiteState"]

SCHEMA_VERSION = 2
_MAGIC = b"SQLite format 3\x00"
_TABLES = frozenset({"meta", "resources", "intents", "applies", "plans", "steps", "lock"})
_BUILD_WAIT = 30.0  # seconds a new or old file waits for another process building it
_P = ParamSpec("_P")
_R = TypeVar("_R")

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

_RECORDS = (
    "SELECT address, kind, spec, outputs, depends_on, revision, tainted, protected, retain, "
    "created_at, updated_at FROM resources"
)
_decode = json.JSONDecoder().raw_decode


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


def _translated(
    method: Callable[Concatenate[SQLiteState, _P], _R],
) -> Callable[Concatenate[SQLiteState, _P], _R]:
    """SQLite's own faults (a full disk, a damaged file) as ``StateError``s naming the file."""

    def translated(self: SQLiteState, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _translating(self.path):
            return method(self, *args, **kwargs)

    functools.update_wrapper(translated, method)
    return translated


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
        _check_file(self.path)
        self._mutex = threading.RLock()
        self._batched = False
        self._pending = Pending()  # a batch's checked changes, written when it commits
        self._applies: set[int] = set()  # apply ids a batch has seen exist
        # Open intents' specs as given and as JSON: a record of the same spec skips a dump.
        self._intent_specs: dict[int | None, tuple[Mapping[str, Any], str]] = {}
        self._db = _connect(self.path, synchronous)
        # Digests are keyed by a key kept outside the file: the file alone checks no guess.
        try:
            self._salt = keyed_salt(self._meta("salt"), state_key(self.path))
        except BaseException:
            self._db.close()  # a refused key leaves no connection open
            raise
        self._marked = read_marker(self.path) or 0  # the serial the marker records
        self._closed = False
        self._file_lock = FileLock(self.path.with_name(self.path.name + ".lock"))
        self._holder: LockInfo | None = None  # who holds the lock through this object

    def __repr__(self) -> str:
        return f"SQLiteState({str(self.path)!r})"

    def close(self) -> None:
        """Close the database; a lock held through this object ends with it."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            if self._holder is not None:
                self.release(self._holder)
            try:
                with _translating(self.path):
                    self._mark(always=True)
            finally:
                self._db.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for every change inside.

        Intents, records, forgets and journal steps are checked when made and written
        together at the end (``_sqlpending``); any other change flushes them first and
        runs in its own savepoint, so each change is whole or undone.
        """
        with self._mutex:
            if self._batched:
                yield  # nested: the outer batch commits
                return
            self._settle()
            with _translating(self.path):
                self._db.execute("BEGIN IMMEDIATE")
            self._batched = True
            try:
                yield
            finally:
                self._batched = False
                pending, self._pending = self._pending, Pending()
                self._applies.clear()
                try:
                    with _translating(self.path):
                        if self._db.in_transaction:
                            pending.flush(self._db)
                            self._db.execute("COMMIT")
                            self._mark()
                finally:
                    self._settle()

    def _holding(self) -> Pending | None:
        """The batch's pending changes, when a change may join them instead of running."""
        return self._pending if self._batched else None

    def _flush(self) -> None:
        """Write what the batch holds, before a change or a read that must see it."""
        if self._batched and self._pending:
            self._pending.flush(self._db)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back if anything (Ctrl-C included) interrupts it.

        In a batch (after writing what it holds), a savepoint instead.
        """
        with self._mutex:
            if self._batched:
                self._flush()
                with self._savepoint():
                    yield self._db
                return
            self._settle()
            self._db.execute("BEGIN IMMEDIATE")
            done = False
            try:
                yield self._db
                self._db.execute("COMMIT")
                done = True
                self._mark()
            finally:
                if not done:
                    self._settle()

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """Inside a batch: the change applies whole or not at all, and the batch goes on."""
        self._db.execute("SAVEPOINT change")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:  # some errors end the whole transaction themselves
                self._db.execute("ROLLBACK TO change")
                self._db.execute("RELEASE change")
            raise
        self._db.execute("RELEASE change")

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A consistent read: its own transaction, or the batch's (which sees its changes)."""
        if self._batched:
            self._flush()
            yield
            return
        self._settle()
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._settle()

    def _settle(self) -> None:
        """Roll back a transaction an interrupt left open, so the next one can begin."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _meta(self, key: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise DamagedStateError(f"{self.path}: the state is damaged: meta has no {key!r}")
        return str(row[0])

    def _mark(self, *, always: bool = False) -> None:
        """Record in the marker that this state holds records: when the first lands, and
        (``always``) when an apply ends, so that an emptied file is refused later."""
        if self._marked and not always:
            return
        serial = int(self._meta("serial"))
        if serial > self._marked:
            write_marker(self.path, serial)
            self._marked = serial

    def _bump(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'serial'")

    @_translated
    def snapshot(self) -> Snapshot:
        with self._mutex, self._reading():
            rows = self._db.execute(_RECORDS).fetchall()
            intents = self._db.execute("SELECT * FROM intents ORDER BY id").fetchall()
            serial = int(self._meta("serial"))
        with _rows_of(self.path):
            records = {r[0]: _record(*r) for r in rows}
            opened = tuple(_intent(i) for i in intents)
        return Snapshot(records, serial, self._salt, opened)

    @_translated
    def save(self, record: Record, *, intent: int | None = None, step: Journaled = None) -> None:
        row = _row(record, self._intent_specs.pop(intent, None))
        self._change([*_journaled(step), (UPSERT_RECORD, row), *_closing(intent)], bumps=1)

    @_translated
    def forget(self, address: str, *, intent: int | None = None, step: Journaled = None) -> None:
        self._intent_specs.pop(intent, None)  # the serial counts the record it drops, if any
        self._change([*_journaled(step), (DELETE_RECORD, (address,)), *_closing(intent)])

    def _change(self, changes: list[tuple[str, tuple[Any, ...]]], bumps: int = 0) -> None:
        """One change's rows: held for the batch when they may be, else written now,
        whole, in a transaction (or a batch's savepoint) of their own."""
        with self._mutex:
            if self._defer(changes, bumps):
                return
            alone = Pending()
            for statement, row in changes:
                alone.add(statement, row)
            alone.bumps = bumps
            with self._tx() as db:
                alone.flush(db)

    def _defer(self, changes: list[tuple[str, tuple[Any, ...]]], bumps: int) -> bool:
        """Hold a change's rows until the batch commits; False when it must run now:
        outside a batch, or SQLite would refuse a row (it then raises its own error)."""
        pending = self._holding()
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
        if apply_id not in self._applies:
            found = self._db.execute("SELECT 1 FROM applies WHERE id = ?", (apply_id,))
            if found.fetchone() is None:
                return False
            self._applies.add(apply_id)
        return True

    @_translated
    def move(self, old: str, new: str) -> None:
        with self._tx() as db:
            if db.execute("SELECT 1 FROM resources WHERE address = ?", (new,)).fetchone():
                raise StateError(f"cannot move {old} to {new}: {new} is already recorded")
            moved = db.execute(
                "UPDATE resources SET address = ?, updated_at = ? WHERE address = ?",
                (new, now(), old),
            ).rowcount
            if not moved:
                raise StateError(f"cannot move {old}: it is not recorded")
            self._bump(db)

    @_translated
    def open_intent(
        self, address: str, kind: str, action: str, spec: Mapping[str, Any], apply_id: int | None
    ) -> int:
        text = _dump(spec)
        row = (address, kind, action, text, apply_id, now())
        with self._mutex:
            pending = self._holding()
            if pending is not None and bindable(row):
                intent = pending.intent_id(self._db)
                pending.add(INSERT_INTENT, (intent, *row))
            else:
                with self._tx() as db:
                    cursor = db.execute(
                        "INSERT INTO intents (address, kind, action, spec, apply_id, created_at) "
                        "VALUES (?,?,?,?,?,?)",
                        row,
                    )
                    intent = int(cursor.lastrowid or 0)
                self._pending.next_intent = None  # ids move on from the one taken here
        self._intent_specs[intent] = (spec, text)  # the record that closes it may reuse it
        return intent

    @_translated
    def close_intent(self, intent: int, *, step: Journaled = None) -> None:
        self._intent_specs.pop(intent, None)
        self._change([*_journaled(step), (DELETE_INTENT, (intent,))])

    @_translated
    def acquire(self, holder: LockInfo) -> LockInfo | None:
        """Take the file lock, then the row: a row is stale only when its holder held
        the file lock too (the file still names it) and has died, releasing it."""
        with self._mutex:
            if self._holder is not None:
                return None if self._holder == holder else self._holder
            taken = self._file_lock.acquire(holder)
            if taken is False:
                return self._live_holder()
            with self._tx() as db:
                current = _lock_row(db)
                stale = taken and current == self._file_lock.previous
                if current is not None and current != holder and not stale:
                    self._file_lock.release()
                    return current  # an older version's, or the row alone: not ours to judge
                db.execute(
                    "INSERT OR REPLACE INTO lock VALUES (1, ?, ?, ?, ?)",
                    (holder.pid, holder.host, holder.since, holder.note),
                )
            self._holder = holder
            return None

    def _live_holder(self) -> LockInfo:
        """Who holds the file lock in another process (its row while the file is unwritten)."""
        found = self._file_lock.holder()
        if found is None:
            with self._mutex:
                found = _lock_row(self._db)
        return found if found is not None else LockInfo(0, "unknown host", "unknown time")

    @_translated
    def release(self, holder: LockInfo) -> None:
        with self._mutex:
            with self._tx() as db:
                db.execute(
                    "DELETE FROM lock WHERE pid = ? AND host = ? AND since = ? AND note = ?",
                    (holder.pid, holder.host, holder.since, holder.note),
                )
            if self._holder == holder:
                self._holder = None
                self._file_lock.release()
            self._mark(always=True)

    @_translated
    def force_unlock(self) -> LockInfo | None:
        """Remove a lock no live process holds (an older version's row, or the row alone
        where files cannot be locked); a lock a running process holds is refused."""
        with self._mutex:
            if self._holder is not None:
                held = self._holder
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
                with self._tx() as db:
                    row = _lock_row(db)
                    db.execute("DELETE FROM lock")
            finally:
                self._file_lock.release()
            return row

    @_translated
    def begin_apply(self, revision: str | None, plan: str, meta: Mapping[str, Any]) -> int:
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO applies (started_at, status, revision, user, host, meta) "
                "VALUES (?, 'running', ?, ?, ?, ?)",
                (now(), revision, meta.get("user"), meta.get("host"), _dump(meta)),
            )
            newest = int(cursor.lastrowid or 0)
            db.execute("INSERT INTO plans VALUES (?, ?)", (newest, plan))
            oldest_kept = newest - self.keep_history + 1
            db.execute("DELETE FROM steps WHERE apply_id < ?", (oldest_kept,))
            db.execute("DELETE FROM plans WHERE apply_id < ?", (oldest_kept,))
            db.execute("DELETE FROM applies WHERE id < ?", (oldest_kept,))
            self._applies.clear()  # some may be gone now
            return newest

    @_translated
    def journal_step(self, apply_id: int, entry: StepEntry) -> None:
        self._change(_journaled((apply_id, entry)))

    @_translated
    def end_apply(self, apply_id: int, status: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE applies SET ended_at = ?, status = ? WHERE id = ?",
                (now(), status, apply_id),
            )

    @_translated
    def history(self, limit: int | None = None) -> list[ApplyEntry]:
        with self._mutex:
            self._flush()
            rows = self._db.execute(
                "SELECT id, started_at, ended_at, status, revision, user, host, meta "
                "FROM applies ORDER BY id DESC LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        with _rows_of(self.path):
            return [_apply_entry(r, None, ()) for r in rows]

    @_translated
    def entry(self, apply_id: int) -> ApplyEntry:
        with self._mutex:
            self._flush()
            row = self._db.execute("SELECT * FROM applies WHERE id = ?", (apply_id,)).fetchone()
            if row is None:
                raise KeyError(apply_id)
            steps = self._db.execute(
                "SELECT address, action, status, error, at FROM steps "
                "WHERE apply_id = ? ORDER BY seq",
                (apply_id,),
            ).fetchall()
            plan = self._db.execute("SELECT plan FROM plans WHERE apply_id = ?", (apply_id,))
            found = plan.fetchone()
        with _rows_of(self.path):
            return _apply_entry(row, found and found[0], tuple(StepEntry(*s) for s in steps))


def _journaled(step: Journaled) -> list[tuple[str, tuple[Any, ...]]]:
    """The journal row of a change, if it journals a step."""
    if step is None:
        return []
    apply_id, entry = step
    return [
        (INSERT_STEP, (apply_id, entry.address, entry.action, entry.status, entry.error, entry.at))
    ]


def _closing(intent: int | None) -> list[tuple[str, tuple[Any, ...]]]:
    """The row that closes ``intent``, if the change closes one."""
    return [] if intent is None else [(DELETE_INTENT, (intent,))]


@contextmanager
def _translating(path: Path) -> Iterator[None]:
    """Raise SQLite's faults of the file itself as ``StateError``s that say what to do;
    a change SQLite refuses (a constraint, a value it cannot bind) keeps its own error."""
    try:
        yield
    except sqlite3.DatabaseError as err:
        fault = _fault(path, err)
        if fault is None:
            raise
        raise fault from err


@contextmanager
def _rows_of(path: Path) -> Iterator[None]:
    """Rows read back from ``path``: a column that is not the JSON written is damage."""
    try:
        yield
    except (ValueError, TypeError) as err:
        raise DamagedStateError(
            f"{path}: the state is damaged: a recorded row is not valid JSON ({err}); "
            "restore it from a backup"
        ) from None


def _fault(path: Path, err: sqlite3.DatabaseError) -> StateError | None:
    if type(err) not in (sqlite3.OperationalError, sqlite3.DatabaseError):
        return None
    code = getattr(err, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "full" in str(err):
        return StateError(
            f"the disk holding {path} is full ({err}): free space and run again; "
            f"nothing recorded before was lost: {_last_step(path)}"
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or str(err).startswith(
        ("no such table", "no such column", "file is not a database")
    ):
        return DamagedStateError(f"{path}: the state is damaged ({err}); restore it from a backup")
    return StateError(f"{path}: cannot use state database: {err}")


def _last_step(path: Path) -> str:
    """What the journal last recorded, as committed (read through a connection of its own)."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            row = db.execute(
                "SELECT address, action, status FROM steps ORDER BY seq DESC LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return "the journal cannot be read now"
    if row is None:
        return "the journal records no step yet"
    return f"the last recorded step is {row[1]} {row[0]} ({row[2]})"


def _refuse_lost(path: Path, how: str) -> None:
    """An empty or missing database where the marker says records were: refused."""
    expected = read_marker(path)
    if expected:
        marker = marker_path(path)
        raise DamagedStateError(
            f"{path}: the state database is {how}, but {marker} says it held records "
            f"(serial {expected}); restore {path.name} from a backup, or delete {marker} "
            "to start with empty state on purpose"
        )


def _check_file(path: Path) -> None:
    """Refuse, before touching it, a file that is not ours or that we cannot write."""
    folder = path.parent
    if path.is_dir():
        raise DamagedStateError(f"{path}: is a directory, not a state database")
    if not path.exists():
        _refuse_lost(path, "missing")
    elif path.stat().st_size == 0:
        _refuse_lost(path, "empty (0 bytes)")
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise StateError(f"{path}: state file is not readable and writable by this user")
        with path.open("rb") as handle:
            head = handle.read(len(_MAGIC))
        if head and head != _MAGIC:
            raise StateError(f"{path}: not a SQLite database; refusing to use it as state")
    elif folder.exists() and not folder.is_dir():
        raise StateError(f"{folder}: is not a directory")
    else:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StateError(f"{folder}: cannot create the state folder: {err}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StateError(f"{folder}: state folder is not writable (SQLite needs its WAL there)")


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
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
        raise _fault(path, err) or StateError(f"{path}: cannot use state database: {err}") from None
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


def _lock_row(db: sqlite3.Connection) -> LockInfo | None:
    row = db.execute("SELECT pid, host, since, note FROM lock").fetchone()
    return None if row is None else LockInfo(row[0], row[1], row[2], row[3])


def _verify(db: sqlite3.Connection, path: Path) -> None:
    result = db.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        raise StateError(f"{path}: state database is corrupt ({result}); restore a backup")


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        _refuse_lost(path, "empty")
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


_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def _dump(value: Any) -> str:
    return "{}" if value == {} else _encode(value)


def _row(r: Record, intended: tuple[Mapping[str, Any], str] | None = None) -> tuple[Any, ...]:
    """The record's columns; its spec's JSON is the intent's when it is the same spec."""
    spec = intended[1] if intended is not None and intended[0] is r.spec else _dump(r.spec)
    edges = _edges_text(tuple(r.depends_on))
    return (
        r.address, r.kind, spec, _dump(r.outputs), edges,
        r.revision, int(r.tainted), int(r.protected), int(r.retain), r.created_at, r.updated_at,
    )  # fmt: skip


def _record(
    address: str, kind: str, spec: str, outputs: str, depends_on: str, revision: str | None,
    tainted: int, protected: int, retain: int, created_at: str, updated_at: str,
) -> Record:  # fmt: skip
    """A record from its row, in ``_RECORDS`` order (positional: a snapshot reads thousands)."""
    return Record(
        address=address,
        kind=kind,
        spec=_load(spec),
        outputs={} if outputs == "{}" else _load(outputs),
        depends_on=_edges(depends_on),
        revision=revision,
        tainted=bool(tainted),
        protected=bool(protected),
        retain=bool(retain),
        created_at=created_at,
        updated_at=updated_at,
    )


@functools.lru_cache(maxsize=4096)
def _edges_text(edges: tuple[str, ...]) -> str:
    """Dependency lists repeat across records (many files in one folder): encoded once."""
    return _encode(list(edges))


def _load(text: str) -> Any:
    """JSON written by ``_dump`` (no surrounding whitespace to skip)."""
    return _decode(text)[0]


@functools.lru_cache(maxsize=4096)
def _edges(text: str) -> tuple[str, ...]:
    """Dependency lists repeat across records (many files in one folder): decoded once."""
    return tuple(_load(text))


def _intent(row: sqlite3.Row) -> Intent:
    spec = json.loads(row["spec"])
    return Intent(row["id"], row["address"], row["kind"], row["action"], spec, row["apply_id"])


def _apply_entry(row: sqlite3.Row, plan: str | None, steps: tuple[StepEntry, ...]) -> ApplyEntry:
    return ApplyEntry(
        id=row["id"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        status=row["status"],
        revision=row["revision"],
        user=row["user"],
        host=row["host"],
        meta=json.loads(row["meta"]),
        plan=plan,
        steps=steps,
    )
