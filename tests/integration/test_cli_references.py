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
import sqlite3
from pathlib import Path

import pytest

from .cli_user import copy_example, reconcile
from .quickstart_edits import CSS, mode_by_reference, recorded_spec

pytestmark = pytest.mark.skipif(os.name != "posix", reason="modes and symlinks are POSIX")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the quickstart: no site, no recorded state."""
    return copy_example("quickstart", tmp_path)


def _drop_css(project: Path) -> None:
    """Remove the stylesheet's document from the manifests."""
    pages = project / "manifests" / "pages.yaml"
    docs = pages.read_text().split("---\n")
    pages.write_text("---\n".join(d for d in docs if "path: public/css/site.css" not in d))


# -- a reference held by a resource that was a no-op --------------------------------


def test_a_file_whose_mode_is_a_reference_is_pruned_after_an_apply_where_it_was_a_noop(
    project: Path,
) -> None:
    mode_by_reference(project)
    reconcile(project, "apply", ".", "--yes")
    (project / "site" / "public" / "index.html").write_text("edited by hand\n")
    reconcile(project, "apply", ".", "--yes")  # the stylesheet is a no-op in this apply
    assert recorded_spec(project, CSS)["mode"] == 0o755
    _drop_css(project)

    assert f"- {CSS}" in reconcile(project, "plan", ".").stdout
    assert f"delete   {CSS}" in reconcile(project, "status", ".", code=None).stdout
    assert "1 deleted" in reconcile(project, "apply", ".", "--yes").stdout
    assert not (project / "site" / "public" / "css" / "site.css").exists()


@pytest.mark.parametrize("command", [["plan", "."], ["status", "."], ["apply", ".", "--yes"]])
def test_a_record_an_older_version_wrote_with_a_reference_is_a_clear_error(
    project: Path, command: list[str]
) -> None:
    mode_by_reference(project)
    reconcile(project, "apply", ".", "--yes")
    unresolved = {"address": "directory[public/css]", "field": "mode"}
    spec = {**recorded_spec(project, CSS), "mode": unresolved}
    with sqlite3.connect(project / ".reconcile" / "state.db") as db:
        db.execute("UPDATE resources SET spec = ? WHERE address = ?", (json.dumps(spec), CSS))
    _drop_css(project)

    done = reconcile(project, *command, code=None)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert (
        f"{CSS}: its recorded state cannot be read "
        "(mode holds an unresolved reference to directory[public/css].mode)"
    ) in done.stderr
    assert (project / "site" / "public" / "css" / "site.css").exists()
