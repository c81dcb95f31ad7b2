"""Faults of the state store are clear errors, never an empty start.

A full disk under the state, a database emptied or deleted after records were
applied, several processes creating one new file at once, and a damaged file
that is still SQLite: each is a ``StateError`` (``DamagedStateError``, also an
``InvalidStateError``, for damage) naming the file and what to do, through the
real ``SQLiteState`` on real files, and nothing is changed.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider


@rc.resource("sf_item")
class Item:
    name: str = rc.field(key=True)
    body: str = ""


def _items(count: int, size: int = 10) -> list[Item]:
    return [Item(f"i{n:04d}", "x" * size) for n in range(count)]


def _applied(path: Path, count: int = 3) -> MemoryProvider[Item]:
    """``count`` items applied with their state in ``path``; the provider that holds them."""
    provider = MemoryProvider(Item)
    state = rc.SQLiteState(path)
    try:
        reconciler = rc.Reconciler([provider], state=state)
        assert reconciler.apply(reconciler.plan(_items(count))).ok
    finally:
        state.close()
    return provider


def _apply_again(path: Path, provider: MemoryProvider[Item], count: int) -> None:
    """Plan and apply ``count`` items on the state in ``path``, as a next run would."""
    state = rc.SQLiteState(path)
    try:
        reconciler = rc.Reconciler([provider], state=state)
        reconciler.apply(reconciler.plan(_items(count)))
    finally:
        state.close()


def _files(folder: Path) -> dict[str, bytes | None]:
    """Every file in ``folder`` and its bytes (None for a folder): to see nothing changed."""
    return {p.name: None if p.is_dir() else p.read_bytes() for p in sorted(folder.iterdir())}


# --- a database emptied or deleted after records were applied ------------------------------


@pytest.mark.parametrize("loss", ["truncated", "deleted"])
def test_a_state_emptied_after_an_apply_is_refused_not_read_as_empty(tmp_path, loss):
    path = tmp_path / "state.db"
    provider = _applied(path)
    if loss == "truncated":
        path.write_bytes(b"")
    else:
        path.unlink()
    for side in ("-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    before = _files(tmp_path)
    with pytest.raises(rc.InvalidStateError) as caught:
        _apply_again(path, provider, 3)
    message = str(caught.value)
    for said in (str(path), "serial 3", "restore", "state.db.marker"):
        assert said in message, message
    assert isinstance(caught.value, rc.StateError)
    assert _files(tmp_path) == before, "a refused state was changed"


def test_deleting_the_marker_starts_empty_on_purpose(tmp_path):
    path = tmp_path / "state.db"
    _applied(path)
    path.write_bytes(b"")
    (tmp_path / "state.db.marker").unlink()
    state = rc.SQLiteState(path)
    try:
        assert state.snapshot().records == {}
    finally:
        state.close()


def test_a_new_state_without_records_needs_no_marker_to_reopen_empty(tmp_path):
    """A state that never held records may be emptied: nothing would be forgotten."""
    path = tmp_path / "state.db"
    rc.SQLiteState(path).close()
    path.write_bytes(b"")
    rc.SQLiteState(path).close()


# --- a damaged file that is still SQLite -----------------------------------------------------


def _sql(path: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        for statement in statements:
            db.execute(statement)
        db.commit()


def _a_directory(path: Path) -> None:
    for side in ("", "-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    path.mkdir()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "empty meta": lambda p: _sql(p, "DELETE FROM meta"),
    "salt-less meta": lambda p: _sql(p, "DELETE FROM meta WHERE key = 'salt'"),
    "serial not a number": lambda p: _sql(p, "UPDATE meta SET value = 'x' WHERE key = 'serial'"),
    "dropped resources": lambda p: _sql(p, "DROP TABLE resources"),
    "dropped steps": lambda p: _sql(p, "DROP TABLE steps"),
    "spec not JSON": lambda p: _sql(p, "UPDATE resources SET spec = '{not json'"),
    "outputs not JSON": lambda p: _sql(p, "UPDATE resources SET outputs = '['"),
    "a directory": _a_directory,
    "intent spec not JSON": lambda p: _sql(
        p,
        "INSERT INTO intents (address, kind, action, spec, created_at) "
        "VALUES ('sf_item[i0000]', 'sf_item', 'create', '{', 'now')",
    ),
}
# What the message must say about each damage.
SAYS = {
    "empty meta": "meta",
    "salt-less meta": "salt",
    "serial not a number": "serial",
    "dropped resources": "resources",
    "dropped steps": "steps",
    "spec not JSON": "JSON",
    "outputs not JSON": "JSON",
    "a directory": "directory",
    "intent spec not JSON": "JSON",
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_state_is_refused_and_left_as_it_is(tmp_path, damage):
    path = tmp_path / "state.db"
    provider = _applied(path)
    DAMAGES[damage](path)
    before = _files(tmp_path)
    with pytest.raises(rc.InvalidStateError) as caught:
        _apply_again(path, provider, 4)
    message = str(caught.value)
    assert isinstance(caught.value, rc.StateError)
    assert str(path) in message, message
    assert SAYS[damage] in message, message
    assert _files(tmp_path) == before, "a refused state was changed"


def test_a_journal_entry_that_is_not_json_is_damage_not_a_decode_error(tmp_path):
    path = tmp_path / "state.db"
    _applied(path)
    _sql(path, "UPDATE applies SET meta = 'nope'")
    state = rc.SQLiteState(path)
    try:
        with pytest.raises(rc.InvalidStateError, match="not valid JSON"):
            state.history()
        with pytest.raises(rc.InvalidStateError, match="not valid JSON"):
            state.entry(1)
    finally:
        state.close()


# --- a full disk -----------------------------------------------------------------------------


@contextlib.contextmanager
def _small_disk(folder: Path) -> Iterator[str]:
    """A 1 MiB tmpfs on ``folder`` (root only), else the same SQLITE_FULL from a page cap."""
    folder.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
        if shutil.which("mount")
        else False
    )
    try:
        yield "tmpfs" if mounted else "max_page_count"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_during_apply_is_a_state_error_and_loses_nothing(tmp_path):
    folder = tmp_path / "small"
    with _small_disk(folder) as how:
        path = folder / "state.db"
        provider = MemoryProvider(Item)
        state = rc.SQLiteState(path)
        reconciler = rc.Reconciler([provider], state=state)
        if how == "max_page_count":
            state._db.execute("PRAGMA max_page_count = 250")  # the same SQLITE_FULL, without root
        wanted = _items(200, size=2000)  # a 400 kB plan fits; its records do not
        with pytest.raises(rc.StateError) as caught:
            reconciler.apply(reconciler.plan(wanted))
        message = str(caught.value)
        assert f"the disk holding {path} is full" in message, message
        assert "free space and run again" in message, message
        assert "the last recorded step is create sf_item[" in message, message
        state.close()
        if how == "tmpfs":
            subprocess.run(["mount", "-o", "remount,size=64m", str(folder)], check=True)
        reopened = rc.SQLiteState(path)  # space freed: the state opens, sound
        try:
            assert reopened._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            recorded = reopened.snapshot().records
            done = {s.address for e in reopened.history() for s in reopened.entry(e.id).steps}
            assert recorded, f"nothing was recorded before the disk filled ({how})"
            assert set(recorded) <= {f"sf_item[{i.name}]" for i in wanted}
            assert set(recorded) <= done | set(recorded)  # each record has its step or none
            again = rc.Reconciler([provider], state=reopened)
            assert again.apply(again.plan(wanted[: len(recorded) + 5])).ok
        finally:
            reopened.close()


# --- several processes creating one new file at once ----------------------------------------

# Each opener waits for the same moment (argv[2]), so that they all find the file new.
OPENER = textwrap.dedent(
    """
    import sys, time, reconcile as rc
    while time.time() < float(sys.argv[2]):
        pass
    try:
        rc.SQLiteState(sys.argv[1]).close()
    except rc.StateError as err:
        print("REFUSED", err)
        sys.exit(3)
    """
)


@pytest.mark.parametrize("round_", range(4))
def test_processes_creating_one_new_state_at_once_all_succeed(tmp_path, round_):
    path = tmp_path / f"new{round_}" / "state.db"
    start = time.time() + 2.0  # time enough for eight interpreters to import reconcile
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(path), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in openers]
    for code, out, err in outcomes:
        assert code in (0, 3), (code, out, err)
        assert "Traceback" not in err, err
        assert code == 0 or "locked by" in out, out
    assert any(code == 0 for code, _, _ in outcomes)
    state = rc.SQLiteState(path)
    try:
        assert state.snapshot().serial == 0
    finally:
        state.close()
