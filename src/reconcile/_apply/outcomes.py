"""What an apply reports: each step's ``Outcome`` and the ``ApplyResult`` holding them."""

from __future__ import annotations

from typing import Any

import attrs

from reconcile._plan.steps import Action
from reconcile._util.vocabulary import Status

__all__ = ["ApplyResult", "Interrupted", "Outcome", "Status"]


@attrs.frozen
class Outcome:
    """One step's result: its status, the error if it failed, what blocked it if skipped.

    ``error`` is the provider's own exception; ``message`` is its ``repr`` with every
    sensitive value of the step masked, the form the library logs, journals and prints.
    """

    address: str
    action: Action
    status: Status
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    blocked_by: str | None = None
    attempts: int = attrs.field(default=0, eq=False)
    result: Any = attrs.field(default=None, eq=False, repr=False)
    message: str | None = attrs.field(default=None, eq=False)


@attrs.frozen
class ApplyResult:
    """Every step's outcome in plan order; ``ok`` when every step succeeded."""

    outcomes: tuple[Outcome, ...] = ()
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return all(o.status is Status.OK for o in self.outcomes)

    def _with(self, status: Status) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status is status)

    @property
    def applied(self) -> tuple[Outcome, ...]:
        """Steps that changed something and succeeded."""
        return tuple(o for o in self._with(Status.OK) if o.action is not Action.NOOP)

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return self._with(Status.FAILED) + self._with(Status.UNKNOWN)

    @property
    def skipped(self) -> tuple[Outcome, ...]:
        return self._with(Status.SKIPPED)

    @property
    def not_run(self) -> tuple[Outcome, ...]:
        """Steps that never started: skipped after a failure, or cancelled."""
        return self._with(Status.SKIPPED) + self._with(Status.CANCELLED)

    def outcome(self, address: str) -> Outcome:
        for o in self.outcomes:
            if o.address == address:
                return o
        raise KeyError(address)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped an apply: what finished was recorded; ``result`` says what ran."""

    def __init__(self, result: ApplyResult) -> None:
        super().__init__("apply interrupted; finished steps were recorded")
        self.result = result
