"""Resources to plain JSON-like documents and back, through one cattrs converter.

The only module that imports cattrs. ``unstructure`` leaves out ``depends_on``
(graph, not data); ``structure`` rebuilds a resource from a document.
"""

from __future__ import annotations

from typing import Any, TypeVar

import cattrs

from ._model import spec_of

__all__ = ["structure", "unstructure", "unstructure_value"]

T = TypeVar("T")

_converter = cattrs.Converter()


def unstructure_value(value: Any) -> Any:
    """One field's value as plain JSON-like data."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return _converter.unstructure(value)


def unstructure(res: object) -> dict[str, Any]:
    """All declared fields of a resource, as a plain dict (no ``depends_on``)."""
    return {f.name: unstructure_value(getattr(res, f.name)) for f in spec_of(res).fields}


def structure(doc: dict[str, Any], cls: type[T]) -> T:
    """Build a resource of ``cls`` from a document made by :func:`unstructure`."""
    return _converter.structure(doc, cls)
