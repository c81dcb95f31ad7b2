"""The whole public API as one state machine: every path a user combines, in any order.

Hypothesis drives a ``Reconciler`` over recorded state in a real SQLite file and
three fault-injecting ``MemoryProvider`` worlds. Its rules interleave what a user
does: declare and drop resources (references to provider-assigned ids, readable
and write-only secrets, create-before-destroy, ``moved`` renames), plan, save the
plan to JSON and load it back, apply fresh or saved plans with or without the
desired state again, converge, import, change the world by hand, restart the
process, crash between a provider write and its record, and suffer transient
read and write faults. After every step:

- nothing but an expected ``ReconcileError`` escapes (a stale saved plan is
  expected; an ``ObserveError`` from a fault the retry policy covers is not);
- recorded state agrees with the world, except where a hand or a crash changed
  the world since; nothing the engine made is left unrecorded; no secret is in
  the database file in clear;
- after a converge, the world equals the desired state, nothing is orphaned or
  recorded twice, and the next plan is empty.
"""

from __future__ import annotations

import inspect
import itertools
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

import reconcile as rc
from reconcile.testing import MemoryProvider, SimulatedClock
from tests.crashes import Crash, Fuse, InlineExecutor

# -- the resources: references, replace fields, secrets ----------------------------------

#: Write-only secrets (the provider never reads them back) need ``write_only``; without
#: it the secret is only ``sensitive``, and the world still cannot read it back.
WRITE_ONLY = "write_only" in inspect.signature(rc.field).parameters
_SECRET_FLAGS: dict[str, Any] = {"sensitive": True, **({"write_only": True} if WRITE_ONLY else {})}


@rc.resource("wm_group")
class Group:
    name: str = rc.field(key=True)
    label: str = "a"
    region: str = rc.field(default="r1", replace=True)
    id: str | None = rc.field(default=None, computed=True)


@rc.resource("wm_member")
class Member:
    name: str = rc.field(key=True)
    group_id: str | None = None
    size: int = 1
    tier: str = rc.field(default="t1", replace=True)
    token: str = rc.field(default="", sensitive=True)
    id: str | None = rc.field(default=None, computed=True)


@rc.resource("wm_secret")
class Secret:
    name: str = rc.field(key=True)
    password: str | None = rc.field(default=None, **_SECRET_FLAGS)
    version: int = 1
    id: str | None = rc.field(default=None, computed=True)


KINDS = (Group, Member, Secret)
GROUPS, MEMBERS, SECRETS = ("g1", "g2"), ("m1", "m2", "m3", "m4"), ("s1", "s2")
#: Secret values: distinctive enough that finding one in a file means it leaked.
PASSWORDS = ("pw-Alpha-7f3c", "pw-Bravo-91e2")
TOKENS = ("", "tok-Xray-5d1a", "tok-Yank-22b8")
#: Every secret value a model ever uses, readable or not, declared or drifted by hand.
SECRET_VALUES = (*PASSWORDS, *TOKENS[1:], "tok-Zulu-0b7e")
_CBD = rc.Lifecycle(create_before_destroy=True)
_BY_KIND = {"wm_group": Group, "wm_member": Member, "wm_secret": Secret}


def _cls_of(address: str) -> type[Any]:
    return _BY_KIND[address.split("[", 1)[0]]


def _name_of(address: str) -> str:
    return address.split("[", 1)[1].rstrip("]")


# -- the world: providers that can crash mid-write ------------------------------------------


class Live(MemoryProvider[Any]):
    """A ``MemoryProvider`` whose writes go through the fuse; ``fill`` assigns fresh ids."""

    def __init__(self, cls: type[Any], fuse: Fuse, ids: Iterator[int]) -> None:
        prefix = cls.__name__.lower()

        def fill(res: Any) -> Any:
            return res if res.id is not None else attrs.evolve(res, id=f"{prefix}-{next(ids)}")

        super().__init__(cls, fill=fill)
        self.fuse = fuse

    def create(self, want: Any) -> Any:
        return self.fuse.write(rc.address_of(want), lambda: MemoryProvider.create(self, want))

    def update(self, have: Any, want: Any, diff: rc.Diff) -> Any:
        call = lambda: MemoryProvider.update(self, have, want, diff)  # noqa: E731
        return self.fuse.write(rc.address_of(want), call)

    def delete(self, have: Any) -> None:
        self.fuse.write(rc.address_of(have), lambda: MemoryProvider.delete(self, have))


class Vault(Live):
    """Secrets as most APIs keep them: a password is written, never read back."""

    def read(self, want: Any) -> Any:
        found = super().read(want)
        return None if found is None else attrs.evolve(found, password=None)

    def list(self) -> Any:
        return [attrs.evolve(s, password=None) for s in super().list()]

    def delete(self, have: Any) -> None:
        stored = self.get(rc.address_of(have))
        same = stored is not None and attrs.evolve(stored, password=None) == have
        super().delete(stored if same else have)  # what was read, whatever its password


@attrs.frozen
class Saved:
    """A plan saved to JSON, with what it was made from (to tell stale from wrong)."""

    text: str
    desired: tuple[Any, ...]
    epoch: int
    needs_desired: bool


def _needs_desired(plan: rc.Plan) -> bool:
    """Whether applying ``plan`` from JSON needs the desired state: it changes a secret."""
    return any(
        s.action in (rc.Action.CREATE, rc.Action.UPDATE, rc.Action.REPLACE)
        and any(isinstance(v, rc.Redacted) for v in (s.after or {}).values())
        for s in plan.steps
    )


def _world_doc(res: Any) -> dict[str, Any]:
    return attrs.asdict(res, filter=lambda a, _: a.name not in ("depends_on", "lifecycle"))


# -- the machine -------------------------------------------------------------------------------


class WholeApi(RuleBasedStateMachine):
    """A user, a world and recorded state; the model knows what each should hold."""

    saved = Bundle("saved")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="rc_model_"))
        self.fuse = Fuse()
        ids = itertools.count(1)
        self.worlds: dict[type[Any], Live] = {
            Group: Live(Group, self.fuse, ids),
            Member: Live(Member, self.fuse, ids),
            Secret: Vault(Secret, self.fuse, ids),
        }
        self.state: rc.State = self.open_state()
        self.reconciler = self.new_reconciler()
        self.desired: dict[str, Any] = {}
        self.moves: list[rc.Moved] = []
        self.foreign: set[str] = set()  # put by hand, never managed
        self.dirty: set[str] = set()  # changed by hand or by a crash since the last converge
        self.injected: dict[tuple[type[Any], str], int] = {}
        self.epoch = 0  # bumps whenever the world or recorded state may have changed
        self.crashed = False

    # -- plumbing ----------------------------------------------------------------

    def open_state(self) -> rc.State:
        return rc.SQLiteState(self.folder / "state.db")

    def close_state(self) -> None:
        if isinstance(self.state, rc.SQLiteState):
            self.state.close()

    def new_reconciler(self) -> rc.Reconciler:
        return rc.Reconciler(
            list(self.worlds.values()),
            state=self.state,
            executor=InlineExecutor(),
            parallelism=1,
            clock=SimulatedClock(),
        )

    def teardown(self) -> None:
        self.close_state()
        shutil.rmtree(self.folder, ignore_errors=True)

    def wanted(self) -> list[Any]:
        return [*self.desired.values(), *self.moves]

    def world(self) -> dict[str, Any]:
        return {rc.address_of(o): o for w in self.worlds.values() for o in w}

    def world_of(self, address: str) -> Any:
        return self.worlds[_cls_of(address)].get(address)

    def records(self) -> dict[str, rc.Record]:
        return dict(self.state.snapshot().records)

    def changed(self) -> None:
        self.epoch += 1

    def expecting(self, call: Callable[[], Any], *allowed: type[BaseException]) -> Any:
        """Run ``call``; the errors in ``allowed`` are noted and swallowed, others fail."""
        try:
            return call()
        except allowed as err:
            note(f"expected {type(err).__name__}: {err}")
            return None

    # -- desired state -------------------------------------------------------------

    def declare(self, res: Any) -> None:
        address = rc.address_of(res)
        self.desired[address] = res
        # Declaring the old address again abandons the rename (both would be recorded):
        # what was renamed by hand is then nobody's, as if put there by hand.
        abandoned = [m for m in self.moves if m.old == address]
        self.foreign |= {m.new for m in abandoned if self.world_of(m.new) is not None}
        self.moves = [m for m in self.moves if m not in abandoned]

    @rule(
        name=st.sampled_from(GROUPS),
        label=st.sampled_from("ab"),
        region=st.sampled_from(["r1", "r2"]),
        cbd=st.booleans(),
    )
    def declare_group(self, name: str, label: str, region: str, cbd: bool) -> None:
        self.declare(Group(name, label, region, lifecycle=_CBD if cbd else None))

    @rule(
        name=st.sampled_from(MEMBERS),
        group=st.sampled_from(["ref", "ref", None, "literal"]),
        size=st.integers(1, 3),
        tier=st.sampled_from(["t1", "t2"]),
        token=st.sampled_from(TOKENS),
        cbd=st.booleans(),
        data=st.data(),
    )
    def declare_member(
        self, name: str, group: str | None, size: int, tier: str, token: str, cbd: bool, data: Any
    ) -> None:
        """A member in a declared group (a reference to its id), in none, or in a literal one."""
        group_id: Any = group
        if group == "ref":
            groups = sorted(a for a in self.desired if a.startswith("wm_group["))
            target = data.draw(st.sampled_from(groups), label="group") if groups else None
            group_id = None if target is None else rc.ref(target, "id")
        lifecycle = _CBD if cbd else None
        self.declare(Member(name, group_id, size, tier, token, lifecycle=lifecycle))

    @rule(
        name=st.sampled_from(SECRETS),
        password=st.sampled_from(PASSWORDS),
        version=st.integers(1, 2),
    )
    def declare_secret(self, name: str, password: str, version: int) -> None:
        self.declare(Secret(name, password, version))

    @precondition(lambda self: self.desired)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        address = data.draw(st.sampled_from(sorted(self.desired)), label="drop")
        del self.desired[address]
        for other, res in list(self.desired.items()):
            if isinstance(res, Member) and getattr(res.group_id, "address", None) == address:
                self.desired[other] = attrs.evolve(res, group_id=None)

    @precondition(lambda self: any(isinstance(r, Member) for r in self.desired.values()))
    @rule(data=st.data())
    def rename_member(self, data: st.DataObject) -> None:
        """Rename a member in the world and declare ``moved``, as a user renaming one would."""
        records = self.records()
        taken = set(self.desired) | set(self.world()) | set(records)
        taken |= {a for m in self.moves for a in (m.old, m.new)}
        olds = [
            a
            for a, r in sorted(self.desired.items())
            if isinstance(r, Member)
            and a in records
            and self.world_of(a) is not None
            and not any(a in (m.old, m.new) for m in self.moves)
        ]
        news = [f"wm_member[{n}]" for n in MEMBERS if f"wm_member[{n}]" not in taken]
        if not olds or not news:
            return
        old = data.draw(st.sampled_from(olds), label="rename")
        new = data.draw(st.sampled_from(news), label="to")
        world = self.worlds[Member]
        live = world.get(old)
        world.remove(old)
        world.put(attrs.evolve(live, name=_name_of(new)))
        self.desired[new] = attrs.evolve(self.desired.pop(old), name=_name_of(new))
        self.moves.append(rc.moved(old, new))
        self.dirty |= {old, new}
        self.changed()

    # -- the world, by hand --------------------------------------------------------------

    @precondition(lambda self: self.world())
    @rule(data=st.data(), how=st.sampled_from(["field", "delete"]))
    def drift(self, data: st.DataObject, how: str) -> None:
        address = data.draw(st.sampled_from(sorted(self.world())), label="drift")
        world = self.worlds[_cls_of(address)]
        if how == "delete":
            world.remove(address)
            self.foreign.discard(address)
        else:
            live = world.get(address)
            changes = {
                Group: lambda: {"label": "z"},
                Member: lambda: {"size": live.size + 1, "token": "tok-Zulu-0b7e"},
                Secret: lambda: {"version": live.version + 10},
            }[type(live)]()
            world.drift(address, **changes)
        self.dirty.add(address)
        self.changed()

    @rule(
        kind=st.sampled_from(KINDS),
        name=st.sampled_from(sorted({*GROUPS, *MEMBERS, *SECRETS})),
    )
    def put_by_hand(self, kind: type[Any], name: str) -> None:
        """Something appears that nobody declared: unmanaged, unless declared or imported."""
        res = kind(name, id=f"hand-{name}")
        address = rc.address_of(res)
        if self.world_of(address) is not None or address in self.records():
            return
        if kind is Secret and address in self.desired:
            return  # its password cannot be read: adopting it could never notice the value
        self.worlds[kind].put(res)
        self.foreign.add(address)
        self.dirty.add(address)
        self.changed()

    @rule(
        kind=st.sampled_from(KINDS),
        method=st.sampled_from(["read", "list", "create", "update", "delete"]),
    )
    def transient_fault(self, kind: type[Any], method: str) -> None:
        """The next call of ``method`` fails once with ``TransientError``, at most twice
        outstanding, so the retry policy's five attempts always get through."""
        world = self.worlds[kind]
        failed = sum(1 for c in world.history if c.method == method and c.failed)
        if self.injected.get((kind, method), 0) - failed >= 2:
            return
        self.injected[(kind, method)] = self.injected.get((kind, method), 0) + 1
        world.fail_transiently(method)

    # -- the engine ------------------------------------------------------------------

    def checked_plan(self) -> rc.Plan:
        plan = self.reconciler.plan(self.wanted())
        text = plan.to_json()
        shown = plan.render()
        for secret in SECRET_VALUES:
            assert secret not in text, f"{secret} in a plan's JSON"
            assert secret not in shown, f"{secret} in a rendered plan"
        assert rc.Plan.from_json(text).to_json() == text, "a plan's JSON does not round-trip"
        note(shown)
        return plan

    @rule(target=saved)
    def plan_and_save(self) -> Saved:
        plan = self.checked_plan()
        self.after_recovery()
        return Saved(plan.to_json(), tuple(self.wanted()), self.epoch, _needs_desired(plan))

    @rule(through_json=st.booleans(), with_desired=st.booleans())
    def plan_and_apply(self, through_json: bool, with_desired: bool) -> None:
        """Plan and apply at once; the plan may take a round trip through JSON first."""
        plan = self.checked_plan()
        self.after_recovery()
        if through_json:
            plan = rc.Plan.from_json(plan.to_json())
        allowed: tuple[type[BaseException], ...] = ()
        if through_json and not with_desired and _needs_desired(plan):
            allowed = (rc.PlanNeedsDesiredStateError,)
        desired = self.wanted() if with_desired else None
        result = self.expecting(lambda: self.reconciler.apply(plan, desired=desired), *allowed)
        self.changed()
        if result is None:
            return
        assert result.ok, [(o.address, o.status, repr(o.error)) for o in result.outcomes]
        after = self.checked_plan()
        assert after.is_empty, f"applying a fresh plan left work to do:\n{after.render()}"

    @rule(saved=saved, with_desired=st.booleans())
    def apply_saved(self, saved: Saved, with_desired: bool) -> None:
        fresh = saved.epoch == self.epoch
        allowed: list[type[BaseException]] = []
        if not fresh:
            allowed.append(rc.StalePlanError)
        if not with_desired and saved.needs_desired:
            allowed.append(rc.PlanNeedsDesiredStateError)
        plan = rc.Plan.from_json(saved.text)
        desired = list(saved.desired) if with_desired else None
        result = self.expecting(lambda: self.reconciler.apply(plan, desired=desired), *allowed)
        self.changed()
        if result is not None and fresh:
            assert result.ok, [(o.address, o.status, repr(o.error)) for o in result.outcomes]

    @rule()
    def converge(self) -> None:
        report = self.reconciler.converge(self.wanted())
        self.changed()
        self.after_recovery()
        assert report.converged, [r.plan.render() for r in report.rounds]
        self.check_converged()

    @rule(
        op=st.sampled_from(["apply", "converge"]),
        nth=st.integers(1, 4),
        after=st.booleans(),
    )
    def crash(self, op: str, nth: int, after: bool) -> None:
        """Kill the process at the ``nth`` provider write (before it, or after it and
        before its record), then start a new process on the same state file."""
        wanted = self.wanted()
        r = self.reconciler
        action = (
            (lambda: r.apply(r.plan(wanted))) if op == "apply" else (lambda: r.converge(wanted))
        )
        self.fuse.arm(nth, after)
        try:
            action()
            self.after_recovery()
        except Crash:
            note(f"crashed at {self.fuse.blown_at} ({'after' if after else 'before'} the write)")
            assert self.fuse.blown_at is not None
            self.dirty.add(self.fuse.blown_at)
            # Steps in flight (a replace between its delete and its create, a retry
            # waiting) left their intents open: their records wait for recovery too.
            self.dirty |= {i.address for i in self.state.snapshot().intents}
            self.crashed = True
            self.restart()
        finally:
            self.fuse.disarm()
            self.changed()

    @rule()
    def restart(self) -> None:
        """A new process: the state file opened again, a new reconciler."""
        self.close_state()
        self.state = self.open_state()
        self.reconciler = self.new_reconciler()

    @precondition(lambda self: self.world())
    @rule(data=st.data())
    def import_(self, data: st.DataObject) -> None:
        address = data.draw(st.sampled_from(sorted(self.world())), label="import")
        recorded = address in self.records() or self.crashed
        kind = _cls_of(address)
        allowed = (rc.StateError,) if recorded else ()
        found = self.expecting(lambda: self.reconciler.import_(kind(_name_of(address))), *allowed)
        if found is not None:
            self.foreign.discard(address)
            self.moves = [m for m in self.moves if address not in (m.old, m.new)]
            self.changed()

    def after_recovery(self) -> None:
        self.crashed = False

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def recorded_state_agrees_with_the_world(self) -> None:
        snapshot = self.state.snapshot()
        self.foreign -= set(snapshot.records)  # adopted or imported: managed from now on
        if not self.crashed:
            assert snapshot.intents == (), f"intents left open: {snapshot.intents}"
        world = self.world()
        for address, record in snapshot.records.items():
            if "~deposed-" in address or address in self.dirty:
                continue
            live = world.get(address)
            assert live is not None, f"{address} is recorded but does not exist"
            assert dict(record.outputs) == {"id": live.id}, (record, live)
            for name, value in _world_doc(live).items():
                kept = record.spec.get(name)
                if name in ("id", "name") or (isinstance(kept, dict) and "$sensitive" in kept):
                    continue  # a moved record keeps its old key until rewritten, read by address
                assert kept == value, f"{address}.{name}: recorded {kept!r}, live {value!r}"
        managed = {a.split("~deposed-", 1)[0] for a in snapshot.records}
        for address in world:
            assert address in managed | self.foreign | self.dirty, f"{address} is orphaned"

    @invariant()
    def no_secret_in_clear_in_records(self) -> None:
        for record in self.state.snapshot().records.values():
            kept = json.dumps([record.spec, record.outputs], default=repr)
            for secret in SECRET_VALUES:
                assert secret not in kept, f"{secret} is in the record of {record.address}"

    @invariant()
    def no_secret_in_clear_on_disk(self) -> None:
        for path in self.folder.iterdir():
            data = path.read_bytes()
            for secret in SECRET_VALUES:
                assert secret.encode() not in data, f"{secret} is in {path.name} in clear"

    def check_converged(self) -> None:
        world, records = self.world(), self.records()
        unmanaged = {a for a in self.foreign if a not in records}
        assert set(world) == set(self.desired) | unmanaged, (sorted(world), sorted(self.desired))
        assert set(records) == set(self.desired), (sorted(records), sorted(self.desired))
        for address, want in self.desired.items():
            live = world[address]
            expected = _world_doc(want)
            if isinstance(want, Member) and isinstance(want.group_id, rc.Ref):
                expected["group_id"] = world[want.group_id.address].id
            expected["id"] = live.id
            assert _world_doc(live) == expected, f"{address}: live {live!r}, desired {want!r}"
        orphans = {rc.address_of(o) for o in self.reconciler.orphans(self.wanted())}
        assert orphans == unmanaged, (orphans, unmanaged)
        again = self.checked_plan()
        assert again.is_empty, f"converged, yet the next plan has work:\n{again.render()}"
        self.dirty.clear()
        self.foreign = unmanaged


class WholeApiInMemory(WholeApi):
    """The same user and world over ``MemoryState``: a restart keeps the one state object."""

    def open_state(self) -> rc.State:
        if not hasattr(self, "memory"):
            self.memory = rc.MemoryState()
        return self.memory


#: Twice the profile's examples (300 under ``ci``): each is cheap, and the paths that
#: combine a reference, a no-op and a second apply are rare among random steps.
_MACHINE = settings(stateful_step_count=30, max_examples=2 * settings.default.max_examples)
TestWholeApi = WholeApi.TestCase
TestWholeApi.settings = _MACHINE
TestWholeApiInMemory = WholeApiInMemory.TestCase
TestWholeApiInMemory.settings = _MACHINE
