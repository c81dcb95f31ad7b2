"""Rows of the SQLite store and the values they hold: records, intents, journal entries.

JSON columns are written sorted and compact, and read back without a whitespace
scan; dependency lists, repeated across records, are encoded and decoded once.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from reconcile._state.values import ApplyEntry, Intent, Journaled, Record, StepEntry

from .batch import DELETE_INTENT, INSERT_STEP

__all__ = [
    "RECORDS",
    "apply_entry",
    "closing",
    "dump",
    "intent",
    "journaled",
    "record",
    "row",
]

RECORDS = (
    "SELECT address, kind, spec, outputs, depends_on, revision, tainted, protected, retain, "
    "created_at, updated_at FROM resources"
)
_decode = json.JSONDecoder().raw_decode
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def dump(value: Any) -> str:
    return "{}" if value == {} else _encode(value)


def row(r: Record, intended: tuple[Mapping[str, Any], str] | None = None) -> tuple[Any, ...]:
    """The record's columns; its spec's JSON is the intent's when it is the same spec."""
    spec = intended[1] if intended is not None and intended[0] is r.spec else dump(r.spec)
    edges = _edges_text(tuple(r.depends_on))
    return (
        r.address, r.kind, spec, dump(r.outputs), edges,
        r.revision, int(r.tainted), int(r.protected), int(r.retain), r.created_at, r.updated_at,
    )  # fmt: skip


def record(
    address: str, kind: str, spec: str, outputs: str, depends_on: str, revision: str | None,
    tainted: int, protected: int, retain: int, created_at: str, updated_at: str,
) -> Record:  # fmt: skip
    """A record from its row, in ``RECORDS`` order (positional: a snapshot reads thousands)."""
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
    """JSON written by ``dump`` (no surrounding whitespace to skip)."""
    return _decode(text)[0]


@functools.lru_cache(maxsize=4096)
def _edges(text: str) -> tuple[str, ...]:
    """Dependency lists repeat across records (many files in one folder): decoded once."""
    return tuple(_load(text))


def intent(found: sqlite3.Row) -> Intent:
    spec = json.loads(found["spec"])
    return Intent(
        found["id"], found["address"], found["kind"], found["action"], spec, found["apply_id"]
    )


def apply_entry(found: sqlite3.Row, plan: str | None, steps: tuple[StepEntry, ...]) -> ApplyEntry:
    return ApplyEntry(
        id=found["id"],
        started_at=found["started_at"],
        ended_at=found["ended_at"],
        status=found["status"],
        revision=found["revision"],
        user=found["user"],
        host=found["host"],
        meta=json.loads(found["meta"]),
        plan=plan,
        steps=steps,
    )


def journaled(step: Journaled) -> list[tuple[str, tuple[Any, ...]]]:
    """The journal row of a change, if it journals a step."""
    if step is None:
        return []
    apply_id, entry = step
    return [
        (INSERT_STEP, (apply_id, entry.address, entry.action, entry.status, entry.error, entry.at))
    ]


def closing(intent: int | None) -> list[tuple[str, tuple[Any, ...]]]:
    """The row that closes ``intent``, if the change closes one."""
    return [] if intent is None else [(DELETE_INTENT, (intent,))]
