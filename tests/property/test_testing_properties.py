"""The testing kit's own promises, as properties: lagging reads, seeded faults, strategies."""

from __future__ import annotations

import typing

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import reconcile as rc
from reconcile.testing import InjectedFailure, MemoryProvider
from reconcile.testing.strategies import (
    desired_states,
    drifted,
    resources,
    secret_strings,
    values_of,
)


@rc.resource("kit_prop_cell")
class Cell:
    name: str = rc.field(key=True)
    value: int = 0


@rc.resource("kit_prop_shaped")
class Shaped:
    name: str = rc.field(key=True, validator=attrs.validators.matches_re(r"[a-z]{1,6}"))
    size: int = rc.field(default=1, validator=[attrs.validators.ge(1), attrs.validators.lt(10)])
    color: str = rc.field(default="red", validator=attrs.validators.in_(["red", "blue"]))
    ratio: float = 0.0
    tags: list[str] = rc.field(factory=list, validator=attrs.validators.max_len(2))
    level: int | None = rc.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_([1, 2]))
    )
    limits: dict[str, float] = rc.field(factory=dict)
    pair: tuple[int, str] = (0, "")
    id: str | None = rc.field(default=None, computed=True)


_names = st.sampled_from("abc")
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), _names, st.integers(0, 3)),
        st.tuples(st.just("update"), _names, st.integers(0, 3)),
        st.tuples(st.just("delete"), _names, st.just(0)),
        st.tuples(st.just("read"), _names, st.just(0)),
        st.tuples(st.just("list"), st.just(""), st.just(0)),
    ),
    max_size=30,
)


def _call(cells: MemoryProvider[Cell], op: str, name: str, value: int) -> object:
    """Make one provider call; returns what a read or list saw."""
    if op == "create":
        cells.create(Cell(name, value))
    elif op == "update":
        cells.update(Cell(name), Cell(name, value), rc.Diff())
    elif op == "delete":
        cells.delete(cells.get(f"kit_prop_cell[{name}]") or Cell(name, -1))
    elif op == "read":
        return cells.read(Cell(name))
    else:
        return sorted((c.name, c.value) for c in cells.list())
    return None


def _seen(world: dict[str, int], op: str, name: str) -> object:
    if op == "read":
        return Cell(name, world[name]) if name in world else None
    return sorted(world.items())


def _after(world: dict[str, int], op: str, name: str, value: int) -> dict[str, int]:
    if op in ("create", "update"):
        return {**world, name: value}
    if op == "delete":
        return {k: v for k, v in world.items() if k != name}
    return world


@given(st.integers(0, 4), _operations)
def test_a_read_sees_the_world_as_it_was_lag_calls_before(lag, operations):
    cells = MemoryProvider(Cell)
    cells.lag_reads(lag)
    worlds = [{}]  # worlds[c]: the true world after call c
    for number, (op, name, value) in enumerate(operations, start=1):
        got = _call(cells, op, name, value)
        if op in ("read", "list"):
            assert got == _seen(worlds[max(0, number - lag - 1)], op, name), (number, op)
        worlds.append(_after(worlds[-1], op, name, value))
    assert {c.name: c.value for c in cells} == worlds[-1], "get/iter show the truth"


@given(st.integers(0, 2**32), st.floats(0, 1), st.integers(1, 60))
def test_random_failures_depend_only_on_the_seed_and_the_calls(seed, probability, calls):
    def failures() -> list[int]:
        cells = MemoryProvider(Cell, seed=seed)
        cells.fail("read", probability=probability, times=None)
        failed = []
        for i in range(calls):
            try:
                cells.read(Cell("a"))
            except InjectedFailure:
                failed.append(i)
        return failed

    first = failures()
    assert first == failures()
    if probability == 0:
        assert first == []
    if probability == 1:
        assert len(first) == calls


@given(resources(Shaped))
def test_resources_honour_types_and_validators(shaped):
    attrs.validate(shaped)
    hints = typing.get_type_hints(Shaped)
    assert isinstance(shaped.ratio, hints["ratio"])
    assert shaped.ratio == shaped.ratio, "never NaN: it would never compare equal"
    assert all(v == v for v in shaped.limits.values())
    assert shaped.id is None, "computed fields are left for the provider"
    assert isinstance(shaped.pair, tuple)
    assert isinstance(shaped.pair[0], int)


@given(resources(Shaped, id=st.just("given"), color=st.just("blue")))
def test_overrides_win_even_for_computed_fields(shaped):
    assert (shaped.id, shaped.color) == ("given", "blue")


def test_unknown_override_names_are_refused():
    with pytest.raises(InvalidArgument, match="colour"):
        resources(Shaped, colour=st.just("red"))


@given(desired_states([resources(Cell, name=_names), Shaped], max_size=8))
def test_desired_states_have_unique_addresses_and_acyclic_dependencies(desired):
    addresses = [rc.address_of(r) for r in desired]
    assert len(addresses) == len(set(addresses))
    done: set[str] = set()
    pending = {rc.address_of(r): set(r.depends_on) for r in desired}
    while pending:  # Kahn: a DAG empties; a cycle or a dangling edge gets stuck
        ready = [a for a, deps in pending.items() if deps <= done]
        assert ready, f"cycle or dangling dependency among {pending}"
        for a in ready:
            done.add(a)
            del pending[a]


@given(st.data())
def test_drifted_keeps_the_identity_and_stays_valid(data):
    original = data.draw(resources(Shaped))
    moved = data.draw(drifted(original))
    assert rc.address_of(moved) == rc.address_of(original)
    attrs.validate(moved)


@given(st.lists(secret_strings(), min_size=2, max_size=2, unique=True))
def test_secret_strings_are_distinctive(secrets):
    for secret in secrets:
        assert secret.startswith("secret-")
        assert len(secret) == len("secret-") + 12


@given(values_of(dict[str, list[float | None]]))
def test_values_are_json_friendly(value):
    assert all(x is None or x == x for items in value.values() for x in items)


_CHECKED = ["size", "color", "tags", "level"]  # the non-key fields with validators


@given(resources(Shaped), st.sampled_from(_CHECKED), st.booleans())
def test_a_reference_in_a_checked_field_waits_then_resolves_to_the_same_resource(
    shaped, name, nested
):
    from reconcile._model.refs import resolve

    value = getattr(shaped, name)
    if nested and name == "tags" and value:
        standing = [rc.ref("kit_prop_shaped[other]", "tags"), *value[1:]]
        real = value[0]
    else:
        standing, real = rc.ref("kit_prop_shaped[other]", name), value
    holder = attrs.evolve(shaped, **{name: standing})  # the validator lets the ref through
    assert getattr(holder, name) == standing
    assert resolve(holder, lambda r: real) == shaped  # and runs on the real value


@given(resources(Shaped), st.sampled_from(["size", "color", "level"]))
def test_a_resolved_value_the_validator_refuses_names_the_field_and_reference(shaped, name):
    from reconcile._model.refs import resolve

    holder = attrs.evolve(shaped, **{name: rc.ref("kit_prop_shaped[other]", name)})
    with pytest.raises(rc.InvalidStateError) as caught:
        resolve(holder, lambda r: "not allowed")
    assert str(caught.value).startswith(
        f"{rc.address_of(shaped)}: {name} = ref(kit_prop_shaped[other].{name}): refused: "
    )
