"""A ``Plan``: ordered steps, their summary, and their text and JSON forms.

Made by the planner, consumed by apply. A plan read back from JSON holds only
documents; apply rebuilds the resource objects it needs from them (``_saved``),
except where a sensitive value was redacted: that plan needs the desired state
again to be applied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from reconcile._model.secrets import PROCESS_SALT
from reconcile._util.errors import InvalidStateError
from reconcile._util.gcpause import no_cycle_collection

from .json_form import decode, encode, parse
from .render import render_steps
from .steps import Action, Step

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
        noop = Action.NOOP  # looked up once: converge asks this of 100,000-step plans
        return not self.moves and all(s.action is noop for s in self.steps)

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
        with no_cycle_collection():  # the dict is freed inside, so GC resumes with nothing to scan
            return json.dumps(
                self._document(), indent=indent, ensure_ascii=False, check_circular=False
            )

    def _document(self) -> dict[str, Any]:
        """The JSON-ready dict; it shares the steps' documents, so it is dumped, never kept."""
        doc = encode(self.steps, self.summary, self.salt, self.serial, self.excluded)
        doc["meta"] = dict(self.meta)
        json.dumps(doc["meta"])  # small and user-given: cycles are caught here, not in the dump
        doc["moves"] = [{"from": old, "to": new} for old, new in self.moves]
        return doc

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """Read a plan written by :meth:`to_json`."""
        with no_cycle_collection():  # what only the parse needed is freed inside
            return cls._from_document(parse(text))

    @classmethod
    def _from_document(cls, doc: Mapping[str, Any]) -> Plan:
        """The plan :meth:`_document` describes, sharing the documents of ``doc``."""
        steps, salt, serial, excluded = decode(doc)
        try:
            moves = tuple((m["from"], m["to"]) for m in doc.get("moves", ()))
        except (KeyError, TypeError) as err:
            raise InvalidStateError(f"plan JSON is malformed: moves: {err!r}") from None
        # resource objects are rebuilt from the documents when apply needs them (_saved)
        return cls(tuple(steps), salt, serial, excluded, moves, doc.get("meta", {}), saved=True)
