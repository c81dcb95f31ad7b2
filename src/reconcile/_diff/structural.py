"""The deepdiff adapter: structural changes between two JSON-like documents.

The only module that imports deepdiff. The diff engine calls it only after a
strict equality check said the documents differ. Lists are compared index by
index (``zip_ordered_iterables``), which keeps the JSON Patch we derive simple
and always applicable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from deepdiff import DeepDiff

from reconcile._util.vocabulary import ChangeKind

__all__ = ["structural_changes"]

Path = tuple[str | int, ...]

_OPS = {
    "values_changed": ChangeKind.REPLACE,
    "type_changes": ChangeKind.REPLACE,
    "dictionary_item_added": ChangeKind.ADD,
    "iterable_item_added": ChangeKind.ADD,
    "dictionary_item_removed": ChangeKind.REMOVE,
    "iterable_item_removed": ChangeKind.REMOVE,
}


def structural_changes(desired: Any, actual: Any) -> Iterator[tuple[ChangeKind, Path, Any, Any]]:
    """Yield ``(op, path, old, new)`` turning ``actual`` into ``desired``."""
    tree = DeepDiff(
        actual,
        desired,
        verbose_level=2,
        zip_ordered_iterables=True,
        ignore_private_variables=False,
        ignore_nan_inequality=False,
    ).tree
    for report, levels in tree.items():
        op = _OPS.get(report)
        if op is None:
            raise TypeError(f"not a JSON-like document: deepdiff reported {report}")
        for level in levels:
            path = tuple(level.path(output_format="list"))
            old = None if op is ChangeKind.ADD else level.t1
            new = None if op is ChangeKind.REMOVE else level.t2
            yield op, path, old, new
