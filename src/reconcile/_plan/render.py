"""Plans as text for a person, in the shape of Terraform's plan output.

``+`` create, ``~`` update with ``old -> new`` per field, ``-/+`` replace naming
the fields that force it, ``-`` delete, then one summary line. Sensitive values
are already redacted in the steps, so nothing here can print a secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconcile._diff.changes import Change
from reconcile._diff.documents import normalized_document
from reconcile._model.resource import registered_kind
from reconcile._model.secrets import MASK, Redacted
from reconcile._model.values import UNKNOWN
from reconcile._util.vocabulary import ChangeKind, DriftCause

from .steps import Action, Step

__all__ = ["document_lines", "render_path", "render_steps", "render_value", "summary_line"]

Path = tuple[str | int, ...]

_UNKNOWN = "(known after apply)"
_HEADLINE = {
    Action.CREATE: ("+", "will be created"),
    Action.UPDATE: ("~", "will be updated in place"),
    Action.REPLACE: ("-/+", "must be replaced"),
    Action.DELETE: ("-", "will be destroyed"),
    Action.FORGET: (".", "will be removed from state, not destroyed"),
}
_CBD = ("+/-", "must be replaced (create before destroy)")


def render_value(value: Any) -> str:
    """A value as compact JSON; redacted values as ``(sensitive)``."""
    if isinstance(value, Redacted):
        return MASK
    if value is UNKNOWN:
        return _UNKNOWN
    return json.dumps(value, default=_redacted_default, ensure_ascii=False)


def _redacted_default(value: object) -> str:
    return MASK if isinstance(value, Redacted) else repr(value)


def render_path(path: Path) -> str:
    """``spec.ports[0].name`` for a path of keys and indices."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def summary_line(counts: Mapping[Action, int]) -> str:
    line = (
        f"Plan: {counts[Action.CREATE]} to add, {counts[Action.UPDATE]} to change, "
        f"{counts[Action.REPLACE]} to replace, {counts[Action.DELETE]} to destroy"
    )
    forget = counts.get(Action.FORGET, 0)
    return line + (f", {forget} to forget." if forget else ".")


def render_steps(
    steps: Sequence[Step],
    counts: Mapping[Action, int],
    excluded: Sequence[tuple[str, str]] = (),
) -> str:
    """The whole plan as text; an empty plan says so in words; left-out addresses last."""
    changing = [s for s in steps if s.changes_anything]
    if not changing and excluded:  # what targeting left out was not compared
        lines = ["No changes to the targeted resources."]
    elif not changing:
        lines = ["No changes. Live state matches the desired state."]
    else:
        lines = ["reconcile will perform the following actions:", ""]
        for step in changing:
            lines.extend(_render_step(step))
            lines.append("")
        lines.append(summary_line(counts))
    if excluded:
        lines += ["", "Left out of this plan (targeting):"]
        lines += [f"  {address}: {why}" for address, why in excluded]
    return "\n".join(lines) + "\n"


def _render_step(step: Step) -> list[str]:
    symbol, verb = _HEADLINE[step.action]
    if step.action is Action.REPLACE and step.create_before_destroy:
        symbol, verb = _CBD
    lines = [f"  # {step.address} {verb}{_why(step)}", f"{symbol:>3} {step.address}"]
    if step.action is Action.CREATE:
        lines += _indented(document_lines("+", step.kind, step.after or {}, step.unknown))
    elif step.action in (Action.DELETE, Action.FORGET):
        lines += _indented(document_lines("-", step.kind, step.before or {}))
    else:
        forced = set(step.diff.replace_paths)
        lines += [_render_change(c, forced) for c in step.diff.changes]
        lines += [f"      ~ {render_path(p)} = {_UNKNOWN}" for p in step.unknown]
    return lines


_WHY = {
    "tainted": " (tainted: an earlier create did not finish)",
    "not_desired": " (no longer desired)",
    "retained": " (no longer desired; retain is set)",
    "gone": " (no longer desired, and already gone)",
}


def _why(step: Step) -> str:
    return _WHY.get(step.reason.value, "")


def document_lines(
    sign: str, kind: str, doc: Mapping[str, Any], unknown: Sequence[Path] = ()
) -> list[str]:
    """A whole resource as ``sign name = value`` lines, as plans show created and deleted ones:
    values as diffs show them (``"0o644"``, not 420), ``unknown`` fields as known after apply."""
    doc = normalized_document(registered_kind(kind), doc)
    unknown_fields = {p[0] for p in unknown if p}
    width = max((len(k) for k in doc), default=0)
    lines = []
    for name, value in doc.items():
        shown = _UNKNOWN if name in unknown_fields else render_value(value)
        lines.append(f"{sign} {name:<{width}} = {shown}")
    return lines


def _indented(lines: list[str]) -> list[str]:
    return [f"      {line}" for line in lines]


def _render_change(change: Change, forced: set[Path]) -> str:
    path = render_path(change.path)
    notes: list[str] = [change.cause] if change.cause in (DriftCause.DRIFT, DriftCause.BOTH) else []
    if change.path[:1] in forced:
        notes.append("forces replacement")
    note = f"  # {', '.join(notes)}" if notes else ""
    if change.op == ChangeKind.ADD:
        return f"      + {path} = {render_value(change.new)}{note}"
    if change.op == ChangeKind.REMOVE:
        return f"      - {path} = {render_value(change.old)}{note}"
    return f"      ~ {path} = {render_value(change.old)} -> {render_value(change.new)}{note}"
