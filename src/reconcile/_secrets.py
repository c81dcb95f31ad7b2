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

from ._model import resource_spec

__all__ = [
    "MASK",
    "PROCESS_SALT",
    "Redacted",
    "current_salt",
    "new_salt",
    "redact",
    "scrub",
    "secret_texts",
    "use_salt",
]

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


def secret_texts(*resources: Any, copied: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Every non-empty string (or number) inside the sensitive fields of ``resources``,
    and inside the fields named ``copied`` (a reference copied a secret into them)."""
    found: set[str] = set()
    for res in resources:
        spec = None if res is None else resource_spec(res)
        names = set() if spec is None else {f.name for f in spec.sensitive_fields} | copied
        for name in names:
            _strings(getattr(res, name, None), found)
    return tuple(sorted(found, key=len, reverse=True))  # longest first: overlaps go whole


def _strings(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if value:
            found.add(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found.add(str(value))
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, found)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _strings(item, found)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each secret, as written and as ``repr`` escapes it, replaced by the mask."""
    for secret in secrets:
        for form in _forms(secret):
            text = text.replace(form, MASK)
    return text


def _forms(secret: str) -> tuple[str, ...]:
    """The secret itself and its bodies inside a ``'``-quoted and a ``"``-quoted repr."""
    single = repr(secret + "'\"")[1:-4]  # both quotes force single quotes, ' escaped
    double = repr(secret + "'")[1:-2] if '"' not in secret else single
    return tuple(dict.fromkeys(f for f in (secret, single, double) if f))
