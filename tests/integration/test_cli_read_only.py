"""Commands that only read the journal never create recorded state."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile._cli import cli


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
