"""Which field an attrs validator rejected, when building a class from a document failed.

Called by ``_build`` when every field of a document was read but the class itself
refused the values (attrs runs field validators inside ``__init__``, so the error
does not say which field it was about). Each validator is run again on an
instance holding only its own field and the key fields (which messages use to
name the resource): one that fails there with the same message concerns that
field alone. A check across several fields (it reads another field) is not
blamed on any one of them, and the problem stays at the document's ``spec``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs

from reconcile._model.serialize import accepted_type, error_text, structure_checked

__all__ = ["failing_field"]

_FACTORY: type[Any] = type(attrs.Factory(list))

if TYPE_CHECKING:
    _Field = attrs.Attribute[Any]


def failing_field(
    cls: type[Any], values: Mapping[Any, Any], message: str, keys: Collection[str] = ()
) -> str | None:
    """The field whose validator rejects its own value in ``values`` with ``message``."""
    fields: tuple[_Field, ...] = attrs.fields(cls)
    for a in fields:
        if a.validator is None:
            continue
        alone = _partial(cls, [f for f in fields if f.name in keys or f is a], values)
        if alone is not None and _rejects(a, alone, message):
            return a.name
    return None


def _partial(cls: type[Any], fields: list[_Field], values: Mapping[Any, Any]) -> Any:
    """An instance with only ``fields`` set, as ``__init__`` would set them; None if it cannot."""
    made = object.__new__(cls)
    try:
        for a in fields:
            value = _converted(a, _value(a, values, made), made)
            object.__setattr__(made, a.name, value)
    except Exception:  # a default or converter that needs more: no one field to blame
        return None
    return made


def _value(a: _Field, values: Mapping[Any, Any], made: Any) -> Any:
    """The field's value as structuring gives it; as written if it cannot alone (a ``$ref``)."""
    if a.name not in values:
        default = a.default
        if isinstance(default, _FACTORY):
            return default.factory(made) if default.takes_self else default.factory()
        return default
    raw = values[a.name]
    made_value, problems = (
        structure_checked(raw, accepted_type(a)) if a.type is not None else (raw, ())
    )
    return raw if problems else made_value


def _converted(a: _Field, value: Any, made: Any) -> Any:
    converter: Any = a.converter
    if converter is None:
        return value
    if isinstance(converter, attrs.Converter):
        call = cast("Callable[[Any, Any, _Field], Any]", converter)  # callable, not in the stubs
        return call(value, made, a)  # it passes on to its function what that asked for
    return converter(value)


def _rejects(a: _Field, made: Any, message: str) -> bool:
    """Whether ``a``'s validator fails on ``made`` with exactly ``message``."""
    validator = a.validator
    if validator is None:
        return False
    try:
        validator(made, a, getattr(made, a.name))
    except Exception as err:  # validators may raise anything; only the message counts
        return error_text(err) == message
    return False
