"""The world behind a ``MemoryProvider``: items by address, and reads that may lag.

Eventual consistency, precisely: the provider numbers its calls 1, 2, 3, ...
With a lag of ``k``, a write made by call ``w`` is seen by a ``read``/``list``
made by call ``r`` only when ``r > w + k``: for the ``k`` calls after a write,
reads return what was there before it. ``k = 0`` is read-your-writes. Test
helpers (``put``, ``remove``, ``drift``) change the world at once, for everyone.
Not thread-safe: ``MemoryProvider`` holds its lock around every method here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

import attrs

__all__ = ["Store"]

R = TypeVar("R")


@attrs.frozen
class _Write(Generic[R]):
    call: int
    address: str
    before: R | None


class Store(Generic[R]):
    """Current items plus the writes reads cannot see yet."""

    def __init__(self) -> None:
        self._items: dict[str, R] = {}
        self._hidden: list[_Write[R]] = []
        self.lag = 0

    def write(self, call: int, address: str, value: R | None) -> None:
        """Call number ``call`` sets (or, with None, deletes) ``address``."""
        if self.lag:
            self._hidden.append(_Write(call, address, self._items.get(address)))
        self._set(address, value)

    def seen_by(self, call: int, address: str) -> R | None:
        """What a read made by call number ``call`` sees at ``address``."""
        self._reveal(call)
        value = self._items.get(address)
        for w in reversed(self._hidden):
            if w.address == address:
                value = w.before
        return value

    def all_seen_by(self, call: int) -> list[R]:
        """Everything a ``list`` made by call number ``call`` sees."""
        self._reveal(call)
        view = dict(self._items)
        for w in reversed(self._hidden):
            if w.before is None:
                view.pop(w.address, None)
            else:
                view[w.address] = w.before
        return list(view.values())

    def force(self, address: str, value: R | None) -> None:
        """Change the world now, visible to every read (drift, seeding)."""
        self._hidden = [w for w in self._hidden if w.address != address]
        self._set(address, value)

    def get(self, address: str) -> R | None:
        """The true current value, whatever reads may see."""
        return self._items.get(address)

    def __iter__(self) -> Iterator[R]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def _set(self, address: str, value: R | None) -> None:
        if value is None:
            self._items.pop(address, None)
        else:
            self._items[address] = value

    def _reveal(self, call: int) -> None:
        """Forget hidden writes that call ``call`` (and every later one) can see."""
        self._hidden = [w for w in self._hidden if w.call + self.lag >= call]
