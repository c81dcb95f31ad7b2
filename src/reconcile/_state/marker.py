"""The marker beside a state file that says it once held records, so that an empty
or missing database is refused instead of read as a fresh start.

``<state>.marker`` holds ``{"serial": N}``: the serial the state had reached (at
least) when it was last written. ``SQLiteState`` writes it when the first record
lands and when an apply releases its lock, not per step; a database that is
empty or gone while the marker names a serial above 0 lost its records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["marker_path", "read_marker", "write_marker"]


def marker_path(state: Path) -> Path:
    return state.with_name(state.name + ".marker")


def read_marker(state: Path) -> int | None:
    """The serial the marker records, or None when there is no marker (or it is unreadable)."""
    try:
        doc = json.loads(marker_path(state).read_bytes())
        serial = doc["serial"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return serial if isinstance(serial, int) and not isinstance(serial, bool) else None


def write_marker(state: Path, serial: int) -> None:
    """Record ``serial`` atomically (a temporary file renamed over the marker)."""
    path = marker_path(state)
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps({"serial": serial}) + "\n")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)  # a full disk: the marker keeps its older serial
