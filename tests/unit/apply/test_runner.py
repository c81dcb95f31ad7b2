"""Applying plans: dependency order, partial failure, replace modes, saved plans."""

from __future__ import annotations

import gc
import weakref

import attrs
import pytest

import reconcile as rc
from reconcile.testing import InjectedFailure, MemoryProvider


@rc.resource("apply_node")
class Node:
    name: str = rc.field(key=True)
    value: int = 0
    flavor: str = rc.field(default="a", replace=True)
    secret: str = rc.field(default="", sensitive=True)


@rc.resource("apply_blue_green", create_before_destroy=True)
class BlueGreen:
    name: str = rc.field(key=True)
    version: str = rc.field(default="1", replace=True)


def test_a_failed_step_skips_only_its_dependents():
    nodes = MemoryProvider(Node)
    nodes.fail("create", address="apply_node[db]")
    db = Node("db")
    app = Node("app", depends_on=[db])
    web = Node("web", depends_on=[app])
    cache = Node("cache")
    result = rc.Reconciler([nodes]).apply(rc.Reconciler([nodes]).plan([web, app, db, cache]))
    assert not result.ok
    assert result.outcome("apply_node[db]").status is rc.Status.FAILED
    assert isinstance(result.outcome("apply_node[db]").error, InjectedFailure)
    assert result.outcome("apply_node[app]").status is rc.Status.SKIPPED
    assert result.outcome("apply_node[app]").blocked_by == "apply_node[db]"
    assert result.outcome("apply_node[web]").blocked_by == "apply_node[app]"
    assert result.outcome("apply_node[cache]").status is rc.Status.OK
    assert [o.address for o in result.applied] == ["apply_node[cache]"]
    assert nodes.get("apply_node[cache]") is not None


def test_steps_run_dependencies_first():
    nodes = MemoryProvider(Node)
    a = Node("a")
    b = Node("b", depends_on=[a])
    c = Node("c", depends_on=[b, a])
    rc.Reconciler([nodes]).converge([c, b, a])
    creates = [addr for method, addr in nodes.log if method == "create"]
    assert creates == ["apply_node[a]", "apply_node[b]", "apply_node[c]"]


def test_replace_deletes_then_creates_by_default():
    nodes = MemoryProvider(Node)
    nodes.put(Node("n", flavor="a"))
    reconciler = rc.Reconciler([nodes])
    reconciler.apply(reconciler.plan([Node("n", flavor="b")]))
    assert [m for m, _ in nodes.log if m != "read"] == ["delete", "create"]
    assert nodes.get("apply_node[n]") == Node("n", flavor="b")


def test_create_before_destroy_creates_first():
    provider = MemoryProvider(BlueGreen)
    provider.put(BlueGreen("svc", version="1"))
    reconciler = rc.Reconciler([provider])
    plan = reconciler.plan([BlueGreen("svc", version="2")])
    assert "+/- apply_blue_green[svc]" in plan.render()
    reconciler.apply(plan)
    assert [m for m, _ in provider.log if m != "read"] == ["create", "delete"]
    assert provider.get("apply_blue_green[svc]") == BlueGreen("svc", version="2")


def test_a_saved_plan_without_secrets_applies_in_another_reconciler():
    provider = MemoryProvider(BlueGreen)
    provider.put(BlueGreen("old", version="1"))
    desired = [BlueGreen("new"), BlueGreen("old", version="2")]
    text = rc.Reconciler([provider]).plan(desired).to_json()
    result = rc.Reconciler([provider]).apply(rc.Plan.from_json(text))
    assert result.ok
    assert sorted(provider, key=rc.address_of) == desired


def test_a_saved_plan_with_secrets_needs_the_desired_state_and_refuses_changes():
    nodes = MemoryProvider(Node)
    reconciler = rc.Reconciler([nodes])
    want = Node("a", secret="hunter2")
    saved = rc.Plan.from_json(reconciler.plan([want]).to_json())
    with pytest.raises(rc.PlanNeedsDesiredStateError, match=r"apply_node\[a\]"):
        reconciler.apply(saved)
    with pytest.raises(rc.StalePlanError, match=r"apply_node\[a\]") as err:
        reconciler.apply(saved, desired=[Node("a", secret="other")])
    assert "hunter2" not in str(err.value)
    assert "other" not in str(err.value)
    assert len(nodes) == 0, "a refused plan changes nothing"
    assert reconciler.apply(saved, desired=[want]).ok
    assert nodes.get("apply_node[a]") == want


def test_a_saved_update_is_stale_when_the_world_moved():
    nodes = MemoryProvider(Node)
    nodes.put(Node("a", value=1, secret="s"))
    reconciler = rc.Reconciler([nodes])
    want = Node("a", value=2, secret="s")
    saved = rc.Plan.from_json(reconciler.plan([want]).to_json())
    nodes.put(Node("a", value=7, secret="s"))
    with pytest.raises(rc.StalePlanError, match="actual state changed"):
        reconciler.apply(saved, desired=[want])
    assert nodes.get("apply_node[a]") == Node("a", value=7, secret="s")


def test_transient_errors_are_retried_then_fail_with_that_error():
    nodes = MemoryProvider(Node)
    nodes.fail("create", address="apply_node[a]", error=rc.TransientError, times=2)
    nodes.fail("create", address="apply_node[b]", error=rc.TransientError, times=9)
    nodes.fail("create", address="apply_node[c]", times=9)
    policy = rc.RetryPolicy(attempts=3, base=0.0)
    reconciler = rc.Reconciler([nodes], retry=policy)
    result = reconciler.apply(reconciler.plan([Node("a"), Node("b"), Node("c")]))
    assert result.outcome("apply_node[a]").status is rc.Status.OK
    assert result.outcome("apply_node[a]").attempts == 3
    assert isinstance(result.outcome("apply_node[b]").error, rc.TransientError)
    assert result.outcome("apply_node[b]").attempts == 3
    assert result.outcome("apply_node[c]").attempts == 1, "other errors are not retried"


def test_update_receives_the_diff():
    seen: list[rc.Diff] = []

    class Recording(MemoryProvider[Node]):
        def update(self, have: Node, want: Node, diff: rc.Diff) -> Node:
            seen.append(diff)
            return super().update(have, want, diff)

    nodes = Recording(Node)
    nodes.put(Node("a", value=1))
    reconciler = rc.Reconciler([nodes])
    reconciler.apply(reconciler.plan([Node("a", value=2)]))
    assert seen == [rc.Diff((rc.Change(("value",), "replace", 1, 2),))]


def test_a_provider_may_override_diff():
    class Lenient(MemoryProvider[Node]):
        def diff(self, want: Node, have: Node) -> rc.Diff:
            return rc.diff(attrs.evolve(want, value=0), attrs.evolve(have, value=0))

    nodes = Lenient(Node)
    nodes.put(Node("a", value=1))
    assert rc.Reconciler([nodes]).plan([Node("a", value=5)]).is_empty


def test_a_dropped_reconciler_is_freed_at_once_not_left_to_the_garbage_collector():
    """The façade holds its GitOps operations without a reference cycle: dropping the
    last reference frees it (and lets go of its state) even with the collector off."""
    state = rc.MemoryState()
    reconciler = rc.Reconciler([MemoryProvider(Node)], state=state)
    reconciler.last_applied_revision()  # the GitOps side has been used
    gone = weakref.ref(reconciler)
    gc.disable()
    try:
        del reconciler
        assert gone() is None
    finally:
        gc.enable()
