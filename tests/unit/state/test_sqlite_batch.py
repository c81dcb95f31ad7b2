"""``State.batch()``: changes made inside commit together when the block ends.

SQLite stories use a second ``sqlite3`` connection (or another process) to see
what is committed: nothing of a batch until it ends, then all of it; a change
that raises inside is undone whole while the batch goes on; a block that raises
still commits what completed; a process killed inside loses the whole batch.
Both stores: a batch ends where the same changes without one would.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

import reconcile as rc


@pytest.fixture
def sqlite_state(tmp_path) -> Iterator[rc.SQLiteState]:
    state = rc.SQLiteState(tmp_path / "state.db")
    yield state
    state.close()


@contextlib.contextmanager
def _outside(state: rc.SQLiteState) -> Iterator[sqlite3.Connection]:
    """Another connection to the state file, in autocommit: it sees only what is committed."""
    db = sqlite3.connect(state.path, isolation_level=None, timeout=5)
    try:
        yield db
    finally:
        db.close()


def _count(db: sqlite3.Connection, table: str) -> int:
    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _addresses(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT address FROM resources")}


def _serial(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()[0])


def _record(name: str, **spec: object) -> rc.Record:
    return rc.Record(f"rs_a[{name}]", "rs_a", dict(spec))


# -- SQLite: what another connection sees ------------------------------------------------


def test_another_connection_sees_nothing_of_a_batch_until_it_ends_then_all(sqlite_state):
    sqlite_state.save(_record("before"))
    apply_id = sqlite_state.begin_apply(None, "{}", {})
    with _outside(sqlite_state) as db:
        with sqlite_state.batch():
            for n in range(3):
                sqlite_state.save(_record(str(n), n=n))
                assert _addresses(db) == {"rs_a[before]"}, "a save inside a batch was visible"
            sqlite_state.open_intent("rs_a[i]", "rs_a", "create", {}, apply_id)
            sqlite_state.journal_step(apply_id, rc.StepEntry("rs_a[0]", "create", "ok"))
            sqlite_state.forget("rs_a[before]")
            assert _count(db, "intents") == 0
            assert _count(db, "steps") == 0
            assert _addresses(db) == {"rs_a[before]"}
            assert _serial(db) == 1
        assert _addresses(db) == {"rs_a[0]", "rs_a[1]", "rs_a[2]"}
        assert [r[0] for r in db.execute("SELECT address FROM intents")] == ["rs_a[i]"]
        assert _count(db, "steps") == 1
        assert _serial(db) == 5


def test_a_change_that_raises_in_a_batch_leaves_no_trace_and_the_batch_goes_on(sqlite_state):
    sqlite_state.save(_record("x", v=1))
    sqlite_state.save(_record("y", v=2))
    with _outside(sqlite_state) as db:
        with sqlite_state.batch():
            sqlite_state.save(_record("early"))
            with pytest.raises(rc.StateError, match=r"rs_a\[y\] is already recorded"):
                sqlite_state.move("rs_a[x]", "rs_a[y]")
            with pytest.raises(rc.StateError, match="not recorded"):
                sqlite_state.move("rs_a[nope]", "rs_a[z]")
            sqlite_state.move("rs_a[x]", "rs_a[moved]")
            sqlite_state.save(_record("late"))
        assert _addresses(db) == {"rs_a[y]", "rs_a[moved]", "rs_a[early]", "rs_a[late]"}
        assert _serial(db) == 2 + 3, "a refused move must not count"
    records = sqlite_state.snapshot().records
    assert records["rs_a[moved]"].spec == {"v": 1}
    assert records["rs_a[y]"].spec == {"v": 2}


def test_a_change_that_fails_halfway_in_a_batch_is_undone_whole(sqlite_state):
    """save journals its step, then SQLite refuses the record's row: the step goes too.

    (A revision that is a tuple cannot be bound: the INSERT fails after the journal's.)
    """
    apply_id = sqlite_state.begin_apply(None, "{}", {})
    step = (apply_id, rc.StepEntry("rs_a[bad]", "create", "ok"))
    with _outside(sqlite_state) as db:
        with sqlite_state.batch():
            sqlite_state.journal_step(apply_id, rc.StepEntry("rs_a[first]", "create", "ok"))
            bad = rc.Record("rs_a[bad]", "rs_a", {}, revision=("not", "text"))  # type: ignore[arg-type]
            with pytest.raises(sqlite3.Error):
                sqlite_state.save(bad, step=step)
            assert [s.address for s in sqlite_state.entry(apply_id).steps] == ["rs_a[first]"]
            good = rc.StepEntry("rs_a[good]", "create", "ok")
            sqlite_state.save(_record("good"), step=(apply_id, good))
        assert [r[0] for r in db.execute("SELECT address FROM steps ORDER BY seq")] == [
            "rs_a[first]",
            "rs_a[good]",
        ], "the failed save's journal step was committed without its record"
        assert _addresses(db) == {"rs_a[good]"}
        assert _serial(db) == 1


def test_a_journal_step_for_an_unknown_apply_fails_alone_in_a_batch(sqlite_state):
    """A constraint error inside SQLite itself: that change is undone, not the batch."""
    with _outside(sqlite_state) as db:
        with sqlite_state.batch():
            sqlite_state.save(_record("a"))
            with pytest.raises(sqlite3.IntegrityError):
                sqlite_state.journal_step(10**6, rc.StepEntry("rs_a[a]", "create", "ok"))
            sqlite_state.save(_record("b"))
        assert _addresses(db) == {"rs_a[a]", "rs_a[b]"}
        assert _count(db, "steps") == 0


class _Boom(Exception):
    pass


def _raise_inside_a_batch(state: rc.State, error: type[BaseException], name: str) -> None:
    """Save ``name`` and open an intent in a batch, then fail with ``error`` inside it."""
    with state.batch():
        state.save(_record(name))
        state.open_intent(f"rs_a[{name}-intent]", "rs_a", "create", {}, None)
        raise error("the caller's own failure")


@pytest.mark.parametrize("error", [_Boom, KeyboardInterrupt])
def test_an_error_escaping_the_block_still_commits_what_completed(sqlite_state, error):
    with _outside(sqlite_state) as db:
        with pytest.raises(error):
            _raise_inside_a_batch(sqlite_state, error, "a")
        assert _addresses(db) == {"rs_a[a]"}
        assert _count(db, "intents") == 1
        sqlite_state.save(_record("after"))  # usable again, and committing at once
        assert _addresses(db) == {"rs_a[a]", "rs_a[after]"}
        with sqlite_state.batch():
            sqlite_state.save(_record("next"))
        assert "rs_a[next]" in _addresses(db)


def test_a_nested_batch_joins_the_outer_one(sqlite_state):
    with _outside(sqlite_state) as db:
        with sqlite_state.batch():
            sqlite_state.save(_record("outer"))
            with sqlite_state.batch():
                sqlite_state.save(_record("inner"))
            assert _addresses(db) == set(), "the inner batch committed on its own"
            with pytest.raises(_Boom):
                _raise_inside_a_batch(sqlite_state, _Boom, "inner2")
            assert _addresses(db) == set(), "an inner batch that raised committed on its own"
            sqlite_state.save(_record("last"))
        assert _addresses(db) == {"rs_a[outer]", "rs_a[inner]", "rs_a[inner2]", "rs_a[last]"}


def test_a_snapshot_inside_a_batch_sees_the_batch_s_changes(sqlite_state):
    sqlite_state.save(_record("old"))
    with sqlite_state.batch():
        sqlite_state.save(_record("new", v=1))
        sqlite_state.forget("rs_a[old]")
        intent = sqlite_state.open_intent("rs_a[i]", "rs_a", "create", {"k": 1}, None)
        inside = sqlite_state.snapshot()
        assert set(inside.records) == {"rs_a[new]"}
        assert [(i.id, i.address, i.spec) for i in inside.intents] == [
            (intent, "rs_a[i]", {"k": 1})
        ]
        assert inside.serial == 3
        sqlite_state.close_intent(intent)
        assert sqlite_state.snapshot().intents == ()
    after = sqlite_state.snapshot()
    assert set(after.records) == {"rs_a[new]"}
    assert after.serial == 3
    assert after.salt == inside.salt


def test_history_and_entries_inside_a_batch_see_its_journal(sqlite_state):
    with sqlite_state.batch():
        apply_id = sqlite_state.begin_apply("r1", '{"p": 1}', {"user": "u"})
        sqlite_state.journal_step(apply_id, rc.StepEntry("rs_a[x]", "create", "ok"))
        sqlite_state.end_apply(apply_id, "ok")
        assert [e.id for e in sqlite_state.history()] == [apply_id]
        assert [s.address for s in sqlite_state.entry(apply_id).steps] == ["rs_a[x]"]
    assert sqlite_state.entry(apply_id).status == "ok"


def test_a_batch_holds_the_write_lock_so_another_writer_waits(sqlite_state):
    """BEGIN IMMEDIATE: another connection cannot slip a write in between the batch's changes."""
    with _outside(sqlite_state) as db:
        db.execute("PRAGMA busy_timeout = 0")
        with sqlite_state.batch():
            sqlite_state.save(_record("a"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                db.execute("BEGIN IMMEDIATE")
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")


def test_lock_calls_inside_a_batch_are_changes_like_the_others(sqlite_state):
    holder = rc.LockInfo(7, "host", "2024-01-01T00:00:00+00:00", "apply")
    with _outside(sqlite_state) as db:
        with sqlite_state.batch():
            assert sqlite_state.acquire(holder) is None
            assert _count(db, "lock") == 0
            assert sqlite_state.acquire(rc.LockInfo(8, "h", "now")) == holder
        assert _count(db, "lock") == 1
        with sqlite_state.batch():
            sqlite_state.release(holder)
            assert _count(db, "lock") == 1
        assert _count(db, "lock") == 0


_KILLED_INSIDE = textwrap.dedent(
    """
    import os, signal, sys
    import reconcile as rc

    state = rc.SQLiteState(sys.argv[1])
    state.save(rc.Record("rs_a[before]", "rs_a", {}))
    with state.batch():
        state.save(rc.Record("rs_a[inside]", "rs_a", {}))
        state.open_intent("rs_a[inside]", "rs_a", "create", {}, None)
        state.forget("rs_a[before]")
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_process_killed_inside_a_batch_loses_all_of_it(tmp_path):
    path = tmp_path / "state.db"
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_INSIDE, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert _addresses(db) == {"rs_a[before]"}
        assert _count(db, "intents") == 0
        assert _serial(db) == 1
    state = rc.SQLiteState(path)
    try:
        state.save(_record("after"))  # the dead process's transaction holds nothing
        assert set(state.snapshot().records) == {"rs_a[before]", "rs_a[after]"}
    finally:
        state.close()


# -- both stores --------------------------------------------------------------------------


def _changes(state: rc.State) -> list[str]:
    """A fixed mix of changes, refused ones included; what each raised, in order."""
    errors = []
    apply_id = state.begin_apply(None, "{}", {})
    first = state.open_intent("rs_a[x]", "rs_a", "create", {"v": 1}, apply_id)
    state.save(
        _record("x", v=1), intent=first, step=(apply_id, rc.StepEntry("rs_a[x]", "create", "ok"))
    )
    state.save(_record("y", v=2))
    for old, new in [("rs_a[x]", "rs_a[y]"), ("rs_a[none]", "rs_a[z]"), ("rs_a[x]", "rs_a[z]")]:
        try:
            state.move(old, new)
        except rc.StateError as err:
            errors.append(str(err))
    second = state.open_intent("rs_a[w]", "rs_a", "update", {"v": 3}, apply_id)
    state.open_intent("rs_a[q]", "rs_a", "delete", {}, apply_id)
    state.close_intent(second, step=(apply_id, rc.StepEntry("rs_a[w]", "update", "failed", "e")))
    state.forget("rs_a[none]")
    state.forget("rs_a[y]")
    state.end_apply(apply_id, "failed")
    return errors


def _view(state: rc.State) -> tuple[object, ...]:
    snapshot = state.snapshot()
    history = state.history()
    steps = [(s.address, s.action, s.status, s.error) for s in state.entry(history[0].id).steps]
    return (
        snapshot.records,
        snapshot.serial,
        [(i.address, i.kind, i.action, i.spec) for i in snapshot.intents],
        [(e.status, e.ended_at is not None) for e in history],
        steps,
    )


def test_a_batch_ends_where_the_same_changes_without_one_do(store, tmp_path):
    plain: rc.State = (
        rc.MemoryState()
        if isinstance(store, rc.MemoryState)
        else (rc.SQLiteState(tmp_path / "plain.db"))
    )
    try:
        expected_errors = _changes(plain)
        with store.batch():
            errors = _changes(store)
            assert _view(store) == _view(plain), "inside the batch, reads see its changes"
        assert errors == expected_errors
        assert len(errors) == 2
        assert _view(store) == _view(plain)
        assert set(store.snapshot().records) == {"rs_a[z]"}
    finally:
        if isinstance(plain, rc.SQLiteState):
            plain.close()


def test_a_batch_on_either_store_is_reusable_and_counts_every_change(store):
    for n in range(3):
        with store.batch():
            store.save(_record(f"a{n}"))
            store.save(_record(f"a{n}", again=True))
            store.forget("rs_a[never]")
    assert store.snapshot().serial == 6
    assert store.snapshot().records["rs_a[a2]"].spec == {"again": True}


def test_memory_state_commits_each_change_at_once_even_in_a_batch():
    """The default batch is no transaction: another thread sees each change as it is made."""
    state = rc.MemoryState()
    seen: list[set[str]] = []
    with state.batch():
        state.save(_record("a"))
        reader = threading.Thread(target=lambda: seen.append(set(state.snapshot().records)))
        reader.start()
        reader.join(5)
    assert seen == [{"rs_a[a]"}]


def test_batch_is_an_optional_part_of_the_state_contract():
    """A third-party store without its own batch() still works: changes commit at once."""
    assert not getattr(rc.State.batch, "__isabstractmethod__", False)
    assert rc.MemoryState.batch is rc.State.batch
    assert rc.SQLiteState.batch is not rc.State.batch


# -- SQLite: changes a batch holds back and writes together -------------------------------


def test_intent_ids_opened_in_a_batch_follow_autoincrement_and_are_never_reused(sqlite_state):
    """A batch numbers its intents itself (it holds the write lock): the ids SQLite's
    AUTOINCREMENT would have given, after closed ones too, and on with plain calls after."""
    first = sqlite_state.open_intent("rs_a[0]", "rs_a", "create", {}, None)
    sqlite_state.close_intent(first)  # the highest id is gone: AUTOINCREMENT still moves on
    with sqlite_state.batch():
        held = [sqlite_state.open_intent(f"rs_a[{n}]", "rs_a", "create", {}, None) for n in (1, 2)]
        sqlite_state.close_intent(held[0])
        held.append(sqlite_state.open_intent("rs_a[3]", "rs_a", "create", {}, None))
    after = sqlite_state.open_intent("rs_a[4]", "rs_a", "create", {}, None)
    assert [*held, after] == [first + 1, first + 2, first + 3, first + 4]
    assert [(i.id, i.address) for i in sqlite_state.snapshot().intents] == [
        (first + 2, "rs_a[2]"),
        (first + 3, "rs_a[3]"),
        (first + 4, "rs_a[4]"),
    ]


def test_an_intent_sqlite_must_check_itself_keeps_the_numbering_of_the_held_ones(sqlite_state):
    """An unbindable apply id runs at once (SQLite's own error); later held intents
    must not take an id that a plain insert took meanwhile."""
    with sqlite_state.batch():
        a = sqlite_state.open_intent("rs_a[a]", "rs_a", "create", {}, None)
        with pytest.raises(sqlite3.Error):
            sqlite_state.open_intent("rs_a[x]", "rs_a", "create", {}, ("not", "an id"))  # type: ignore[arg-type]
        b = sqlite_state.open_intent("rs_a[b]", "rs_a", "create", {}, None)
    with sqlite_state.batch():
        c = sqlite_state.open_intent("rs_a[c]", "rs_a", "create", {}, None)
    assert len({a, b, c}) == 3
    assert [i.address for i in sqlite_state.snapshot().intents] == ["rs_a[a]", "rs_a[b]", "rs_a[c]"]


def test_a_batch_writes_each_table_in_the_order_its_changes_were_made(sqlite_state):
    """Held rows are grouped per statement, but on one table they keep their order:
    save, forget, save again of one address ends recorded; the journal keeps call order."""
    apply_id = sqlite_state.begin_apply(None, "{}", {})

    def step(name: str) -> tuple[int, rc.StepEntry]:
        return apply_id, rc.StepEntry(f"rs_a[{name}]", "create", "ok")

    with sqlite_state.batch():
        sqlite_state.save(_record("x", v=1), step=step("1"))
        sqlite_state.save(_record("y"), step=step("2"))
        sqlite_state.forget("rs_a[x]", step=step("3"))
        sqlite_state.forget("rs_a[never]", step=step("4"))
        sqlite_state.save(_record("x", v=2), step=step("5"))
        sqlite_state.forget("rs_a[y]", step=step("6"))
    records = sqlite_state.snapshot()
    assert {a: r.spec for a, r in records.records.items()} == {"rs_a[x]": {"v": 2}}
    assert records.serial == 5, "three saves and the two forgets that dropped a record"
    steps = [s.address for s in sqlite_state.entry(apply_id).steps]
    assert steps == [f"rs_a[{n}]" for n in range(1, 7)]


def test_another_thread_s_change_waits_for_the_batch_and_is_not_swept_into_it(sqlite_state):
    """Changes from another thread take the state's lock: they run after the batch
    commits, in their own transaction, rather than joining the batch's held rows."""
    entered = threading.Event()
    with _outside(sqlite_state) as db:

        def other() -> None:
            entered.wait(5)
            sqlite_state.save(_record("other"))

        thread = threading.Thread(target=other)
        thread.start()
        with sqlite_state.batch():
            sqlite_state.save(_record("mine"))
            entered.set()
            thread.join(0.2)
            assert thread.is_alive(), "the other thread's save did not wait for the batch"
        thread.join(5)
        assert _addresses(db) == {"rs_a[mine]", "rs_a[other]"}
        assert _serial(db) == 2
