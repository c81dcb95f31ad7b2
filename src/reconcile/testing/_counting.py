"""``CountingProvider``: wraps any provider and counts the calls made through it.

The conformance suite and ``assert_idempotent`` wrap a provider they know
nothing about in one, to prove that a converged world sees no more writes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from typing import Generic, TypeVar

from reconcile._diff.changes import Diff
from reconcile._provider.contract import Provider

__all__ = ["CountingProvider"]

R = TypeVar("R")

WRITES = ("create", "update", "delete")


class CountingProvider(Provider[R], Generic[R]):
    """Delegates every call to ``inner`` and counts it by method; thread-safe."""

    def __init__(self, inner: Provider[R]) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()

    @property
    def resource(self) -> type[R]:  # type: ignore[override]
        return self.inner.resource

    @property
    def can_list(self) -> bool:
        return self.inner.can_list

    def read(self, want: R) -> R | None:
        self._count("read")
        return self.inner.read(want)

    def create(self, want: R) -> R:
        self._count("create")
        return self.inner.create(want)

    def update(self, have: R, want: R, diff: Diff) -> R:
        self._count("update")
        return self.inner.update(have, want, diff)

    def delete(self, have: R) -> None:
        self._count("delete")
        self.inner.delete(have)

    def list(self) -> Iterable[R]:
        self._count("list")
        return self.inner.list()

    def diff(self, want: R, have: R) -> Diff:
        return self.inner.diff(want, have)

    @property
    def calls(self) -> Counter[str]:
        """Calls made so far, by method name (a copy)."""
        with self._lock:
            return Counter(self._calls)

    @property
    def writes(self) -> int:
        """How many create, update and delete calls went through."""
        calls = self.calls
        return sum(calls[m] for m in WRITES)

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def __repr__(self) -> str:
        return f"CountingProvider({self.inner!r})"

    def _count(self, method: str) -> None:
        with self._lock:
            self._calls[method] += 1
