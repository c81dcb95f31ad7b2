"""Commands that only look (history, show, status) never create the state database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile._cli import cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


@pytest.mark.parametrize("args", [["history"], ["show", "1"]])
def test_reading_the_journal_of_a_folder_without_state_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert not (tmp_path / ".reconcile").exists()
    assert "no state" in done.output.lower()
    assert str(tmp_path / ".reconcile" / "state.db") in done.output.replace("\n", "")
    assert done.exit_code == (0 if args == ["history"] else 1)


def test_status_of_a_project_never_applied_creates_no_state(tmp_path: Path) -> None:
    project = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, project, ignore=shutil.ignore_patterns("site", ".reconcile"))
    done = CliRunner().invoke(cli, ["status", str(project)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert done.output.startswith("Out of sync")
    assert "7 of 7 resources differ" in done.output
    assert "last applied never" in done.output
    assert not (project / ".reconcile").exists()
