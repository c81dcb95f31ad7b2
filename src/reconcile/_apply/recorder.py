"""Recording apply outcomes: an intent before each provider call, the record after.

Called by apply for every step. Each outcome is written atomically together
with its journal entry and the closing of its intent, so a crash at any point
leaves either an open intent (resolved by ``_recovery``) or a record. Apply
batches a scheduler cycle's intents, and its outcomes, into one commit each.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import socket
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

import attrs

from reconcile._diff.deposed import deposed
from reconcile._diff.documents import stored_spec
from reconcile._diff.records import record_for
from reconcile._plan.steps import Action, Step, planned_spec
from reconcile._state.contract import State
from reconcile._state.values import Record, StepEntry
from reconcile._util.errors import PartiallyCreated
from reconcile._util.vocabulary import IntentAction, Status

__all__ = ["Recorder", "digest", "journal"]

_MAX_ERROR = 2000
_INTENDED = (Action.CREATE, Action.UPDATE, Action.DELETE, Action.REPLACE)


@attrs.frozen
class Recorder:
    """Writes one apply's outcomes to ``state``; with no state it records nothing."""

    state: State | None = None
    apply_id: int | None = None
    revision: str | None = None
    records: Mapping[str, Record] = attrs.field(factory=dict)
    # Each intent's stored spec by address, with what it was made from: the record reuses it.
    _intended: dict[str, tuple[Any, Mapping[str, Any]]] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )
    # The deposed record of each create-before-destroy replace whose old object is not gone.
    _deposed: dict[str, str] = attrs.field(factory=dict, init=False, eq=False, repr=False)

    def _entry(self, step: Step, status: Status, error: str | None = None) -> Any:
        if self.apply_id is None:
            return None
        text = None if error is None else error[:_MAX_ERROR]
        return (self.apply_id, StepEntry(step.address, step.action.value, status.value, text))

    def batch(self) -> AbstractContextManager[None]:
        """Changes made inside commit together (see ``State.batch``)."""
        return contextlib.nullcontext() if self.state is None else self.state.batch()

    def intend(self, step: Step) -> int | None:
        """Durably note the provider call about to run (the crash-safety intent)."""
        if self.state is None or step.action not in _INTENDED:
            return None
        source = step.declared or step.desired or step.actual
        spec = planned_spec(step)  # encoded by the planner already, when it could be
        if spec is None:
            spec = stored_spec(source, copied=step.copied_sensitive) if source is not None else {}
        self._intended[step.address] = (source, spec)
        return self.state.open_intent(
            step.address, step.kind, IntentAction(step.action).value, spec, self.apply_id
        )

    def succeeded(self, step: Step, result: Any, intent: int | None) -> None:
        if self.state is None:
            return
        entry = self._entry(step, Status.OK)
        if step.action in (Action.DELETE, Action.FORGET):
            self.state.forget(step.address, intent=intent, step=entry)
            return
        self._depose_old(step, result)
        declared = step.declared or step.desired
        if declared is None:  # a saved plan's no-op applied without its desired state:
            return  # nothing declared to record, and its record is what the plan saw
        source, stored = self._intended.pop(step.address, (None, None))
        record = record_for(
            declared,
            result,
            self.revision,
            depends_on=step.depends_on,
            stored=stored if source is declared else None,
            copied=step.copied_sensitive,
        )
        if step.action is Action.NOOP and self.records.get(step.address) == record:
            return  # nothing changed, nothing to journal (the plan JSON has the step)
        self.state.save(record, intent=intent, step=entry)

    def failed(self, step: Step, error: BaseException, intent: int | None, text: str) -> None:
        """Journal a failed step; ``text`` is the error as the journal keeps it (secrets masked)."""
        if self.state is None:
            return
        entry = self._entry(step, Status.FAILED, text)
        self._intended.pop(step.address, None)
        if isinstance(error, PartiallyCreated):
            self._depose_old(step, error.actual)
            declared = step.declared or step.desired
            record = record_for(
                declared,
                error.actual,
                self.revision,
                tainted=True,
                depends_on=step.depends_on,
                copied=step.copied_sensitive,
            )
            self.state.save(record, intent=intent, step=entry)
        elif intent is not None:
            self.state.close_intent(intent, step=entry)
        elif entry is not None:
            self.state.journal_step(*entry)

    def skipped(
        self, step: Step, status: Status = Status.SKIPPED, intent: int | None = None
    ) -> None:
        """A step that never ran (skipped after a failure, or cancelled): journal it.

        Its intent, when one was opened for a call that then never started, is closed.
        """
        self._intended.pop(step.address, None)
        if self.state is not None and intent is not None:
            self.state.close_intent(intent, step=self._entry(step, status))
        else:
            self._journal_only(step, status)

    def abandoned(self, step: Step) -> None:
        """A step that timed out: its intent stays open so the next run reads it again."""
        self._journal_only(step, Status.UNKNOWN)

    def destroyed_old(self, step: Step) -> None:
        """The old object of a create-before-destroy replace is gone: forget its record."""
        address = self._deposed.pop(step.address, None)
        if self.state is not None and address is not None:
            self.state.forget(address, step=self._entry(step, Status.OK))
        else:
            self._journal_only(step, Status.OK)

    def _depose_old(self, step: Step, new: Any) -> None:
        """A create-before-destroy replacement exists (whole or partly): record the old
        object as deposed before the new record, so a crash, or a destroy that fails or
        never runs, leaves it for the next plan to destroy rather than unrecorded."""
        if self.state is None or not step.creates_first:
            return
        record = deposed(self.records.get(step.address), step.actual, new)
        if record is not None:
            self.state.save(record)
            self._deposed[step.address] = record.address

    def _journal_only(self, step: Step, status: Status) -> None:
        if self.state is not None and (entry := self._entry(step, status)) is not None:
            self.state.journal_step(*entry)


def journal(plan_text: str, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """What an apply journals beside its plan: who ran it, ``meta``, the plan digest."""
    return {**_who(), **(meta or {}), "plan_digest": digest(plan_text.encode())}


def digest(data: bytes) -> str:
    """``sha256:`` and the hex digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _who() -> dict[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"user": user, "host": socket.gethostname()}
