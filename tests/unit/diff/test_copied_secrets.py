"""A secret copied into a plain field by a reference is sensitive there too (issue 17,
item 2): masked in plan text and JSON, a digest in state, hidden in drift plans."""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider

SECRET = "s3cr3t-copied-value"


@rc.resource("t_cs_db")
class Db:
    name: str = rc.field(key=True)
    password: str = rc.field(default="", sensitive=True)
    token: str | None = rc.field(default=None, computed=True, sensitive=True)


@rc.resource("t_cs_app")
class App:
    name: str = rc.field(key=True)
    dsn: str = ""
    extra: dict[str, Any] = attrs.field(factory=dict)


def _world(tmp_path: Any) -> tuple[MemoryProvider[Db], MemoryProvider[App], rc.Reconciler]:
    tokens = itertools.count(1)
    dbs = MemoryProvider(
        Db,
        fill=lambda d: (
            d if d.token is not None else attrs.evolve(d, token=f"{SECRET}-{next(tokens)}")
        ),
    )
    apps = MemoryProvider(App)
    state = rc.SQLiteState(tmp_path / "state.db")
    return dbs, apps, rc.Reconciler([dbs, apps], state=state)


def _state_bytes(tmp_path: Any) -> bytes:
    """The state database and its write-ahead log, as a copied folder would hold them."""
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("state.db*")) if p.is_file())


def _texts(plan: rc.Plan) -> str:
    return plan.render() + plan.to_json() + repr(plan)


def test_a_copied_password_is_masked_in_plans_and_state(tmp_path):
    _dbs, apps, reconciler = _world(tmp_path)
    db = Db("main", password=SECRET)
    app = App("web", dsn=rc.ref(db, "password"), extra={"pw": rc.ref(db, "password")})
    plan = reconciler.plan([db, app])
    assert SECRET not in _texts(plan)
    assert "(sensitive)" in plan.render()
    assert reconciler.apply(plan).ok
    assert apps.get("t_cs_app[web]").dsn == SECRET  # the provider gets the real value
    assert SECRET.encode() not in _state_bytes(tmp_path)
    assert reconciler.plan([db, app]).is_empty
    apps.drift("t_cs_app[web]", dsn=SECRET + "-drifted")
    drift = reconciler.plan([db, app])
    assert "~ dsn = (sensitive) -> (sensitive)  # drift" in drift.render()
    assert SECRET not in _texts(drift)


def test_a_copied_secret_known_only_after_apply_is_masked_once_known(tmp_path):
    _dbs, apps, reconciler = _world(tmp_path)
    db = Db("main", password="pw")
    app = App("web", dsn=rc.ref(db, "token"))
    plan = reconciler.plan([db, app])
    assert "known after apply" in plan.render()
    assert reconciler.apply(plan).ok
    assert apps.get("t_cs_app[web]").dsn.startswith(SECRET)
    assert SECRET.encode() not in _state_bytes(tmp_path)
    apps.drift("t_cs_app[web]", dsn="other")
    assert SECRET not in _texts(reconciler.plan([db, app]))


def test_a_saved_plan_with_a_copied_secret_applies_with_the_desired_state(tmp_path):
    _dbs, apps, reconciler = _world(tmp_path)
    db = Db("main", password=SECRET)
    app = App("web", dsn=rc.ref(db, "password"))
    saved = rc.Plan.from_json(reconciler.plan([db, app]).to_json())
    assert reconciler.apply(saved, desired=[db, app]).ok
    assert apps.get("t_cs_app[web]").dsn == SECRET
    assert SECRET.encode() not in _state_bytes(tmp_path)


def test_a_saved_update_with_a_copied_secret_applies_and_refuses_a_moved_world(tmp_path):
    _dbs, apps, reconciler = _world(tmp_path)
    db = Db("main", password=SECRET)
    desired = [db, App("web", dsn=rc.ref(db, "password"), extra={"x": 1})]
    assert reconciler.apply(reconciler.plan(desired)).ok
    desired[1] = attrs.evolve(desired[1], extra={"x": 2})
    saved = rc.Plan.from_json(reconciler.plan(desired).to_json())
    assert SECRET not in saved.to_json()
    assert reconciler.apply(saved, desired=desired).ok
    assert apps.get("t_cs_app[web]").extra == {"x": 2}
    desired[1] = attrs.evolve(desired[1], extra={"x": 3})
    stale = rc.Plan.from_json(reconciler.plan(desired).to_json())
    apps.drift("t_cs_app[web]", dsn="moved")
    with pytest.raises(rc.StalePlanError) as refused:
        reconciler.apply(stale, desired=desired)
    assert SECRET not in str(refused.value)


def test_a_plain_reference_stays_in_clear(tmp_path):
    _dbs, _apps, reconciler = _world(tmp_path)
    db = Db("main", password=SECRET)
    app = App("web", dsn=rc.ref(db, "name"))
    assert '"main"' in reconciler.plan([db, app]).render()
