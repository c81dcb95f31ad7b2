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

from tests.gitenv import GIT_ALONE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
RECONCILE = BIN / "reconcile"
TIMEOUT = 120
# What running an example leaves beside it (CI runs the quickstart in the repository first).
GENERATED = shutil.ignore_patterns("site", ".reconcile", "__pycache__")


# The reconcile.toml of a project whose manifests come from Git (the quickstart's settings).
QUICKSTART_TOML = '[state]\npath = ".reconcile/state.db"\n\n[providers.files]\nroot = "site"\n'
# Git reads neither the system's nor the user's configuration.


def home_env(home: Path) -> dict[str, str]:
    """Extra variables for a user whose home is ``home`` and whose Git has no configuration."""
    return {"HOME": str(home), **GIT_ALONE}


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
        env={**os.environ, **GIT_ALONE},
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    return done.stdout.strip()


def commit(
    repo: Path,
    files: Mapping[str, str | None],
    subject: str,
    *,
    author: str = "Ann <ann@example.org>",
    allow_empty: bool = False,
) -> str:
    """Write ``files`` in ``repo`` (``None`` deletes one) and commit them all; returns the hash."""
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    git(repo, "add", "-A", author=author)
    git(
        repo,
        "commit",
        "-q",
        *(["--allow-empty"] if allow_empty else []),
        "-m",
        subject,
        author=author,
    )
    return git(repo, "rev-parse", "HEAD", author=author)


def copy_example(name: str, into: Path) -> Path:
    """A copy of ``examples/NAME`` in ``into`` (never run in the repository itself)."""
    target = into / name
    if (EXAMPLES / name).is_dir():
        shutil.copytree(EXAMPLES / name, target, ignore=GENERATED)
    else:
        shutil.copy2(EXAMPLES / name, target)
    return target


def git_project(root: Path) -> Path:
    """``root`` with reconcile.toml and ./repo: the quickstart manifests as apps/ on main."""
    repo = root / "repo"
    (repo / "apps").mkdir(parents=True)
    (root / "reconcile.toml").write_text(QUICKSTART_TOML)
    git(repo, "init", "-q")
    for page in (EXAMPLES / "quickstart" / "manifests").glob("*.yaml"):
        (repo / "apps" / page.name).write_text(page.read_text())
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "add site")
    return root
