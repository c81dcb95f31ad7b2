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

from ._model import registered_kind
from ._planjson import decode, encode
from ._render import render_steps
from ._secrets import PROCESS_SALT, Redacted
from ._serialize import structure
from ._steps import Action, Step

__all__ = ["Plan"]


@attrs.frozen
class Plan:
    """Steps in execution order; ``is_empty`` when none of them changes anything."""

    steps: tuple[Step, ...] = ()
    salt: str = attrs.field(default=PROCESS_SALT, repr=False)
    serial: int | None = None
    saved: bool = attrs.field(default=False, eq=False, repr=False)

    @property
    def is_empty(self) -> bool:
        return not any(s.changes_anything for s in self.steps)

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
        return render_steps(self.steps, self.summary)

    def to_json(self, *, indent: int | None = None) -> str:
        """The versioned JSON form (see docs/reference/plan-json.md)."""
        doc = encode(self.steps, self.summary, self.salt, self.serial)
        return json.dumps(doc, indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """Read a plan written by :meth:`to_json`."""
        steps, salt, serial = decode(json.loads(text))
        return cls(tuple(_with_resources(s) for s in steps), salt, serial, saved=True)


def _with_resources(step: Step) -> Step:
    resource_cls = registered_kind(step.kind)
    if resource_cls is None:
        return step
    desired = _rebuild(step.after, resource_cls, step.depends_on)
    return attrs.evolve(
        step,
        desired=desired,
        declared=desired,
        actual=_rebuild(step.before, resource_cls, ()),
    )


def _rebuild(doc: dict[str, Any] | None, resource_cls: type[Any], deps: tuple[str, ...]) -> Any:
    if doc is None or any(isinstance(v, Redacted) for v in doc.values()):
        return None
    rebuilt: Any = structure(doc, resource_cls)
    return attrs.evolve(rebuilt, depends_on=deps)
