"""A ``Plan``: ordered steps, their summary, and their text and JSON forms.

Made by the planner, consumed by apply. A plan read back from JSON rebuilds the
resource objects apply needs from its documents, except where a sensitive
value was redacted: that plan needs the desired state again to be applied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from ._model import Ref, registered_kind
from ._planjson import decode, encode
from ._render import render_steps
from ._secrets import PROCESS_SALT, Redacted
from ._serialize import structure
from ._steps import Action, Step

__all__ = ["Plan"]


@attrs.frozen
class Plan:
    """Steps in execution order; ``is_empty`` when none of them changes anything.

    ``stale_records`` names unchanged resources whose record (lifecycle, outputs,
    edges) is out of date: applying even an empty plan refreshes them.
    """

    steps: tuple[Step, ...] = ()
    salt: str = attrs.field(default=PROCESS_SALT, repr=False)
    serial: int | None = None
    excluded: tuple[tuple[str, str], ...] = ()
    moves: tuple[tuple[str, str], ...] = ()
    meta: Mapping[str, Any] = attrs.field(factory=dict)
    stale_records: tuple[str, ...] = attrs.field(default=(), eq=False, repr=False)
    saved: bool = attrs.field(default=False, eq=False, repr=False)

    @property
    def is_empty(self) -> bool:
        return not self.moves and not any(s.changes_anything for s in self.steps)

    @property
    def changes(self) -> tuple[Step, ...]:
        """The steps that change something (everything but ``noop``)."""
        return tuple(s for s in self.steps if s.changes_anything)

    @property
    def summary(self) -> Mapping[Action, int]:
        """How many steps of each action the plan holds."""
        counts = dict.fromkeys(Action, 0)
        for step in self.steps:
            counts[step.action] += 1
        return counts

    def step(self, address: str) -> Step:
        """The step for ``address``; KeyError if the plan has none."""
        for s in self.steps:
            if s.address == address:
                return s
        raise KeyError(address)

    def render(self) -> str:
        """Terraform-style text: ``+``, ``~``, ``-/+``, ``-`` and a summary line."""
        moved = "".join(f"  # {old} has moved to {new}\n" for old, new in self.moves)
        return moved + render_steps(self.steps, self.summary, self.excluded)

    def to_json(self, *, indent: int | None = None) -> str:
        """The versioned JSON form (see docs/reference/plan-json.md)."""
        doc = encode(self.steps, self.summary, self.salt, self.serial, self.excluded)
        doc["meta"] = dict(self.meta)
        doc["moves"] = [{"from": old, "to": new} for old, new in self.moves]
        return json.dumps(doc, indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """Read a plan written by :meth:`to_json`."""
        doc = json.loads(text)
        steps, salt, serial, excluded = decode(doc)
        rebuilt = tuple(_with_resources(s) for s in steps)
        moves = tuple((m["from"], m["to"]) for m in doc.get("moves", ()))
        return cls(rebuilt, salt, serial, excluded, moves, doc.get("meta", {}), saved=True)


def _with_resources(step: Step) -> Step:
    resource_cls = registered_kind(step.kind)
    if resource_cls is None:
        return step
    deps = tuple(d for d in step.depends_on if d not in {a for _, a, _ in step.references})
    desired = _rebuild(step.after, resource_cls, deps, step.references)
    return attrs.evolve(
        step,
        desired=desired,
        declared=desired,
        actual=_rebuild(step.before, resource_cls, ()),
    )


def _rebuild(
    doc: dict[str, Any] | None,
    resource_cls: type[Any],
    deps: tuple[str, ...],
    refs: tuple[tuple[tuple[str | int, ...], str, str], ...] = (),
) -> Any:
    """The resource a document describes, or None when secrets or nested refs hide it."""
    if doc is None or any(isinstance(v, Redacted) for v in doc.values()):
        return None
    if any(len(path) != 1 for path, _, _ in refs):
        return None
    rebuilt: Any = structure(doc, resource_cls)
    with_refs = {str(path[0]): Ref(address, field) for path, address, field in refs}
    return attrs.evolve(rebuilt, depends_on=deps, **with_refs)
