"""The public surface: ``__all__`` is complete, sorted, and shows no private paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import reconcile as rc
import reconcile.testing

ROOT = Path(__file__).resolve().parents[2]


def test_all_is_sorted_and_complete():
    assert rc.__all__ == sorted(rc.__all__)
    subpackages = {"testing", "sources", "providers", "kube"}
    public = {n for n in dir(rc) if n.isidentifier() and not n.startswith("_")} - subpackages
    assert public == set(rc.__all__)


def test_exports_claim_the_facade_module():
    for name in rc.__all__:
        obj = getattr(rc, name)
        if isinstance(obj, type):
            assert obj.__module__ == "reconcile", name


def test_testing_kit_is_public():
    assert set(reconcile.testing.__all__) >= {"MemoryProvider", "InjectedFailure"}


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_example_runs():
    (block,) = _python_blocks((ROOT / "README.md").read_text())
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})


@pytest.mark.parametrize(
    "page", sorted((ROOT / "docs").glob("**/*.md")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_docs_code_blocks_run(page):
    """Every ```python block of a page runs, in order, in one namespace per page."""
    namespace = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(_python_blocks(page.read_text())):
        exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
