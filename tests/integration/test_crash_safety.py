"""Crash safety for real: a subprocess applying 200+ blobs is SIGKILLed at 60 points.

After each kill a fresh process converges by itself (the dead one's lock died with
it: nobody runs `unlock`), and the test checks that every
object on disk is recorded, every record exists on disk, no object was created
twice, the plan is then empty, and SQLite's integrity check passes.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("crash_worker.py")
GEN1_HOOKS = 800  # 200 creates and 200 commits, each with a hook before and after
GEN2_HOOKS = 880  # 150 updates, 50 deletes, 20 creates, and their commits


def _spread(total: int, count: int) -> list[int]:
    """``count`` kill points across ``1..total``, odd and even (even: after a write)."""
    step = total / count
    return sorted({max(1, int(i * step) + (i % 2)) for i in range(1, count + 1)})


def _run(
    root: Path, state: Path, generation: int, kill_at: int, *flags: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER), str(root), str(state), str(generation), str(kill_at), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _check_invariants(root: Path, state: Path, generation: int) -> None:
    on_disk = {}
    names = Counter()
    for path in root.glob("*.json"):
        data = json.loads(path.read_text())
        on_disk[path.stem] = data
        names[data["name"]] += 1
    duplicated = {n for n, c in names.items() if c > 1}
    assert not duplicated, f"created twice: {sorted(duplicated)}"

    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT address, outputs FROM resources").fetchall()
        assert db.execute("SELECT count(*) FROM intents").fetchone()[0] == 0
    recorded = {json.loads(outputs)["id"]: address for address, outputs in rows}
    assert set(recorded) == set(on_disk), "disk and state disagree"
    for blob_id, address in recorded.items():
        assert address == f"crash_blob[{on_disk[blob_id]['name']}]"
    expected = 200 if generation == 1 else 170
    assert len(on_disk) == expected


def _crash_and_recover(tmp_path: Path, generation: int, kill_at: int) -> None:
    root, state = tmp_path / "root", tmp_path / "state.db"
    root.mkdir(exist_ok=True)
    killed = _run(root, state, generation, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    recovered = _run(root, state, generation, 0)
    assert recovered.returncode == 0, recovered.stderr
    _check_invariants(root, state, generation)
    again = _run(root, state, generation, 0)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["hooks"] == 0, "a converged tree needs no writes"


def test_an_uninterrupted_run_passes_the_expected_hooks(tmp_path):
    root, state = tmp_path / "root", tmp_path / "state.db"
    root.mkdir()
    first = _run(root, state, 1, 0)
    assert json.loads(first.stdout) == {"hooks": GEN1_HOOKS, "converged": True}
    second = _run(root, state, 2, 0)
    assert json.loads(second.stdout) == {"hooks": GEN2_HOOKS, "converged": True}
    _check_invariants(root, state, 2)


@pytest.mark.parametrize("kill_at", _spread(GEN1_HOOKS, 40))
def test_killed_while_creating(tmp_path, kill_at):
    _crash_and_recover(tmp_path, 1, kill_at)


@pytest.mark.parametrize("kill_at", _spread(GEN2_HOOKS, 20))
def test_killed_while_updating_deleting_and_creating(tmp_path, kill_at):
    root, state = tmp_path / "root", tmp_path / "state.db"
    root.mkdir()
    assert _run(root, state, 1, 0).returncode == 0
    _crash_and_recover(tmp_path, 2, kill_at)
