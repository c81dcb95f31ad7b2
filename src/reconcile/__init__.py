"""reconcile: make live state match declared state.

Declare resources, give a provider per kind, and ``Reconciler`` plans, applies
and converges: a precise diff, a readable plan, an apply in dependency order.
"""

import contextlib as _contextlib

from ._apply.converge import ConvergeReport, Round
from ._apply.outcomes import ApplyResult, Interrupted, Outcome, Status
from ._apply.scheduler import StepTimeout
from ._diff.changes import Change, Diff, diff
from ._gitops.guard import PrunePolicy, PruneRefused
from ._gitops.health import Health
from ._gitops.preview import DesiredDiff, ResourceChange, compare
from ._gitops.source import Source
from ._gitops.status import ResourceStatus, Sync, SyncStatus
from ._gitops.watch import WatchEvent, WatchOptions, WatchReport
from ._model.resource import Lifecycle, address_of, field, resource
from ._model.secrets import Redacted
from ._model.values import UNKNOWN, Moved, Ref, moved, ref
from ._plan.plan import Plan
from ._plan.steps import Action, Reason, Step
from ._provider.contract import Provider
from ._provider.events import Event, EventKind
from ._provider.policy import RetryPolicy
from ._reconciler import Reconciler
from ._state.contract import State
from ._state.memory import MemoryState
from ._state.sqlite import SQLiteState
from ._state.values import ApplyEntry, Intent, Journaled, LockInfo, Record, Snapshot, StepEntry
from ._util.clock import Clock, SystemClock
from ._util.errors import (
    CycleError,
    DanglingDependencyError,
    DefinitionError,
    DuplicateAddressError,
    DuplicateKindError,
    InvalidStateError,
    LockedError,
    ManifestError,
    ObserveError,
    PartiallyCreated,
    PlanNeedsDesiredStateError,
    ProtectedResourceError,
    ReconcileError,
    SourceError,
    StalePlanError,
    StateError,
    TransientError,
    UnknownKindError,
    UnsupportedOperation,
)

__all__ = [
    "Action",
    "ApplyEntry",
    "ApplyResult",
    "Change",
    "Clock",
    "ConvergeReport",
    "CycleError",
    "DanglingDependencyError",
    "DefinitionError",
    "DesiredDiff",
    "Diff",
    "DuplicateAddressError",
    "DuplicateKindError",
    "Event",
    "EventKind",
    "Health",
    "Intent",
    "Interrupted",
    "InvalidStateError",
    "Journaled",
    "Lifecycle",
    "LockInfo",
    "LockedError",
    "ManifestError",
    "MemoryState",
    "Moved",
    "ObserveError",
    "Outcome",
    "PartiallyCreated",
    "Plan",
    "PlanNeedsDesiredStateError",
    "ProtectedResourceError",
    "Provider",
    "PrunePolicy",
    "PruneRefused",
    "Reason",
    "ReconcileError",
    "Reconciler",
    "Record",
    "Redacted",
    "Ref",
    "ResourceChange",
    "ResourceStatus",
    "RetryPolicy",
    "Round",
    "SQLiteState",
    "Snapshot",
    "Source",
    "SourceError",
    "StalePlanError",
    "State",
    "StateError",
    "Status",
    "Step",
    "StepEntry",
    "StepTimeout",
    "Sync",
    "SyncStatus",
    "SystemClock",
    "TransientError",
    "UNKNOWN",
    "UnknownKindError",
    "UnsupportedOperation",
    "WatchEvent",
    "WatchOptions",
    "WatchReport",
    "address_of",
    "compare",
    "diff",
    "field",
    "moved",
    "ref",
    "resource",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        with _contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "reconcile"
del _name, _obj
