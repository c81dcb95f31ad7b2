"""The apply lock as an operating-system file lock, which dies with its holder.

Used by ``SQLiteState``: ``flock`` on ``<state>.lock`` beside the database is
released by the kernel when the holding process ends, SIGKILL and OOM kill
included, so a crash leaves no lock for a person to break. The file also holds
the holder's pid, host and start time (JSON), for messages. Where no such lock
can be had (no ``fcntl``, or a file system that refuses it) ``acquire`` says so
and the caller keeps the lock row alone.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from .values import LockInfo

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the lock row alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileLock"]

_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


class FileLock:
    """An exclusive ``flock`` on ``path``, held by this object until ``release``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.previous: LockInfo | None = None
        """The holder the file named when this object took the lock: the last one, now gone."""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, holder: LockInfo) -> bool | None:
        """Take the lock and write ``holder`` into the file: True; another process has
        it: False; this file system (or platform) cannot lock files: None."""
        if fcntl is None:
            return None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return None  # no lock file can be made here: the row alone, as before
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            return False if err.errno in _BUSY else None
        self._fd = fd
        self.previous = _parse(_read(fd))
        _write(fd, json.dumps(_fields(holder)).encode())
        return True

    def release(self) -> None:
        """Clear the holder and give the lock back (closing the file releases it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)

    def holder(self) -> LockInfo | None:
        """Who the file says holds the lock (None while unreadable, e.g. not yet written)."""
        try:
            return _parse(self.path.read_bytes())
        except OSError:
            return None


def _fields(holder: LockInfo) -> dict[str, object]:
    return {"pid": holder.pid, "host": holder.host, "since": holder.since, "note": holder.note}


def _read(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def _write(fd: int, data: bytes) -> None:
    """Replace the file's content with ``data``, durably: a record of who holds the lock."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _parse(data: bytes) -> LockInfo | None:
    try:
        doc = json.loads(data)
        return LockInfo(int(doc["pid"]), str(doc["host"]), str(doc["since"]), str(doc["note"]))
    except (ValueError, KeyError, TypeError):
        return None
