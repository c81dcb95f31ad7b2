"""The two state stores: MemoryState and SQLiteState agree, persist, and refuse bad files.

A Hypothesis state machine drives both stores with the same calls and checks they
agree on everything the engine reads back; the rest are SQLite-only stories:
reopening, WAL, files that are not ours, corruption, read-only files and folders,
and the migration path.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

import reconcile as rc
import reconcile._state.sqlite.schema as sqlite_module

# -- strategies ----------------------------------------------------------------

ADDRESSES = ("rs_a[x]", "rs_a[y]", "rs_b[x]", "rs_b[z]")
_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=4), st.sampled_from([0, 1, 1.5])
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
_json_objects = st.dictionaries(st.text(max_size=4), _json, max_size=3)


@st.composite
def records(draw: st.DrawFn) -> rc.Record:
    address = draw(st.sampled_from(ADDRESSES))
    return rc.Record(
        address=address,
        kind=address.split("[", 1)[0],
        spec=draw(_json_objects),
        outputs=draw(_json_objects),
        depends_on=tuple(draw(st.lists(st.sampled_from(ADDRESSES), max_size=2))),
        revision=draw(st.none() | st.text(max_size=5)),
        tainted=draw(st.booleans()),
        protected=draw(st.booleans()),
        retain=draw(st.booleans()),
    )


step_entries = st.builds(
    rc.StepEntry,
    address=st.sampled_from(ADDRESSES),
    action=st.sampled_from([a.value for a in rc.Action]),
    status=st.sampled_from(["ok", "failed", "skipped"]),
    error=st.none() | st.text(max_size=8),
)
# Two holders share pid, host and since and differ only in their note.
HOLDERS = (
    rc.LockInfo(101, "host-a", "2024-01-01T00:00:00+00:00"),
    rc.LockInfo(101, "host-a", "2024-01-01T00:00:00+00:00", "other note"),
    rc.LockInfo(202, "host-b", "2024-02-02T00:00:00+00:00"),
)
_meta = st.fixed_dictionaries(
    {}, optional={"user": st.text(max_size=4), "host": st.text(max_size=4), "n": st.integers()}
)


# -- comparing what the stores say ----------------------------------------------


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as err:
        return "error", (type(err), str(err))


def _apply_view(entry: rc.ApplyEntry) -> rc.ApplyEntry:
    """An entry without what legitimately differs between stores: id and times."""
    ended = "ended" if entry.ended_at is not None else None
    return attrs.evolve(entry, id=0, started_at="", ended_at=ended)


class StoresAgree(RuleBasedStateMachine):
    """The same calls on MemoryState and SQLiteState; they must agree at every step."""

    intents = Bundle("intents")
    applies = Bundle("applies")

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="rs_stores_")
        self.mem = rc.MemoryState()
        self.sql = rc.SQLiteState(Path(self.folder) / "state.db")
        self.salts = (self.mem.snapshot().salt, self.sql.snapshot().salt)
        self.apply_pairs: list[tuple[int, int]] = []

    def teardown(self) -> None:
        self.sql.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def both(self, on_mem: Callable[[], Any], on_sql: Callable[[], Any]) -> tuple[Any, Any]:
        mem, sql = _outcome(on_mem), _outcome(on_sql)
        assert mem[0] == sql[0], f"memory: {mem}, sqlite: {sql}"
        if mem[0] == "error":
            assert mem[1][0] is sql[1][0], f"memory raised {mem[1]}, sqlite raised {sql[1]}"
            assert issubclass(mem[1][0], rc.StateError | KeyError), mem[1]
            assert mem[1][1] == sql[1][1], f"messages differ: {mem[1][1]!r}, {sql[1][1]!r}"
            raise _Refused(mem[1][1], sql[1][1])
        return mem[1], sql[1]

    @staticmethod
    def _step(step: tuple[tuple[int, int], rc.StepEntry] | None, i: int) -> Any:
        return None if step is None else (step[0][i], step[1])

    @staticmethod
    def _intent(pair: tuple[int, int] | None, i: int) -> int | None:
        return None if pair is None else pair[i]

    # -- rules ------------------------------------------------------------------

    @rule(
        record=records(),
        intent=st.none() | intents,
        step=st.none() | st.tuples(applies, step_entries),
    )
    def save(self, record, intent, step):
        self.both(
            lambda: self.mem.save(record, intent=self._intent(intent, 0), step=self._step(step, 0)),
            lambda: self.sql.save(record, intent=self._intent(intent, 1), step=self._step(step, 1)),
        )

    @rule(
        address=st.sampled_from(ADDRESSES),
        intent=st.none() | intents,
        step=st.none() | st.tuples(applies, step_entries),
    )
    def forget(self, address, intent, step):
        self.both(
            lambda: self.mem.forget(
                address, intent=self._intent(intent, 0), step=self._step(step, 0)
            ),
            lambda: self.sql.forget(
                address, intent=self._intent(intent, 1), step=self._step(step, 1)
            ),
        )

    @rule(old=st.sampled_from(ADDRESSES), new=st.sampled_from(ADDRESSES))
    def move(self, old, new):
        with contextlib.suppress(_Refused):
            self.both(lambda: self.mem.move(old, new), lambda: self.sql.move(old, new))

    @rule(
        target=intents,
        address=st.sampled_from(ADDRESSES),
        action=st.sampled_from(["create", "update", "delete", "replace"]),
        spec=_json_objects,
        apply=st.none() | applies,
    )
    def open_intent(self, address, action, spec, apply):
        kind = address.split("[", 1)[0]
        return self.both(
            lambda: self.mem.open_intent(address, kind, action, spec, self._intent(apply, 0)),
            lambda: self.sql.open_intent(address, kind, action, spec, self._intent(apply, 1)),
        )

    @rule(intent=intents, step=st.none() | st.tuples(applies, step_entries))
    def close_intent(self, intent, step):
        """Closing an intent twice, or one closed by a save, is allowed and does nothing."""
        self.both(
            lambda: self.mem.close_intent(intent[0], step=self._step(step, 0)),
            lambda: self.sql.close_intent(intent[1], step=self._step(step, 1)),
        )

    @rule(holder=st.sampled_from(HOLDERS))
    def acquire(self, holder):
        mem, sql = self.both(lambda: self.mem.acquire(holder), lambda: self.sql.acquire(holder))
        assert mem == sql

    @rule(holder=st.sampled_from(HOLDERS))
    def release(self, holder):
        self.both(lambda: self.mem.release(holder), lambda: self.sql.release(holder))

    @rule()
    def force_unlock(self):
        mem, sql = self.both(self.mem.force_unlock, self.sql.force_unlock)
        assert mem == sql

    @rule(
        target=applies,
        revision=st.none() | st.text(max_size=5),
        plan=st.text(max_size=10),
        meta=_meta,
    )
    def begin_apply(self, revision, plan, meta):
        pair = self.both(
            lambda: self.mem.begin_apply(revision, plan, meta),
            lambda: self.sql.begin_apply(revision, plan, meta),
        )
        self.apply_pairs.append(pair)
        return pair

    @rule(apply=applies, entry=step_entries)
    def journal_step(self, apply, entry):
        self.both(
            lambda: self.mem.journal_step(apply[0], entry),
            lambda: self.sql.journal_step(apply[1], entry),
        )

    @rule(apply=applies, status=st.sampled_from(["ok", "failed"]))
    def end_apply(self, apply, status):
        self.both(
            lambda: self.mem.end_apply(apply[0], status),
            lambda: self.sql.end_apply(apply[1], status),
        )

    @rule(limit=st.sampled_from([None, 0, 1, 2, 5]))
    def history(self, limit):
        mem, sql = self.both(lambda: self.mem.history(limit), lambda: self.sql.history(limit))
        newest_first = list(reversed(self.apply_pairs))
        assert [(m.id, s.id) for m, s in zip(mem, sql, strict=True)] == newest_first[: len(mem)]
        assert [_apply_view(e) for e in mem] == [_apply_view(e) for e in sql]
        assert all(e.plan is None and e.steps == () for e in [*mem, *sql])
        expected = len(self.apply_pairs) if limit is None else min(limit, len(self.apply_pairs))
        assert len(mem) == expected

    @precondition(lambda self: self.apply_pairs)
    @rule(data=st.data())
    def entry(self, data):
        apply = data.draw(st.sampled_from(self.apply_pairs))
        mem, sql = self.both(lambda: self.mem.entry(apply[0]), lambda: self.sql.entry(apply[1]))
        assert _apply_view(mem) == _apply_view(sql)

    @rule()
    def unknown_entry(self):
        with contextlib.suppress(_Refused):
            self.both(lambda: self.mem.entry(10**9), lambda: self.sql.entry(10**9))
            raise AssertionError("entry() of an unknown id returned something")

    # -- invariants -------------------------------------------------------------

    @invariant()
    def snapshots_agree(self):
        mem, sql = self.mem.snapshot(), self.sql.snapshot()
        assert mem.records == sql.records
        for address, record in mem.records.items():
            assert record.address == address
            assert sql.records[address].created_at == record.created_at, address
        assert mem.serial == sql.serial
        assert (mem.salt, sql.salt) == self.salts
        to_mem = {s: m for m, s in self.apply_pairs}
        assert [(i.address, i.kind, i.action, i.spec, i.apply_id) for i in mem.intents] == [
            (i.address, i.kind, i.action, i.spec, to_mem.get(i.apply_id, i.apply_id))
            for i in sql.intents
        ]


class _Refused(Exception):
    """Both stores raised the same error for a call (its messages are the args)."""


StoresAgree.TestCase.settings = settings(stateful_step_count=25)
test_memory_and_sqlite_stores_agree = StoresAgree.TestCase


# -- targeted agreements (each a divergence the machine can also find) -----------------


def test_move_onto_a_taken_or_from_an_unknown_address_is_a_state_error(store):
    store.save(rc.Record("rs_a[x]", "rs_a", {"v": 1}))
    store.save(rc.Record("rs_a[y]", "rs_a", {"v": 2}))
    serial = store.snapshot().serial
    with pytest.raises(rc.StateError, match=r"rs_a\[y\] is already recorded"):
        store.move("rs_a[x]", "rs_a[y]")
    with pytest.raises(rc.StateError, match=r"rs_a\[nope\]: it is not recorded"):
        store.move("rs_a[nope]", "rs_a[z]")
    snapshot = store.snapshot()
    assert snapshot.serial == serial
    assert snapshot.records["rs_a[x]"].spec == {"v": 1}
    store.move("rs_a[x]", "rs_a[z]")
    after = store.snapshot()
    assert set(after.records) == {"rs_a[y]", "rs_a[z]"}
    assert after.records["rs_a[z]"].address == "rs_a[z]"
    assert after.serial == serial + 1


def test_a_closed_intent_id_never_closes_a_later_intent(store):
    first = store.open_intent("rs_a[x]", "rs_a", "create", {}, None)
    store.close_intent(first)
    second = store.open_intent("rs_a[y]", "rs_a", "create", {}, None)
    store.close_intent(first)  # a late, repeated close of the first one
    store.save(rc.Record("rs_a[x]", "rs_a", {}), intent=first)
    assert [i.id for i in store.snapshot().intents] == [second]


def test_release_by_a_holder_that_differs_only_in_its_note_does_not_release(store):
    holder = rc.LockInfo(7, "host", "2024-01-01T00:00:00+00:00", "apply")
    impostor = attrs.evolve(holder, note="something else")
    assert store.acquire(holder) is None
    assert store.acquire(impostor) == holder
    store.release(impostor)
    assert store.acquire(rc.LockInfo(8, "host", "now")) == holder, (
        "the lock was released by a LockInfo that is not its holder"
    )


def test_save_keeps_created_at_and_serial_counts_every_change(store):
    first = rc.Record("rs_a[x]", "rs_a", {"v": 1}, created_at="2000-01-01T00:00:00+00:00")
    store.save(first)
    store.save(rc.Record("rs_a[x]", "rs_a", {"v": 2}))
    store.forget("rs_a[nope]")  # nothing recorded there: no change
    snapshot = store.snapshot()
    assert snapshot.serial == 2
    assert snapshot.records["rs_a[x]"].created_at == first.created_at
    assert snapshot.records["rs_a[x]"].spec == {"v": 2}


# -- SQLite: persistence and WAL -----------------------------------------------


def _fill(state: rc.State) -> tuple[int, rc.LockInfo]:
    state.save(
        rc.Record(
            "rs_a[x]", "rs_a", {"v": 1, "tags": {"k": "v"}}, {"id": "i-1"},
            ("rs_b[z]",), "rev1", tainted=True, protected=True, retain=True,
        )
    )  # fmt: skip
    state.save(rc.Record("rs_b[z]", "rs_b", {"n": [1, 2]}))
    apply_id = state.begin_apply("rev1", '{"plan": 1}', {"user": "u", "host": "h"})
    state.open_intent("rs_a[y]", "rs_a", "create", {"v": 3}, apply_id)
    state.journal_step(apply_id, rc.StepEntry("rs_a[x]", "create", "ok"))
    state.journal_step(apply_id, rc.StepEntry("rs_b[z]", "create", "failed", "boom"))
    state.end_apply(apply_id, "failed")
    holder = rc.LockInfo(4242, "elsewhere", "2024-01-01T00:00:00+00:00", "held")
    assert state.acquire(holder) is None
    return apply_id, holder


def test_sqlite_state_survives_close_and_reopen(tmp_path):
    path = tmp_path / "state.db"
    first = rc.SQLiteState(path)
    apply_id, _ = _fill(first)
    before = first.snapshot()
    history, entry = first.history(), first.entry(apply_id)
    first.close()

    again = rc.SQLiteState(path)
    after = again.snapshot()
    assert after.records == before.records
    for address, record in before.records.items():
        assert after.records[address].created_at == record.created_at
        assert after.records[address].updated_at == record.updated_at
    assert after.serial == before.serial == 2
    assert after.salt == before.salt
    assert after.intents == before.intents
    assert again.history() == history
    assert again.entry(apply_id) == entry
    assert [s.status for s in entry.steps] == ["ok", "failed"]
    assert again.acquire(rc.LockInfo.mine()) is None, "a closed state's lock did not end with it"
    again.save(rc.Record("rs_b[w]", "rs_b", {}))
    assert again.snapshot().serial == 3
    assert again.begin_apply(None, "{}", {}) > apply_id
    again.close()
    assert rc.SQLiteState(path).snapshot().salt == before.salt


def test_a_new_state_gets_its_own_salt_and_folder(tmp_path):
    a = rc.SQLiteState(tmp_path / "one" / "deeper" / "state.db")
    b = rc.SQLiteState(tmp_path / "two.db")
    assert (tmp_path / "one" / "deeper" / "state.db").is_file()
    assert a.snapshot().salt != b.snapshot().salt
    assert a.snapshot().serial == 0
    a.close()
    b.close()


def test_sqlite_state_uses_wal(tmp_path):
    path = tmp_path / "state.db"
    state = rc.SQLiteState(path)
    state.save(rc.Record("rs_a[x]", "rs_a", {}))
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM resources").fetchone()[0] == 1
    state.close()


def test_every_change_is_committed_at_once(tmp_path):
    """Another connection sees each save without the store being closed (no open transaction)."""
    path = tmp_path / "state.db"
    state = rc.SQLiteState(path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        for n in range(3):
            state.save(rc.Record(f"rs_a[{n}]", "rs_a", {}))
            assert db.execute("SELECT count(*) FROM resources").fetchone()[0] == n + 1
        state.open_intent("rs_a[q]", "rs_a", "create", {}, None)
        assert db.execute("SELECT count(*) FROM intents").fetchone()[0] == 1
    state.close()


# -- SQLite: files it must refuse, untouched ---------------------------------------


def _snapshot_folder(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Keep the cycle collector from closing a leaked connection mid-test (determinism)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _refuses(path: Path, *words: str, names: Path | None = None) -> rc.StateError:
    """Opening ``path`` raises a StateError naming it (or ``names``); the file is unchanged.

    Files left beside it are the business of ``test_a_refused_file_is_left_closed...``.
    """
    before = _snapshot_folder(path.parent)
    with _no_gc(), pytest.raises(rc.StateError) as caught:
        rc.SQLiteState(path)
    message = str(caught.value)
    assert str(names or path) in message
    for word in words:
        assert word in message.lower(), message
    after = _snapshot_folder(path.parent)
    assert after[path.name] == before[path.name], "the refused file was modified"
    assert {k: after.get(k) for k in before} == before, "a file beside it was modified"
    return caught.value


def _make_state(path: Path, rows: int = 3) -> None:
    state = rc.SQLiteState(path)
    for n in range(rows):
        state.save(rc.Record(f"rs_a[{n}]", "rs_a", {"name": str(n), "pad": "x" * 200}))
    state.close()


def test_a_text_file_is_refused_untouched(tmp_path):
    path = tmp_path / "state.db"
    path.write_text("terraform {\n  backend = 'local'\n}\n")
    _refuses(path, "not a sqlite database")


def test_an_empty_file_becomes_a_new_state(tmp_path):
    """An empty file is what sqlite3 makes of a new database: it is fine to use."""
    path = tmp_path / "state.db"
    path.touch()
    state = rc.SQLiteState(path)
    assert state.snapshot().serial == 0
    state.close()


def test_another_applications_sqlite_database_is_refused_untouched(tmp_path):
    path = tmp_path / "app.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE foo (x INTEGER)")
        db.execute("INSERT INTO foo VALUES (1)")
        db.commit()
    assert path.read_bytes()[18:20] == b"\x01\x01"  # a rollback-journal database
    _refuses(path, "not reconcile state")
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("SELECT x FROM foo").fetchall() == [(1,)]


def test_a_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "state.db"
    _make_state(path)
    newer = sqlite_module.SCHEMA_VERSION + 1
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(newer),))
        db.commit()
    error = _refuses(path, "newer", "upgrade")
    assert f"schema {newer}" in str(error)


def _resources_leaf_page(path: Path) -> tuple[int, int]:
    """A leaf page of the resources table from the middle of its b-tree, and the page size."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name='resources'").fetchone()
        (size,) = db.execute("PRAGMA page_size").fetchone()
    data = path.read_bytes()
    header = (root - 1) * size
    assert data[header] == 0x05, "resources should span several pages (an interior root)"
    (cells,) = struct.unpack(">H", data[header + 3 : header + 5])
    pointer = header + 12 + 2 * (cells // 2)
    (cell,) = struct.unpack(">H", data[pointer : pointer + 2])
    (child,) = struct.unpack(">I", data[header + cell : header + cell + 4])
    assert data[(child - 1) * size] == 0x0D  # a table leaf page
    return child, size


def _corruption_is_detected(path: Path) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return bool(db.execute("PRAGMA quick_check").fetchone()[0] != "ok")
    except sqlite3.DatabaseError:
        return True


@pytest.mark.parametrize("page", ["leaf", "root"])
def test_a_corrupt_database_is_refused_untouched(tmp_path, page):
    path = tmp_path / "state.db"
    _make_state(path, rows=300)
    leaf, size = _resources_leaf_page(path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name='resources'").fetchone()
    number = leaf if page == "leaf" else root
    assert 1 < number < path.stat().st_size // size, "the damage should be mid-file"
    data = bytearray(path.read_bytes())
    data[(number - 1) * size : number * size] = bytes(size)
    path.write_bytes(bytes(data))
    assert _corruption_is_detected(path)
    error = _refuses(path)
    assert any(w in str(error) for w in ("corrupt", "malformed")), error


_CONNECTION = ("-wal", "-shm", "-journal")  # files an open connection keeps beside the database


@pytest.mark.parametrize("kind", ["foreign", "newer", "corrupt"])
def test_a_refused_file_is_left_closed_and_unlocked(tmp_path, kind):
    """After a refusal no connection stays open: no -wal/-shm left, no lock held."""
    path = tmp_path / "state.db"
    if kind == "foreign":
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE foo (x)")
            db.commit()
    else:
        _make_state(path, rows=300)
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
            db.commit()
        if kind == "corrupt":
            leaf, size = _resources_leaf_page(path)
            data = bytearray(path.read_bytes())
            data[(leaf - 1) * size : leaf * size] = bytes(size)
            path.write_bytes(bytes(data))
    with _no_gc():
        with pytest.raises(rc.StateError):
            rc.SQLiteState(path)
        leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(_CONNECTION))
        assert leftovers == [], f"a refused state left {leftovers} behind (connection not closed)"


def _readonly_supported() -> str | None:
    """Why read-only checks cannot be made meaningful here, or None when they can."""
    if os.geteuid() != 0:
        return None
    if shutil.which("chattr") is None:
        return "running as root (permission bits do not bind root) and chattr is not installed"
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.touch()
        made = subprocess.run(["chattr", "+i", probe], capture_output=True, check=False)
        if made.returncode != 0:
            return (
                "running as root (permission bits do not bind root) and this filesystem "
                f"refuses chattr +i: {made.stderr.decode().strip()}"
            )
        subprocess.run(["chattr", "-i", probe], check=True)
    return None


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable for this process: mode bits, or the immutable flag for root."""
    reason = _readonly_supported()
    if reason is not None:
        pytest.skip(reason)
    mode = path.stat().st_mode
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", path], check=True)
    else:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        assert not os.access(path, os.W_OK), "the read-only setup did not take"
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", path], check=True)
        path.chmod(mode)


def test_a_read_only_state_file_is_refused_untouched(tmp_path):
    path = tmp_path / "state.db"
    _make_state(path)
    with _read_only(path):
        _refuses(path, "not readable and writable")


def test_a_state_file_in_a_read_only_folder_is_refused_untouched(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "state.db"
    _make_state(path)
    with _read_only(folder):
        _refuses(path, "not writable", names=folder)


def test_a_new_state_in_a_read_only_folder_is_refused_before_anything_is_made(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    with _read_only(folder):
        with pytest.raises(rc.StateError, match="not writable") as caught:
            rc.SQLiteState(folder / "state.db")
        assert str(folder) in str(caught.value)
        with pytest.raises(rc.StateError, match="cannot create the state folder") as nested:
            rc.SQLiteState(folder / "sub" / "state.db")
        assert str(folder / "sub") in str(nested.value)
        assert list(folder.iterdir()) == []


def test_a_state_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(rc.StateError, match="is not a directory"):
        rc.SQLiteState(tmp_path / "plain" / "state.db")
    assert (tmp_path / "plain").read_text() == "x"


# -- SQLite: migrations -------------------------------------------------------------


def _schema_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0])


def _columns(path: Path, table: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def test_an_older_schema_is_migrated_once_and_keeps_its_data(tmp_path, monkeypatch):
    path = tmp_path / "state.db"
    old = rc.SQLiteState(path)
    apply_id, _ = _fill(old)
    before = old.snapshot()
    old.close()
    current = sqlite_module.SCHEMA_VERSION
    assert _schema_version(path) == current

    calls: list[int] = []

    def add_tag_column(db: sqlite3.Connection) -> None:
        calls.append(1)
        db.execute("ALTER TABLE applies ADD COLUMN tag TEXT")

    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(sqlite_module.MIGRATIONS, current, add_tag_column)
    migrated = rc.SQLiteState(path)
    assert calls == [1]
    assert _schema_version(path) == current + 1
    assert "tag" in _columns(path, "applies")
    after = migrated.snapshot()
    assert after.records == before.records
    assert after.serial == before.serial
    assert after.salt == before.salt
    assert [s.status for s in migrated.entry(apply_id).steps] == ["ok", "failed"]
    assert migrated.begin_apply(None, "{}", {}) > apply_id
    migrated.close()

    rc.SQLiteState(path).close()
    assert calls == [1], "a migration ran again on an already migrated file"
    assert _schema_version(path) == current + 1


def test_a_failed_migration_leaves_the_old_file_usable(tmp_path, monkeypatch):
    path = tmp_path / "state.db"
    _make_state(path)
    current = sqlite_module.SCHEMA_VERSION
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", current + 1)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE applies ADD COLUMN tag TEXT")
        raise sqlite3.OperationalError("migration step failed")

    monkeypatch.setitem(sqlite_module.MIGRATIONS, current, broken)
    with _no_gc():
        with pytest.raises(rc.StateError, match="migration step failed") as caught:
            rc.SQLiteState(path)
        assert str(path) in str(caught.value)
        with contextlib.closing(sqlite3.connect(path, timeout=0.2)) as db:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                pytest.fail(f"the failed migration left the state file locked: {err}")
            db.execute("ROLLBACK")
        assert _schema_version(path) == current
        assert "tag" not in _columns(path, "applies"), "half a migration was committed"


def test_a_state_without_a_migration_for_its_version_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "state.db"
    _make_state(path)
    current = sqlite_module.SCHEMA_VERSION
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", current + 1)
    monkeypatch.delitem(sqlite_module.MIGRATIONS, current, raising=False)
    with _no_gc(), pytest.raises(rc.StateError) as caught:
        rc.SQLiteState(path)
    assert str(path) in str(caught.value)
    assert _schema_version(path) == current


_V1_STATE = Path(__file__).parent.parent / "data" / "state-v1.db"  # written by schema 1's release


def _v1_copy(tmp_path: Path) -> tuple[Path, dict[int, tuple[Any, ...]]]:
    """A copy of the schema 1 file, and its applies' rows (plan included) as it holds them."""
    path = tmp_path / "state.db"
    shutil.copyfile(_V1_STATE, path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert _schema_version(path) == 1
        rows = db.execute("SELECT id, status, meta, plan FROM applies").fetchall()
    return path, {r[0]: r[1:] for r in rows}


def test_a_schema_1_file_moves_its_plans_apart_and_keeps_everything(tmp_path):
    path, before = _v1_copy(tmp_path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        records = db.execute("SELECT * FROM resources ORDER BY address").fetchall()
        steps = db.execute("SELECT * FROM steps ORDER BY seq").fetchall()
    assert len(before) == 2
    assert all(plan for *_, plan in before.values())
    state = rc.SQLiteState(path)
    try:
        assert _schema_version(path) == 2
        for apply_id, (status, meta, plan) in before.items():
            entry = state.entry(apply_id)
            assert (entry.status, entry.meta, entry.plan) == (status, json.loads(meta), plan)
            assert rc.Plan.from_json(entry.plan).steps, "the moved plan no longer reads"
        with contextlib.closing(sqlite3.connect(path)) as db:
            assert db.execute("SELECT * FROM resources ORDER BY address").fetchall() == records
            assert db.execute("SELECT * FROM steps ORDER BY seq").fetchall() == steps
            assert db.execute("SELECT count(*) FROM applies WHERE plan IS NOT NULL").fetchone() == (
                0,
            ), "a plan was left in its apply's row"
        assert {r.address for r in state} == {"directory[site]", "file[site/index.html]"}
        newest = state.begin_apply(None, '{"p": 3}', {})
        assert newest == max(before) + 1
        assert state.entry(newest).plan == '{"p": 3}'
    finally:
        state.close()


def test_closing_an_apply_writes_a_small_row_not_its_plan_again(tmp_path):
    """The point of schema 2: the plan is written once. Before, end_apply's UPDATE
    rewrote the apply's whole row, plan included (megabytes for large plans)."""
    state = rc.SQLiteState(tmp_path / "state.db")
    wal = Path(f"{state.path}-wal")
    try:
        plan = json.dumps({"steps": [f"step {n} " * 20 for n in range(2000)]})  # ~300 KB
        apply_id = state.begin_apply(None, plan, {})
        before = wal.stat().st_size
        state.end_apply(apply_id, "ok")
        grew = wal.stat().st_size - before
        assert grew < len(plan) // 10, f"closing the apply wrote {grew} bytes to the WAL"
        entry = state.entry(apply_id)
        assert (entry.plan, entry.status) == (plan, "ok")
    finally:
        state.close()


def test_the_journal_keeps_plans_only_of_the_applies_it_keeps(tmp_path):
    state = rc.SQLiteState(tmp_path / "state.db", keep_history=2)
    try:
        ids = [state.begin_apply(None, f'{{"n": {n}}}', {}) for n in range(4)]
        with contextlib.closing(sqlite3.connect(state.path)) as db:
            kept = [r[0] for r in db.execute("SELECT apply_id FROM plans ORDER BY apply_id")]
        assert kept == ids[-2:]
        assert state.entry(ids[-1]).plan == '{"n": 3}'
        with pytest.raises(KeyError):
            state.entry(ids[0])
    finally:
        state.close()


def test_a_new_file_is_built_as_an_old_one_is_migrated(tmp_path):
    """A new state file runs schema 1 and every migration: same tables as a migrated one."""
    path, _ = _v1_copy(tmp_path)
    rc.SQLiteState(path).close()
    fresh = tmp_path / "fresh.db"
    rc.SQLiteState(fresh).close()

    def schema(p: Path) -> list[tuple[str, str]]:
        with contextlib.closing(sqlite3.connect(p)) as db:
            return db.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"
            ).fetchall()

    assert schema(fresh) == schema(path)
    assert _schema_version(fresh) == _schema_version(path) == sqlite_module.SCHEMA_VERSION


def test_plan_json_stored_in_the_journal_round_trips(tmp_path):
    state = rc.SQLiteState(tmp_path / "state.db")
    plan = json.dumps({"steps": [{"address": "rs_a[x]", "secret": "ünïcode"}]})
    apply_id = state.begin_apply(None, plan, {"user": "u"})
    assert json.loads(state.entry(apply_id).plan or "") == json.loads(plan)
    state.close()
