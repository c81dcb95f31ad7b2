"""What the SQLite store refuses and how its faults read: a file that is not ours,
SQLite's own errors as ``StateError``s, and rows that are not the JSON written.

Every check here runs before or around a change, so a refused file is left untouched.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from reconcile._state.marker import marker_path, read_marker
from reconcile._util.errors import DamagedStateError, StateError

__all__ = ["check_file", "fault", "refuse_lost", "rows_of", "translated", "translating"]

_MAGIC = b"SQLite format 3\x00"
_P = ParamSpec("_P")
_R = TypeVar("_R")


class _AtPath(Protocol):
    @property
    def path(self) -> Path: ...


_S = TypeVar("_S", bound=_AtPath)


def translated(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """SQLite's own faults (a full disk, a damaged file) as ``StateError``s naming the file."""

    def translated(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with translating(self.path):
            return method(self, *args, **kwargs)

    functools.update_wrapper(translated, method)
    return translated


@contextmanager
def translating(path: Path) -> Iterator[None]:
    """Raise SQLite's faults of the file itself as ``StateError``s that say what to do;
    a change SQLite refuses (a constraint, a value it cannot bind) keeps its own error."""
    try:
        yield
    except sqlite3.DatabaseError as err:
        found = fault(path, err)
        if found is None:
            raise
        raise found from err


@contextmanager
def rows_of(path: Path) -> Iterator[None]:
    """Rows read back from ``path``: a column that is not the JSON written is damage."""
    try:
        yield
    except (ValueError, TypeError) as err:
        raise DamagedStateError(
            f"{path}: the state is damaged: a recorded row is not valid JSON ({err}); "
            "restore it from a backup"
        ) from None


def fault(path: Path, err: sqlite3.DatabaseError) -> StateError | None:
    """The ``StateError`` a fault of the file is, or None for a change SQLite refused."""
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


def refuse_lost(path: Path, how: str) -> None:
    """An empty or missing database where the marker says records were: refused."""
    expected = read_marker(path)
    if expected:
        marker = marker_path(path)
        raise DamagedStateError(
            f"{path}: the state database is {how}, but {marker} says it held records "
            f"(serial {expected}); restore {path.name} from a backup, or delete {marker} "
            "to start with empty state on purpose"
        )


def check_file(path: Path) -> None:
    """Refuse, before touching it, a file that is not ours or that we cannot write."""
    folder = path.parent
    if path.is_dir():
        raise DamagedStateError(f"{path}: is a directory, not a state database")
    if not path.exists():
        refuse_lost(path, "missing")
    elif path.stat().st_size == 0:
        refuse_lost(path, "empty (0 bytes)")
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
