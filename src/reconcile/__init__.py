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
    ObserveError,
    PlanNeedsDesiredStateError,
    ProtectedResourceError,
    ReconcileError,
    StalePlanError,
    TransientError,
    UnknownKindError,
    UnsupportedOperation,
)
from ._model import Lifecycle, Ref, address_of, field, ref, resource
from ._plan import Plan
from ._provider import Provider
from ._reconciler import Reconciler
from ._secrets import Redacted
from ._steps import Action, Reason, Step

__all__ = [
    "Action",
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
    "ObserveError",
    "Outcome",
    "Plan",
    "PlanNeedsDesiredStateError",
    "ProtectedResourceError",
    "Provider",
    "Reason",
    "ReconcileError",
    "Reconciler",
    "Redacted",
    "Ref",
    "Round",
    "StalePlanError",
    "Status",
    "Step",
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
