"""The provider conformance suite, run against ``MemoryProvider``.

``Account`` has every kind of field the suite probes: a key, plain fields, a
``replace`` field, a ``sensitive`` field and a ``computed`` one the provider fills.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import MemoryProvider, ProviderConformance
from reconcile.testing.strategies import resources


@rc.resource("conformance_account")
class Account:
    name: str = rc.field(key=True)
    plan: str = "free"
    quota: int = 0
    tags: dict[str, str] = rc.field(factory=dict)
    region: str = rc.field(default="eu", replace=True)
    token: str = rc.field(default="", sensitive=True)
    id: int | None = rc.field(default=None, computed=True)


def _assign_id(account: Account) -> Account:
    return attrs.evolve(account, id=account.id or 1000 + len(account.name))


accounts = resources(
    Account,
    name=st.text("abcxyz", min_size=1, max_size=4),
    plan=st.sampled_from(["free", "pro"]),
    quota=st.integers(0, 5),
    tags=st.dictionaries(st.sampled_from(["team", "env"]), st.text("ab", max_size=2)),
    region=st.sampled_from(["eu", "us"]),
    token=st.text("0123456789abcdef", max_size=6),
)


class TestMemoryProviderConformance(ProviderConformance):
    def make_provider(self) -> MemoryProvider[Account]:
        return MemoryProvider(Account, fill=_assign_id)

    def resources(self) -> st.SearchStrategy[Account]:
        return accounts
