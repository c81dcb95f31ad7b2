"""Apply, latency-bound: 1,000 resources whose provider calls each take 20 ms.

The graph is 100 chains of 10, so the critical path is 10 calls. The lower
bound is ``max(critical path x latency, calls x latency / parallelism)``; the
target is at most 1.25x of it at parallelism 32. Also the engine's own overhead
per step with zero latency (target under 200 us per step), against a plain loop
calling the provider directly.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

import reconcile as rc

from .harness import Measure, Row, measure, measure_together


@rc.resource("bench_node")
class Node:
    name: str = rc.field(key=True)
    value: int = 0


class Slow(rc.Provider[Node]):
    """A remote API with fixed latency per call; creates only (state starts empty)."""

    resource = Node

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.items: dict[str, Node] = {}

    def _wait(self) -> None:
        if self.latency:
            time.sleep(self.latency)

    def read(self, want: Node) -> Node | None:
        return self.items.get(want.name)

    def create(self, want: Node) -> Node:
        self._wait()
        made = attrs.evolve(want, depends_on=())
        self.items[want.name] = made
        return made

    def update(self, have: Node, want: Node, diff: rc.Diff) -> Node:
        return self.create(want)

    def delete(self, have: Node) -> None:
        self._wait()
        self.items.pop(have.name, None)


def chains(count: int, length: int) -> list[Node]:
    nodes = []
    for c in range(count):
        previous = None
        for i in range(length):
            node = Node(f"c{c}-{i}", i, depends_on=[previous] if previous else [])
            nodes.append(node)
            previous = node
    return nodes


def _planned(latency: float, desired: list[Node], parallelism: int) -> tuple[Any, Any]:
    provider = Slow(latency)
    reconciler = rc.Reconciler([provider], parallelism=parallelism)
    return reconciler, reconciler.plan(desired)


def run(quick: bool) -> list[Row]:
    rows = []
    count, length, latency, parallelism = (10, 10, 0.02, 32) if quick else (100, 10, 0.02, 32)
    desired = chains(count, length)
    size = len(desired)
    bound = max(length * latency, size * latency / parallelism)
    ours = measure(
        lambda rp: rp[0].apply(rp[1]),
        lambda: _planned(latency, desired, parallelism),
        runs=3,
        memory=False,
    )
    rows.append(
        Row(
            "apply, 20 ms per call, p=32",
            size,
            ours,
            Measure(bound, 0),
            "critical-path bound",
            "<= 1.25x",
        )
    )
    rows.append(_overhead(desired))
    return rows


def _overhead(desired: list[Node]) -> Row:
    """Engine cost per step with zero latency, against calling the provider in a loop."""

    def plain(provider: Slow) -> None:
        for node in desired:
            provider.create(node)

    got = measure_together(
        {
            "ours": (lambda rp: rp[0].apply(rp[1]), lambda: _planned(0.0, desired, 1)),
            "plain": (plain, lambda: Slow(0.0)),
        },
        runs=5,
    )
    ours, base = got["ours"], got["plain"]
    per_step_us = ours.seconds / len(desired) * 1e6
    return Row(
        "apply overhead, zero latency",
        len(desired),
        ours,
        base,
        "plain provider loop",
        "< 200 us/step",
        {"us_per_step": round(per_step_us, 1)},
    )
