"""Resources to plain JSON-like documents and back, through one cattrs converter.

The only module that imports cattrs. ``unstructure`` leaves out ``depends_on``
(graph, not data); ``structure`` rebuilds a resource from a document.
``structure_checked`` is for documents people wrote (manifests): a strict copy of
the converter (no extra keys, no coercion of ``"80"`` to ``80``, a string is not a
list) that reports every bad field by path and lets ``Ref`` values through. A field
with a converter takes what that converter's parameter is annotated to take.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import types
from collections.abc import Callable
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

import attrs
import cattrs
from cattrs.cols import list_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, override
from cattrs.strategies import configure_union_passthrough

from reconcile._util.errors import DefinitionError, did_you_mean

from .placeholders import unwrapped
from .resource import RESERVED, spec_of
from .values import Ref

__all__ = [
    "FieldProblem",
    "accepted_type",
    "error_text",
    "holds_ref",
    "structure",
    "structure_checked",
    "structure_reported",
    "unstructure",
    "unstructure_value",
]

T = TypeVar("T")

_converter = cattrs.Converter()


_SCALARS = (str, int, float, bool, type(None))


def unstructure_value(value: Any) -> Any:
    """One field's value as plain JSON-like data.

    Plain JSON data (scalars, and dicts with str keys and lists of them) is walked
    directly, which is several times faster than the converter's per-item dispatch;
    anything else (attrs classes, enums, tuples, sets) goes through cattrs.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict and all(type(k) is str for k in value):
        return {k: unstructure_value(v) for k, v in value.items()}
    if kind is list:
        return [unstructure_value(v) for v in value]
    return _converter.unstructure(value)


def unstructure(res: object) -> dict[str, Any]:
    """All declared fields of a resource, as a plain dict (no ``depends_on``)."""
    return {f.name: unstructure_value(getattr(res, f.name)) for f in spec_of(res).fields}


def structure(doc: dict[str, Any], cls: type[T]) -> T:
    """Build a resource of ``cls`` from a document made by :func:`unstructure`."""
    return _converter.structure(doc, cls)


# -- strict structuring of hand-written documents -------------------------------

Path = tuple[str | int, ...]
_COLLECTIONS: dict[Any, Callable[[list[Any]], Any]] = {
    list: list,
    collections.abc.Sequence: list,
    collections.abc.MutableSequence: list,
    set: set,
    collections.abc.Set: frozenset,
    collections.abc.MutableSet: set,
    frozenset: frozenset,
    tuple: tuple,
}


@attrs.frozen
class FieldProblem:
    """One field of a document that could not be structured, and what was expected."""

    path: Path
    message: str


def structure_checked(doc: Any, cls: type[T]) -> tuple[T | None, tuple[FieldProblem, ...]]:
    """Build ``cls`` from a hand-written document; on failure, every problem by path."""
    try:
        return _strict.structure(doc, cls), ()
    except (ClassValidationError, IterableValidationError) as err:
        return None, tuple(_problems(err, ()))
    except (ValueError, TypeError, AttributeError, cattrs.StructureHandlerNotFoundError) as err:
        return None, (FieldProblem((), _describe(err, None)),)


def structure_reported(
    doc: dict[str, Any], cls: type[T]
) -> tuple[T | None, tuple[FieldProblem, ...]]:
    """:func:`structure`, or every field that cannot be structured by path (a record
    an older version wrote, or one edited by hand): for an error naming them."""
    try:
        return _converter.structure(doc, cls), ()
    except (ClassValidationError, IterableValidationError) as err:
        return None, tuple(_problems(err, ()))
    except (ValueError, TypeError, AttributeError, cattrs.StructureHandlerNotFoundError) as err:
        return None, (FieldProblem((), _describe(err, None)),)


def _problems(err: BaseException, path: Path) -> list[FieldProblem]:
    """Walk cattrs' exception groups, turning each leaf into a problem at its path."""
    if isinstance(err, ForbiddenExtraKeysError):
        names = _field_names(err.cl)
        known = ", ".join(names)
        return [
            FieldProblem(
                (*path, name), f"unknown field{did_you_mean(name, names)} (known fields: {known})"
            )
            for name in sorted(err.extra_fields)
        ]
    if not isinstance(err, ClassValidationError | IterableValidationError):
        return [FieldProblem(path, _describe(err, None))]
    found: list[FieldProblem] = []
    with_notes, without = err.group_exceptions()
    for sub, note in with_notes:
        step = note.name if hasattr(note, "name") else note.index
        if isinstance(sub, ClassValidationError | IterableValidationError):
            found += _problems(sub, (*path, step))
        else:
            found.append(FieldProblem((*path, step), _describe(sub, note.type)))
    for sub in without:
        found += _problems(sub, path)
    return found


def _describe(err: BaseException, expected: Any) -> str:
    """A short message that never repeats the offending value (it may be a secret)."""
    if isinstance(err, KeyError):
        return "required field missing"
    if isinstance(err, _Mismatch):
        return str(err)
    if isinstance(err, AttributeError) and ("'items'" in str(err) or "'keys'" in str(err)):
        return "expected a mapping"
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        return "expected one of " + ", ".join(repr(m.value) for m in expected)
    if expected is not None:
        return f"expected {_type_name(expected)}"
    return error_text(err)


def error_text(err: BaseException) -> str:
    """What an error says: attrs' validators add the attribute, options and value to
    their message as further arguments, which ``str`` would show as a tuple."""
    if len(err.args) > 1 and isinstance(err.args[0], str):
        return err.args[0]
    return str(err) or type(err).__name__


def _type_name(t: Any) -> str:
    return str(getattr(t, "__name__", t)).replace("typing.", "")


def _field_names(cls: type[Any]) -> list[str]:
    return [a.name for a in attrs.fields(cls) if a.name not in RESERVED]


class _Mismatch(TypeError):
    """A value of the wrong type; the message names both types, never the value."""

    def __init__(self, expected: str, value: Any) -> None:
        super().__init__(f"expected {expected}, got {_type_name(type(value))}")


def _scalar(kind: type[Any]) -> Callable[[Any, Any], Any]:
    """A hook that accepts ``kind`` as it is (ints for floats) and converts nothing else."""
    accepted: tuple[type[Any], ...] = (int, float) if kind is float else (kind,)

    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, Ref):
            return value
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, accepted):
            raise _Mismatch(kind.__name__, value)
        return kind(value)

    return hook


def _is_collection(t: Any) -> bool:
    origin = get_origin(t) or t
    if origin is tuple:
        args = get_args(t)
        return len(args) == 2 and args[1] is Ellipsis
    return origin in _COLLECTIONS


def _collection_hook(t: Any) -> Callable[[Any, Any], Any]:
    """Only a list becomes a list, tuple or set: a string or a mapping is an error."""
    args = get_args(t)
    build = _COLLECTIONS[get_origin(t) or t]
    items = list_structure_factory(list[args[0]] if args else list, _strict)  # type: ignore[valid-type]

    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, Ref):
            return value
        if not isinstance(value, list):
            raise _Mismatch("a list", value)
        return build(items(value, t))

    return hook


def _is_resource_class(t: Any) -> bool:
    if not (isinstance(t, type) and attrs.has(t)):
        return False
    try:
        spec_of(t)
    except DefinitionError:
        return False
    return True


def _resource_hook(cls: type[Any]) -> Callable[[Any, Any], Any]:
    """Resource fields as written; a field holding a ``Ref`` is kept for the engine."""
    attrs.resolve_types(cls)
    overrides: dict[str, Any] = {name: override(omit=True) for name in RESERVED}
    for a in attrs.fields(cls):
        if a.name not in RESERVED:
            overrides[a.name] = override(struct_hook=_ref_or(_field_hook(a)))
    return make_dict_structure_fn(cls, _strict, **overrides)


def _field_hook(a: attrs.Attribute[Any]) -> Callable[[Any, Any], Any]:
    """The field's structure hook, for what its converter takes when that is wider."""
    accepted = accepted_type(a)
    hook = _strict.get_structure_hook(accepted)
    if accepted == a.type:
        return hook
    expected = " or ".join(_type_name(t) for t in get_args(accepted) or (accepted,))

    def structure_widened(value: Any, _: Any) -> Any:
        try:
            return hook(value, accepted)
        except (TypeError, ValueError):
            raise _Mismatch(expected, value) from None

    return structure_widened


def accepted_type(a: attrs.Attribute[Any]) -> Any:
    """What a document may write in field ``a``: its type, or, when it has a converter
    whose parameter is annotated, what that converter takes (``int | str`` for a mode)."""
    convert = unwrapped(a.converter)
    if not isinstance(convert, types.FunctionType):
        return a.type
    try:
        first = next(iter(inspect.signature(convert).parameters), None)
        hints = get_type_hints(convert)
    except (NameError, TypeError, ValueError):  # annotations that do not resolve
        return a.type
    return hints.get(first, a.type) if first is not None else a.type


def _ref_or(hook: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def structure_field(value: Any, t: Any) -> Any:
        return value if holds_ref(value) else hook(value, t)

    return structure_field


def holds_ref(value: Any) -> bool:
    """Whether ``value`` is a ``Ref`` or holds one in a dict or list, at any depth."""
    if isinstance(value, Ref):
        return True
    if isinstance(value, dict):
        return any(holds_ref(v) for v in value.values())
    return isinstance(value, list) and any(holds_ref(v) for v in value)


_strict = _converter.copy(forbid_extra_keys=True, detailed_validation=True)
configure_union_passthrough(int | float | str | None, _strict)  # no bool: not a kind of int
for _kind in (str, int, float, bool):
    _strict.register_structure_hook(_kind, _scalar(_kind))
_strict.register_structure_hook_factory(_is_collection, _collection_hook)
_strict.register_structure_hook_factory(_is_resource_class, _resource_hook)
