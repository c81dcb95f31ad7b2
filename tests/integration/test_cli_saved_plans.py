"""A plan saved with ``plan --out`` and applied with recorded state, through the script.

After a hand edit of one managed file, ``reconcile plan . --out p.json`` then
``reconcile apply p.json --yes`` failed with ``NoneType is not a @reconcile.resource
class``: the saved plan's no-op steps carry no documents. Both tests run the
installed console script in a subprocess on a copy of ``examples/quickstart``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
CSS = "file[public/css/site.css]"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="modes and symlinks are POSIX")


def _reconcile(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script (beside this Python) run in ``cwd``."""
    found = shutil.which("reconcile", path=str(Path(sys.executable).parent))
    command = [found] if found else [sys.executable, "-m", "reconcile"]
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TERM")}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def _ok(*args: str, cwd: Path) -> str:
    done = _reconcile(*args, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the quickstart: no site, no recorded state."""
    dest = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, dest, ignore=shutil.ignore_patterns("site", ".reconcile"))
    return dest


def _edit_pages(project: Path, old: str, new: str) -> None:
    pages = project / "manifests" / "pages.yaml"
    text = pages.read_text()
    assert old in text
    pages.write_text(text.replace(old, new))


def _mode_by_reference(project: Path) -> None:
    _edit_pages(
        project,
        "  path: public/css/site.css\n",
        '  path: public/css/site.css\n  mode: {$ref: "directory[public/css]", field: mode}\n',
    )


def _recorded_spec(project: Path, address: str) -> dict[str, object]:
    with sqlite3.connect(project / ".reconcile" / "state.db") as db:
        (spec,) = db.execute("SELECT spec FROM resources WHERE address = ?", (address,)).fetchone()
    loaded: dict[str, object] = json.loads(spec)
    return loaded


# -- a saved plan applied with recorded state ---------------------------------------


def test_a_saved_plan_after_a_hand_edit_applies_and_leaves_nothing_to_do(project: Path) -> None:
    _ok("apply", ".", "--yes", cwd=project)
    index = project / "site" / "public" / "index.html"
    declared = index.read_text()
    index.write_text("edited by hand\n")
    _ok("plan", ".", "--out", "p.json", cwd=project)  # six no-ops and one update

    assert "1 updated" in _ok("apply", "p.json", "--yes", cwd=project)

    assert index.read_text() == declared
    assert _reconcile("plan", ".", "--exit-code", cwd=project).returncode == 0


def test_a_saved_plan_updating_a_file_whose_mode_refers_to_a_noop_directory(
    project: Path,
) -> None:
    _mode_by_reference(project)
    _ok("apply", ".", "--yes", cwd=project)
    css = project / "site" / "public" / "css" / "site.css"
    css.write_text("edited by hand\n")
    _ok("plan", ".", "--out", "p.json", cwd=project)

    assert "1 updated" in _ok("apply", "p.json", "--yes", cwd=project)

    assert css.read_text().startswith("body {")
    assert _recorded_spec(project, CSS)["mode"] == 0o755
    assert _reconcile("plan", ".", "--exit-code", cwd=project).returncode == 0
