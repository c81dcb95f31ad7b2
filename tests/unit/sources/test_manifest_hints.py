"""Misspelt kinds, fields and addresses get a "did you mean"; every $ref problem is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

import reconcile as rc
from reconcile.sources import ManifestError, load_manifests
from reconcile.testing import MemoryProvider


@rc.resource("hint_record")
class Record:
    name: str = rc.field(key=True)
    value: str = ""
    ttl: int = 300


def _problems(tmp_path: Path, text: str) -> list[str]:
    file = tmp_path / "records.yaml"
    file.write_text(text)
    with pytest.raises(ManifestError) as caught:
        load_manifests(file)
    return [str(p) for p in caught.value.problems]


API = "kind: hint_record\nspec: {name: api, value: x}\n---\n"


def _ref(address: str, field: str) -> str:
    """The API record, and a second one whose value references ``address``'s ``field``."""
    return (
        API
        + f"kind: hint_record\nspec: {{name: b, value: {{$ref: '{address}', field: {field}}}}}\n"
    )


CASES = {
    "kind": (
        "kind: hint_recrod\nspec: {name: a}\n",
        "(is the module that defines it imported?); did you mean 'hint_record'?",
    ),
    "field": (
        "kind: hint_record\nspec: {name: a, valeu: x}\n",
        "unknown field; did you mean 'value'?",
    ),
    "depends_on": (
        API + "kind: hint_record\nspec: {name: b}\ndepends_on: ['hint_record[apj]']\n",
        "depends_on names hint_record[apj], which no manifest declares; "
        "did you mean 'hint_record[api]'?",
    ),
    "ref-address": (
        _ref("hint_record[ap]", "value"),
        "$ref names hint_record[ap], which no manifest declares; did you mean 'hint_record[api]'?",
    ),
    "ref-field": (
        _ref("hint_record[api]", "valeu"),
        "$ref field 'valeu': kind hint_record has no such field; did you mean 'value'?",
    ),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_a_misspelt_name_gets_the_closest_known_one(
    tmp_path: Path, text: str, expected: str
) -> None:
    problems = _problems(tmp_path, text)
    assert any(expected in p for p in problems), problems


def test_nothing_close_means_no_suggestion(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "kind: hint_record\nspec: {name: a, zzzzzz: x}\n")
    assert any("unknown field" in p for p in problems), problems
    assert not any("did you mean" in p for p in problems), problems


@pytest.mark.parametrize("other", ["in the target", "in the referrer"])
def test_a_ref_to_an_unknown_field_is_reported_beside_other_problems(
    tmp_path: Path, other: str
) -> None:
    bad_ttl = "ttl: not-a-number, "
    target = (
        f"kind: hint_record\nspec: {{{bad_ttl if other == 'in the target' else ''}name: api}}\n"
    )
    referrer = (
        f"kind: hint_record\nspec: {{{bad_ttl if other == 'in the referrer' else ''}name: www, "
        "value: {$ref: 'hint_record[api]', field: address}}\n"
    )
    problems = _problems(tmp_path, target + "---\n" + referrer)
    assert any("$.spec.ttl" in p for p in problems), problems
    assert any("$ref field 'address': kind hint_record has no such field" in p for p in problems)


@pytest.mark.parametrize("option", ["include", "exclude"])
def test_targeting_an_unknown_address_suggests_the_closest(option: str) -> None:
    reconciler = rc.Reconciler([MemoryProvider(Record)])
    desired = [Record("api"), Record("www")]
    with pytest.raises(rc.ReconcileError) as caught:
        reconciler.plan(desired, **{option: ["hint_record[wwv]"]})
    assert str(caught.value).endswith("did you mean 'hint_record[www]'?")


def test_a_python_depends_on_naming_nothing_desired_suggests_the_closest() -> None:
    reconciler = rc.Reconciler([MemoryProvider(Record)])
    desired = [Record("api"), Record("www", depends_on=("hint_record[apj]",))]
    with pytest.raises(rc.ReconcileError) as caught:
        reconciler.plan(desired)
    assert str(caught.value).endswith("did you mean 'hint_record[api]'?")
