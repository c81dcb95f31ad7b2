"""The versioned JSON form of a plan, after Terraform's ``show -json`` resource changes.

Each step becomes one ``resource_changes`` entry with its actions, the reason,
before/after documents, which after-paths are unknown, which paths are sensitive
(their values written as a mask, kept only as salted digests) and which paths
force replacement. ``decode`` is the exact inverse of ``encode``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._diff import Change, Diff, pointer
from ._errors import InvalidStateError
from ._secrets import MASK, Redacted
from ._steps import Action, Reason, Step
from ._values import UNKNOWN

__all__ = ["FORMAT_VERSION", "decode", "encode"]

FORMAT_VERSION = "1.0"

Path = tuple[str | int, ...]


def encode(
    steps: Sequence[Step],
    summary: Mapping[Action, int],
    salt: str,
    serial: int | None,
    excluded: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The plan as a JSON-ready dict; ``salt`` keys the digests of sensitive values."""
    return {
        "format_version": FORMAT_VERSION,
        "salt": salt,
        "state_serial": serial,
        "resource_changes": [_encode_step(s) for s in steps],
        "excluded": [{"address": a, "reason": why} for a, why in excluded],
        "summary": {a.value: n for a, n in summary.items()},
    }


def decode(
    doc: Mapping[str, Any],
) -> tuple[list[Step], str, int | None, tuple[tuple[str, str], ...]]:
    """Steps, salt, state serial and left-out addresses from :func:`encode`'s dict."""
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise InvalidStateError(
            f"plan JSON has format_version {version!r}; this reconcile reads {FORMAT_VERSION!r}"
        )
    steps = [_decode_step(entry) for entry in doc["resource_changes"]]
    excluded = tuple((e["address"], e["reason"]) for e in doc.get("excluded", ()))
    return steps, doc["salt"], doc.get("state_serial"), excluded


def _encode_step(step: Step) -> dict[str, Any]:
    before, before_digests = _encode_doc(step.before)
    after, after_digests = _encode_doc(step.after)
    return {
        "address": step.address,
        "kind": step.kind,
        "action": step.action.value,
        "actions": list(step.actions),
        "action_reason": step.reason.value,
        "depends_on": list(step.depends_on),
        "references": [
            {"path": list(path), "address": address, "field": field}
            for path, address, field in step.references
        ],
        "create_before_destroy": step.create_before_destroy,
        "change": {
            "before": before,
            "after": after,
            "after_unknown": [list(p) for p in step.unknown],
            "before_sensitive": sorted(before_digests),
            "after_sensitive": sorted(after_digests),
            "sensitive_digests": {"before": before_digests, "after": after_digests},
            "replace_paths": [list(p) for p in step.diff.replace_paths],
            "diff": [_encode_change(c) for c in step.diff.changes],
        },
    }


def _encode_doc(doc: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, str]]:
    if doc is None:
        return None, {}
    digests = {k: v.digest for k, v in doc.items() if isinstance(v, Redacted)}
    return {k: MASK if k in digests else v for k, v in doc.items()}, digests


def _encode_change(change: Change) -> dict[str, Any]:
    out: dict[str, Any] = {"op": change.op, "path": list(change.path)}
    out["pointer"] = pointer(change.path)
    if change.cause is not None:
        out["cause"] = change.cause
    for name in ("old", "new"):
        value = getattr(change, name)
        if value is UNKNOWN:
            out[name] = None
            out[f"{name}_unknown"] = True
        elif isinstance(value, Redacted):
            out[name] = MASK
            out[f"{name}_digest"] = value.digest
        else:
            out[name] = value
    return out


def _decode_step(entry: Mapping[str, Any]) -> Step:
    change = entry["change"]
    digests = change["sensitive_digests"]
    return Step(
        address=entry["address"],
        kind=entry["kind"],
        action=Action(entry["action"]),
        reason=Reason(entry["action_reason"]),
        diff=Diff(
            tuple(_decode_change(c) for c in change["diff"]),
            tuple(_path(p) for p in change["replace_paths"]),
        ),
        before=_decode_doc(change["before"], digests["before"]),
        after=_decode_doc(change["after"], digests["after"]),
        unknown=tuple(_path(p) for p in change["after_unknown"]),
        depends_on=tuple(entry["depends_on"]),
        references=tuple(
            (_path(r["path"]), r["address"], r["field"]) for r in entry.get("references", ())
        ),
        create_before_destroy=entry["create_before_destroy"],
    )


def _decode_doc(doc: dict[str, Any] | None, digests: Mapping[str, str]) -> dict[str, Any] | None:
    if doc is None:
        return None
    return {k: Redacted(digests[k]) if k in digests else v for k, v in doc.items()}


def _decode_change(entry: Mapping[str, Any]) -> Change:
    def value(name: str) -> Any:
        if entry.get(f"{name}_unknown"):
            return UNKNOWN
        digest = entry.get(f"{name}_digest")
        return Redacted(digest) if digest is not None else entry[name]

    return Change(_path(entry["path"]), entry["op"], value("old"), value("new"), entry.get("cause"))


def _path(items: Sequence[str | int]) -> Path:
    return tuple(items)
