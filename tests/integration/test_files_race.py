"""No write or delete escapes the root while another process swaps a managed folder.

A swapper process exchanges the managed folder ``root/d`` with a symlink to a
canary folder outside the root (``renameat2`` with ``RENAME_EXCHANGE``, in a
loop) while an apply writes 2,000 files under ``root/d``, and while a second
apply deletes them. Steps that meet the swapped folder may fail; the canary,
compared name by name and byte by byte, must not change at all. Each runs
twice: with ``openat2(RESOLVE_BENEATH)`` opening the parent folders (where the
kernel has it) and with the per-component walk alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import reconcile as rc
from reconcile.providers import Directory, File, _openat2, local_providers

COUNT = 2000
SWAPPER = """
import ctypes, ctypes.util, os, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
a, b, stop = (os.fsencode(p) for p in sys.argv[1:4])
print("ready", flush=True)
swaps = 0
while not os.path.exists(stop):
    if libc.renameat2(-100, a, -100, b, 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
        swaps += 1
if swaps % 2 and libc.renameat2(-100, a, -100, b, 2) == 0:
    swaps += 1  # leave root/d a folder again
print(swaps, flush=True)
"""


def _can_exchange(tmp: Path) -> bool:
    """Whether this system's libc has renameat2 and its kernel exchanges two entries."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name, use_errno=True) if name else None
    if libc is None or not hasattr(libc, "renameat2"):
        return False
    (tmp / "x").mkdir()
    (tmp / "y").symlink_to("x")
    exchanged = libc.renameat2(-100, bytes(tmp / "x"), -100, bytes(tmp / "y"), 2) == 0
    return exchanged and (tmp / "x").is_symlink()


def _manifest(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links not followed): its name and the sha256 of its bytes."""
    found = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(top, name)
            relative = str(path.relative_to(folder))
            if path.is_symlink():
                found[relative] = "link " + os.readlink(path)
            elif path.is_dir():
                found[relative] = "folder"
            else:
                found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _desired() -> list[object]:
    folder = Directory("d", mode=0o755)
    files = [
        File(f"d/f{i:04}.txt", content=f"written by apply {i}\n", depends_on=[folder])
        for i in range(COUNT)
    ]
    return [folder, *files]


class Swapper:
    """The swapping process: exchanges ``root/d`` and a link to the canary until stopped."""

    def __init__(self, tmp: Path) -> None:
        self.link, self.stop = tmp / "swap", tmp / "stop"
        self.link.symlink_to(tmp / "canary")
        self.stop.unlink(missing_ok=True)
        args = [
            sys.executable,
            "-c",
            SWAPPER,
            str(tmp / "root" / "d"),
            str(self.link),
            str(self.stop),
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == "ready\n"

    def finish(self) -> int:
        """Stop swapping; the number of swaps made."""
        self.stop.touch()
        out, _ = self.process.communicate(timeout=60)
        self.link.unlink()
        return int(out)


@pytest.fixture(params=["openat2", "walk"])
def tmp(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not sys.platform.startswith("linux") or not _can_exchange(tmp_path):
        pytest.skip("needs renameat2 with RENAME_EXCHANGE (Linux)")
    if request.param == "openat2":
        monkeypatch.setattr(_openat2, "_OPENAT2", None)
        if not _openat2.has_openat2():
            pytest.skip("this kernel has no openat2 (or seccomp bars it)")
    else:
        monkeypatch.setattr(_openat2, "_OPENAT2", False)  # the per-component walk alone
    (tmp_path / "root").mkdir()
    canary = tmp_path / "canary"
    canary.mkdir()
    for i in range(COUNT):  # the names the apply writes, with other bytes
        (canary / f"f{i:04}.txt").write_text(f"canary {i}\n")
    (canary / "sub").mkdir()
    (canary / "sub" / "keep").write_text("canary")
    return tmp_path


def _apply_while_swapping(tmp: Path, reconciler: rc.Reconciler, plan: rc.Plan) -> int:
    swapper = Swapper(tmp)
    try:
        reconciler.apply(plan)
    except rc.ReconcileError:
        pass  # steps that met the swapped folder may fail: what matters is the canary
    finally:
        swaps = swapper.finish()
    print(f"{swaps} swaps during the apply")
    return swaps


def test_writes_never_leave_the_root_while_a_folder_is_swapped(tmp: Path) -> None:
    before = _manifest(tmp / "canary")
    reconciler = rc.Reconciler(local_providers(tmp / "root", durable=False))
    plan = reconciler.plan(_desired())
    swaps = _apply_while_swapping(tmp, reconciler, plan)
    changed = set(before.items()) ^ set(_manifest(tmp / "canary").items())
    assert swaps > 0
    assert sorted(changed)[:5] == [], f"{len(changed)} entries outside the root changed"


def test_deletes_never_leave_the_root_while_a_folder_is_swapped(tmp: Path) -> None:
    state = rc.SQLiteState(tmp / "state.db")
    try:
        reconciler = rc.Reconciler(local_providers(tmp / "root", durable=False), state=state)
        assert reconciler.converge(_desired()).converged
        before = _manifest(tmp / "canary")
        plan = reconciler.plan([])
        assert len(plan.changes) == COUNT + 1
        swaps = _apply_while_swapping(tmp, reconciler, plan)
    finally:
        state.close()
    changed = set(before.items()) ^ set(_manifest(tmp / "canary").items())
    assert swaps > 0
    assert sorted(changed)[:5] == [], f"{len(changed)} entries outside the root changed"
