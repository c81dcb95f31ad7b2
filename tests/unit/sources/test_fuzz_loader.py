"""Fuzzed manifests and saved plans: every failure is a ReconcileError, and whatever loads
can be planned, rendered and dumped as JSON (issue 17, item 4).

Valid manifests (YAML, JSON, TOML) and a real saved plan are mutated: bytes flipped,
hostile pieces inserted (NUL, lone surrogates, 5,000-digit numbers, nesting 2,000
deep), the text cut short. 2,000 examples each under the ``ci`` profile.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reconcile as rc
from reconcile.sources import ManifestSource
from reconcile.testing import MemoryProvider


@rc.resource("fz_item")
class Item:
    name: str = rc.field(key=True)
    value: str = ""
    count: int = 0
    tags: list[str] = rc.field(factory=list)
    labels: dict[str, str] = rc.field(factory=dict)


SEEDS: dict[str, bytes] = {
    "m.yaml": (
        b"kind: fz_item\nspec:\n  name: a\n  value: 'x'\n  count: 3\n  tags: [p, q]\n"
        b"  labels: {k: v}\n---\nkind: fz_item\nspec: {name: b, count: 7}\n"
        b'depends_on: ["fz_item[a]"]\n'
    ),
    "m.json": (
        b'[{"kind": "fz_item", "spec": {"name": "a", "value": "x", "count": 3,\n'
        b'  "tags": ["p", "q"], "labels": {"k": "v"}}},\n'
        b' {"kind": "fz_item", "spec": {"name": "b", "count": 7}}]\n'
    ),
    "m.toml": (
        b'[[resource]]\nkind = "fz_item"\n\n[resource.spec]\nname = "a"\nvalue = "x"\n'
        b'count = 3\ntags = ["p", "q"]\nlabels = { k = "v" }\n\n'
        b'[[resource]]\nkind = "fz_item"\nspec = { name = "b", count = 7 }\n'
    ),
}

HOSTILE = [
    b"\0",
    b"\\ud800",
    b'"a\\ud800b"',
    "\ud800".encode("utf-8", "surrogatepass"),
    b"\xff",
    b"1" * 5000,
    b"[" * 2000 + b"]" * 2000,
    b"[" * 2000,
    b"{" * 1000,
    b"a: " * 500,
    b"- " * 1500 + b"x",
    b"&a [*a]",
    b"!!python/object:os.system",
    b"\n---\n",
    b"{",
    b'"',
    b"\t",
    b"#",
    b"9" * 400 + b"e999999",
]


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply each edit: (kind, where, what) flips a byte, inserts a hostile piece, or cuts."""
    for kind, where, what in edits:
        at = where % (len(data) + 1)
        if kind == 0 and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([data[at] ^ (1 << (what % 8))]) + data[at + 1 :]
        elif kind == 1:
            data = data[:at] + HOSTILE[what % len(HOSTILE)] + data[at:]
        elif kind == 2:
            data = data[:at]
        else:
            data = data[:at] + bytes([what % 256]) + data[at:]
    return data


EDITS = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 10_000), st.integers(0, 10_000)),
    min_size=1,
    max_size=4,
)
CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
LOADER = settings(
    max_examples=2000 if CI else 100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _usable(loaded: list[Any]) -> None:
    """What loads can be planned, shown and saved: no error waits for the printing."""
    plan = rc.Reconciler([MemoryProvider(Item)]).plan(loaded)
    plan.render().encode("utf-8")
    plan.to_json().encode("utf-8")


@LOADER
@given(name=st.sampled_from(sorted(SEEDS)), edits=EDITS)
def test_a_fuzzed_manifest_loads_or_is_a_reconcile_error(
    tmp_path: Path, name: str, edits: list[tuple[int, int, int]]
) -> None:
    path = tmp_path / name
    path.write_bytes(_mutate(SEEDS[name], edits))
    try:
        loaded = ManifestSource(path, kinds=[Item]).load()
    except rc.ReconcileError:
        return
    with contextlib.suppress(rc.ReconcileError):  # e.g. a dangling depends_on: the planner's
        _usable(loaded)


def _saved_plan() -> bytes:
    world = MemoryProvider(Item)
    resources = [Item("a", "x", 3, ["p"], {"k": "v"}), Item("b", count=7)]
    rc.Reconciler([world]).apply(rc.Reconciler([world]).plan(resources[:1]))
    changed = [Item("a", "y", 4, ["p", "q"], {"k": "w"}), *resources[1:]]
    return rc.Reconciler([world]).plan(changed).to_json(indent=1).encode()


SAVED = _saved_plan()


@LOADER
@given(edits=EDITS)
def test_a_fuzzed_saved_plan_reads_or_is_a_reconcile_error(
    edits: list[tuple[int, int, int]],
) -> None:
    with contextlib.suppress(rc.ReconcileError):
        plan = rc.Plan.from_json(_mutate(SAVED, edits))
        plan.render().encode("utf-8")
        plan.to_json().encode("utf-8")
        rc.Reconciler([MemoryProvider(Item)]).apply(plan)


def test_the_seeds_are_valid(tmp_path: Path) -> None:
    """The fuzzers mutate valid input: each seed loads, and the saved plan reads back."""
    for name, data in SEEDS.items():
        (tmp_path / name).write_bytes(data)
        assert len(ManifestSource(tmp_path / name, kinds=[Item]).load()) == 2
    assert len(rc.Plan.from_json(SAVED).steps) == 2
    assert json.loads(SAVED)["resource_changes"]
