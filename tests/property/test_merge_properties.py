"""The three-way merge (kubectl apply's) and drift-or-config causes, for all inputs.

Unit tests show single cases; these state the rules: what we declare always wins,
a key someone else set (never in the last applied spec) is kept, a key we set before
and no longer declare is removed, merging twice changes nothing; and a change's cause
is "drift" when only the live side moved from the last applied value, "config" when
only the declared side did, "both" otherwise.
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

import reconcile as rc
from reconcile._diff.changes import Change, strict_equal
from reconcile._diff.merge import cause_of, preserve_foreign, with_keys_of
from reconcile._model.secrets import redact
from reconcile.testing import MemoryProvider


@rc.resource("mp_thing")
class Thing:
    name: str = rc.field(key=True)
    labels: dict[str, Any] = rc.field(factory=dict)


KEYS = st.sampled_from(["a", "b", "c", "d"])
LEAVES = st.integers(-2, 2) | st.sampled_from(["x", "y"]) | st.none()
VALUES = st.recursive(LEAVES, lambda inner: st.dictionaries(KEYS, inner, max_size=3), max_leaves=6)
DOCS = st.dictionaries(KEYS, VALUES, max_size=4)


def _merged(mine: dict[str, Any], theirs: dict[str, Any], last: dict[str, Any]) -> Any:
    want, have = Thing("n", labels=mine), Thing("n", labels=theirs)
    return preserve_foreign(want, have, {"name": "n", "labels": last}).labels


@given(DOCS, DOCS)
def test_without_a_last_applied_spec_nothing_is_merged(mine: dict, theirs: dict) -> None:
    want = Thing("n", labels=mine)
    assert preserve_foreign(want, Thing("n", labels=theirs), None) is want


@given(DOCS, DOCS, DOCS)
def test_what_we_declare_wins_and_what_others_set_stays(
    mine: dict, theirs: dict, last: dict
) -> None:
    merged = _merged(mine, theirs, last)
    for key, value in mine.items():
        if not (isinstance(value, dict) and isinstance(theirs.get(key), dict)):
            assert strict_equal(merged[key], value), key  # ours, as declared
    for key, value in theirs.items():
        if key not in mine and key not in last:
            assert strict_equal(merged[key], value), key  # someone else's: kept
        if key not in mine and key in last:
            assert key not in merged, key  # ours before, no longer declared: removed
    assert set(merged) <= set(mine) | set(theirs)


@given(DOCS, DOCS, DOCS)
def test_merging_again_changes_nothing(mine: dict, theirs: dict, last: dict) -> None:
    once = _merged(mine, theirs, last)
    assert strict_equal(_merged(once, theirs, last), once)


@given(DOCS, DOCS)
def test_with_keys_of_claims_every_key_written_and_keeps_ours(before: dict, written: dict) -> None:
    claimed = with_keys_of(before, written)
    assert set(claimed) == set(before) | set(written)
    for key, value in before.items():
        if not (isinstance(value, dict) and isinstance(written.get(key), dict)):
            assert strict_equal(claimed[key], value)


def _cause(last: Any, live: Any, wanted: Any) -> str:
    """The rule, said plainly, for a field present on every side."""
    if strict_equal(last, wanted):
        return "drift"
    if strict_equal(last, live):
        return "config"
    return "both"


@given(VALUES, VALUES, VALUES)
def test_a_replace_is_caused_by_whichever_side_left_the_last_applied_value(
    last: Any, live: Any, wanted: Any
) -> None:
    assume(not strict_equal(live, wanted))
    change = Change(("labels",), "replace", live, wanted)
    assert cause_of(change, {"labels": last}) == _cause(last, live, wanted)
    assert cause_of(change, None) is None


@given(VALUES, VALUES)
def test_a_field_added_or_removed_on_one_side_only(live: Any, wanted: Any) -> None:
    """Never applied: adding it is config, a live-only field is drift."""
    assert cause_of(Change(("labels",), "add", None, wanted), {}) == "config"
    assert cause_of(Change(("labels",), "remove", live, None), {}) == "drift"
    # Applied before and now removed from the declaration: config, unless live moved too.
    removed = cause_of(Change(("labels",), "remove", live, None), {"labels": live})
    assert removed == "config"


@given(VALUES, VALUES)
def test_a_secret_recorded_as_a_digest_is_compared_by_digest(live: Any, wanted: Any) -> None:
    assume(not strict_equal(live, wanted))
    change = Change(("labels",), "replace", live, wanted)
    assert cause_of(change, {"labels": redact(wanted)}) == "drift"
    assert cause_of(change, {"labels": redact(live)}) == "config"


SMALL = st.integers(0, 2)


@given(SMALL, SMALL, SMALL)
def test_planned_causes_follow_the_rule_end_to_end(applied: int, live: int, wanted: int) -> None:
    """Apply ``applied``, let the world drift to ``live``, declare ``wanted``: the plan's
    change says which side moved."""
    world = MemoryProvider(Thing)
    reconciler = rc.Reconciler([world], rc.MemoryState())
    assert reconciler.apply(reconciler.plan([Thing("n", labels={"v": applied})])).ok
    world.put(Thing("n", labels={"v": live}))
    plan = reconciler.plan([Thing("n", labels={"v": wanted})])
    (step,) = plan.steps
    if live == wanted:
        assert step.action is rc.Action.NOOP
        return
    (change,) = step.diff.changes
    assert change.cause == _cause(applied, live, wanted)
