"""Resource classes: the ``@resource`` decorator, ``field`` flags, kinds and addresses.

The bottom of the stack: everything above reads a class's :class:`ResourceSpec`
(built once, at decoration) instead of re-inspecting attrs metadata per resource.
"""

from __future__ import annotations

import inspect
import operator
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import attrs

from reconcile._util.errors import DefinitionError, DuplicateKindError
from reconcile._util.vocabulary import DriftMode

from .placeholders import let_placeholders_pass
from .switches import KINDS

__all__ = [
    "RESERVED",
    "FieldFlags",
    "FieldSpec",
    "Lifecycle",
    "ResourceSpec",
    "address_of",
    "field",
    "is_resource",
    "lifecycle_of",
    "registered_kind",
    "registered_kinds",
    "replace_fields",
    "resource",
    "resource_spec",
    "spec_of",
]

T = TypeVar("T")

_METADATA_KEY = "reconcile"
_SPEC_ATTR = "__reconcile__"
_MASK = "(sensitive)"
_FACTORY: type[Any] = type(attrs.Factory(list))


@attrs.frozen
class FieldFlags:
    """How the engine treats one field (see ``field``)."""

    key: bool = False
    replace: bool = False
    computed: bool = False
    sensitive: bool = False
    ignore: bool = False
    normalize: Callable[[Any], Any] | None = None
    write_only: bool = False


_DRIFT_MODES = tuple(m.value for m in DriftMode)  # plain strings: its error lists them


def _names(items: Iterable[str]) -> frozenset[str]:
    return frozenset(items)


@attrs.frozen
class Lifecycle:
    """Lifecycle options, as Terraform's ``lifecycle`` block: per kind or per resource."""

    prevent_destroy: bool = False
    create_before_destroy: bool = False
    ignore_changes: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    retain: bool = False
    drift: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(_DRIFT_MODES))
    )

    def merged(self, other: Lifecycle | None) -> Lifecycle:
        """Both sets of options at once: a flag set on either holds, ignores add up."""
        if other is None:
            return self
        return Lifecycle(
            self.prevent_destroy or other.prevent_destroy,
            self.create_before_destroy or other.create_before_destroy,
            self.ignore_changes | other.ignore_changes,
            self.retain or other.retain,
            other.drift or self.drift,
        )


RESERVED = ("depends_on", "lifecycle")


def replace_fields(res: Any, changes: Mapping[str, Any]) -> Any:
    """``res`` with some fields replaced, without re-running validators: values already held."""
    cls = type(res)
    made = object.__new__(cls)
    for a in attrs.fields(cls):
        object.__setattr__(
            made, a.name, changes[a.name] if a.name in changes else getattr(res, a.name)
        )
    return made


@attrs.frozen
class FieldSpec:
    """One declared field with its flags and, for computed fields, its unset value."""

    name: str
    flags: FieldFlags
    has_default: bool
    default: Any

    def is_unset(self, value: Any) -> bool:
        """A computed field left at its default is unset: the provider fills it."""
        if not self.has_default:
            return False
        return value is self.default or (
            type(value) is type(self.default) and bool(value == self.default)
        )


@attrs.frozen
class ResourceSpec:
    """Everything the engine needs to know about a resource class, computed once."""

    kind: str
    cls: type[Any]
    fields: tuple[FieldSpec, ...]
    keys: tuple[str, ...]
    lifecycle: Lifecycle
    computed: tuple[str, ...] = ()
    address: Callable[[Any], str] = attrs.field(default=str, eq=False, repr=False)
    compared: tuple[FieldSpec, ...] = attrs.field(init=False, eq=False, repr=False)
    """Fields the diff may look at: not ignored, not in ignore_changes, not keys."""

    computed_fields: tuple[FieldSpec, ...] = attrs.field(init=False, eq=False, repr=False)
    """The fields a provider sets (``computed``), in declaration order."""
    sensitive_fields: tuple[FieldSpec, ...] = attrs.field(init=False, eq=False, repr=False)
    """The fields kept out of plans, logs and state (``sensitive``)."""
    write_only_fields: tuple[FieldSpec, ...] = attrs.field(init=False, eq=False, repr=False)
    """The fields a provider cannot read back (``write_only``): compared with the last applied."""

    @computed_fields.default
    def _computed_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.flags.computed)

    @sensitive_fields.default
    def _sensitive_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.flags.sensitive)

    @write_only_fields.default
    def _write_only_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.flags.write_only)

    @compared.default
    def _compared(self) -> tuple[FieldSpec, ...]:
        return tuple(
            f
            for f in self.fields
            if not f.flags.ignore
            and not f.flags.key
            and f.name not in self.lifecycle.ignore_changes
        )

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def field(
    default: Any = attrs.NOTHING,
    *,
    key: bool = False,
    replace: bool = False,
    computed: bool = False,
    sensitive: bool = False,
    ignore: bool = False,
    normalize: Callable[[Any], Any] | None = None,
    write_only: bool = False,
    factory: Callable[[], Any] | None = None,
    validator: Any = None,
    converter: Any = None,
) -> Any:
    """Declare a resource field with reconcile's flags; attrs options pass through.

    ``write_only``: the provider can set the field but never read it back (a
    password, a token); the engine compares it with the last applied value.
    """
    flags = FieldFlags(key, replace, computed, sensitive, ignore, normalize, write_only)
    return attrs.field(
        default=default,
        factory=factory,
        validator=validator,
        converter=converter,
        metadata={_METADATA_KEY: flags},
        repr=_mask if sensitive else True,
    )


def _mask(_: object) -> str:
    return _MASK


@typing.dataclass_transform(frozen_default=True, field_specifiers=(field, attrs.field))
def resource(
    kind: str,
    *,
    prevent_destroy: bool = False,
    create_before_destroy: bool = False,
    ignore_changes: Iterable[str] = (),
    retain: bool = False,
    drift: str | None = None,
) -> Callable[[type[T]], type[T]]:
    """Make a class a frozen, slotted attrs resource of ``kind`` and register the kind.

    Lifecycle options: ``prevent_destroy`` (deleting it is a plan error),
    ``create_before_destroy`` (replace creates first), ``ignore_changes`` (fields
    never diffed), ``retain`` (when no longer desired, forget it instead of deleting).
    """
    lifecycle = Lifecycle(
        prevent_destroy, create_before_destroy, frozenset(ignore_changes), retain, drift
    )

    def decorate(cls: type[T]) -> type[T]:
        if not kind or not isinstance(kind, str):
            raise DefinitionError(f"{cls.__qualname__}: kind must be a non-empty string")
        _add_engine_fields(cls)
        made = attrs.frozen(cls, field_transformer=_checked_when_known)
        spec = _build_spec(kind, made, lifecycle)
        setattr(made, _SPEC_ATTR, spec)
        _register(kind, made)
        return made

    return decorate


def _add_engine_fields(cls: type[Any]) -> None:
    """Every resource takes keyword-only ``depends_on`` and ``lifecycle``; neither is diffed."""
    annotations = dict(inspect.get_annotations(cls))
    for name in RESERVED:
        if name in annotations or name in cls.__dict__:
            raise DefinitionError(
                f"{cls.__qualname__}: {name!r} is reserved by reconcile; rename the field"
            )
    annotations["depends_on"] = tuple[str, ...]
    annotations["lifecycle"] = Lifecycle | None
    cls.__annotations__ = annotations
    cls.depends_on = attrs.field(default=(), kw_only=True, eq=False, converter=_to_addresses)
    cls.lifecycle = attrs.field(default=None, kw_only=True, eq=False)


def _checked_when_known(
    cls: type[Any], fields: list[attrs.Attribute[Any]]
) -> list[attrs.Attribute[Any]]:
    """Validators and converters skip a ``ref`` and run on its value at apply."""
    return let_placeholders_pass(fields, skip=RESERVED)


def _to_addresses(items: Iterable[Any]) -> tuple[str, ...]:
    """``depends_on`` accepts resources or address strings and keeps addresses."""
    if isinstance(items, str) or is_resource(items):
        items = (items,)
    return tuple(item if isinstance(item, str) else address_of(item) for item in items)


def _build_spec(kind: str, cls: type[Any], lifecycle: Lifecycle) -> ResourceSpec:
    specs = []
    for a in attrs.fields(cls):
        if a.name in RESERVED:
            continue
        flags = a.metadata.get(_METADATA_KEY, FieldFlags())
        default = a.default
        if isinstance(default, _FACTORY):
            default = default.factory()  # a fresh value to compare computed fields against
        specs.append(FieldSpec(a.name, flags, a.default is not attrs.NOTHING, default))
    fields = tuple(specs)
    _check_flags(cls, fields, lifecycle)
    keys = tuple(f.name for f in fields if f.flags.key)
    computed = tuple(f.name for f in fields if f.flags.computed and not f.flags.sensitive)
    return ResourceSpec(kind, cls, fields, keys, lifecycle, computed, _addresser(kind, keys))


def _addresser(kind: str, keys: tuple[str, ...]) -> Callable[[Any], str]:
    """``kind[key]`` built once per class: the commonest key counts get one f-string each."""
    getters = [operator.attrgetter(k) for k in keys]
    if len(getters) == 1:
        (one,) = getters
        return lambda res: f"{kind}[{one(res)!s}]"
    if len(getters) == 2:
        first, second = getters
        return lambda res: f"{kind}[{first(res)!s},{second(res)!s}]"
    several = operator.attrgetter(*keys)
    return lambda res: f"{kind}[{','.join(map(str, several(res)))}]"


def _check_flags(cls: type[Any], fields: tuple[FieldSpec, ...], lifecycle: Lifecycle) -> None:
    name = cls.__qualname__
    if not any(f.flags.key for f in fields):
        raise DefinitionError(f"{name}: a resource needs at least one field with key=True")
    for f in fields:
        if f.flags.key and (f.flags.sensitive or f.flags.computed or f.flags.ignore):
            raise DefinitionError(
                f"{name}.{f.name}: a key field cannot be sensitive, computed or ignored"
            )
        if f.flags.write_only and (f.flags.key or f.flags.computed or f.flags.ignore):
            raise DefinitionError(
                f"{name}.{f.name}: a write_only field is set by the desired state and never "
                "read back, so it cannot be a key, computed or ignored"
            )
    unknown = lifecycle.ignore_changes - {f.name for f in fields}
    if unknown:
        raise DefinitionError(f"{name}: ignore_changes names unknown fields {sorted(unknown)}")


def _register(kind: str, cls: type[Any]) -> None:
    known = KINDS.get(kind)
    same = known is not None and (known.__module__, known.__qualname__) == (
        cls.__module__,
        cls.__qualname__,
    )
    if known is not None and not same:
        raise DuplicateKindError(
            f"kind {kind!r} is already registered by {known.__module__}.{known.__qualname__}"
        )
    KINDS[kind] = cls


def registered_kind(kind: str) -> type[Any] | None:
    """The class registered for ``kind``, if any."""
    return KINDS.get(kind)


def registered_kinds() -> list[str]:
    """Every kind declared so far with ``@resource`` (for listings and "did you mean")."""
    return sorted(KINDS)


def is_resource(obj: object) -> bool:
    """True for instances (not classes) of ``@resource`` classes."""
    return not isinstance(obj, type) and hasattr(type(obj), _SPEC_ATTR)


def resource_spec(obj: object) -> ResourceSpec | None:
    """The spec of a resource instance; None for anything else (one lookup, for hot loops)."""
    found: ResourceSpec | None = getattr(type(obj), _SPEC_ATTR, None)
    return found


def spec_of(obj: object) -> ResourceSpec:
    """The :class:`ResourceSpec` of a resource instance or class."""
    found: ResourceSpec | None = getattr(type(obj), _SPEC_ATTR, None)  # the common case
    if found is not None:
        return found
    cls = obj if isinstance(obj, type) else type(obj)
    spec = getattr(cls, _SPEC_ATTR, None)
    if spec is None:
        raise DefinitionError(f"{cls.__qualname__} is not a @reconcile.resource class")
    return cast(ResourceSpec, spec)


def lifecycle_of(res: object) -> Lifecycle:
    """The kind's lifecycle options merged with the resource's own."""
    own: Lifecycle | None = getattr(res, "lifecycle", None)
    kinds = spec_of(res).lifecycle
    return kinds if own is None else kinds.merged(own)  # most resources have none of their own


def address_of(res: object) -> str:
    """The stable, printable identity ``kind[key]`` (several keys joined with ``,``)."""
    return spec_of(res).address(res)
