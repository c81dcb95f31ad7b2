"""The two state stores: MemoryState and SQLiteState agree, persist, and refuse bad files.

Both pass ``reconcile.testing.StateConformance`` (a Hypothesis state machine that
drives a store and MemoryState with the same calls and checks they agree on
everything the engine reads back); the rest are SQLite-only stories:
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

import reconcile as rc
import reconcile._state.sqlite.schema as sqlite_module
from reconcile.testing import StateConformance

# -- the conformance suite, as a third-party backend runs it ----------------------
# A Hypothesis state machine drives each store and MemoryState with the same calls
# (reconcile.testing's StateConformance); the built-in stores also keep MemoryState's
# serials and error messages exactly.


class TestMemoryStateConforms(StateConformance):
    exact = True
    conformance_settings = settings()

    def make_state(self) -> rc.State:
        return rc.MemoryState()


class TestSQLiteStateConforms(StateConformance):
    exact = True
    conformance_settings = settings()

    def make_state(self) -> rc.State:
        return rc.SQLiteState(self.fresh_directory() / "state.db")


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


_V1_STATE = Path(__file__).parents[2] / "data" / "state-v1.db"  # written by schema 1's release


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
