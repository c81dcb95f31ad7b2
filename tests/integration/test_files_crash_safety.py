"""Crash safety of the built-in files providers running inline, in a real process.

``files_crash_worker.py`` converges 150 files in 5 folders with
``local_providers(root, durable=False)`` (calls inline on the applying thread,
state written in one batch per scheduler cycle) and SIGKILLs itself at a named
point: inside a cycle's intents batch, before or after a provider write, in the
middle of a file write (temporary file complete, not yet renamed), or inside a
cycle's batch of records. A fresh process (nobody breaks the dead one's lock: it
died with it) then recovers and converges, and the
test checks the tree and the state: every desired file has its bytes and mode,
nothing else is there, the state records exactly the desired resources with no
intent open, SQLite's integrity check passes and a new plan is empty.

A kill in the middle of a write leaves that write's temporary file
(``.<name>.<hex>.tmp``) behind: nothing removes it later. The test allows that
one file, and only for such a kill.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import reconcile as rc
from reconcile.providers import Directory, File, local_providers

from .files_crash_worker import desired

WORKER = Path(__file__).with_name("files_crash_worker.py")
TEMP = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.tmp$")
GEN1_HOOKS = {
    "intent-before": 155,
    "intent-after": 155,
    "call-before": 155,
    "write": 150,
    "call-after": 155,
    "record-before": 155,
    "record-after": 155,
}
GEN2_CALLS = 40 + 8 + 30 + 10  # rewrites, chmods, deletes, creates
GEN2_HOOKS = {
    "intent-before": GEN2_CALLS,
    "intent-after": GEN2_CALLS,
    "call-before": GEN2_CALLS,
    "write": 40 + 10,
    "call-after": GEN2_CALLS,
    "record-before": 135 + 30,  # every desired resource (a new revision) and the deletes
    "record-after": 135 + 30,
}


def _run(
    root: Path, state: Path, generation: int, kill_at: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER), str(root), str(state), str(generation), kill_at, *flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _tree(root: Path) -> tuple[dict[str, tuple[bytes, int]], dict[str, int], list[str]]:
    """Files (bytes, mode) and folders (mode) by root-relative path, and temporary files."""
    files, folders, temps = {}, {}, []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            folders[relative] = mode
        elif TEMP.match(path.name):
            temps.append(relative)
        else:
            files[relative] = (path.read_bytes(), mode)
    return files, folders, temps


def _check_tree(root: Path, generation: int, killed_in_write: str | None) -> None:
    wanted = desired(generation)
    files, folders, temps = _tree(root)
    expected = {f.path: ((f.content or "").encode(), f.mode) for f in wanted if isinstance(f, File)}
    assert set(files) == set(expected), (
        f"missing {sorted(set(expected) - set(files))}, extra {sorted(set(files) - set(expected))}"
    )
    wrong = [p for p, (body, mode) in expected.items() if files[p] != (body, mode)]
    assert not wrong, f"wrong bytes or mode: {wrong[:5]}"
    assert folders == {d.path: d.mode for d in wanted if isinstance(d, Directory)}
    beside = []
    if killed_in_write is not None:  # the interrupted write's own temporary file, nothing else
        target = Path(killed_in_write).relative_to(root.resolve())
        beside = [t for t in temps if _temp_of(t) == target]
    assert len(beside) <= 1
    assert temps == beside, f"temporary files left behind: {temps}"


def _temp_of(temp: str) -> Path:
    """The file a temporary file was written for: ``d1/.f006.txt.0a1b2c3d.tmp`` -> d1/f006.txt."""
    path = Path(temp)
    found = TEMP.match(path.name)
    assert found is not None
    return path.with_name(found["name"])


def _check_state(root: Path, path: Path, generation: int) -> None:
    wanted = desired(generation)
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        recorded = {r[0] for r in db.execute("SELECT address FROM resources")}
        assert db.execute("SELECT count(*) FROM intents").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM lock").fetchone()[0] == 0
    assert recorded == {rc.address_of(r) for r in wanted}
    state = rc.SQLiteState(path)
    try:
        reconciler = rc.Reconciler(local_providers(root, durable=False), state=state)
        plan = reconciler.plan(wanted)
        assert plan.is_empty, plan.render()
    finally:
        state.close()


def _killed_in_write(killed: subprocess.CompletedProcess[str]) -> str | None:
    found = re.search(r"killed at write:\d+ (\S+)", killed.stderr)
    return found[1] if found else None


def _crash_and_recover(tmp_path: Path, generation: int, kill_at: str) -> None:
    root, state = tmp_path / "root", tmp_path / "state.db"
    root.mkdir(exist_ok=True)
    killed = _run(root, state, generation, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert f"killed at {kill_at} " in killed.stderr
    recovered = _run(root, state, generation, "0")
    assert recovered.returncode == 0, recovered.stderr
    report: dict[str, Any] = json.loads(recovered.stdout)
    assert report["converged"]
    assert report["inline"]
    _check_tree(root, generation, _killed_in_write(killed))
    _check_state(root, state, generation)


def test_an_uninterrupted_run_writes_inline_and_passes_the_expected_hooks(tmp_path):
    root, state = tmp_path / "root", tmp_path / "state.db"
    root.mkdir()
    first = _run(root, state, 1, "0")
    assert json.loads(first.stdout) == {"hooks": GEN1_HOOKS, "converged": True, "inline": True}
    _check_tree(root, 1, None)
    _check_state(root, state, 1)
    second = _run(root, state, 2, "0")
    assert json.loads(second.stdout) == {"hooks": GEN2_HOOKS, "converged": True, "inline": True}
    _check_tree(root, 2, None)
    _check_state(root, state, 2)


@pytest.mark.parametrize(
    "kill_at",
    [
        "intent-after:1",  # inside the folders' intents batch: nothing committed
        "call-before:1",  # intents committed, nothing made yet
        "call-after:3",  # a folder made, not recorded
        "record-after:2",  # inside the folders' records batch: lost with it
        "intent-after:12",  # inside a files' intents batch
        "write:1",  # the first file's temporary file written, not renamed
        "write:77",
        "call-after:90",
        "record-before:100",
        "record-after:150",
        "write:150",  # the last file
    ],
)
def test_killed_while_creating(tmp_path, kill_at):
    _crash_and_recover(tmp_path, 1, kill_at)


@pytest.mark.parametrize(
    "kill_at",
    ["write:1", "call-after:30", "write:45", "record-after:60", "intent-after:80"],
)
def test_killed_while_rewriting_deleting_and_creating(tmp_path, kill_at):
    root, state = tmp_path / "root", tmp_path / "state.db"
    root.mkdir()
    assert _run(root, state, 1, "0").returncode == 0
    _crash_and_recover(tmp_path, 2, kill_at)
