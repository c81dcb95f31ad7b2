"""The conformance suite catches broken providers, skips what a kind cannot do, and
gives each subclass its own tests. Broken suites are named without ``Test`` so pytest
does not collect them; each test runs one property and expects it to fail."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import MemoryProvider, ProviderConformance
from reconcile.testing.strategies import resources


@rc.resource("kit_conf_account")
class Account:
    name: str = rc.field(key=True)
    plan: str = "free"
    region: str = rc.field(default="eu", replace=True)
    token: str = rc.field(default="", sensitive=True)
    id: int | None = rc.field(default=None, computed=True)


@rc.resource("kit_conf_plain")
class Plain:
    name: str = rc.field(key=True)
    value: int = 0


def _assign_id(account: Account) -> Account:
    return attrs.evolve(account, id=7)


accounts = resources(
    Account,
    name=st.sampled_from(["a", "b", "c"]),
    plan=st.sampled_from(["free", "pro"]),
    region=st.sampled_from(["eu", "us"]),
    token=st.sampled_from(["", "t"]),
)


class Suite(ProviderConformance):
    """A suite over ``provider_cls``; each broken variant swaps in its own provider."""

    conformance_settings = settings(
        max_examples=40,
        report_multiple_bugs=False,
        database=None,
        phases=[Phase.generate, Phase.shrink],  # no explain phase: tracing is slow
    )
    provider_cls: ClassVar[type[MemoryProvider[Any]]] = MemoryProvider

    def make_provider(self) -> MemoryProvider[Account]:
        return self.provider_cls(Account, fill=_assign_id)

    def resources(self) -> st.SearchStrategy[Account]:
        return accounts


class LosesPlan(MemoryProvider[Account]):
    def create(self, want: Account) -> Account:
        return super().create(attrs.evolve(want, plan="free"))


class IgnoresUpdates(MemoryProvider[Account]):
    def update(self, have: Account, want: Account, diff: rc.Diff) -> Account:
        return have


class NeverDeletes(MemoryProvider[Account]):
    def delete(self, have: Account) -> None:
        self.calls["delete"] += 1


class UpdatesReplaceFields(MemoryProvider[Account]):
    def diff(self, want: Account, have: Account) -> rc.Diff:
        return rc.Diff(rc.diff(want, have).changes)  # drops replace_paths


class LogsTokens(MemoryProvider[Account]):
    def create(self, want: Account) -> Account:
        logging.getLogger("kit.leaky").debug("creating with token %s", want.token)
        return super().create(want)


class ErrsWithTokens(MemoryProvider[Account]):
    def update(self, have: Account, want: Account, diff: rc.Diff) -> Account:
        raise RuntimeError(f"the API refused token {want.token}")


class ListsNothing(MemoryProvider[Account]):
    def list(self) -> list[Account]:
        return []


class RevertsPlanLater(MemoryProvider[Account]):
    """Right when asked directly; a later read shows ``plan`` reverted by someone else."""

    def read(self, want: Account) -> Account | None:
        found = super().read(want)
        if found is not None and found.plan == "pro" and self.calls["read"] > 2:
            return self.drift(rc.address_of(found), plan="free")
        return found


_shared = MemoryProvider(Account, fill=_assign_id)


class SharesOneWorld(Suite):
    def make_provider(self) -> MemoryProvider[Account]:
        return _shared


def _variant(provider_cls: type[MemoryProvider[Any]]) -> Suite:
    suite = type(f"Suite_{provider_cls.__name__}", (Suite,), {"provider_cls": provider_cls})
    return suite()


@pytest.mark.parametrize(
    ("provider_cls", "prop", "complaint"),
    [
        (LosesPlan, "test_create_then_read_returns_what_was_created", "managed fields differ"),
        (IgnoresUpdates, "test_update_converges", "update\\(\\) returned"),
        (NeverDeletes, "test_delete_then_read_returns_none", "found it after delete"),
        (UpdatesReplaceFields, "test_replace_field_change_plans_replace_and_converges", "replace"),
        (LogsTokens, "test_sensitive_values_never_leak", "a log record of kit.leaky"),
        (ErrsWithTokens, "test_sensitive_values_never_leak", "a sensitive value shows in applying"),
        (ListsNothing, "test_list_reports_what_was_created", "list\\(\\) reported"),
        (RevertsPlanLater, "test_converge_twice_makes_no_writes", "second time"),
    ],
)
def test_a_broken_provider_fails_its_property(provider_cls, prop, complaint):
    with pytest.raises(AssertionError, match=complaint):
        getattr(_variant(provider_cls), prop)()


def test_the_same_suite_passes_a_correct_provider():
    suite = _variant(MemoryProvider)
    for name in dir(suite):
        if name.startswith("test_"):
            getattr(suite, name)()


def test_a_shared_world_is_caught():
    with pytest.raises(AssertionError, match="exists before it was created"):
        SharesOneWorld().test_create_then_read_returns_what_was_created()


class PlainSuite(ProviderConformance):
    class Unlisted(MemoryProvider[Plain]):
        can_list = False  # type: ignore[assignment]

    def make_provider(self) -> MemoryProvider[Plain]:
        return self.Unlisted(Plain)

    def resources(self) -> st.SearchStrategy[Plain]:
        return resources(Plain, name=st.sampled_from("xy"), value=st.integers(0, 3))


@pytest.mark.parametrize(
    ("prop", "reason"),
    [
        ("test_replace_field_change_plans_replace_and_converges", "no replace field"),
        ("test_sensitive_values_never_leak", "no sensitive field"),
        ("test_list_reports_what_was_created", "no list"),
    ],
)
def test_what_a_kind_cannot_do_is_skipped_with_a_reason(prop, reason):
    with pytest.raises(pytest.skip.Exception, match=reason):
        getattr(PlainSuite(), prop)()


def test_each_subclass_gets_its_own_tests_and_can_leave_one_out():
    class First(Suite):
        pass

    class Second(Suite):
        test_list_reports_what_was_created = None

    name = "test_delete_then_read_returns_none"
    assert getattr(First, name) is not getattr(Second, name) is not getattr(Suite, name)
    First().test_delete_then_read_returns_none()
    Second().test_delete_then_read_returns_none()  # no HealthCheck.differing_executors
    assert Second.test_list_reports_what_was_created is None
