"""The one exception tree of reconcile; every layer raises from here.

::

    ReconcileError
    ├── DefinitionError (TypeError)      a resource class is declared wrongly
    │   └── DuplicateKindError           two classes claim one kind
    ├── InvalidStateError (ValueError)   desired state is malformed; nothing ran
    │   ├── DuplicateAddressError        two resources share an address
    │   ├── UnknownKindError             no provider handles a kind
    │   ├── DanglingDependencyError      depends_on names nothing desired
    │   ├── CycleError                   dependencies form a cycle
    │   ├── ManifestError                manifest files are malformed; lists every problem
    │   └── PathEscapeError              a path leads outside a provider's root
    ├── ObserveError                     a provider's read failed (after retries) while planning
    ├── ProtectedResourceError           a plan would destroy a prevent_destroy resource
    ├── UnsupportedOperation             a provider lacks an optional method
    ├── PlanNeedsDesiredStateError       a saved plan lacks values only desired state has
    ├── StalePlanError                   a saved plan no longer matches what it was made from
    ├── StateError                       recorded state cannot be read or written
    │   ├── LockedError                  another apply holds the state's lock
    │   └── DamagedStateError            the state file is damaged (also an InvalidStateError)
    ├── PartiallyCreated                 a provider created something but could not finish
    └── TransientError                   a provider failure worth retrying

Messages name the resource address and the field path; never a sensitive value.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "CycleError",
    "DamagedStateError",
    "DanglingDependencyError",
    "DefinitionError",
    "DuplicateAddressError",
    "DuplicateKindError",
    "InvalidStateError",
    "LockedError",
    "ManifestError",
    "ManifestProblem",
    "ObserveError",
    "PartiallyCreated",
    "PathEscapeError",
    "PlanNeedsDesiredStateError",
    "ProtectedResourceError",
    "ReconcileError",
    "StalePlanError",
    "SourceError",
    "StateError",
    "TransientError",
    "UnknownKindError",
    "UnsupportedOperation",
    "did_you_mean",
]


class ReconcileError(Exception):
    """Root of every error reconcile raises on purpose."""


class DefinitionError(ReconcileError, TypeError):
    """A resource class or field is declared in a way reconcile cannot use."""


class DuplicateKindError(DefinitionError):
    """Two different classes were registered for the same kind."""


class InvalidStateError(ReconcileError, ValueError):
    """Desired state is malformed; it was rejected before any action ran."""


class SourceError(InvalidStateError):
    """A source of desired state cannot be read: not a repository, unknown revision, no path."""


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

    def __init__(
        self, address: str, missing: str, *, what: str = "depends on", hint: str = ""
    ) -> None:
        super().__init__(
            f"{address}: {what} {missing}, which is not part of the desired state{hint}"
        )
        self.address = address
        self.missing = missing


class CycleError(InvalidStateError):
    """Dependencies form a cycle; ``cycle`` lists every address on it."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__("dependency cycle: " + " -> ".join(self.cycle))


@dataclasses.dataclass(frozen=True)
class ManifestProblem:
    """One thing wrong in a manifest: where (file, line, column, document) and what."""

    file: str
    message: str
    line: int | None = None
    column: int | None = None
    document: int | None = None
    address: str | None = None
    path: str = ""

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        doc = f"document {self.document}" if self.document is not None else ""
        doc += f" ({self.address})" if doc and self.address else ""
        return ": ".join(part for part in (where, doc, self.path, self.message) if part)


class ManifestError(InvalidStateError):
    """Manifests could not be loaded; ``problems`` lists every problem in every file."""

    def __init__(self, problems: Sequence[ManifestProblem]) -> None:
        self.problems = tuple(problems)
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        lines = "".join(f"\n  {p}" for p in self.problems)
        super().__init__(f"{count} in manifests; nothing was loaded:{lines}")


class PathEscapeError(InvalidStateError):
    """A resource's path (or a symlink on the way) leads outside the provider's root."""

    def __init__(self, address: str, path: str, why: str) -> None:
        super().__init__(f"{address}: path {path!r} {why}; nothing there is read or written")
        self.address = address
        self.path = path


class ObserveError(ReconcileError):
    """A provider's ``read`` failed while planning; the cause is chained.

    ``attempts`` says how many times it was tried (a ``TransientError`` is retried);
    ``shown`` is the error's text with the read resource's secrets masked.
    """

    def __init__(
        self, address: str, error: BaseException, *, attempts: int = 1, shown: str | None = None
    ) -> None:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        text = repr(error) if shown is None else shown
        super().__init__(f"{address}: reading the actual state failed{tries}: {text}")
        self.address = address
        self.attempts = attempts


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


class StateError(ReconcileError):
    """Recorded state cannot be used: not a state file, newer schema, corrupt, read-only."""


class LockedError(StateError):
    """Another apply holds the state's lock; ``holder`` says who and since when."""

    def __init__(self, message: str, holder: object) -> None:
        super().__init__(message)
        self.holder = holder


class DamagedStateError(StateError, InvalidStateError):
    """The state file is damaged or gone where records were: refused, nothing changed.

    Both a ``StateError`` (the store cannot be used) and an ``InvalidStateError``."""


class PartiallyCreated(ReconcileError):
    """Raised by a provider whose create made ``actual`` but failed to finish it.

    The engine records ``actual`` as tainted, so the next plan replaces it instead
    of creating a second one.
    """

    def __init__(self, actual: object, error: BaseException) -> None:
        super().__init__(f"created but not finished: {error!r}")
        self.actual = actual
        self.error = error


class TransientError(ReconcileError):
    """Raised by a provider for a failure that may succeed if tried again."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known`` to a misspelt name, else ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
