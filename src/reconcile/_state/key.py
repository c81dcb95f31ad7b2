"""The state key: the secret that keys digests of sensitive values, kept outside the state.

It comes from ``RECONCILE_STATE_KEY`` (base64 of at least 32 bytes) when set, else from
a key file beside the state (``state.db.key``, mode 0600), created on first use.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import stat
from pathlib import Path

from reconcile._util.errors import StateError

__all__ = ["KEY_ENV", "MIN_KEY_BYTES", "key_path", "state_key"]

KEY_ENV = "RECONCILE_STATE_KEY"
MIN_KEY_BYTES = 32


def key_path(state_path: Path) -> Path:
    """Where the key file of the state at ``state_path`` lives."""
    return state_path.with_name(state_path.name + ".key")


def state_key(state_path: Path) -> bytes:
    """The key from the environment, else from the key file, made on first use."""
    given = os.environ.get(KEY_ENV)
    if given is not None:
        return _decoded(given, KEY_ENV)
    path = key_path(state_path)
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    try:
        return _create(path)
    except FileExistsError:  # another process made it first: use theirs
        return _read(path)


def _decoded(text: str, where: str) -> bytes:
    """The key's bytes from its base64 text; too short or not base64 is refused."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise StateError(f"{where}: the state key is not base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise StateError(
            f"{where}: the state key has {len(key)} bytes; it needs at least {MIN_KEY_BYTES}"
        )
    return key


def _read(path: Path) -> bytes:
    """The key file's key; one others can read, or not a regular file, is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise StateError(f"{path}: cannot read the state key file: {err.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise StateError(f"{path}: the state key file is not a regular file")
        if info.st_mode & 0o077:
            raise StateError(
                f"{path}: the state key file is readable by others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); make it private: chmod 600 {path}"
            )
        text = handle.read()
    try:
        return _decoded(text.decode("ascii"), str(path))
    except UnicodeDecodeError:
        raise StateError(f"{path}: the state key is not base64") from None


def _create(path: Path) -> bytes:
    """A new random key in a new file only its owner can read, whole when it appears:
    written to a private temporary (O_EXCL, 0600), then linked to its name, which
    fails if another process's key got there first."""
    key = os.urandom(MIN_KEY_BYTES)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        fd = os.open(temporary, flags, 0o600)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
            handle.write(base64.b64encode(key) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError as err:
        raise StateError(f"{path}: cannot create the state key file: {err.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return key
