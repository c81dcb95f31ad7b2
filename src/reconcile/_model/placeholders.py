"""Values that stand in a field until apply knows the real one, past validators and converters.

A ``ref(...)`` (or ``UNKNOWN`` while planning) can sit in any field, a checked
one too: ``mode=ref(folder, "mode")`` must not reach ``0 <= mode``. A field's
validator and converter therefore skip a value holding a placeholder, and run on
the real value when apply resolves it (``attrs.evolve`` builds the resource again).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import attrs

__all__ = ["Placeholder", "holds_placeholder", "let_placeholders_pass", "unwrapped"]


class Placeholder:
    """Base of values known only at apply: validators and converters wait for the real one."""

    __slots__ = ()


def holds_placeholder(value: Any) -> bool:
    """Whether ``value`` is a placeholder or has one inside (in dicts, lists and tuples)."""
    if isinstance(value, Placeholder):
        return True
    if isinstance(value, dict):
        return any(map(holds_placeholder, value.values()))
    if isinstance(value, list | tuple):
        return any(map(holds_placeholder, value))
    return False


def let_placeholders_pass(
    fields: list[attrs.Attribute[Any]], skip: Collection[str]
) -> list[attrs.Attribute[Any]]:
    """``fields`` with each validator and converter wrapped to let placeholders through."""
    return [a if a.name in skip else _wrapped(a) for a in fields]


def unwrapped(check: Any) -> Any:
    """The validator or converter as declared (``in_``, ``ge``, a function...), for code
    that reads what it allows or takes; an ``attrs.Converter``'s own function."""
    if isinstance(check, attrs.Converter):
        check = check.converter  # type: ignore[attr-defined]
    return getattr(check, "__wrapped__", check)


def _wrapped(a: attrs.Attribute[Any]) -> attrs.Attribute[Any]:
    changes: dict[str, Any] = {}
    if a.validator is not None:
        changes["validator"] = _validator(a.validator)
    if a.converter is not None:
        changes["converter"] = _converter(a.converter)
    return a.evolve(**changes) if changes else a


def _validator(check: Callable[[Any, Any, Any], Any]) -> Callable[[Any, Any, Any], None]:
    def validate(instance: Any, attribute: Any, value: Any) -> None:
        if not holds_placeholder(value):
            check(instance, attribute, value)

    validate.__wrapped__ = check  # type: ignore[attr-defined]
    return validate


def _converter(convert: Any) -> Any:
    if isinstance(convert, attrs.Converter):
        inner: Callable[..., Any] = convert.converter  # type: ignore[attr-defined]

        def convert_with(value: Any, *context: Any) -> Any:  # context: self, field, as asked
            return value if holds_placeholder(value) else inner(value, *context)

        convert_with.__wrapped__ = inner  # type: ignore[attr-defined]
        return attrs.Converter(
            convert_with,
            takes_self=convert.takes_self,  # type: ignore[attr-defined]
            takes_field=convert.takes_field,  # type: ignore[attr-defined]
        )

    def convert_value(value: Any) -> Any:
        return value if holds_placeholder(value) else convert(value)

    convert_value.__wrapped__ = convert  # type: ignore[attr-defined]
    return convert_value
