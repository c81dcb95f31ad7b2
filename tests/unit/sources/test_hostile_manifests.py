"""Hostile manifest text: every bad input is a ManifestError naming file and line, never a
foreign exception (a number too long for ``int()``, a NUL, deep nesting, a lone surrogate)."""

from __future__ import annotations

from pathlib import Path

import pytest

import reconcile as rc
from reconcile.sources import ManifestError, ManifestSource


@rc.resource("hm_item")
class Item:
    name: str = rc.field(key=True)
    value: str = ""
    count: int = 0


BIG = "1" * 5000
DEEP = "[" * 2000 + "]" * 2000

CASES = {
    "big.yaml": (f"kind: hm_item\nname: a\ncount: {BIG}\n", 3, "4300 digits"),
    "big.json": (f'{{"kind": "hm_item",\n "name": "a", "count": {BIG}}}', 2, "4300 digits"),
    "big.toml": (f'[[resource]]\nkind = "hm_item"\nname = "a"\ncount = {BIG}\n', 4, "4300 digits"),
    "nul.yaml": ("kind: hm_item\nname: a\0\n", 2, "U+0000"),
    "deep.toml": (f'[[resource]]\nkind = "hm_item"\nname = "a"\nvalue = {DEEP}\n', None, "deeply"),
    "deep.json": (f'{{"kind": "hm_item", "name": "a", "value": {DEEP}}}', None, "deeply"),
    "deep.yaml": (f"kind: hm_item\nname: a\nvalue: {DEEP}\n", None, "deeply"),
    "lone.json": ('{"kind": "hm_item",\n "name": "a",\n "value": "a\\ud800b"}', 3, "$.value"),
    "lone.yaml": ('kind: hm_item\nname: a\nvalue: "a\\ud800b"\n', 3, "$.value"),
    "lonekey.yaml": ('kind: hm_item\nname: a\n"k\\udc00": x\n', 3, "surrogate"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_manifest_is_a_manifest_error_with_its_line(tmp_path: Path, name: str) -> None:
    text, line, words = CASES[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ManifestError) as caught:
        ManifestSource(path).load()
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.line == line
    assert words in str(problem)
