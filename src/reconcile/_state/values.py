"""The values recorded state is made of: records, intents, snapshots, the lock's holder
and journal entries, all frozen; and ``now()``, the one clock every timestamp comes from.

The ``State`` contract (``contract``) speaks in these; so does a third-party backend.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "ApplyEntry",
    "Intent",
    "Journaled",
    "LockInfo",
    "Record",
    "Snapshot",
    "StepEntry",
    "now",
]


_second: tuple[int, str] = (-1, "")  # the last whole second seen, as ISO 8601 text


def now() -> str:
    """The current UTC time as ISO 8601 text, as every timestamp in state is kept.

    The same text as ``datetime.now(UTC).isoformat(timespec="microseconds")``; each
    second is formatted once (apply stamps several rows per step).
    """
    global _second
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    last, text = _second
    if seconds != last:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second = (seconds, text)
    return f"{text}.{micros:06d}+00:00"


@attrs.frozen
class Record:
    """One managed resource as last applied: spec (secrets hashed), outputs, edges."""

    address: str
    kind: str
    spec: Mapping[str, Any]
    outputs: Mapping[str, Any] = attrs.field(factory=dict)
    depends_on: tuple[str, ...] = ()
    revision: str | None = None
    tainted: bool = False
    protected: bool = False
    retain: bool = False
    created_at: str = attrs.field(factory=now, eq=False)
    updated_at: str = attrs.field(factory=now, eq=False)


@attrs.frozen
class Intent:
    """A provider call about to be made; open until its outcome is recorded."""

    id: int
    address: str
    kind: str
    action: str
    spec: Mapping[str, Any]
    apply_id: int | None = None


@attrs.frozen
class Snapshot:
    """Recorded state at one moment: records by address, the serial, the salt."""

    records: Mapping[str, Record]
    serial: int
    salt: str
    intents: tuple[Intent, ...] = ()


@attrs.frozen
class LockInfo:
    """Who holds the apply lock: process, host and since when."""

    pid: int
    host: str
    since: str
    note: str = ""

    @classmethod
    def mine(cls, note: str = "") -> LockInfo:
        return cls(os.getpid(), socket.gethostname(), now(), note)

    @property
    def alive(self) -> bool | None:
        """Whether the holder still runs; None when it is on another host."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        state = {True: "running", False: "no longer running", None: "on another host"}
        return f"pid {self.pid} on {self.host} since {self.since} ({state[self.alive]})"


@attrs.frozen
class StepEntry:
    """One journaled step outcome of an apply."""

    address: str
    action: str
    status: str
    error: str | None = None
    at: str = attrs.field(factory=now, eq=False)


@attrs.frozen
class ApplyEntry:
    """One apply in the journal: when, from which revision, by whom, its plan and steps."""

    id: int
    started_at: str
    ended_at: str | None
    status: str
    revision: str | None = None
    user: str | None = None
    host: str | None = None
    meta: Mapping[str, Any] = attrs.field(factory=dict)
    plan: str | None = None
    steps: tuple[StepEntry, ...] = ()


Journaled = tuple[int, "StepEntry"] | None
"""An apply id and the step outcome to journal with a change, or None."""
