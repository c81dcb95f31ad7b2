"""A field a reference copied a secret into is itself sensitive, so a reference to *it*
copies a secret too: over any number of hops (issue 17, item 2; Terraform propagates
sensitivity transitively). Chains of 1 to 4 hops, plain and nested in a dict, with each
state store: the secret shows in no plan text or JSON, saved plan file, state, journal,
drift plan or error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

import reconcile as rc
from reconcile.testing import MemoryProvider

SECRET = "s3cr3t-chain-value"  # ASCII: a JSON escape cannot hide a leak from the check


@rc.resource("t_ch_db")
class Db:
    name: str = rc.field(key=True)
    password: str = rc.field(default="", sensitive=True)


@rc.resource("t_ch_app")
class App:
    name: str = rc.field(key=True)
    dsn: str = ""
    extra: dict[str, Any] = attrs.field(factory=dict)
    note: str = ""


class Quoting(MemoryProvider[App]):
    """Refuses to create ``bad``, quoting everything it was given, as a careless API would."""

    def create(self, want: App) -> App:
        if want.name == "bad":
            raise ConnectionError(f"cannot connect with {want.dsn!r} {want.extra!r}")
        return super().create(want)


def _chain(hops: int, nested: bool) -> tuple[Db, list[App]]:
    """``hop1`` copies the password; each next hop copies the one before (into a dict's
    item when ``nested``, and then the whole dict field is what the next hop copies)."""
    db = Db("main", password=SECRET)
    source: Any = (db, "password")
    apps = []
    for n in range(1, hops + 1):
        copy = rc.ref(*source)
        app = App(f"hop{n}", extra={"pw": copy}) if nested else App(f"hop{n}", dsn=copy)
        apps.append(app)
        source = (app, "extra" if nested else "dsn")
    return db, apps


def _copied(app: App, nested: bool) -> Any:
    return app.extra if nested else app.dsn


def _last_sees_the_secret(apps: MemoryProvider[App], last: App, nested: bool) -> None:
    """The provider got the real value: the chain did copy the secret all the way."""
    got = apps.get(rc.address_of(last))
    assert got is not None
    assert SECRET in repr(_copied(got, nested))


def _texts(plan: rc.Plan) -> str:
    return plan.render() + plan.to_json() + repr(plan) + repr(plan.steps)


def _stored(store: rc.State, tmp_path: Path) -> str:
    """Everything the state keeps: records, the journal with its plans, and the files."""
    files = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("state.db*")) if p.is_file())
    journal = [store.entry(e.id) for e in store.history()]
    return repr(list(store)) + repr(journal) + files.decode("utf-8", "replace")


def _drifted(apps: MemoryProvider[App], last: App, nested: bool) -> None:
    change = {"extra": {"pw": SECRET + "-drift"}} if nested else {"dsn": SECRET + "-drift"}
    apps.drift(rc.address_of(last), **change)


HOPS = pytest.mark.parametrize("hops", [1, 2, 3, 4])
NESTED = pytest.mark.parametrize("nested", [False, True], ids=["plain", "nested"])


@HOPS
@NESTED
def test_a_chain_of_copies_keeps_the_secret_out_of_plans_state_journal_and_drift(
    store: rc.State, tmp_path: Path, hops: int, nested: bool
) -> None:
    apps = Quoting(App)
    reconciler = rc.Reconciler([MemoryProvider(Db), apps], state=store)
    db, chain = _chain(hops, nested)
    desired = [db, *chain]
    plan = reconciler.plan(desired)
    assert SECRET not in _texts(plan)
    assert "(sensitive)" in plan.render()
    assert reconciler.apply(plan).ok
    _last_sees_the_secret(apps, chain[-1], nested)
    assert SECRET not in _stored(store, tmp_path)
    assert reconciler.plan(desired).is_empty
    _drifted(apps, chain[-1], nested)
    drift = reconciler.plan(desired)
    assert not drift.is_empty
    assert SECRET not in _texts(drift)
    assert reconciler.apply(drift).ok
    assert SECRET not in _stored(store, tmp_path)


@HOPS
@NESTED
def test_a_saved_chain_plan_holds_no_secret_and_applies_with_the_desired_state(
    store: rc.State, tmp_path: Path, hops: int, nested: bool
) -> None:
    apps = Quoting(App)
    reconciler = rc.Reconciler([MemoryProvider(Db), apps], state=store)
    db, chain = _chain(hops, nested)
    desired = [db, *chain]
    saved = tmp_path / "plan.json"
    saved.write_text(reconciler.plan(desired).to_json())
    assert SECRET not in saved.read_text()
    loaded = rc.Plan.from_json(saved.read_text())
    assert SECRET not in _texts(loaded)
    assert reconciler.apply(loaded, desired=desired).ok
    _last_sees_the_secret(apps, chain[-1], nested)
    assert SECRET not in _stored(store, tmp_path)
    # an update of the last hop, saved and applied later: its copied field stays masked
    desired[-1] = attrs.evolve(desired[-1], note="changed")
    saved.write_text(reconciler.plan(desired).to_json())
    assert SECRET not in saved.read_text()
    assert reconciler.apply(rc.Plan.from_json(saved.read_text()), desired=desired).ok
    assert SECRET not in _stored(store, tmp_path)


@HOPS
@NESTED
def test_a_hop_added_in_a_later_run_copies_a_secret_recorded_as_a_digest(
    store: rc.State, tmp_path: Path, hops: int, nested: bool
) -> None:
    apps = Quoting(App)
    reconciler = rc.Reconciler([MemoryProvider(Db), apps], state=store)
    db, chain = _chain(hops, nested)
    assert reconciler.apply(reconciler.plan([db, *chain[:-1]])).ok
    plan = reconciler.plan([db, *chain])  # only the last hop is new
    assert SECRET not in _texts(plan)
    assert reconciler.apply(plan).ok
    _last_sees_the_secret(apps, chain[-1], nested)
    assert SECRET not in _stored(store, tmp_path)
    only_last = reconciler.plan([db, *chain], include=[rc.address_of(chain[-1])])
    assert SECRET not in _texts(only_last)


@HOPS
@NESTED
def test_an_error_quoting_a_value_copied_down_a_chain_is_masked(
    store: rc.State, tmp_path: Path, hops: int, nested: bool
) -> None:
    reconciler = rc.Reconciler([MemoryProvider(Db), Quoting(App)], state=store)
    db, chain = _chain(hops, nested)
    bad = attrs.evolve(chain[-1], name="bad")  # copies what the hop before it copied
    result = reconciler.apply(reconciler.plan([db, *chain[:-1], bad]))
    failed = result.outcome(rc.address_of(bad))
    assert failed.message is not None
    assert "ConnectionError" in failed.message
    assert SECRET not in failed.message + repr(result)
    assert SECRET not in _stored(store, tmp_path)


def test_a_plain_field_copied_down_a_chain_stays_in_clear(store: rc.State) -> None:
    reconciler = rc.Reconciler([MemoryProvider(Db), MemoryProvider(App)], state=store)
    db = Db("main", password=SECRET)
    first = App("hop1", dsn=rc.ref(db, "name"), note=rc.ref(db, "password"))
    second = App("hop2", dsn=rc.ref(first, "dsn"))
    shown = reconciler.plan([db, first, second]).render()
    assert shown.count('"main"') == 3, shown  # db, hop1 and hop2: the name is no secret
    assert shown.count("(sensitive)") == 2, shown  # db's password, hop1's note


def _short(_instance: Any, attribute: Any, value: str) -> None:
    if len(value) > 8:
        raise ValueError(f"{attribute.name} {value!r} is longer than 8 characters")


@rc.resource("t_ch_short")
class Short:
    name: str = rc.field(key=True)
    dsn: str = rc.field(default="", validator=_short)


@pytest.mark.parametrize("hops", [1, 2, 3, 4])
def test_a_validator_refusing_a_value_copied_down_a_chain_does_not_quote_it(hops: int) -> None:
    db, chain = _chain(hops - 1, nested=False) if hops > 1 else (_chain(1, False)[0], [])
    last: Any = chain[-1] if chain else db
    short = Short("s", dsn=rc.ref(last, "dsn" if chain else "password"))
    providers: list[rc.Provider[Any]] = [MemoryProvider(Db), MemoryProvider(App)]
    providers.append(MemoryProvider(Short))
    with pytest.raises(rc.InvalidStateError) as refused:
        rc.Reconciler(providers).plan([db, *chain, short])
    assert "t_ch_short[s]" in str(refused.value)
    assert "hidden" in str(refused.value)
    assert SECRET not in str(refused.value) + repr(refused.value.__cause__)


# -- any graph of copies: exactly the fields downstream of a secret are masked ---------

_SOURCES = st.sampled_from(["dsn", "note"])


@st.composite
def _graphs(draw: st.DrawFn) -> list[dict[str, tuple[int, str] | None]]:
    """For each app in turn, each of its two fields: a literal (None) or a copy of an
    earlier node's field; node 0 is the db (``password`` secret, ``name`` plain)."""
    apps = []
    for n in range(1, draw(st.integers(1, 6)) + 1):
        fields: dict[str, tuple[int, str] | None] = {}
        for name in ("dsn", "note"):
            source = draw(st.none() | st.integers(0, n - 1))
            if source is None:
                fields[name] = None
            elif source == 0:
                fields[name] = (0, draw(st.sampled_from(["password", "name"])))
            else:
                fields[name] = (source, draw(_SOURCES))
        apps.append(fields)
    return apps


@settings(deadline=None)
@given(graph=_graphs())
def test_exactly_the_fields_downstream_of_a_secret_are_masked(
    graph: list[dict[str, tuple[int, str] | None]],
) -> None:
    db = Db("main", password=SECRET)
    nodes: list[Any] = [db]
    tainted: set[tuple[int, str]] = {(0, "password")}
    expected: dict[str, list[str]] = {}
    for n, fields in enumerate(graph, start=1):
        values: dict[str, Any] = {}
        for name, source in fields.items():
            values[name] = "plain" if source is None else rc.ref(nodes[source[0]], source[1])
            if source in tainted:
                tainted.add((n, name))
        nodes.append(App(f"n{n}", **values))
        expected[f"t_ch_app[n{n}]"] = sorted(name for name in fields if (n, name) in tainted)
    plan = rc.Reconciler([MemoryProvider(Db), MemoryProvider(App)]).plan(nodes)
    assert SECRET not in _texts(plan)
    masked = {
        c["address"]: c["change"]["after_sensitive"]
        for c in json.loads(plan.to_json())["resource_changes"]
    }
    assert {a: masked[a] for a in expected} == expected


# -- the saved plan's list of copied secrets -------------------------------------------


def _saved_entries(hops: int) -> tuple[list[Any], dict[str, Any]]:
    db, chain = _chain(hops, nested=False)
    plan = rc.Reconciler([MemoryProvider(Db), MemoryProvider(App)]).plan([db, *chain])
    return [db, *chain], json.loads(plan.to_json())


def test_a_saved_plan_lists_each_steps_copied_secrets() -> None:
    _desired, doc = _saved_entries(3)
    listed = {c["address"]: c["copied_sensitive"] for c in doc["resource_changes"]}
    assert listed == {
        "t_ch_db[main]": [],
        "t_ch_app[hop1]": ["dsn"],
        "t_ch_app[hop2]": ["dsn"],
        "t_ch_app[hop3]": ["dsn"],
    }


def test_a_plan_saved_without_the_list_keeps_the_first_hop_masked() -> None:
    """A plan an older version saved: its references still name the sensitive field."""
    _desired, doc = _saved_entries(2)
    for entry in doc["resource_changes"]:
        del entry["copied_sensitive"]
    steps = {s.address: s for s in rc.Plan.from_json(json.dumps(doc)).steps}
    assert steps["t_ch_app[hop1]"].copied_sensitive == {"dsn"}


def test_a_saved_plan_whose_list_is_not_field_names_is_refused_by_place() -> None:
    _desired, doc = _saved_entries(2)
    doc["resource_changes"][2]["copied_sensitive"] = [3]
    with pytest.raises(rc.InvalidStateError) as refused:
        rc.Plan.from_json(json.dumps(doc))
    assert "resource_changes[2] (t_ch_app[hop2])" in str(refused.value)
    assert "copied_sensitive" in str(refused.value)


@HOPS
@NESTED
def test_pruning_a_chain_shows_what_it_deletes_masked(
    store: rc.State, tmp_path: Path, hops: int, nested: bool
) -> None:
    """A hop no longer desired has no references left to say what is secret: its record,
    which keeps the copied field as a digest, does."""
    reconciler = rc.Reconciler([MemoryProvider(Db), Quoting(App)], state=store)
    db, chain = _chain(hops, nested)
    assert reconciler.apply(reconciler.plan([db, *chain])).ok
    pruned = reconciler.plan([db])
    assert sum(s.action is rc.Action.DELETE for s in pruned.steps) == hops
    assert SECRET not in _texts(pruned)
    saved = rc.Plan.from_json(pruned.to_json())  # re-read as the planner read it: not stale
    assert reconciler.apply(saved, desired=[db]).ok
    assert SECRET not in _stored(store, tmp_path)


@HOPS
def test_a_hop_that_stops_copying_shows_the_old_secret_masked_and_then_is_plain(
    store: rc.State, tmp_path: Path, hops: int
) -> None:
    """The copy is replaced by a literal: the plan masks what exists (its record kept a
    digest); once applied, the field is plain again, so a later drift shows in clear."""
    apps = Quoting(App)
    reconciler = rc.Reconciler([MemoryProvider(Db), apps], state=store)
    db, chain = _chain(hops, nested=False)
    assert reconciler.apply(reconciler.plan([db, *chain])).ok
    desired = [db, *chain[:-1], attrs.evolve(chain[-1], dsn="plain-now")]
    plan = reconciler.plan(desired)
    assert SECRET not in _texts(plan)
    saved = rc.Plan.from_json(plan.to_json())
    assert reconciler.apply(saved, desired=desired).ok
    assert SECRET not in _stored(store, tmp_path)
    apps.drift(rc.address_of(chain[-1]), dsn="changed-by-hand")
    assert '"changed-by-hand" -> "plain-now"' in reconciler.plan(desired).render()
