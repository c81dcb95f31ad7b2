"""Hypothesis strategies derived from resource classes, for users' tests and ours.

``resources(Cls)`` builds valid instances from the field annotations and attrs
validators; ``desired_states(...)`` builds sets with unique addresses whose
``depends_on`` edges form a DAG; ``drifted(res)`` builds a state near ``res``;
``secret_strings()`` draws values a leak check can search for. With
``reconcile.testing``'s ``ProviderConformance`` the only modules of reconcile
that import hypothesis. They compose like any strategies::

    from hypothesis import given, strategies as st
    from reconcile.testing import MemoryProvider, assert_converges
    from reconcile.testing.strategies import desired_states, drifted, resources

    users = resources(User, name=st.text("abc", min_size=1, max_size=3))

    @given(desired_states([users], max_size=8), st.data())
    def test_drift_is_repaired(desired, data):
        world = MemoryProvider(User)
        for res in desired:
            world.put(data.draw(drifted(res)))
        assert_converges(desired, [world])
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from reconcile._model.placeholders import unwrapped
from reconcile._model.resource import address_of, spec_of

__all__ = ["desired_states", "drifted", "resources", "secret_strings", "values_of"]

R = TypeVar("R")
Strategy = st.SearchStrategy[Any]

_IN: type[Any] = type(attrs.validators.in_((0,)))
_OPTIONAL: type[Any] = type(attrs.validators.optional(attrs.validators.in_((0,))))
_AND: type[Any] = type(attrs.validators.and_())
_NUMBER: type[Any] = type(attrs.validators.ge(0))
_MIN_LEN: type[Any] = type(attrs.validators.min_len(0))
_MAX_LEN: type[Any] = type(attrs.validators.max_len(0))
_MATCHES: type[Any] = type(attrs.validators.matches_re("x"))
_MAX_ITEMS = 4  # containers stay small: examples are about structure, not volume


# -- values of one type -------------------------------------------------------


def values_of(hint: Any) -> Strategy:
    """Values of a type annotation that survive JSON: finite floats, small containers.

    Unions, ``list``, ``dict``, ``tuple``, ``set`` and ``frozenset`` recurse;
    anything else goes to :func:`hypothesis.strategies.from_type`.
    """
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*map(values_of, args))
    container = _CONTAINERS.get(origin)
    if container is None or not args:
        return st.from_type(hint)
    return container(args)


def _tuples(args: tuple[Any, ...]) -> Strategy:
    if len(args) == 2 and args[1] is Ellipsis:
        return st.lists(values_of(args[0]), max_size=_MAX_ITEMS).map(tuple)
    return st.tuples(*map(values_of, args))


_CONTAINERS: dict[Any, Callable[[tuple[Any, ...]], Strategy]] = {
    list: lambda a: st.lists(values_of(a[0]), max_size=_MAX_ITEMS),
    dict: lambda a: st.dictionaries(values_of(a[0]), values_of(a[1]), max_size=_MAX_ITEMS),
    tuple: _tuples,
    set: lambda a: st.sets(values_of(a[0]), max_size=_MAX_ITEMS),
    frozenset: lambda a: st.frozensets(values_of(a[0]), max_size=_MAX_ITEMS),
}


# -- values of one field: its annotation shaped by its validators -------------


def _field_values(attribute: attrs.Attribute[Any], hint: Any) -> Strategy:
    """A field's values: its annotation, narrowed by the attrs validators it carries."""
    if attribute.validator is None:
        return values_of(hint)
    shaped = _shaped(unwrapped(attribute.validator), hint)
    return shaped.filter(functools.partial(_passes, attribute))


def _shaped(validator: Any, hint: Any) -> Strategy:
    """Draw what ``in_``, ``matches_re``, bounds and lengths allow instead of filtering."""
    if isinstance(validator, _OPTIONAL):
        return st.none() | _shaped(validator.validator, _without_none(hint))
    parts = list(validator._validators) if isinstance(validator, _AND) else [validator]
    for v in parts:
        if isinstance(v, _IN):
            return st.sampled_from(sorted(v.options, key=repr))
        if isinstance(v, _MATCHES):
            return st.from_regex(v.pattern, fullmatch=True)
    return _bounded(hint, parts)


def _bounded(hint: Any, parts: list[Any]) -> Strategy:
    limits = {v.compare_op: v.bound for v in parts if isinstance(v, _NUMBER)}
    low, high = limits.get(">=", limits.get(">")), limits.get("<=", limits.get("<"))
    if hint is int:
        return st.integers(
            None if low is None else low + (">" in limits),
            None if high is None else high - ("<" in limits),
        )
    if hint is float:
        return st.floats(
            low, high, allow_nan=False, allow_infinity=False,
            exclude_min=">" in limits, exclude_max="<" in limits,
        )  # fmt: skip
    least: int = max((v.min_length for v in parts if isinstance(v, _MIN_LEN)), default=0)
    most: int | None = min((v.max_length for v in parts if isinstance(v, _MAX_LEN)), default=None)
    if hint is str:
        return st.text(min_size=least, max_size=most)
    if typing.get_origin(hint) is list and typing.get_args(hint):
        return st.lists(values_of(typing.get_args(hint)[0]), min_size=least, max_size=most)
    return values_of(hint)


def _without_none(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 else hint


def _passes(attribute: attrs.Attribute[Any], value: Any) -> bool:
    """Whether the field's validator takes ``value`` on its own."""
    assert attribute.validator is not None
    try:
        attribute.validator(None, attribute, value)
    except (TypeError, ValueError):
        return False
    except Exception:  # a validator that needs the instance: the whole-instance check decides
        return True
    return True


def _field_strategies(cls: type[Any]) -> dict[str, Strategy]:
    """A strategy per declared field of ``cls`` (no ``depends_on``/``lifecycle``)."""
    hints = typing.get_type_hints(cls)
    declared = attrs.fields_dict(cls)
    return {f.name: _field_values(declared[f.name], hints[f.name]) for f in spec_of(cls).fields}


def _checked(cls: type[Any], overrides: dict[str, Strategy]) -> dict[str, Strategy]:
    unknown = sorted(set(overrides) - {f.name for f in spec_of(cls).fields})
    if unknown:
        raise InvalidArgument(f"{cls.__qualname__} has no fields named {unknown}")
    return overrides


# -- resources ------------------------------------------------------------------


def resources(cls: type[R], **overrides: st.SearchStrategy[Any]) -> st.SearchStrategy[R]:
    """Instances of ``cls``, every field drawn from its annotation and validators.

    Computed fields stay unset (the provider fills them) unless overridden;
    ``overrides`` replace the strategy of named fields; instances that attrs
    validators reject as a whole are filtered out. Example::

        servers = resources(Server, name=st.sampled_from(["a", "b"]), size=st.integers(1, 4))
    """
    _checked(cls, overrides)
    strategies = _field_strategies(cls)
    kwargs = {
        f.name: overrides.get(f.name, strategies[f.name])
        for f in spec_of(cls).fields
        if f.name in overrides or not (f.flags.computed and f.has_default)
    }
    built = st.fixed_dictionaries(kwargs).map(functools.partial(_build_valid, cls))
    return built.filter(_is_built).map(_cast_built)


def _is_built(res: object) -> bool:
    return res is not None


def _cast_built(res: R | None) -> R:
    assert res is not None
    return res


def _build_valid(cls: type[R], kwargs: dict[str, Any]) -> R | None:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError):
        return None


@st.composite
def desired_states(
    draw: st.DrawFn,
    classes: Sequence[st.SearchStrategy[Any] | type[Any]],
    *,
    min_size: int = 0,
    max_size: int = 12,
    dependencies: bool = True,
) -> list[Any]:
    """A desired state: resources from ``classes`` (strategies or classes), unique by address.

    With ``dependencies``, each resource may depend on ones drawn before it, so the
    ``depends_on`` edges always form a DAG; the list comes back shuffled, so the
    engine, not the list order, must sort it. Example::

        desired_states([resources(Zone), records], max_size=6)
    """
    options = [c if isinstance(c, st.SearchStrategy) else resources(c) for c in classes]
    items = draw(
        st.lists(st.one_of(*options), min_size=min_size, max_size=max_size, unique_by=address_of)
    )
    if not dependencies:
        return items
    out: list[Any] = []
    for res in items:
        earlier = [address_of(r) for r in out]
        deps = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        out.append(attrs.evolve(res, depends_on=deps))
    return draw(st.permutations(out))


@st.composite
def drifted(draw: st.DrawFn, /, res: R, **overrides: st.SearchStrategy[Any]) -> R:
    """``res`` with some non-key fields redrawn: what a live system may have drifted to.

    ``overrides`` give the strategy for named fields, as in :func:`resources`.
    Example: ``drifted(server, size=st.integers(1, 4))``.
    """
    cls = type(res)
    strategies = {**_field_strategies(cls), **_checked(cls, overrides)}
    changes = {
        f.name: draw(strategies[f.name])
        for f in spec_of(res).fields
        if not f.flags.key and draw(st.booleans())
    }
    try:
        return attrs.evolve(res, **changes)  # type: ignore[misc]
    except (TypeError, ValueError):
        return res


def secret_strings() -> st.SearchStrategy[str]:
    """Distinctive secrets (``secret-`` and 12 hex digits) that no output holds by chance."""
    return st.binary(min_size=6, max_size=6).map(_secret)


def _secret(raw: bytes) -> str:
    return "secret-" + raw.hex()
