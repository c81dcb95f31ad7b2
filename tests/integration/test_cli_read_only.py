"""Commands that only look (history, show, status, unlock) never create the state database."""

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


def test_show_of_an_id_not_in_the_journal_names_the_newest(tmp_path: Path) -> None:
    project = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, project, ignore=shutil.ignore_patterns("site", ".reconcile"))
    runner = CliRunner()
    assert runner.invoke(cli, ["apply", str(project), "--yes"]).exit_code == 0
    config = str(project / "reconcile.toml")
    done = runner.invoke(cli, ["show", "9", "--config", config], catch_exceptions=False)
    assert done.exit_code == 1
    assert "no apply with id 9 in the journal (the newest is 1; see reconcile history)" in (
        done.output.replace("\n", "")
    )


def test_unlock_reads_no_manifests_and_creates_no_state(tmp_path: Path) -> None:
    project = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, project, ignore=shutil.ignore_patterns("site", ".reconcile"))
    runner = CliRunner()
    done = runner.invoke(cli, ["unlock", "--config", str(project / "reconcile.toml")])
    assert done.exit_code == 0, done.output
    assert "nothing is locked" in done.output
    assert not (project / ".reconcile").exists()
    assert runner.invoke(cli, ["apply", str(project), "--yes"]).exit_code == 0
    (project / "manifests" / "broken.yaml").write_text("kind: nosuchkind\nspec: {}\n")
    done = runner.invoke(cli, ["unlock", "--config", str(project / "reconcile.toml")])
    assert done.exit_code == 0, done.output
    assert "State was not locked." in done.output
