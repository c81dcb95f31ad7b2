"""Hypothesis strategies derived from resource classes, for users' tests and ours.

``resources(Cls)`` builds valid instances from the field annotations;
``desired_states(Cls, ...)`` builds sets with unique addresses whose
``depends_on`` edges form a DAG; ``drifted(res)`` builds a state near ``res``.
The only module of reconcile that imports hypothesis.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any, TypeVar

import attrs
from hypothesis import strategies as st

from reconcile._model import address_of, spec_of

__all__ = ["desired_states", "drifted", "resources"]

R = TypeVar("R")


def _field_types(cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in spec_of(cls).fields}


def resources(cls: type[R], **overrides: st.SearchStrategy[Any]) -> st.SearchStrategy[R]:
    """Instances of ``cls`` with every field drawn from its annotation (computed left unset).

    ``overrides`` replace the strategy of named fields; instances that attrs
    validators reject are filtered out.
    """
    spec = spec_of(cls)
    types = _field_types(cls)
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for f in spec.fields:
        if f.name in overrides:
            kwargs[f.name] = overrides[f.name]
        elif not (f.flags.computed and f.has_default):
            kwargs[f.name] = st.from_type(types[f.name])
    built = st.builds(_build_valid, st.just(cls), st.fixed_dictionaries(kwargs))
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
    classes: Sequence[st.SearchStrategy[Any]],
    *,
    min_size: int = 0,
    max_size: int = 12,
    dependencies: bool = True,
) -> list[Any]:
    """A desired state: resources drawn from ``classes`` strategies, unique by address.

    With ``dependencies``, each resource may depend on ones drawn before it, so the
    ``depends_on`` edges always form a DAG.
    """
    items = draw(
        st.lists(st.one_of(*classes), min_size=min_size, max_size=max_size, unique_by=address_of)
    )
    if not dependencies:
        return items
    out: list[Any] = []
    for res in items:
        earlier = [address_of(r) for r in out]
        deps = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        out.append(attrs.evolve(res, depends_on=deps))
    return out


@st.composite
def drifted(draw: st.DrawFn, res: R) -> R:
    """``res`` with some non-key fields redrawn: what a live system may have drifted to."""
    spec = spec_of(res)
    types = _field_types(type(res))
    changes: dict[str, Any] = {}
    for f in spec.fields:
        if not f.flags.key and draw(st.booleans()):
            changes[f.name] = draw(st.from_type(types[f.name]))
    try:
        return attrs.evolve(res, **changes)  # type: ignore[misc]
    except (TypeError, ValueError):
        return res
