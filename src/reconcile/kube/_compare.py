"""What is compared: only the paths the desired document sets (Argo CD's desired subset).

Used by ``FakeCluster.diff`` and by any provider serving ``KubeObject``: what
the API server or controllers add (uid, status, defaults, others' labels) never
shows as a difference, while a path the last applied body set and the desired
one drops still does, so removals are applied (kubectl's three-way idea).
Fields only the server writes are dropped from the desired body first, as
kubectl and Argo CD do, so ``creationTimestamp: null`` (``kubectl create
--dry-run -o yaml``) or an exported object's ``uid`` never keeps it OutOfSync.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from reconcile._diff.changes import Diff, diff

from ._object import KubeObject

__all__ = ["SERVER_METADATA", "compare", "desired_view", "without_server_fields"]

_ABSENT: Any = object()

#: Metadata only the API server writes: never taken from a client, never compared.
SERVER_METADATA = (
    "uid", "creationTimestamp", "resourceVersion", "generation", "managedFields", "selfLink",
)  # fmt: skip


def without_server_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` without what only the server writes: the metadata above and ``status``.

    A pod template's ``metadata.creationTimestamp: null`` goes too (the server drops it).
    """
    out = {k: v for k, v in body.items() if k != "status"}
    meta = out.pop("metadata", None)
    if isinstance(meta, dict):
        kept = {k: v for k, v in meta.items() if k not in SERVER_METADATA}
        if kept:
            out = {"metadata": kept, **out}
    elif meta is not None:
        out = {"metadata": meta, **out}
    cleaned: dict[str, Any] = _without_null_timestamps(out)
    return cleaned


def _without_null_timestamps(value: Any) -> Any:
    """Every nested ``metadata.creationTimestamp: null`` dropped (pod templates carry one)."""
    if isinstance(value, list):
        return [_without_null_timestamps(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _without_null_timestamps(v) for k, v in value.items()}
    meta = out.get("metadata")
    if isinstance(meta, dict) and "creationTimestamp" in meta and meta["creationTimestamp"] is None:
        out["metadata"] = {k: v for k, v in meta.items() if k != "creationTimestamp"}
    return out


def desired_view(
    want: KubeObject, have: KubeObject, applied: Mapping[str, Any] | None = None
) -> KubeObject:
    """``have`` with only the paths ``want`` sets, or the last ``applied`` body set, kept.

    What the server or other controllers add (uid, status, defaults) drops out;
    a path set last time but not now stays, so its removal still shows.
    """
    body = _project(have.body, want.body, applied if applied is not None else _ABSENT)
    return attrs.evolve(have, body=body)  # type: ignore[misc]


def compare(want: KubeObject, have: KubeObject, applied: Mapping[str, Any] | None = None) -> Diff:
    """The diff of ``want`` (minus server-written fields) against the part of ``have`` it
    (or ``applied``) speaks for."""
    body = without_server_fields(want.body)
    if body != want.body:
        want = attrs.evolve(want, body=body)  # type: ignore[misc]
    return diff(want, desired_view(want, have, applied))


def _project(live: Any, want: Any, last: Any) -> Any:
    """``live`` cut to the shape of ``want`` and ``last``: mappings by key, lists by index."""
    if isinstance(live, dict) and (isinstance(want, dict) or isinstance(last, dict)):
        mine = want if isinstance(want, dict) else {}
        before = last if isinstance(last, dict) else {}
        return {
            k: _project(v, mine.get(k, _ABSENT), before.get(k, _ABSENT))
            for k, v in live.items()
            if k in mine or k in before
        }
    if isinstance(live, list) and (isinstance(want, list) or isinstance(last, list)):
        return [_project(v, _item(want, i), _item(last, i)) for i, v in enumerate(live)]
    return live


def _item(items: Any, index: int) -> Any:
    return items[index] if isinstance(items, list) and index < len(items) else _ABSENT
