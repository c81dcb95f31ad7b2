"""The state key as a user meets it through the installed ``reconcile`` script.

``apply`` makes ``.reconcile/state.db.key`` private; a key others can read, or a bad
``RECONCILE_STATE_KEY``, is refused with exit 1 naming it, never a traceback.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from tests.integration.cli_user import copy_example, reconcile


def _applied(tmp_path: Path, env: dict[str, str] | None = None) -> Path:
    project = copy_example("quickstart", tmp_path)
    reconcile(project, "apply", project, "--yes", env=env)
    return project


def test_apply_makes_a_private_key_file_beside_the_state(tmp_path: Path) -> None:
    project = _applied(tmp_path)
    key = project / ".reconcile" / "state.db.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "No changes" in reconcile(project, "plan", project).stdout


def test_a_key_file_others_can_read_is_refused_by_the_cli(tmp_path: Path) -> None:
    project = _applied(tmp_path)
    key = project / ".reconcile" / "state.db.key"
    key.chmod(0o644)
    done = reconcile(project, "plan", project, code=1)
    assert str(key) in done.stderr
    assert "chmod 600" in done.stderr


def test_an_environment_key_is_used_and_no_key_file_is_made(tmp_path: Path) -> None:
    env = {"RECONCILE_STATE_KEY": base64.b64encode(os.urandom(32)).decode()}
    project = _applied(tmp_path, env)
    assert not (project / ".reconcile" / "state.db.key").exists()
    assert "No changes" in reconcile(project, "plan", project, env=env).stdout
    done = reconcile(project, "plan", project, code=1, env={"RECONCILE_STATE_KEY": "short"})
    assert "RECONCILE_STATE_KEY" in done.stderr
