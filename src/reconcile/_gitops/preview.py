"""Desired state against desired state: what merging a change would do, resource by resource.

Used for pull-request previews (``reconcile diff --from BASE --to HEAD``): no
live state is read. Renders as text, as JSON, and as Markdown ready for a
pull-request comment (one collapsible section per resource). Secrets are
compared by digest and never shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import attrs

from reconcile._diff.changes import Diff, diff_resources
from reconcile._diff.documents import document
from reconcile._model.resource import address_of, spec_of
from reconcile._model.secrets import MASK, Redacted, new_salt, use_salt
from reconcile._plan.render import document_lines, render_path, render_value
from reconcile._util.vocabulary import ChangeKind

__all__ = ["DesiredDiff", "ResourceChange", "compare"]


@attrs.frozen
class ResourceChange:
    """One address: ``added``, ``removed`` or ``changed``, with field changes when changed.

    ``unknown`` names the computed fields the document leaves unset (known after apply).
    """

    address: str
    change: str
    diff: Diff = attrs.field(factory=Diff)
    document: dict[str, Any] | None = None
    unknown: tuple[str, ...] = ()


@attrs.frozen
class DesiredDiff:
    """Every resource that differs between two desired states, in address order."""

    base: str
    head: str
    changes: tuple[ResourceChange, ...]

    def __bool__(self) -> bool:
        return bool(self.changes)

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)

    @property
    def summary(self) -> str:
        return (
            f"{self.count('added')} added, {self.count('changed')} changed, "
            f"{self.count('removed')} removed"
        )

    def render(self) -> str:
        """Plain text: ``+`` added, ``~`` changed (field by field), ``-`` removed."""
        if not self.changes:
            return f"No changes in desired state between {self.base} and {self.head}.\n"
        lines = [f"Desired state {self.base} -> {self.head}: {self.summary}", ""]
        for c in self.changes:
            lines.append(f"{_SIGN[c.change]} {c.address}")
            lines += [f"    {line}" for line in _body(c)]
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        """A pull-request comment: a summary, then one collapsible section per resource."""
        head = f"### Desired state: `{self.base}` → `{self.head}`\n\n**{self.summary}**\n"
        if not self.changes:
            return head + "\nNo resource changes.\n"
        parts = [head]
        for c in self.changes:
            body = "\n".join(_body(c)) or "(no field details)"
            parts.append(
                f"<details><summary><code>{_SIGN[c.change]} {c.address}</code> "
                f"({c.change})</summary>\n\n```diff\n{body}\n```\n</details>\n"
            )
        return "\n".join(parts)

    def to_json(self, *, indent: int | None = None) -> str:
        doc = {
            "base": self.base,
            "head": self.head,
            "changes": [
                {
                    "address": c.address,
                    "change": c.change,
                    "diff": [
                        {"op": x.op, "path": list(x.path), "old": _safe(x.old), "new": _safe(x.new)}
                        for x in c.diff
                    ],
                    "document": _safe(c.document),
                }
                for c in self.changes
            ],
        }
        return json.dumps(doc, indent=indent, default=_mask)


_SIGN = {"added": "+", "changed": "~", "removed": "-"}


def _body(c: ResourceChange) -> list[str]:
    if c.change == "changed":
        return [
            f"{'+' if x.op == 'add' else '-' if x.op == 'remove' else '~'} {render_path(x.path)}: "
            + (render_value(x.new) if x.op == ChangeKind.ADD else render_value(x.old))
            + (f" -> {render_value(x.new)}" if x.op == ChangeKind.REPLACE else "")
            for x in c.diff
        ]
    kind = c.address.partition("[")[0]
    if c.change == "added":  # as the plan shows a create
        return document_lines("+", kind, c.document or {}, [(name,) for name in c.unknown])
    known = {k: v for k, v in (c.document or {}).items() if k not in c.unknown}
    return document_lines("-", kind, known)


def _safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_mask))


def _mask(value: object) -> str:
    return MASK if isinstance(value, Redacted) else repr(value)


def compare(
    base: Iterable[Any], head: Iterable[Any], *, base_name: str = "base", head_name: str = "head"
) -> DesiredDiff:
    """What changes in desired state from ``base`` to ``head`` (no live state involved)."""
    old = {address_of(r): r for r in base}
    new = {address_of(r): r for r in head}
    changes = []
    with use_salt(new_salt()):
        for address in sorted(old.keys() | new.keys()):
            if address not in old:
                changes.append(_whole(address, "added", new[address]))
            elif address not in new:
                changes.append(_whole(address, "removed", old[address]))
            elif type(old[address]) is not type(new[address]):
                changes.append(_whole(address, "changed", new[address]))
            elif found := diff_resources(new[address], old[address]):
                changes.append(ResourceChange(address, "changed", found))
    return DesiredDiff(base_name, head_name, tuple(changes))


def _whole(address: str, change: str, res: Any) -> ResourceChange:
    """A change shown as the whole document, with its unset computed fields named."""
    unknown = tuple(
        f.name for f in spec_of(res).computed_fields if f.is_unset(getattr(res, f.name))
    )
    return ResourceChange(address, change, document=document(res), unknown=unknown)
