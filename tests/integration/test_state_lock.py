"""The state lock dies with its holder: a SIGKILLed apply leaves nothing to unlock.

A real subprocess takes the lock of a real SQLite state (in the middle of an
apply, or through the state itself) and is killed with SIGKILL, as an OOM kill
or ``kill -9`` would. The next run on the same state proceeds by itself, through
the API and through the installed ``reconcile`` command, with no ``unlock``.
While the holder lives, a second run is refused with a message naming its pid,
host and start time. A lock row left by an older version, which no file lock
backs, is still refused until ``unlock`` breaks it.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider

from .cli_user import RECONCILE, copy_example, reconcile

# An apply that hangs in its provider's create, after the lock is taken and the
# intent journaled: the point where a real apply is most often killed.
HANGING_APPLY = textwrap.dedent(
    """
    import sys, time
    import reconcile as rc

    @rc.resource("lock_item")
    class Item:
        name: str = rc.field(key=True)
        value: str = ""

    class Hangs(rc.Provider[Item]):
        resource = Item
        def read(self, want): return None
        def create(self, want):
            print("applying", flush=True)
            time.sleep(600)
        def update(self, have, want, diff): raise AssertionError
        def delete(self, have): raise AssertionError

    reconciler = rc.Reconciler([Hangs()], state=rc.SQLiteState(sys.argv[1]))
    reconciler.apply(reconciler.plan([Item("a", "1")]))
    """
)

# A process that only takes the state's lock and keeps it.
HOLDING = textwrap.dedent(
    """
    import sys, time
    import reconcile as rc

    state = rc.SQLiteState(sys.argv[1])
    assert state.acquire(rc.LockInfo.mine("holding")) is None
    print("locked", flush=True)
    time.sleep(600)
    """
)


@rc.resource("lock_item")
class Item:
    name: str = rc.field(key=True)
    value: str = ""


@contextmanager
def _running(script: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``script`` in a subprocess, once it printed its first line; killed on the way out."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip(), f"the holder stopped before taking the lock: {proc.stderr.read()}"  # type: ignore[union-attr]
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _sigkill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def test_an_apply_killed_with_sigkill_leaves_no_lock_behind(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with _running(HANGING_APPLY, str(path)) as holder:
        items = MemoryProvider(Item)
        blocked = rc.Reconciler([items], state=rc.SQLiteState(path))
        with pytest.raises(rc.LockedError) as refused:
            blocked.converge([Item("a", "1")])
        message = str(refused.value)
        assert f"state is locked by pid {holder.pid} on {socket.gethostname()} since " in message
        assert refused.value.holder.pid == holder.pid
        assert "(running)" in message
        assert "wait for it to finish" in message
        assert items.writes == 0, "a refused run changed something"
        _sigkill(holder)

    state = rc.SQLiteState(path)
    reconciler = rc.Reconciler([items], state=state)
    report = reconciler.converge([Item("a", "1")])  # no unlock: the lock died with the holder
    assert report.converged
    assert items.get("lock_item[a]") == Item("a", "1")
    assert not state.snapshot().intents, "the killed apply's intent was not resolved"
    state.close()


def test_a_live_holder_still_blocks_and_a_timeout_waits_for_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with _running(HOLDING, str(path)) as holder:
        state = rc.SQLiteState(path)
        waiting = rc.Reconciler([MemoryProvider(Item)], state=state, lock_timeout=0.2)
        with pytest.raises(rc.LockedError, match=f"locked by pid {holder.pid} on "):
            waiting.apply(waiting.plan([Item("a")]))
        with pytest.raises(rc.LockedError, match="a running process holds it"):
            waiting.force_unlock()  # an OS lock of a live process cannot be broken
        _sigkill(holder)
        assert waiting.apply(waiting.plan([Item("a")])).ok
        state.close()


def test_the_cli_resumes_after_a_killed_holder_without_unlock(tmp_path: Path) -> None:
    assert RECONCILE.exists(), "the reconcile console script is not installed"
    project = copy_example("quickstart", tmp_path)
    state = project / ".reconcile" / "state.db"
    state.parent.mkdir()
    command = ["apply", str(project), "--yes"]
    with _running(HOLDING, str(state)) as holder:
        refused = reconcile(project, *command, code=None)
        assert refused.returncode != 0
        said = refused.stdout + refused.stderr
        assert f"state is locked by pid {holder.pid} on {socket.gethostname()} since" in said
        assert "Traceback" not in said
        _sigkill(holder)
    applied = reconcile(project, *command, code=None)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (project / "site").is_dir()


def test_a_lock_row_left_by_an_older_version_needs_unlock(tmp_path: Path) -> None:
    """Such a row has no file lock behind it: its holder cannot be judged, so it stays."""
    path = tmp_path / "state.db"
    rc.SQLiteState(path).close()
    dead = rc.LockInfo(2**22 + 17, socket.gethostname(), "2024-01-01T00:00:00+00:00")
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO lock VALUES (1, ?, ?, ?, ?)", (dead.pid, dead.host, dead.since, ""))
    state = rc.SQLiteState(path)
    reconciler = rc.Reconciler([MemoryProvider(Item)], state=state)
    with pytest.raises(rc.LockedError, match="force_unlock"):
        reconciler.apply(reconciler.plan([Item("a")]))
    assert reconciler.force_unlock() == dead
    assert reconciler.apply(reconciler.plan([Item("a")])).ok
    state.close()
