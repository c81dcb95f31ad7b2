"""The diff engine against the RFC 6902 conformance suite (json-patch/json-patch-tests).

For every enabled case with an ``expected`` document, the JSON Patch that
``reconcile.diff(expected, doc)`` exports must turn ``doc`` into ``expected``
when applied by a reference implementation (``jsonpatch``), compared
type-strictly. The suite is third-party data kept next to the repository, not
in it: without it, this module is skipped.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

import reconcile
from reconcile._diff.changes import strict_equal

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "json-patch-tests"
FILES = ("tests.json", "spec_tests.json")
# Positive (doc + expected, no error) enabled cases per file, from the corpus README.
EXPECTED_COUNTS = {"tests.json": 62, "spec_tests.json": 12}

if not all((CORPUS / name).is_file() for name in FILES):
    pytest.skip(
        f"JSON Patch conformance corpus not found at {CORPUS} "
        "(third-party data, not part of the repository)",
        allow_module_level=True,
    )

ALLOWED_OPS = {"add", "remove", "replace", "move", "copy", "test"}
# RFC 6901: "" or a sequence of "/" + reference tokens, "~" only as "~0" or "~1".
POINTER = re.compile(r"(/([^/~]|~[01])*)*")


def _load_cases() -> list[Any]:
    cases = []
    for name in FILES:
        records = json.loads((CORPUS / name).read_text(encoding="utf-8"))
        for index, case in enumerate(records):
            if "doc" not in case or "expected" not in case:
                continue
            if "error" in case or case.get("disabled"):
                continue
            comment = " ".join(str(case.get("comment", "")).split())[:60]
            case_id = f"{name}#{index}" + (f" {comment}" if comment else "")
            cases.append(pytest.param(name, case, id=case_id))
    return cases


CASES = _load_cases()


def assert_well_formed(patch: Any) -> None:
    """``patch`` is an RFC 6902 document as JSON would carry it."""
    assert isinstance(patch, list)
    json.dumps(patch)  # serialisable as JSON
    for op in patch:
        assert isinstance(op, dict), op
        assert op.get("op") in ALLOWED_OPS, op
        assert isinstance(op.get("path"), str), op
        assert POINTER.fullmatch(op["path"]), op
        if op["op"] in ("add", "replace", "test"):
            assert "value" in op, op
        if op["op"] in ("move", "copy"):
            assert isinstance(op.get("from"), str), op
            assert POINTER.fullmatch(op["from"]), op


def test_corpus_size_matches_readme() -> None:
    by_file = {name: sum(1 for p in CASES if p.values[0] == name) for name in FILES}
    assert by_file == EXPECTED_COUNTS
    assert len(CASES) == 74


@pytest.mark.parametrize(("source", "case"), CASES)
def test_exported_patch_turns_doc_into_expected(source: str, case: dict[str, Any]) -> None:
    doc, expected = case["doc"], case["expected"]
    patch = reconcile.diff(expected, doc).to_json_patch()
    assert_well_formed(patch)
    result = jsonpatch.apply_patch(copy.deepcopy(doc), patch)
    assert strict_equal(result, expected), (source, patch, result)
    # Applying the patch left the diff's inputs alone.
    assert strict_equal(doc, case["doc"])


@pytest.mark.parametrize(("source", "case"), CASES)
def test_reverse_patch_turns_expected_into_doc(source: str, case: dict[str, Any]) -> None:
    doc, expected = case["doc"], case["expected"]
    patch = reconcile.diff(doc, expected).to_json_patch()
    assert_well_formed(patch)
    result = jsonpatch.apply_patch(copy.deepcopy(expected), patch)
    assert strict_equal(result, doc), (source, patch, result)


@pytest.mark.parametrize(("source", "case"), CASES)
def test_document_diffed_with_itself_is_empty(source: str, case: dict[str, Any]) -> None:
    for document in (case["doc"], case["expected"]):
        found = reconcile.diff(document, copy.deepcopy(document))
        assert not found, source
        assert found.to_json_patch() == []


@pytest.mark.parametrize(("source", "case"), CASES)
def test_diff_is_empty_iff_strictly_equal(source: str, case: dict[str, Any]) -> None:
    doc, expected = case["doc"], case["expected"]
    assert (not reconcile.diff(expected, doc)) == strict_equal(expected, doc), source
