"""What is compared: only the paths the desired document sets (Argo CD's desired subset).

Used by ``FakeCluster.diff`` and by any provider serving ``KubeObject``: what
the API server or controllers add (uid, status, defaults, others' labels) never
shows as a difference, while a path the last applied body set and the desired
one drops still does, so removals are applied (kubectl's three-way idea).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from reconcile._diff import Diff, diff

from ._object import KubeObject

__all__ = ["compare", "desired_view"]

_ABSENT: Any = object()


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
    """The diff of ``want`` against the part of ``have`` it (or ``applied``) speaks for."""
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
