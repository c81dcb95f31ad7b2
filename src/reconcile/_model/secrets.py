"""Sensitive values: a ``Redacted`` stand-in holding only a keyed digest.

Everything above the model replaces a sensitive value with ``Redacted`` before it
can reach a diff, a plan, a log line or an error, so a secret has nowhere to leak.
A state store registers its key (kept outside the state) under its salt: digests are
then HMAC-SHA256 under that key, so the state and plans alone cannot check a guess.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from typing import Any

import attrs

from reconcile._util.errors import StateError

from .resource import resource_spec

__all__ = [
    "HMAC_PREFIX",
    "MASK",
    "PROCESS_SALT",
    "Redacted",
    "current_salt",
    "keyed_salt",
    "new_salt",
    "redact",
    "scrub",
    "secret_texts",
    "upgraded",
    "use_salt",
]

MASK = "(sensitive)"
HMAC_PREFIX = "hmac-sha256:"  # digests under a state key; the old salted ones are bare hex
_KEYS: dict[str, bytes] = {}  # keyed salt -> the key: only in this process's memory


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


def keyed_salt(salt: str, key: bytes) -> str:
    """``salt`` bound to ``key``: digests under it are HMACs with the key, which stays here.

    The result names the key by a digest of it (safe to store in a plan), so two keys
    never share one salt, and a plan made with one key is not checked with another.
    """
    key_id = hmac.new(key, b"reconcile state key id", hashlib.sha256).hexdigest()[:16]
    keyed = f"{salt}.{key_id}"
    _KEYS[keyed] = key
    return keyed


def redact(value: Any, salt: str | None = None) -> Redacted:
    """Digest ``value`` so a change shows without the value: an HMAC-SHA256 under the
    state's key when ``salt`` is keyed, else the old BLAKE2b keyed by the salt itself."""
    salt = current_salt() if salt is None else salt
    data = json.dumps(value, sort_keys=True, default=repr).encode()
    key = _KEYS.get(salt)
    if key is not None:
        return Redacted(HMAC_PREFIX + hmac.new(key, data, hashlib.sha256).hexdigest())
    plain, dot, _ = salt.partition(".")
    if dot:
        raise StateError(
            "the digests were made with a state key that is not loaded here (another "
            "key file or RECONCILE_STATE_KEY, or a lost one); plan again with this state"
        )
    return Redacted(_salted(data, plain))


def _salted(data: bytes, salt: str) -> str:
    """The old scheme: BLAKE2b keyed by a salt stored in the state itself."""
    return hashlib.blake2b(data, key=bytes.fromhex(salt), digest_size=16).hexdigest()


def upgraded(recorded: Redacted, value: Any, salt: str | None = None) -> Redacted:
    """``recorded`` under the current key when it is an old salted digest of ``value``.

    A state written before keyed digests keeps converging: its old digest is checked the
    old way, with the salt the state holds, and the next write records it keyed.
    """
    salt = current_salt() if salt is None else salt
    if recorded.digest.startswith(HMAC_PREFIX) or salt not in _KEYS:
        return recorded
    data = json.dumps(value, sort_keys=True, default=repr).encode()
    if hmac.compare_digest(_salted(data, salt.partition(".")[0]), recorded.digest):
        return redact(value, salt)
    return recorded


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
