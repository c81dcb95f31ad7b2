"""Sensitive values: a ``Redacted`` stand-in holding only a salted digest.

Everything above the model replaces a sensitive value with ``Redacted`` before it
can reach a diff, a plan, a log line or an error, so a secret has nowhere to leak.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import attrs

__all__ = ["MASK", "PROCESS_SALT", "Redacted", "current_salt", "new_salt", "redact", "use_salt"]

MASK = "(sensitive)"


@attrs.frozen(repr=False)
class Redacted:
    """A sensitive value seen only through a salted digest: equal digests, equal values."""

    digest: str

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__


def new_salt() -> str:
    """A fresh random salt, hex-encoded, for one plan or one state."""
    return os.urandom(16).hex()


PROCESS_SALT = new_salt()
_SALT: contextvars.ContextVar[str] = contextvars.ContextVar("reconcile_salt", default=PROCESS_SALT)


def current_salt() -> str:
    """The salt in force: the recorded state's while planning against it, else the process's."""
    return _SALT.get()


@contextlib.contextmanager
def use_salt(salt: str) -> Iterator[None]:
    """Digest secrets with ``salt`` inside the block (so plans and state agree)."""
    token = _SALT.set(salt)
    try:
        yield
    finally:
        _SALT.reset(token)


def redact(value: Any, salt: str | None = None) -> Redacted:
    """Digest ``value`` keyed by ``salt`` (BLAKE2b) so a change shows without the value."""
    salt = current_salt() if salt is None else salt
    data = json.dumps(value, sort_keys=True, default=repr).encode()
    digest = hashlib.blake2b(data, key=bytes.fromhex(salt), digest_size=16).hexdigest()
    return Redacted(digest)
