"""The closed vocabularies of reconcile, in one place: each a ``StrEnum``.

Modelled on diffsync's ``enum.py``. A member equals its string value, so plan
JSON, state rows, journals and command-line output read as before; code names
the member instead of repeating the literal, and the type checker knows the set.
"""

from __future__ import annotations

import enum

__all__ = [
    "Action",
    "ApplyStatus",
    "ChangeKind",
    "DriftCause",
    "DriftMode",
    "EventKind",
    "Health",
    "IntentAction",
    "JobPhase",
    "Reason",
    "Status",
    "Sync",
]


class Status(enum.StrEnum):
    """How one step of an apply ended (``Outcome.status``, a journal step's status)."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"  # timed out and abandoned: the next run reads it again
    CANCELLED = "cancelled"  # never started: the apply was cancelled first


class ApplyStatus(enum.StrEnum):
    """How a journaled apply ended, or that it is still running (``ApplyEntry.status``)."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # Ctrl-C: what finished was recorded
    REFUSED = "refused"  # e.g. a stale saved plan: nothing ran


class JobPhase(enum.StrEnum):
    """The part of a step one scheduler job runs: all of it, or one half of a
    create-before-destroy replace (the new object first, then the old one gone)."""

    ALL = "all"
    CREATE = "create"
    DESTROY = "destroy"


class _ShownAsString(enum.StrEnum):
    """Members whose repr is their string's: ``Change`` held plain strings before, and
    its repr (in users' logs and doctests) reads as it did."""

    def __repr__(self) -> str:
        return repr(self.value)


class ChangeKind(_ShownAsString):
    """What a field change does at its path (``Change.op``)."""

    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


class DriftCause(_ShownAsString):
    """Why a field differs (``Change.cause``): the desired state, the live system, or both."""

    CONFIG = "config"
    DRIFT = "drift"
    BOTH = "both"


class DriftMode(enum.StrEnum):
    """What a watch does about a resource's drift (``lifecycle.drift``)."""

    OFF = "off"  # neither reported nor corrected
    DETECT = "detect"  # reported only
    CORRECT = "correct"  # corrected (self-heal)


class IntentAction(enum.StrEnum):
    """The provider call a crash-safety intent announces (``Intent.action``)."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


class Action(enum.StrEnum):
    """What a step does to its address."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    FORGET = "forget"
    NOOP = "noop"


class Reason(enum.StrEnum):
    """Why the planner chose a step's action (as Terraform's ``action_reason``)."""

    MISSING = "missing"
    CHANGED = "changed"
    REPLACE_FORCED = "replace_forced"
    IN_SYNC = "in_sync"
    NOT_DESIRED = "not_desired"
    TAINTED = "tainted"
    RETAINED = "retained"
    GONE = "gone"


class EventKind(enum.StrEnum):
    """What happened to a step."""

    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    RETRIED = "retried"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class Sync(enum.StrEnum):
    """Whether live state matches a revision, as Argo CD says it."""

    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"


class Health(enum.StrEnum):
    """Resource health, from worst to best as Argo CD aggregates it."""

    DEGRADED = "Degraded"
    MISSING = "Missing"
    PROGRESSING = "Progressing"
    HEALTHY = "Healthy"
