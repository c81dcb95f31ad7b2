"""A plan saved with ``plan --out`` and applied with recorded state, through the script.

After a hand edit of one managed file, ``reconcile plan . --out p.json`` then
``reconcile apply p.json --yes`` failed with ``NoneType is not a @reconcile.resource
class``: the saved plan's no-op steps carry no documents. Both tests run the
installed console script in a subprocess on a copy of ``examples/quickstart``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .cli_user import copy_example, reconcile
from .quickstart_edits import CSS, mode_by_reference, recorded_spec

pytestmark = pytest.mark.skipif(os.name != "posix", reason="modes and symlinks are POSIX")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the quickstart: no site, no recorded state."""
    return copy_example("quickstart", tmp_path)


# -- a saved plan applied with recorded state ---------------------------------------


def test_a_saved_plan_after_a_hand_edit_applies_and_leaves_nothing_to_do(project: Path) -> None:
    reconcile(project, "apply", ".", "--yes")
    index = project / "site" / "public" / "index.html"
    declared = index.read_text()
    index.write_text("edited by hand\n")
    reconcile(project, "plan", ".", "--out", "p.json")  # six no-ops and one update

    assert "1 updated" in reconcile(project, "apply", "p.json", "--yes").stdout

    assert index.read_text() == declared
    assert reconcile(project, "plan", ".", "--exit-code", code=None).returncode == 0


def test_a_saved_plan_updating_a_file_whose_mode_refers_to_a_noop_directory(
    project: Path,
) -> None:
    mode_by_reference(project)
    reconcile(project, "apply", ".", "--yes")
    css = project / "site" / "public" / "css" / "site.css"
    css.write_text("edited by hand\n")
    reconcile(project, "plan", ".", "--out", "p.json")

    assert "1 updated" in reconcile(project, "apply", "p.json", "--yes").stdout

    assert css.read_text().startswith("body {")
    assert recorded_spec(project, CSS)["mode"] == 0o755
    assert reconcile(project, "plan", ".", "--exit-code", code=None).returncode == 0
