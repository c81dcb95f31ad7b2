"""A ``TransientError`` while observing is retried as one in a write is.

``read``, ``read_many`` and ``list`` follow the reconciler's ``RetryPolicy``: the
same backoff on the same clock, a ``retried`` event and a warning per retry.
Plan, converge, status, a saved plan's re-reads and crash recovery all recover
from fewer faults than the policy's attempts, and fail with an ``ObserveError``
naming the address and the attempts once they are used up. Any other error is
final at once, as before.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider, SimulatedClock


@rc.resource("t_rtr_item")
class Item:
    name: str = rc.field(key=True)
    value: str = ""


class Listed(MemoryProvider[Item]):
    """Observed through one ``list()`` per plan, as an API that pages would be."""

    observe_by_list: ClassVar[bool] = True


POLICY = rc.RetryPolicy(attempts=3, base=1.0, cap=8.0)
DESIRED = [Item("a", "1"), Item("b", "2")]


class Kit:
    """One reconciler over ``provider`` with a simulated clock and an event log."""

    def __init__(self, provider: MemoryProvider[Item], state: rc.State | None = None) -> None:
        self.clock = SimulatedClock()
        self.provider = provider
        self.events: list[rc.Event] = []
        self.reconciler = rc.Reconciler(
            [provider],
            state=state,
            retry=POLICY,
            clock=self.clock,
            on_event=self.events.append,
            seed=1,
            parallelism=1,
        )

    def retried(self) -> list[tuple[str, str, int]]:
        return [
            (e.address, e.action, e.attempt) for e in self.events if e.kind is rc.EventKind.RETRIED
        ]


def _kit(method: str, state: rc.State | None = None) -> Kit:
    if method == "list":
        return Kit(Listed(Item), state)
    return Kit(MemoryProvider(Item, batch_reads=method == "read_many"), state)


def _where(method: str) -> str:
    return "t_rtr_item[a]" if method == "read" else "t_rtr_item"


@pytest.mark.parametrize("method", ["read", "read_many", "list"])
def test_plan_recovers_from_fewer_transient_faults_than_the_policys_attempts(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    kit = _kit(method)
    kit.provider.fail_transiently(method, times=2)

    with caplog.at_level(logging.WARNING, logger="reconcile.observe"):
        plan = kit.reconciler.plan(DESIRED)

    assert [s.action for s in plan.steps] == [rc.Action.CREATE, rc.Action.CREATE]
    assert kit.retried() == [(_where(method), method, 1), (_where(method), method, 2)]
    assert len(kit.clock.sleeps) == 2  # the backoff ran on the reconciler's clock
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        f"{_where(method)}: attempt 1 failed",
        f"{_where(method)}: attempt 2 failed",
    ]
    assert all(r.address == _where(method) for r in caplog.records)  # type: ignore[attr-defined]


@pytest.mark.parametrize("method", ["read", "read_many", "list"])
def test_plan_fails_clearly_once_the_policys_attempts_are_used_up(method: str) -> None:
    kit = _kit(method)
    kit.provider.fail_transiently(method, times=3)

    with pytest.raises(rc.ObserveError) as raised:
        kit.reconciler.plan(DESIRED)

    assert str(raised.value).startswith(
        f"{_where(method)}: reading the actual state failed after 3 attempts: TransientError("
    )
    assert raised.value.attempts == 3
    assert kit.provider.calls[method] == 3
    assert len(kit.retried()) == 2


@pytest.mark.parametrize("method", ["read", "read_many", "list"])
def test_a_permanent_read_error_fails_at_once_without_a_retry(method: str) -> None:
    kit = _kit(method)
    kit.provider.fail(method)

    with pytest.raises(rc.ObserveError, match="reading the actual state failed: InjectedFailure"):
        kit.reconciler.plan(DESIRED)

    assert kit.provider.calls[method] == 1
    assert kit.retried() == []


def test_converge_with_state_recovers_from_transient_read_faults(store: rc.State) -> None:
    kit = Kit(MemoryProvider(Item), store)
    kit.provider.fail_transiently("read", times=2)
    kit.provider.fail_transiently("create", times=1)

    report = kit.reconciler.converge(DESIRED)

    assert report.converged
    assert {kit.provider.get(rc.address_of(i)) for i in DESIRED} == set(DESIRED)
    assert sorted(store.snapshot().records) == ["t_rtr_item[a]", "t_rtr_item[b]"]
    assert {(action, attempt) for _, action, attempt in kit.retried()} == {
        ("read", 1),
        ("read", 2),
        ("create", 1),
    }


def test_converge_fails_clearly_when_reads_keep_failing(store: rc.State) -> None:
    kit = Kit(MemoryProvider(Item), store)
    kit.provider.fail_transiently("read", times=None)  # type: ignore[arg-type]

    with pytest.raises(rc.ObserveError, match=r"^t_rtr_item\[a\]: .* after 3 attempts"):
        kit.reconciler.converge(DESIRED)

    assert len(kit.provider) == 0
    assert store.snapshot().records == {}


class Objects:
    """The smallest ``Source``: a fixed list of resources at one revision."""

    def __init__(self, resources: list[Any]) -> None:
        self.resources = resources

    def revision(self) -> str:
        return "r1"

    def load(self, revision: str | None = None) -> list[Any]:
        return list(self.resources)


def test_status_recovers_from_transient_read_faults(store: rc.State) -> None:
    kit = Kit(MemoryProvider(Item), store)
    kit.reconciler.converge(DESIRED)
    kit.provider.fail_transiently("read", times=2)

    found = kit.reconciler.status(Objects(DESIRED))

    assert found.sync is rc.Sync.SYNCED
    assert len(kit.retried()) == 2


def test_a_saved_plans_reads_are_retried(store: rc.State) -> None:
    kit = Kit(MemoryProvider(Item), store)
    kit.reconciler.converge(DESIRED)
    kit.provider.drift("t_rtr_item[a]", value="by hand")
    plan = rc.Plan.from_json(kit.reconciler.plan(DESIRED).to_json())
    kit.provider.fail_transiently("read", times=2)

    assert kit.reconciler.apply(plan, desired=DESIRED).ok

    assert kit.provider.get("t_rtr_item[a]") == Item("a", "1")
    assert len(kit.retried()) == 2


def test_recovery_reads_are_retried(store: rc.State) -> None:
    kit = Kit(MemoryProvider(Item), store)
    kit.provider.put(Item("a", "1"))  # a create that happened, its record never written
    store.open_intent("t_rtr_item[a]", "t_rtr_item", "create", {"name": "a", "value": "1"}, None)
    kit.provider.fail_transiently("read", times=2)

    plan = kit.reconciler.plan(DESIRED)

    assert "t_rtr_item[a]" in store.snapshot().records  # adopted, not created twice
    assert [s.action for s in plan.steps] == [rc.Action.NOOP, rc.Action.CREATE]
    assert kit.retried()[:2] == [("t_rtr_item[a]", "read", 1), ("t_rtr_item[a]", "read", 2)]


def test_import_and_orphans_retry_their_reads(store: rc.State) -> None:
    kit = Kit(Listed(Item), store)
    kit.provider.put(Item("a", "1"))
    kit.provider.put(Item("z", "stray"))
    kit.provider.fail_transiently(["read", "list"], times=2)

    assert kit.reconciler.import_(Item("a")) == Item("a", "1")
    assert kit.reconciler.orphans(DESIRED) == [Item("z", "stray")]


def test_a_memory_provider_reads_one_by_one_unless_asked_to_read_in_batches() -> None:
    single, batched = MemoryProvider(Item), MemoryProvider(Item, batch_reads=True)

    rc.Reconciler([single]).plan(DESIRED)
    rc.Reconciler([batched]).plan(DESIRED)

    assert (single.calls["read"], single.calls["read_many"]) == (2, 0)
    assert (batched.calls["read"], batched.calls["read_many"]) == (0, 1)
