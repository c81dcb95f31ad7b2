"""What a last applied spec tells the planner: kubectl apply's three-way merge, the
diff of write-only fields, and whether a change came from config, drift or both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from reconcile._model.resource import lifecycle_of, replace_fields, spec_of
from reconcile._model.secrets import Redacted, redact, upgraded
from reconcile._model.serialize import unstructure
from reconcile._model.values import UNKNOWN
from reconcile._util.vocabulary import ChangeKind, DriftCause

from .changes import Cause, Change, strict_equal
from .documents import MISSING, at_path, document, normalized_document

__all__ = [
    "cause_of",
    "preserve_foreign",
    "with_keys_of",
    "write_only_changes",
    "written_as_desired",
]


def preserve_foreign(want: Any, have: Any, last: Mapping[str, Any] | None) -> Any:
    """Keep mapping keys the live object has that we never set (kubectl apply's three-way merge).

    A key present in ``have`` but neither in ``want`` nor in the last applied spec
    belongs to someone else and is left alone; one we set before is removed.
    """
    if last is None:
        return want
    changes: dict[str, Any] = {}
    for f in spec_of(want).compared:
        mine, theirs = getattr(want, f.name), getattr(have, f.name)
        if isinstance(mine, dict) and isinstance(theirs, dict):
            merged = _merge(mine, theirs, last.get(f.name))
            if not strict_equal(merged, mine):
                changes[f.name] = merged
    return attrs.evolve(want, **changes) if changes else want


def written_as_desired(want: Any, have: Any) -> Any:
    """``have`` with its write-only fields taken from ``want``: a read cannot show them,
    so the diff never compares them (:func:`write_only_changes` does, with the last applied)."""
    changes = {
        f.name: value
        for f in spec_of(want).write_only_fields
        if (value := getattr(want, f.name)) is not UNKNOWN
    }
    return replace_fields(have, changes) if changes else have


def write_only_changes(
    want: Any, have: Any, last: Mapping[str, Any] | None, *, recorded: bool
) -> tuple[Change, ...]:
    """Write-only fields whose desired value differs from the last applied one (by digest).

    Without a last applied value for the field, but with recorded state (a thing
    adopted, or recorded before the field existed), the read stands in for it, so
    the value is written once. Without recorded state nothing is known: no change.
    """
    spec = spec_of(want)
    if not spec.write_only_fields or not recorded:
        return ()
    ignored = lifecycle_of(want).ignore_changes
    cls = spec.cls
    plain = unstructure(want)
    wanted = normalized_document(cls, document(want))
    seen = normalized_document(cls, document(have))
    changes = []
    for f in spec.write_only_fields:
        if f.name in ignored or getattr(want, f.name) is UNKNOWN:
            continue
        before = last.get(f.name, MISSING) if last is not None else MISSING
        if before is MISSING:
            before = seen[f.name]
        elif f.flags.sensitive and not isinstance(before, Redacted):
            before = redact(before)  # recorded in clear before the field was sensitive
        elif isinstance(before, Redacted):
            before = upgraded(before, plain[f.name])  # an old salted digest, checked the old way
        if not strict_equal(before, wanted[f.name]):
            changes.append(Change((f.name,), ChangeKind.REPLACE, before, wanted[f.name]))
    return tuple(changes)


def with_keys_of(before: Any, written: Any) -> Any:
    """``before`` with every mapping key ``written`` has and it lacks, at any depth: the
    keys a write that may have happened could have added, claimed as ours."""
    if isinstance(before, dict) and isinstance(written, dict):
        return _merge(before, written, None)
    return before


def _merge(mine: dict[Any, Any], theirs: dict[Any, Any], last: Any) -> dict[Any, Any]:
    last = last if isinstance(last, dict) else {}
    merged = dict(mine)
    for key, value in theirs.items():
        if key not in mine and key not in last:
            merged[key] = value
        elif isinstance(mine.get(key), dict) and isinstance(value, dict):
            merged[key] = _merge(mine[key], value, last.get(key))
    return merged


def cause_of(change: Change, last: Mapping[str, Any] | None) -> Cause | None:
    """Whether the desired state moved (config), the live system did (drift), or both."""
    if last is None:
        return None
    before = at_path(last, change.path)
    wanted = MISSING if change.op == ChangeKind.REMOVE else change.new
    live = MISSING if change.op == ChangeKind.ADD else change.old
    if _same(before, wanted):
        return DriftCause.DRIFT
    if _same(before, live):
        return DriftCause.CONFIG
    return DriftCause.BOTH


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    if isinstance(a, Redacted) and not isinstance(b, Redacted):
        b = redact(b)  # recorded as a digest (a secret a reference copied): compare digests
    return strict_equal(a, b)
