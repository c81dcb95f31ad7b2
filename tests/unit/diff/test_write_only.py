"""Write-only fields: secrets an API accepts and never returns.

A provider whose ``read`` cannot return a password must still converge: the
engine compares the desired value's salted digest with the digest of the last
applied value in recorded state, never with what the read returned. The value
itself is never shown or stored in clear.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import MemoryProvider, ProviderConformance, strategies
from tests.crashes import Crash, InlineExecutor

SECRET = "pw-hunter2-7f3a"
ROTATED = "pw-rotated-91c4"


@rc.resource("wo_user")
class User:
    name: str = rc.field(key=True)
    role: str = "dev"
    password: str = rc.field(default="", sensitive=True, write_only=True)


@rc.resource("wo_seed")
class Seed:
    """A write-only field that is not secret: shown in plans, kept in state as it is."""

    name: str = rc.field(key=True)
    initial: str = rc.field(default="", write_only=True)


@pytest.fixture
def state(store: rc.State) -> rc.State:
    """Each state store in turn (the unit tests' shared ``store``)."""
    return store


def _world(state: rc.State | None) -> tuple[rc.Reconciler, MemoryProvider[User]]:
    users = MemoryProvider(User)
    return rc.Reconciler([users], state=state), users


def test_memory_provider_reads_write_only_fields_blank() -> None:
    users = MemoryProvider(User)
    made = users.create(User("ann", password=SECRET))
    assert made.password == ""
    assert users.read(User("ann")) == User("ann")
    assert [u.password for u in users.list()] == [""]
    assert users.get("wo_user[ann]") == User("ann", password=SECRET), "the store keeps it"
    users.delete(User("ann"))
    assert users.get("wo_user[ann]") is None, "a delete with the read object still deletes"


def test_memory_provider_reads_in_batches_blank_too(state: rc.State) -> None:
    users = MemoryProvider(User, batch_reads=True)
    users.create(User("ann", password=SECRET))
    assert users.read_many([User("ann")]) == [User("ann")]
    reconciler = rc.Reconciler([users], state=state)
    assert reconciler.converge([User("ann", password=SECRET), User("bob")]).converged
    assert reconciler.plan([User("ann", password=SECRET), User("bob")]).is_empty


def test_memory_provider_can_reveal_write_only_fields() -> None:
    users = MemoryProvider(User, reveal_write_only=True)
    users.create(User("ann", password=SECRET))
    assert users.read(User("ann")) == User("ann", password=SECRET)


def test_a_secret_the_provider_never_returns_converges(state: rc.State) -> None:
    reconciler, users = _world(state)
    report = reconciler.converge([User("ann", password=SECRET)])
    assert report.converged
    assert len(report.rounds) == 2, "one apply, then an empty plan"
    assert reconciler.plan([User("ann", password=SECRET)]).is_empty
    assert users.get("wo_user[ann]") == User("ann", password=SECRET)


def test_a_changed_secret_is_an_update_that_shows_no_value(state: rc.State) -> None:
    reconciler, users = _world(state)
    reconciler.converge([User("ann", password=SECRET)])
    plan = reconciler.plan([User("ann", password=ROTATED)])
    (step,) = plan.changes
    assert step.action is rc.Action.UPDATE
    assert [c.path for c in step.diff] == [("password",)]
    assert "~ password = (sensitive) -> (sensitive)" in plan.render()
    for text in (plan.render(), plan.to_json(), repr(plan)):
        assert SECRET not in text
        assert ROTATED not in text
    assert reconciler.apply(plan).ok
    assert users.get("wo_user[ann]") == User("ann", password=ROTATED)
    assert reconciler.plan([User("ann", password=ROTATED)]).is_empty


def test_another_field_changing_leaves_the_secret_alone(state: rc.State) -> None:
    reconciler, _users = _world(state)
    reconciler.converge([User("ann", password=SECRET)])
    (step,) = reconciler.plan([User("ann", role="ops", password=SECRET)]).changes
    assert [c.path for c in step.diff] == [("role",)]


def test_a_saved_plan_applies_with_the_desired_state_again(tmp_path: Path) -> None:
    state = rc.SQLiteState(tmp_path / "state.db")
    reconciler, users = _world(state)
    reconciler.converge([User("ann", password=SECRET)])
    text = reconciler.plan([User("ann", password=ROTATED)]).to_json()
    assert SECRET not in text
    assert ROTATED not in text
    saved = rc.Plan.from_json(text)
    with pytest.raises(rc.PlanNeedsDesiredStateError):
        reconciler.apply(saved)
    with pytest.raises(rc.StalePlanError, match="password changed since planning"):
        reconciler.apply(saved, desired=[User("ann", password="pw-other-0000")])
    assert reconciler.apply(saved, desired=[User("ann", password=ROTATED)]).ok
    assert users.get("wo_user[ann]") == User("ann", password=ROTATED)
    assert reconciler.plan([User("ann", password=ROTATED)]).is_empty
    state.close()


def test_a_saved_plan_with_a_write_only_noop_applies(tmp_path: Path) -> None:
    """A saved plan whose other resource is in sync (a no-op read again at apply)."""
    state = rc.SQLiteState(tmp_path / "state.db")
    reconciler, users = _world(state)
    both = [User("ann", password=SECRET), User("bob", password=SECRET)]
    reconciler.converge(both)
    rotated = [User("ann", password=ROTATED), User("bob", password=SECRET)]
    saved = rc.Plan.from_json(reconciler.plan(rotated).to_json())
    assert reconciler.apply(saved, desired=rotated).ok
    assert users.get("wo_user[ann]") == User("ann", password=ROTATED)
    assert reconciler.plan(rotated).is_empty
    state.close()


class CrashAfterWrite(rc.Provider[User]):
    """Writes through to ``inner``, then dies before the engine can record the write."""

    resource = User
    blocking_io = False

    def __init__(self, inner: MemoryProvider[User]) -> None:
        self.inner = inner

    def read(self, want: User) -> User | None:
        return self.inner.read(want)

    def create(self, want: User) -> User:
        self.inner.create(want)
        raise Crash

    def update(self, have: User, want: User, diff: rc.Diff) -> User:
        self.inner.update(have, want, diff)
        raise Crash

    def delete(self, have: User) -> None:
        self.inner.delete(have)
        raise Crash


@pytest.mark.parametrize("before", [[], [User("ann", password=SECRET)]], ids=["create", "update"])
def test_a_crash_after_writing_the_secret_recovers_and_converges(
    state: rc.State, before: list[User]
) -> None:
    users = MemoryProvider(User)
    rc.Reconciler([users], state=state).converge(before)
    crashing = rc.Reconciler([CrashAfterWrite(users)], state=state, executor=InlineExecutor())
    with pytest.raises(Crash):
        crashing.apply(crashing.plan([User("ann", password=ROTATED)]))
    assert state.snapshot().intents, "the crash left no open intent to recover"
    after = rc.Reconciler([users], state=state)
    assert after.converge([User("ann", password=ROTATED)]).converged
    assert users.get("wo_user[ann]") == User("ann", password=ROTATED)
    assert after.plan([User("ann", password=ROTATED)]).is_empty


def test_a_crash_after_writing_a_new_secret_then_going_back_to_the_old_one_writes_it(
    state: rc.State,
) -> None:
    """Found by the whole-API state machine: after an interrupted rotation, nothing can
    tell whether the new secret reached the API, so asking for the old one again must
    write it, not trust the old digest (the live object may hold the new one)."""
    users = MemoryProvider(User)
    rc.Reconciler([users], state=state).converge([User("ann", password=SECRET)])
    crashing = rc.Reconciler([CrashAfterWrite(users)], state=state, executor=InlineExecutor())
    with pytest.raises(Crash):
        crashing.apply(crashing.plan([User("ann", password=ROTATED)]))
    assert users.get("wo_user[ann]") == User("ann", password=ROTATED), "the write happened"
    after = rc.Reconciler([users], state=state)
    assert after.converge([User("ann", password=SECRET)]).converged
    assert users.get("wo_user[ann]") == User("ann", password=SECRET)
    assert after.plan([User("ann", password=SECRET)]).is_empty


def test_the_secret_is_nowhere_in_clear(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "state.db"
    state = rc.SQLiteState(path)
    reconciler, _ = _world(state)
    reconciler.converge([User("ann", password=SECRET)])
    reconciler.converge([User("ann", password=ROTATED)])
    journal = [e.plan or "" for e in state.history()]
    state.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for secret in (SECRET, ROTATED):
        assert secret.encode() not in stored
        assert all(secret not in plan for plan in journal)
        assert secret not in caplog.text


def test_without_recorded_state_an_existing_secret_is_unknown_and_left_alone() -> None:
    reconciler, _users = _world(None)
    assert reconciler.converge([User("ann", password=SECRET)]).converged
    assert reconciler.plan([User("ann", password=SECRET)]).is_empty
    # Nothing remembers what was written: a new value cannot be told from the old one.
    assert reconciler.plan([User("ann", password=ROTATED)]).is_empty


def test_an_adopted_thing_gets_its_secret_written_once(state: rc.State) -> None:
    reconciler, users = _world(state)
    users.put(User("ann", password="pw-unknown-5555"))
    (step,) = reconciler.plan([User("ann", password=SECRET)]).changes
    assert step.action is rc.Action.UPDATE
    assert [c.path for c in step.diff] == [("password",)]
    assert reconciler.converge([User("ann", password=SECRET)]).converged
    assert users.get("wo_user[ann]") == User("ann", password=SECRET)
    assert reconciler.plan([User("ann", password=SECRET)]).is_empty


def test_an_imported_thing_gets_its_secret_written_once(state: rc.State) -> None:
    reconciler, users = _world(state)
    users.put(User("ann", password="pw-unknown-5555"))
    reconciler.import_(User("ann"))
    assert reconciler.plan([User("ann", password=SECRET)]).changes
    assert reconciler.converge([User("ann", password=SECRET)]).converged
    assert users.get("wo_user[ann]") == User("ann", password=SECRET)


def test_drift_in_a_write_only_field_is_not_seen(state: rc.State) -> None:
    """What cannot be read cannot drift: only the desired value moving is a change."""
    reconciler, users = _world(state)
    reconciler.converge([User("ann", password=SECRET)])
    users.drift("wo_user[ann]", password="pw-by-hand-3333")
    assert reconciler.plan([User("ann", password=SECRET)]).is_empty


def test_a_write_only_field_that_is_not_sensitive_is_compared_in_clear(state: rc.State) -> None:
    seeds = MemoryProvider(Seed)
    reconciler = rc.Reconciler([seeds], state=state)
    assert reconciler.converge([Seed("a", "first")]).converged
    assert reconciler.plan([Seed("a", "first")]).is_empty
    plan = reconciler.plan([Seed("a", "second")])
    assert '~ initial = "first" -> "second"' in plan.render()
    assert reconciler.converge([Seed("a", "second")]).converged
    assert seeds.get("wo_seed[a]") == Seed("a", "second")


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        ({"key": True}, "cannot be a key"),
        ({"computed": True, "default": None}, "cannot be a key, computed or ignored"),
        ({"ignore": True, "default": ""}, "cannot be a key, computed or ignored"),
    ],
)
def test_write_only_refuses_flags_that_contradict_it(flags: dict[str, object], why: str) -> None:
    with pytest.raises(rc.DefinitionError, match=why):

        @rc.resource("wo_bad")
        class Bad:
            name: str = rc.field(key=True)
            token: str = rc.field(write_only=True, **flags)  # type: ignore[arg-type]


class TestWriteOnlyConformance(ProviderConformance):
    """A provider that never returns a write-only secret still passes the suite."""

    def make_provider(self) -> MemoryProvider[User]:
        return MemoryProvider(User)

    def resources(self) -> st.SearchStrategy[User]:
        return strategies.resources(
            User,
            name=st.text("abc", min_size=1, max_size=3),
            role=st.sampled_from(["dev", "ops"]),
            password=st.text("0123456789", max_size=6).map(lambda s: f"pw-{s}"),
        )
