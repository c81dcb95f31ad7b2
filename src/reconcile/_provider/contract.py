"""The provider contract: four required methods that talk to the real world.

Planning calls only ``read`` (and ``diff``), so a plan is a dry run by
construction; apply calls ``create``, ``update`` and ``delete``. ``list`` is
optional. Retry and failure policy live in the engine, never here.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import ClassVar, Generic, TypeVar

from reconcile._diff.changes import Diff, diff_resources
from reconcile._model.resource import spec_of
from reconcile._util.errors import UnsupportedOperation

__all__ = ["Provider"]

R = TypeVar("R")


class Provider(abc.ABC, Generic[R]):
    """Reads and changes one kind of thing. Subclasses set ``resource`` to their class.

    Contract: ``read`` returns None when the thing does not exist; ``create`` and
    ``update`` return the actual state afterwards, computed fields filled in;
    ``delete`` of something already gone does nothing. Raise
    :class:`reconcile.TransientError` for a failure worth retrying.
    """

    resource: ClassVar[type]

    #: At most this many calls of this provider run at once (None: no bound).
    max_concurrency: ClassVar[int | None] = None
    #: At most this many calls per second (None: no bound), whatever the parallelism.
    rate_limit: ClassVar[float | None] = None
    #: Calls wait on I/O, so plan reads them in parallel; False reads inline (in-memory).
    blocking_io: ClassVar[bool] = True
    #: Calls are quick local work (a file write): apply makes them on its own thread,
    #: without the pool's hand-off; not when a step timeout or an executor is given.
    #: A class or an instance attribute (the files providers set it unless durable).
    inline_apply: bool = False
    #: Observing a whole kind through one ``list()`` is cheaper than reading each thing
    #: (an API that pages); plan then matches listed things to desired ones by address.
    observe_by_list: ClassVar[bool] = False
    #: ``read`` finds things by their key alone, so plan need not fill recorded ids
    #: (computed outputs) into each read; False for APIs that address things by an id.
    identified_by_key: ClassVar[bool] = False

    @property
    def kind(self) -> str:
        return spec_of(self.resource).kind

    @abc.abstractmethod
    def read(self, want: R) -> R | None:
        """The actual state of the thing ``want`` describes, or None if it is absent."""

    @abc.abstractmethod
    def create(self, want: R) -> R:
        """Create the thing; return its actual state."""

    @abc.abstractmethod
    def update(self, have: R, want: R, diff: Diff) -> R:
        """Change ``have`` so it matches ``want``; ``diff`` says which fields differ."""

    @abc.abstractmethod
    def delete(self, have: R) -> None:
        """Delete the thing ``have`` describes."""

    def read_many(self, wants: Sequence[R]) -> Sequence[R | None]:
        """Read several at once (optional): one result per want, in order, None when absent.

        Override when the remote API reads in batches; by default it calls ``read``.
        """
        return [self.read(want) for want in wants]

    @property
    def reads_in_batches(self) -> bool:
        """True when the subclass implements :meth:`read_many`."""
        return type(self).read_many is not Provider.read_many

    def list(self) -> Iterable[R]:
        """Every existing thing of this kind (optional: discovery and orphans)."""
        raise UnsupportedOperation(f"provider {type(self).__qualname__} does not implement list()")

    @property
    def can_list(self) -> bool:
        """True when the subclass implements :meth:`list`."""
        return type(self).list is not Provider.list

    def health(self, have: R) -> str:
        """Optional: ``Healthy``, ``Progressing``, ``Degraded`` (or ``Missing``) for status."""
        return "Healthy"

    def diff(self, want: R, have: R) -> Diff:
        """Changes that turn ``have`` into ``want``; override for kind-specific semantics."""
        return diff_resources(want, have)
