"""The one exception tree of reconcile; every layer raises from here.

::

    ReconcileError
    ├── DefinitionError (TypeError)      a resource class is declared wrongly
    │   └── DuplicateKindError           two classes claim one kind
    ├── InvalidStateError (ValueError)   desired state is malformed; nothing ran
    │   ├── DuplicateAddressError        two resources share an address
    │   ├── UnknownKindError             no provider handles a kind
    │   ├── DanglingDependencyError      depends_on names nothing desired
    │   └── CycleError                   dependencies form a cycle
    ├── ObserveError                     a provider's read failed while planning
    ├── ProtectedResourceError           a plan would destroy a prevent_destroy resource
    ├── UnsupportedOperation             a provider lacks an optional method
    ├── PlanNeedsDesiredStateError       a saved plan lacks values only desired state has
    ├── StalePlanError                   a saved plan no longer matches what it was made from
    └── TransientError                   a provider failure worth retrying

Messages name the resource address and the field path; never a sensitive value.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CycleError",
    "DanglingDependencyError",
    "DefinitionError",
    "DuplicateAddressError",
    "DuplicateKindError",
    "InvalidStateError",
    "ObserveError",
    "PlanNeedsDesiredStateError",
    "ProtectedResourceError",
    "ReconcileError",
    "StalePlanError",
    "TransientError",
    "UnknownKindError",
    "UnsupportedOperation",
]


class ReconcileError(Exception):
    """Root of every error reconcile raises on purpose."""


class DefinitionError(ReconcileError, TypeError):
    """A resource class or field is declared in a way reconcile cannot use."""


class DuplicateKindError(DefinitionError):
    """Two different classes were registered for the same kind."""


class InvalidStateError(ReconcileError, ValueError):
    """Desired state is malformed; it was rejected before any action ran."""


class DuplicateAddressError(InvalidStateError):
    """Two desired resources share one address."""

    def __init__(self, address: str, first: object, second: object) -> None:
        super().__init__(
            f"{address}: declared twice ({first!r} and {second!r}); "
            "every resource needs a unique kind and key"
        )
        self.address = address


class UnknownKindError(InvalidStateError):
    """A desired resource is of a kind no provider was given for."""

    def __init__(self, address: str, kind: str, known: Sequence[str]) -> None:
        listed = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"{address}: no provider handles kind {kind!r} (providers given for: {listed})"
        )
        self.address = address
        self.kind = kind


class DanglingDependencyError(InvalidStateError):
    """A resource depends on an address that is neither desired nor recorded."""

    def __init__(self, address: str, missing: str) -> None:
        super().__init__(f"{address}: depends on {missing}, which is not part of the desired state")
        self.address = address
        self.missing = missing


class CycleError(InvalidStateError):
    """Dependencies form a cycle; ``cycle`` lists every address on it."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__("dependency cycle: " + " -> ".join(self.cycle))


class ObserveError(ReconcileError):
    """A provider's ``read`` failed while planning; the cause is chained."""

    def __init__(self, address: str, error: BaseException) -> None:
        super().__init__(f"{address}: reading the actual state failed: {error!r}")
        self.address = address


class ProtectedResourceError(ReconcileError):
    """The plan would destroy a resource whose lifecycle has prevent_destroy."""

    def __init__(self, address: str, why: str) -> None:
        super().__init__(
            f"{address}: prevent_destroy is set but the plan would {why}; "
            "lift the protection first or change the desired state"
        )
        self.address = address


class UnsupportedOperation(ReconcileError):
    """A provider was asked for an optional capability it does not implement."""


class PlanNeedsDesiredStateError(ReconcileError):
    """A saved plan hides sensitive values; apply it with the desired state again."""


class StalePlanError(ReconcileError):
    """A saved plan no longer matches the desired state or world it was made from."""


class TransientError(ReconcileError):
    """Raised by a provider for a failure that may succeed if tried again."""
