"""Fuzzed manifests and saved plans through the installed script: exit 0, 1 or 2, never a
traceback (issue 17, item 4). The mutations are the loader fuzzer's; fewer examples,
as each one is a subprocess."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.sources.test_fuzz_loader import EDITS, _mutate

from .cli_user import reconcile

CONFIG = b'[state]\npath = ".reconcile/state.db"\n\n[providers.files]\nroot = "site"\n'
SEEDS: dict[str, bytes] = {
    "m.yaml": (
        b"kind: directory\nspec: {path: public, mode: 0755}\n---\nkind: file\nspec:\n"
        b"  path: public/index.html\n  content: |\n    <h1>hi</h1>\n"
        b'depends_on: ["directory[public]"]\n'
    ),
    "m.json": (
        b'[{"kind": "directory", "spec": {"path": "public", "mode": 493}},\n'
        b' {"kind": "file", "spec": {"path": "public/a.txt", "content": "a\\n"},\n'
        b'  "depends_on": ["directory[public]"]}]\n'
    ),
    "m.toml": (
        b'[[resource]]\nkind = "directory"\nspec = { path = "public", mode = 493 }\n\n'
        b'[[resource]]\nkind = "file"\ndepends_on = ["directory[public]"]\n\n'
        b'[resource.spec]\npath = "public/a.txt"\ncontent = "a\\n"\n'
    ),
}
CLI = settings(
    max_examples=40 if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else 6,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _project(root: Path, name: str, data: bytes) -> Path:
    (root / "manifests").mkdir()
    (root / "reconcile.toml").write_bytes(CONFIG)
    (root / "manifests" / name).write_bytes(data)
    return root


@CLI
@given(name=st.sampled_from(sorted(SEEDS)), edits=EDITS)
def test_a_fuzzed_manifest_never_shows_a_traceback(
    name: str, edits: list[tuple[int, int, int]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = _project(Path(folder), name, _mutate(SEEDS[name], edits))
        done = reconcile(project, "plan", ".", "--exit-code", code=None)  # no traceback
        assert done.returncode in (0, 1, 2), done.stderr


@CLI
@given(edits=EDITS)
def test_a_fuzzed_saved_plan_never_shows_a_traceback(edits: list[tuple[int, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = _project(Path(folder), "m.yaml", SEEDS["m.yaml"])
        reconcile(project, "plan", ".", "--out", "p.json")
        plan = project / "p.json"
        plan.write_bytes(_mutate(plan.read_bytes(), edits))
        done = reconcile(project, "apply", "p.json", "--yes", code=None)
        assert done.returncode in (0, 1), done.stderr


def test_the_seeds_plan_cleanly() -> None:
    for name, data in SEEDS.items():
        with tempfile.TemporaryDirectory() as folder:
            done = reconcile(_project(Path(folder), name, data), "plan", ".", "--exit-code", code=2)
            assert "2 to add" in done.stdout, name
