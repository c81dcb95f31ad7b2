"""Run the installed ``reconcile`` console script as a user does: a subprocess in a folder.

Shared by the CLI scenarios and the executed docs. Every run checks its exit code
and that no Python traceback reached the user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
RECONCILE = BIN / "reconcile"
TIMEOUT = 120
# What running an example leaves beside it (CI runs the quickstart in the repository first).
GENERATED = shutil.ignore_patterns("site", ".reconcile", "__pycache__")


def user_env() -> dict[str, str]:
    """The environment of a user whose PATH starts with this virtualenv (no colours)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    return env


def reconcile(
    cwd: Path | None,
    *args: str | Path,
    code: int | None = 0,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``reconcile ARGS`` in ``cwd`` with ``env`` added; asserts that no traceback is shown.

    The exit code must be ``code``; ``code=None`` leaves it to the caller to check.
    """
    done = subprocess.run(
        [str(RECONCILE), *map(str, args)],
        cwd=cwd,
        env={**user_env(), **(env or {})},
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    shown = f"$ reconcile {' '.join(map(str, args))}\n{done.stdout}\n--- stderr:\n{done.stderr}"
    if code is not None:
        assert done.returncode == code, f"exit {done.returncode}, wanted {code}\n{shown}"
    assert "Traceback" not in done.stdout + done.stderr, shown
    return done


def git(repo: Path, *args: str, author: str = "Ann <ann@example.org>") -> str:
    """The ``git`` binary in ``repo`` as ``author``; returns its stdout, stripped."""
    name, _, mail = author.partition(" <")
    config = ["-c", f"user.name={name}", "-c", f"user.email={mail.rstrip('>')}"]
    config += ["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    done = subprocess.run(
        ["git", "-C", str(repo), *config, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    return done.stdout.strip()


def copy_example(name: str, into: Path) -> Path:
    """A copy of ``examples/NAME`` in ``into`` (never run in the repository itself)."""
    target = into / name
    if (EXAMPLES / name).is_dir():
        shutil.copytree(EXAMPLES / name, target, ignore=GENERATED)
    else:
        shutil.copy2(EXAMPLES / name, target)
    return target
