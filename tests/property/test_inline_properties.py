"""Inline apply is an execution detail: for any scenario, calls made on apply's own
thread (``inline_apply``) and calls handed to the pool end in the same world."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import MemoryProvider

from .test_engine_properties import Item, Swap, _fill, _seed, scenarios

Outcomes = dict[str, rc.Status]  # which prerequisite blocked a step may differ: not compared


def _run(
    inline: bool, desired: list[Any], actual: list[Any], failing: set[str], parallelism: int
) -> tuple[Outcomes, dict[str, Any], dict[str, Any], tuple[str, ...]]:
    """Apply once with some calls failing, then converge; what each left behind."""
    items, swaps = MemoryProvider(Item, fill=_fill), MemoryProvider(Swap)
    for provider in (items, swaps):
        provider.inline_apply = inline
    with tempfile.TemporaryDirectory() as folder:
        state = rc.SQLiteState(Path(folder) / "state.db")
        try:
            reconciler = rc.Reconciler([items, swaps], state=state, parallelism=parallelism)
            _seed((items, swaps, reconciler), actual)
            for address in failing:
                for provider in (items, swaps):
                    for method in ("create", "update", "delete"):
                        provider.fail(method, address=address, times=1)
            result = reconciler.apply(reconciler.plan(desired))
            outcomes = {o.address: o.status for o in result.outcomes}
            # Each armed failure fires once and delays convergence by at most one round.
            rounds = 3 * len(failing) + 2
            assert reconciler.converge(desired, max_rounds=rounds).converged
            snapshot = state.snapshot()
        finally:
            state.close()
    world = {rc.address_of(r): r for p in (items, swaps) for r in p}
    records = {
        a: (_salt_free(r.spec), r.outputs, r.depends_on) for a, r in snapshot.records.items()
    }
    return outcomes, world, records, tuple(i.address for i in snapshot.intents)


def _salt_free(spec: Any) -> dict[str, Any]:
    """A recorded spec without its secrets' digests (each new state has its own salt)."""
    return {k: v for k, v in spec.items() if not (isinstance(v, dict) and "$sensitive" in v)}


@given(scenarios(), st.data(), st.integers(1, 4))
def test_inline_and_pooled_calls_end_in_the_same_world(scenario, data, parallelism):
    desired, actual = scenario
    addresses = sorted({rc.address_of(r) for r in [*desired, *actual]})
    failing = (
        set(data.draw(st.lists(st.sampled_from(addresses), unique=True))) if addresses else set()
    )
    pooled = _run(False, desired, actual, failing, parallelism)
    inline = _run(True, desired, actual, failing, parallelism)
    assert inline[0] == pooled[0], "the first apply's outcomes differ"
    assert inline[1] == pooled[1], "the provider's things differ"
    assert inline[2] == pooled[2], "the recorded state differs"
    assert inline[3] == pooled[3] == (), "an intent was left open"
