"""A file whose mode is a reference, through the installed ``reconcile`` script.

The stylesheet of a copy of ``examples/quickstart`` takes its mode from its
folder (``{$ref: "directory[public/css]", field: mode}``). When it was a no-op
in an apply, its record kept the reference itself, and pruning it later printed
a cattrs traceback from ``plan``, ``status`` and ``apply``. A record an older
version wrote that way is now a clear error naming the address and field.
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


def _drop_css(project: Path) -> None:
    """Remove the stylesheet's document from the manifests."""
    pages = project / "manifests" / "pages.yaml"
    docs = pages.read_text().split("---\n")
    pages.write_text("---\n".join(d for d in docs if "path: public/css/site.css" not in d))


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


# -- a reference held by a resource that was a no-op --------------------------------


def test_a_file_whose_mode_is_a_reference_is_pruned_after_an_apply_where_it_was_a_noop(
    project: Path,
) -> None:
    _mode_by_reference(project)
    _ok("apply", ".", "--yes", cwd=project)
    (project / "site" / "public" / "index.html").write_text("edited by hand\n")
    _ok("apply", ".", "--yes", cwd=project)  # the stylesheet is a no-op in this apply
    assert _recorded_spec(project, CSS)["mode"] == 0o755
    _drop_css(project)

    assert f"- {CSS}" in _ok("plan", ".", cwd=project)
    assert f"delete   {CSS}" in _reconcile("status", ".", cwd=project).stdout
    assert "1 deleted" in _ok("apply", ".", "--yes", cwd=project)
    assert not (project / "site" / "public" / "css" / "site.css").exists()


@pytest.mark.parametrize("command", [["plan", "."], ["status", "."], ["apply", ".", "--yes"]])
def test_a_record_an_older_version_wrote_with_a_reference_is_a_clear_error(
    project: Path, command: list[str]
) -> None:
    _mode_by_reference(project)
    _ok("apply", ".", "--yes", cwd=project)
    unresolved = {"address": "directory[public/css]", "field": "mode"}
    spec = {**_recorded_spec(project, CSS), "mode": unresolved}
    with sqlite3.connect(project / ".reconcile" / "state.db") as db:
        db.execute("UPDATE resources SET spec = ? WHERE address = ?", (json.dumps(spec), CSS))
    _drop_css(project)

    done = _reconcile(*command, cwd=project)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert (
        f"{CSS}: its recorded state cannot be read "
        "(mode holds an unresolved reference to directory[public/css].mode)"
    ) in done.stderr
    assert (project / "site" / "public" / "css" / "site.css").exists()
