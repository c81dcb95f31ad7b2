"""reconcile: make live state match declared state.

Declare resources, give a provider per kind, and ``Reconciler`` plans, applies
and converges: a precise diff, a readable plan, an apply in dependency order.
"""

import contextlib as _contextlib

from ._apply import ApplyResult, Outcome, Status
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
    ObserveError,
    PartiallyCreated,
    PlanNeedsDesiredStateError,
    ProtectedResourceError,
    ReconcileError,
    StalePlanError,
    StateError,
    TransientError,
    UnknownKindError,
    UnsupportedOperation,
)
from ._memstate import MemoryState
from ._model import Lifecycle, Ref, address_of, field, ref, resource
from ._plan import Plan
from ._provider import Provider
from ._reconciler import Reconciler
from ._secrets import Redacted
from ._sqlite import SQLiteState
from ._state import ApplyEntry, LockInfo, Record, State, StepEntry
from ._steps import Action, Reason, Step

__all__ = [
    "Action",
    "ApplyEntry",
    "ApplyResult",
    "Change",
    "ConvergeReport",
    "CycleError",
    "DanglingDependencyError",
    "DefinitionError",
    "Diff",
    "DuplicateAddressError",
    "DuplicateKindError",
    "InvalidStateError",
    "Lifecycle",
    "LockInfo",
    "LockedError",
    "MemoryState",
    "ObserveError",
    "Outcome",
    "PartiallyCreated",
    "Plan",
    "PlanNeedsDesiredStateError",
    "ProtectedResourceError",
    "Provider",
    "Reason",
    "ReconcileError",
    "Reconciler",
    "Record",
    "Redacted",
    "Ref",
    "Round",
    "SQLiteState",
    "StalePlanError",
    "State",
    "StateError",
    "Status",
    "Step",
    "StepEntry",
    "TransientError",
    "UnknownKindError",
    "UnsupportedOperation",
    "address_of",
    "diff",
    "field",
    "ref",
    "resource",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        with _contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "reconcile"
del _name, _obj
