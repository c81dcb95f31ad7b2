"""Planning stories: actions, rendering, validation errors, protection and JSON."""

from __future__ import annotations

import json

import attrs
import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider


@rc.resource("plan_server")
class Server:
    name: str = rc.field(key=True)
    size: str = "small"
    image: str = rc.field(default="debian", replace=True)
    password: str = rc.field(default="", sensitive=True)
    ip: str | None = rc.field(default=None, computed=True)


@rc.resource("plan_vault", prevent_destroy=True)
class Vault:
    name: str = rc.field(key=True)
    region: str = rc.field(default="eu", replace=True)


def _fill(server: Server) -> Server:
    return attrs.evolve(server, ip=f"10.0.0.{len(server.name)}")


@pytest.fixture
def servers() -> MemoryProvider[Server]:
    return MemoryProvider(Server, fill=_fill)


def test_each_action_is_chosen_and_rendered(servers):
    reconciler = rc.Reconciler([servers])
    servers.put(Server("same"))
    servers.put(Server("grow", size="small"))
    servers.put(Server("rebuild", image="debian"))
    plan = reconciler.plan(
        [
            Server("new", password="hunter2"),
            Server("same"),
            Server("grow", size="large"),
            Server("rebuild", image="alpine"),
        ]
    )
    actions = {s.address: s.action for s in plan.steps}
    assert actions == {
        "plan_server[new]": rc.Action.CREATE,
        "plan_server[same]": rc.Action.NOOP,
        "plan_server[grow]": rc.Action.UPDATE,
        "plan_server[rebuild]": rc.Action.REPLACE,
    }
    assert plan.summary[rc.Action.CREATE] == 1
    assert not plan.is_empty
    text = plan.render()
    assert "  + plan_server[new]" in text
    assert "  ~ plan_server[grow]" in text
    assert '~ size = "small" -> "large"' in text
    assert "-/+ plan_server[rebuild]" in text
    assert '~ image = "debian" -> "alpine"  # forces replacement' in text
    assert "ip       = (known after apply)" in text
    assert "hunter2" not in text
    assert text.rstrip().endswith("Plan: 1 to add, 1 to change, 1 to replace, 0 to destroy.")
    assert "plan_server[same]" not in text


@rc.resource("plan_perm")
class Perm:
    path: str = rc.field(key=True)
    mode: int = rc.field(default=0o644, normalize=oct)
    groups: list[str] = rc.field(factory=list, normalize=sorted)


def test_create_and_delete_blocks_show_values_as_the_diff_compares_them():
    perms = MemoryProvider(Perm)
    perms.put(Perm("old", mode=0o600, groups=["b", "a"]))
    state = rc.MemoryState()
    reconciler = rc.Reconciler([perms], state=state)
    reconciler.apply(reconciler.plan([Perm("old", mode=0o600, groups=["b", "a"])]))
    plan = reconciler.plan([Perm("new", mode=0o750, groups=["z", "y"])])
    text = plan.render()
    assert '+ mode   = "0o750"' in text
    assert '+ groups = ["y", "z"]' in text
    assert '- mode   = "0o600"' in text
    assert '- groups = ["a", "b"]' in text
    assert plan.step("plan_perm[new]").after["mode"] == 0o750, "only the text is normalised"
    assert rc.Plan.from_json(plan.to_json()).render() == text


def test_a_value_normalize_cannot_take_is_shown_as_it_is():
    perms = MemoryProvider(Perm)
    plan = rc.Reconciler([perms]).plan([Perm("odd", mode="rw")])  # type: ignore[arg-type]
    assert '+ mode   = "rw"' in plan.render()


def test_an_empty_plan_says_so(servers):
    plan = rc.Reconciler([servers]).plan([])
    assert plan.is_empty
    assert plan.render() == "No changes. Live state matches the desired state.\n"


def test_computed_fields_unset_in_desired_are_not_diffed(servers):
    servers.put(Server("a", ip="10.9.9.9"))
    assert rc.Reconciler([servers]).plan([Server("a")]).is_empty
    assert not rc.Reconciler([servers]).plan([Server("a", ip="10.1.1.1")]).is_empty


def test_duplicate_addresses_name_both(servers):
    with pytest.raises(rc.DuplicateAddressError, match=r"plan_server\[a\]") as err:
        rc.Reconciler([servers]).plan([Server("a", size="s"), Server("a", size="l")])
    assert "'s'" in str(err.value)
    assert "'l'" in str(err.value)


def test_a_cycle_names_every_address_on_it(servers):
    a = Server("a", depends_on=["plan_server[c]"])
    b = Server("b", depends_on=[a])
    c = Server("c", depends_on=[b])
    with pytest.raises(rc.CycleError) as err:
        rc.Reconciler([servers]).plan([a, b, c, Server("d")])
    assert set(err.value.cycle) == {"plan_server[a]", "plan_server[b]", "plan_server[c]"}
    assert "plan_server[d]" not in str(err.value)
    assert servers.calls["read"] == 0, "validation runs before any observation"


def test_unknown_kind_and_dangling_dependency(servers):
    with pytest.raises(rc.UnknownKindError, match=r"plan_vault\[v\].*plan_vault"):
        rc.Reconciler([servers]).plan([Vault("v")])
    with pytest.raises(rc.DanglingDependencyError, match=r"plan_server\[x\]"):
        rc.Reconciler([servers]).plan([Server("a", depends_on=["plan_server[x]"])])
    with pytest.raises(rc.InvalidStateError, match="not a resource"):
        rc.Reconciler([servers]).plan([{"name": "a"}])


def test_prevent_destroy_refuses_a_replace():
    vaults = MemoryProvider(Vault)
    vaults.put(Vault("v", region="eu"))
    with pytest.raises(rc.ProtectedResourceError, match=r"plan_vault\[v\].*region"):
        rc.Reconciler([vaults]).plan([Vault("v", region="us")])


def test_a_failing_read_names_the_address(servers):
    servers.fail("read", address="plan_server[a]")
    with pytest.raises(rc.ObserveError, match=r"plan_server\[a\]"):
        rc.Reconciler([servers]).plan([Server("a")])


def test_json_form_is_terraform_shaped_and_hides_secrets(servers):
    servers.put(Server("a", password="old-secret"))
    plan = rc.Reconciler([servers]).plan([Server("a", password="new-secret", image="alpine")])
    doc = json.loads(plan.to_json())
    assert doc["format_version"] == "1.0"
    (change,) = doc["resource_changes"]
    assert change["address"] == "plan_server[a]"
    assert change["actions"] == ["delete", "create"]
    assert change["action_reason"] == "replace_forced"
    assert change["change"]["replace_paths"] == [["image"]]
    assert change["change"]["after_sensitive"] == ["password"]
    assert change["change"]["after_unknown"] == [["ip"]]
    text = plan.to_json()
    assert "old-secret" not in text
    assert "new-secret" not in text
    assert rc.Plan.from_json(text) == plan


def test_plan_json_from_another_version_is_refused():
    with pytest.raises(rc.InvalidStateError, match="format_version"):
        rc.Plan.from_json('{"format_version": "99", "resource_changes": []}')


def test_the_fast_in_sync_step_is_exactly_the_step_the_constructor_makes():
    from reconcile._plan.steps import Action, Reason, Step, in_sync_step

    declared, have = Server("a", depends_on=["plan_server[b]"]), _fill(Server("a"))
    fast = in_sync_step("plan_server[a]", "plan_server", declared.depends_on, declared, have)
    made = Step(
        address="plan_server[a]",
        kind="plan_server",
        action=Action.NOOP,
        reason=Reason.IN_SYNC,
        depends_on=declared.depends_on,
        desired=declared,
        actual=have,
        declared=declared,
    )
    for f in attrs.fields(Step):  # every slot, the eq=False ones included
        assert getattr(fast, f.name) is getattr(made, f.name) or (
            getattr(fast, f.name) == getattr(made, f.name)
        ), f.name
    assert fast == made
    assert hash(fast) == hash(made)
