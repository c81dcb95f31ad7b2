"""Targeting (``include`` / ``exclude``) over random dependency graphs.

``select`` must choose exactly what include's dependency closure holds, minus what
depends (over any number of hops) on an excluded address; every address left out is
named once with a reason; a deposed old object goes wherever its owner goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile._diff.deposed import deposed_address
from reconcile._plan.targets import select

Graph = dict[str, tuple[str, ...]]


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    """A DAG of ``t[i]`` nodes (edges only to lower indices), some with a deposed twin."""
    n = draw(st.integers(1, 9))
    names = [f"t[{i}]" for i in range(n)]
    graph: Graph = {}
    for i, name in enumerate(names):
        deps = draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []
        graph[name] = tuple(deps)
    for name in draw(st.lists(st.sampled_from(names), unique=True, max_size=3)):
        graph[deposed_address(name, {"id": name})] = ()  # recorded, nothing depends on it
    return graph


def _closure(roots: Iterable[str], edges: Mapping[str, Iterable[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return seen


def _owner(address: str) -> str:
    return address.split("~deposed-", 1)[0]


@st.composite
def targeted(draw: st.DrawFn) -> tuple[Graph, list[str] | None, list[str]]:
    graph = draw(graphs())
    plain = sorted(a for a in graph if "~" not in a)
    include = draw(st.none() | st.lists(st.sampled_from(plain), unique=True))
    exclude = draw(st.lists(st.sampled_from(plain), unique=True, max_size=3))
    return graph, include, exclude


@given(targeted())
def test_chosen_is_the_include_closure_minus_what_depends_on_an_exclude(
    case: tuple[Graph, list[str] | None, list[str]],
) -> None:
    graph, include, exclude = case
    chosen, left_out = select(graph, include, exclude)
    owners = {a: _owner(a) for a in graph}
    wanted = set(graph) if include is None else _closure(include, graph)
    dependents: dict[str, list[str]] = {a: [] for a in graph}
    for node, deps in graph.items():
        for dep in deps:
            dependents[dep].append(node)
    dropped = _closure(exclude, dependents)
    expected = {a for a in graph if owners[a] in wanted and owners[a] not in dropped}
    assert chosen == expected
    assert [a for a, _ in left_out] == sorted(set(graph) - chosen)


@given(targeted())
def test_what_is_chosen_has_everything_it_depends_on_unless_excluded(
    case: tuple[Graph, list[str] | None, list[str]],
) -> None:
    graph, include, exclude = case
    chosen, _ = select(graph, include, exclude)
    for address in chosen:
        assert not set(graph[address]) - chosen, address  # never planned without its deps
        assert _owner(address) not in exclude


@given(targeted())
def test_a_deposed_object_goes_where_its_owner_goes(
    case: tuple[Graph, list[str] | None, list[str]],
) -> None:
    graph, include, exclude = case
    chosen, left_out = select(graph, include, exclude)
    reasons = dict(left_out)
    for address in graph:
        if "~deposed-" in address:
            assert (address in chosen) == (_owner(address) in chosen)
            if address in reasons and exclude:
                assert _owner(address) in reasons


@given(targeted())
def test_selection_does_not_depend_on_the_order_targets_are_named(
    case: tuple[Graph, list[str] | None, list[str]],
) -> None:
    graph, include, exclude = case
    backwards = None if include is None else include[::-1]
    chosen, left_out = select(graph, include, exclude)
    again, left_again = select(graph, backwards, exclude[::-1])
    assert chosen == again
    assert left_out == left_again  # reasons too: a named address is "excluded" either way


@given(graphs(), st.text(min_size=1, max_size=8))
def test_a_target_neither_desired_nor_recorded_is_refused(graph: Graph, name: str) -> None:
    if name in graph:
        return
    for include, exclude in (([name], None), (None, [name])):
        with pytest.raises(rc.InvalidStateError, match="not desired or recorded"):
            select(graph, include, exclude)
