"""The path-length figure of one new resource: the command prints it, and it is real."""

from __future__ import annotations

import re

import pytest
from benchmarks import trace_one


def test_the_command_prints_functions_and_modules(capsys: pytest.CaptureFixture[str]) -> None:
    assert trace_one.main([]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    found = re.search(r": (\d+) functions in (\d+) modules$", line)
    assert found, line
    functions, modules = int(found[1]), int(found[2])
    assert 0 < modules < functions


def test_the_list_runs_from_plan_to_the_state_record(capsys: pytest.CaptureFixture[str]) -> None:
    """The trace starts at the façade's plan and reaches the SQLite store's writes."""
    assert trace_one.main(["--list"]) == 0
    entered = capsys.readouterr().out.strip().splitlines()[:-1]
    assert entered[0].startswith("reconcile.")
    assert "Reconciler.plan" in "\n".join(entered[:8])
    assert any(line.startswith("reconcile._state.sqlite") for line in entered)
    assert not any(line.startswith("reconcile.testing") for line in entered)
    assert len(entered) == len(set(entered))  # each function once, in first-entry order
