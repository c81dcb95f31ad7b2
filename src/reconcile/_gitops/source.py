"""The ``Source`` protocol: where desired state comes from, at which revision.

Sync, status, watch and rollback depend on this small protocol, never on Git:
a manifest folder, a Git repository or a Python function can all be sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["Source", "describe"]


@runtime_checkable
class Source(Protocol):
    """Says which revision it holds now and loads the resources of a revision."""

    def revision(self) -> str:
        """An identifier of the desired state held now (a commit id, a digest)."""
        ...

    def load(self, revision: str | None = None) -> list[Any]:
        """The resources at ``revision`` (default: now); an error if it is not available."""
        ...


def describe(source: Source, revision: str) -> Mapping[str, Any]:
    """What the journal records about a revision: commit, author and subject when known."""
    describer = getattr(source, "describe", None)
    meta: dict[str, Any] = {"source": repr(source), "revision": revision}
    if describer is not None:
        info = describer(revision)
        meta.update(info.as_meta() if hasattr(info, "as_meta") else dict(info))
    return meta
