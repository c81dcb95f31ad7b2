"""Saved benchmark runs compare row by row, by ratio: the way commits are compared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks import compare, run


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``run --json`` file: the quick plan-JSON and state workload."""
    path = tmp_path_factory.mktemp("bench") / "before.json"
    assert run.main(["--quick", "--only", "bench_json_state", "--json", str(path)]) == 0
    return path


def _rows(text: str) -> dict[str, str]:
    """Each table line of ``compare``'s output by its workload name."""
    return {line[:46].strip(): line for line in text.splitlines()[2:] if line[:46].strip()}


def test_a_run_against_itself_changes_nothing(saved: Path) -> None:
    rows = compare.load(saved)
    assert {workload for workload, _ in rows} == {
        "plan.to_json",
        "Plan.from_json",
        "SQLiteState.save per applied step",
    }
    table = _rows(compare.compare(rows, rows))
    assert set(table) == {workload for workload, _ in rows}
    for line in table.values():
        assert line.split()[-1] == "1.00x", line  # the change, and no verdict after it


def test_changes_beyond_the_threshold_are_named(saved: Path, tmp_path: Path) -> None:
    document = json.loads(saved.read_text())
    by_name = {r["workload"]: r for r in document["rows"]}
    by_name["plan.to_json"]["ratio"] *= 2
    by_name["Plan.from_json"]["ratio"] /= 2
    by_name["SQLiteState.save per applied step"]["ratio"] *= 1.1  # within the threshold
    document["rows"].append({**by_name["plan.to_json"], "workload": "new row", "ratio": 1.0})
    after = tmp_path / "after.json"
    after.write_text(json.dumps(document))

    out = compare.compare(compare.load(saved), compare.load(after), threshold=1.2)
    table = _rows(out)
    assert table["plan.to_json"].split()[-2:] == ["2.00x", "slower"]
    assert table["Plan.from_json"].split()[-2:] == ["0.50x", "faster"]
    assert table["SQLiteState.save per applied step"].split()[-1] == "1.10x"
    assert "only after: new row (1000)" in out.splitlines()


def test_the_command_compares_two_files(saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert compare.main([str(saved), str(saved), "--threshold", "1.5"]) == 0
    assert "plan.to_json" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["", "{}", '{"rows": [{"workload": "x"}]}', "[1]"])
def test_a_file_that_is_not_a_run_is_refused_by_its_path(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    with pytest.raises(SystemExit, match=r"bad\.json: not a benchmarks\.run --json file"):
        compare.load(bad)


def test_run_refuses_a_bad_earlier_file_before_running(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(SystemExit, match=r"missing\.json: not a benchmarks\.run --json file"):
        run.main(["--quick", "--only", "no_such_workload", "--compare", str(missing)])
