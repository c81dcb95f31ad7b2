"""reconcile: make live state match declared state.

Declare resources, give a provider per kind, and ``Reconciler`` plans, applies
and converges: a precise diff, a readable plan, an apply in dependency order.
"""

import contextlib as _contextlib

from ._clock import Clock, SystemClock
from ._compare import DesiredDiff, ResourceChange, compare
from ._converge import ConvergeReport, Round
from ._diff import Change, Diff, diff
from ._errors import (
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
from ._events import Event, EventKind
from ._memstate import MemoryState
from ._model import Lifecycle, address_of, field, resource
from ._outcomes import ApplyResult, Interrupted, Outcome, Status
from ._plan import Plan
from ._policy import RetryPolicy
from ._provider import Provider
from ._reconciler import Reconciler
from ._schedule import StepTimeout
from ._secrets import Redacted
from ._source import Source
from ._sqlite import SQLiteState
from ._state import ApplyEntry, LockInfo, Record, State, StepEntry
from ._steps import Action, Reason, Step
from ._sync import Health, PrunePolicy, PruneRefused, ResourceStatus, Sync, SyncStatus
from ._values import UNKNOWN, Moved, Ref, moved, ref
from ._watch import WatchEvent, WatchOptions, WatchReport

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
    "Interrupted",
    "InvalidStateError",
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
