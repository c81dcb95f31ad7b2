"""Sensitive values: a ``Redacted`` stand-in holding only a salted digest.

Everything above the model replaces a sensitive value with ``Redacted`` before it
can reach a diff, a plan, a log line or an error, so a secret has nowhere to leak.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import attrs

__all__ = ["MASK", "PROCESS_SALT", "Redacted", "new_salt", "redact"]

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


def redact(value: Any, salt: str = PROCESS_SALT) -> Redacted:
    """Digest ``value`` keyed by ``salt`` (BLAKE2b) so a change shows without the value."""
    data = json.dumps(value, sort_keys=True, default=repr).encode()
    digest = hashlib.blake2b(data, key=bytes.fromhex(salt), digest_size=16).hexdigest()
    return Redacted(digest)
