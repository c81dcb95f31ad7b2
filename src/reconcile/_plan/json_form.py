"""The versioned JSON form of a plan, after Terraform's ``show -json`` resource changes.

Each step becomes one ``resource_changes`` entry with its actions, the reason,
before/after documents, which after-paths are unknown, which paths are sensitive
(their values written as a mask, kept only as salted digests) and which paths
force replacement. ``decode`` is the exact inverse of ``encode``.

Both run once per step of plans with tens of thousands of steps, so the common
case (no secrets, no unknowns, no references) takes paths that copy nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from reconcile._diff.changes import Change, Diff, pointer
from reconcile._diff.taint import copied_secrets
from reconcile._model.secrets import MASK, Redacted
from reconcile._model.switches import STEP_ACTIONS
from reconcile._model.values import UNKNOWN
from reconcile._util.errors import InvalidStateError

from .steps import Action, Reason, Step

__all__ = ["FORMAT_VERSION", "decode", "encode", "parse"]

FORMAT_VERSION = "1.0"

Path = tuple[str | int, ...]
T = TypeVar("T")

_ACTIONS = {a.value: a for a in Action}
_REASONS = {r.value: r for r in Reason}
_NONE: frozenset[str] = frozenset()
_PLAIN_CHANGE = frozenset({"op", "path", "pointer", "old", "new", "cause"})
_SURROGATE = re.compile("\\\\u[dD][89a-fA-F]|[\ud800-\udfff]")  # written or raw, paired or not


def encode(
    steps: Sequence[Step],
    summary: Mapping[Action, int],
    salt: str,
    serial: int | None,
    excluded: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The plan as a JSON-ready dict; ``salt`` keys the digests of sensitive values.

    Documents without secrets are shared with the steps, not copied: dump, don't mutate.
    """
    return {
        "format_version": FORMAT_VERSION,
        "salt": salt,
        "state_serial": serial,
        "resource_changes": [_encode_step(s) for s in steps],
        "excluded": [{"address": a, "reason": why} for a, why in excluded],
        "summary": {a.value: n for a, n in summary.items()},
    }


def parse(text: str | bytes) -> dict[str, Any]:
    """The JSON object of a saved plan; what JSON refuses, or valid JSON that is not
    valid Unicode text (a lone surrogate), is an ``InvalidStateError`` saying where."""
    try:
        if isinstance(text, bytes):  # strictly: json.loads would let encoded surrogates pass
            text = text.decode("utf-8")
        doc = json.loads(text)
        if _SURROGATE.search(text):
            json.dumps(doc, ensure_ascii=False).encode()  # a lone surrogate cannot be encoded
    except json.JSONDecodeError as err:
        raise InvalidStateError(f"plan JSON is malformed: {err}") from None
    except UnicodeDecodeError as err:
        line = err.object[: err.start].count(b"\n") + 1
        raise InvalidStateError(f"plan JSON is not UTF-8 text (line {line})") from None
    except UnicodeEncodeError:
        raise InvalidStateError("plan JSON holds a lone surrogate (not valid Unicode)") from None
    except RecursionError:
        raise InvalidStateError("plan JSON is nested too deeply to read") from None
    except ValueError as err:  # int() refuses a number of more than 4300 digits
        why = str(err).split("; use sys.", 1)[0]
        raise InvalidStateError(f"plan JSON is malformed: {why}") from None
    if not isinstance(doc, dict):
        raise InvalidStateError("plan JSON is malformed: not an object")
    return doc


def decode(
    doc: Mapping[str, Any],
) -> tuple[list[Step], str, int | None, tuple[tuple[str, str], ...]]:
    """Steps, salt, state serial and left-out addresses from :func:`encode`'s dict."""
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise InvalidStateError(
            f"plan JSON has format_version {version!r}; this reconcile reads {FORMAT_VERSION!r}"
        )
    try:
        steps = [_decode_step(entry) for entry in doc["resource_changes"]]
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise InvalidStateError(f"plan JSON is malformed: {_where(doc, err)}") from None
    try:
        excluded = tuple((e["address"], e["reason"]) for e in doc.get("excluded", ()))
        return steps, doc["salt"], doc.get("state_serial"), excluded
    except (KeyError, TypeError, AttributeError) as err:
        raise InvalidStateError(f"plan JSON is malformed: excluded or salt: {err!r}") from None


def _where(doc: Mapping[str, Any], err: Exception) -> str:
    """The first entry that does not decode, by index and address, and what is wrong."""
    entries = doc.get("resource_changes")
    if not isinstance(entries, list):
        return "resource_changes is missing or not a list"
    for index, entry in enumerate(entries):
        try:
            _decode_step(entry)
        except (KeyError, TypeError, ValueError, AttributeError) as found:
            address = entry.get("address") if isinstance(entry, dict) else None
            what = f"no {found.args[0]!r} field" if isinstance(found, KeyError) else str(found)
            return f"resource_changes[{index}] ({address or 'no address'}): {what}"
    return str(err)


def _encode_step(step: Step) -> dict[str, Any]:
    before, before_digests = _encode_doc(step.before)
    after, after_digests = _encode_doc(step.after)
    diff = step.diff
    return {
        "address": step.address,
        "kind": step.kind,
        "action": str(step.action),  # a StrEnum's str() is its value, without the property
        "actions": _actions(step),
        "action_reason": str(step.reason),
        "depends_on": list(step.depends_on),
        "references": [
            {"path": list(path), "address": address, "field": field}
            for path, address, field in step.references
        ]
        if step.references
        else [],
        "copied_sensitive": sorted(step.copied_sensitive) if step.copied_sensitive else [],
        "create_before_destroy": step.create_before_destroy,
        "change": {
            "before": before,
            "after": after,
            "after_unknown": [list(p) for p in step.unknown] if step.unknown else [],
            "before_sensitive": sorted(before_digests) if before_digests else [],
            "after_sensitive": sorted(after_digests) if after_digests else [],
            "sensitive_digests": {"before": before_digests, "after": after_digests},
            "replace_paths": [list(p) for p in diff.replace_paths] if diff.replace_paths else [],
            "diff": [_encode_change(c) for c in diff.changes],
        },
    }


def _actions(step: Step) -> list[str]:
    """``step.actions`` as a list, computed once per action and replace order and kept
    process-wide (``_model.switches.STEP_ACTIONS``; row ``plan.to_json``)."""
    key = (step.action, step.create_before_destroy)
    found = STEP_ACTIONS.get(key)
    if found is None:
        found = STEP_ACTIONS[key] = step.actions
    return list(found)


def _encode_doc(doc: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The document with its redacted values masked (itself when it has none), and their digests."""
    if doc is None or Redacted not in map(type, doc.values()):
        return doc, {}
    digests = {k: v.digest for k, v in doc.items() if type(v) is Redacted}
    return {k: MASK if k in digests else v for k, v in doc.items()}, digests


def _encode_change(change: Change) -> dict[str, Any]:
    old, new = change.old, change.new
    out: dict[str, Any] = {"op": change.op, "path": list(change.path)}
    out["pointer"] = pointer(change.path)
    if change.cause is not None:
        out["cause"] = change.cause
    if _special(old) or _special(new):
        _encode_value(out, "old", old)
        _encode_value(out, "new", new)
    else:
        out["old"] = old
        out["new"] = new
    return out


def _special(value: Any) -> bool:
    return value is UNKNOWN or type(value) is Redacted


def _encode_value(out: dict[str, Any], name: str, value: Any) -> None:
    """An unknown value as null with a flag, a sensitive one as the mask with its digest."""
    if value is UNKNOWN:
        out[name] = None
        out[f"{name}_unknown"] = True
    elif type(value) is Redacted:
        out[name] = MASK
        out[f"{name}_digest"] = value.digest
    else:
        out[name] = value


def _decode_step(entry: Mapping[str, Any]) -> Step:
    change = entry["change"]
    digests = change["sensitive_digests"]
    references = entry.get("references")
    refs: tuple[tuple[Path, str, str], ...] = (
        tuple([(tuple(r["path"]), r["address"], r["field"]) for r in references])
        if references
        else ()
    )
    return Step(
        address=entry["address"],
        kind=entry["kind"],
        action=_named(_ACTIONS, entry, "action"),
        reason=_named(_REASONS, entry, "action_reason"),
        diff=Diff(
            tuple([_decode_change(c) for c in change["diff"]]),
            tuple(map(tuple, change["replace_paths"])),
        ),
        before=_decode_doc(change["before"], digests["before"]),
        after=_decode_doc(change["after"], digests["after"]),
        unknown=tuple(map(tuple, change["after_unknown"])),
        depends_on=tuple(entry["depends_on"]),
        references=refs,
        copied_sensitive=_copied(entry, refs),
        create_before_destroy=entry["create_before_destroy"],
    )


def _copied(entry: Mapping[str, Any], refs: tuple[tuple[Path, str, str], ...]) -> frozenset[str]:
    """The fields a reference copies a secret into, as the plan worked them out over every
    hop; at least those one hop away, for a plan saved before it carried them."""
    names = entry.get("copied_sensitive")
    if not names and not refs:
        return _NONE  # the common case: nothing copied
    if not isinstance(names, list | None) or not all(isinstance(n, str) for n in names or ()):
        raise ValueError("copied_sensitive is not a list of field names")
    return frozenset(names or ()) | copied_secrets(refs)


def _named(table: Mapping[str, T], entry: Mapping[str, Any], name: str) -> T:
    found = table.get(entry[name])
    if found is None:
        raise ValueError(f"{name} {entry[name]!r} is not one of {', '.join(table)}")
    return found


def _decode_doc(doc: dict[str, Any] | None, digests: Mapping[str, str]) -> dict[str, Any] | None:
    """The document read back, its masked values turned into ``Redacted`` (kept as is if none)."""
    if doc is None or not digests:
        return doc
    return {k: Redacted(digests[k]) if k in digests else v for k, v in doc.items()}


def _decode_change(entry: Mapping[str, Any]) -> Change:
    path: Path = tuple(entry["path"])
    if _PLAIN_CHANGE.issuperset(entry):
        return Change(path, entry["op"], entry["old"], entry["new"], entry.get("cause"))
    return Change(path, entry["op"], _value(entry, "old"), _value(entry, "new"), entry.get("cause"))


def _value(entry: Mapping[str, Any], name: str) -> Any:
    """One side of a change, flagged unknown or kept as a digest."""
    if entry.get(f"{name}_unknown"):
        return UNKNOWN
    digest = entry.get(f"{name}_digest")
    return Redacted(digest) if digest is not None else entry[name]
