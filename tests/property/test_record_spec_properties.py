"""The spec a plan encodes for a record is the one apply would encode, for all resources:
a created resource is encoded once (``Step.stored``), never differently."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile._diff.documents import stored_spec
from reconcile._model.secrets import use_salt
from reconcile._plan.steps import planned_spec
from reconcile.testing import MemoryProvider


@rc.resource("rs_app")
class App:
    name: str = rc.field(key=True)
    replicas: int = 1
    env: dict[str, str] = rc.field(factory=dict)
    password: str = rc.field(default="", sensitive=True)
    tags: list[str] = rc.field(factory=list)
    id: str | None = rc.field(default=None, computed=True)


APPS = st.builds(
    App,
    name=st.text(min_size=1, max_size=6),
    replicas=st.integers(0, 5),
    env=st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3),
    password=st.text(max_size=8),
    tags=st.lists(st.text(max_size=3), max_size=3),
)


@given(st.lists(APPS, max_size=4, unique_by=lambda a: a.name))
def test_a_planned_record_spec_is_the_one_apply_would_encode(apps: list[Any]) -> None:
    state = rc.MemoryState()
    reconciler = rc.Reconciler([MemoryProvider(App)], state)
    plan = reconciler.plan(apps)
    with use_salt(state.snapshot().salt):
        for step in plan.steps:
            spec = planned_spec(step)
            assert spec is not None  # every create here shows exactly what is declared
            assert spec == stored_spec(step.declared, copied=step.copied_sensitive)
            if step.declared.password:
                assert spec["password"] == {"$sensitive": spec["password"]["$sensitive"]}
    assert reconciler.apply(plan).ok
    records = state.snapshot().records
    with use_salt(state.snapshot().salt):
        assert {a: r.spec for a, r in records.items()} == {
            rc.address_of(app): stored_spec(app) for app in apps
        }
