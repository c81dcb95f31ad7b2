"""Properties of the diff engine: documents round-trip through JSON Patch, resources
honour their field flags, and secrets never leak."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
from hypothesis import given
from hypothesis import strategies as st

import reconcile
from reconcile._diff.changes import Change, _patch_order, strict_equal
from reconcile._diff.structural import structural_changes
from tests.strategies import json_document_pairs, json_documents

MISSING = object()


def lookup(doc: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in ``doc``, or MISSING; a path step must match the container."""
    node = doc
    for step in path:
        in_dict = type(node) is dict and type(step) is str and step in node
        in_list = type(node) is list and type(step) is int and 0 <= step < len(node)
        if not (in_dict or in_list):
            return MISSING
        node = node[step]
    return node


def apply(patch: list[dict[str, Any]], doc: Any) -> Any:
    return jsonpatch.apply_patch(copy.deepcopy(doc), copy.deepcopy(patch))


def documents() -> st.SearchStrategy[tuple[Any, Any]]:
    """Pairs that share structure (mutations) or are unrelated."""
    return st.one_of(json_document_pairs(), st.tuples(json_documents(), json_documents()))


# -- plain documents ---------------------------------------------------------------------------


@given(json_documents())
def test_diff_of_a_document_with_itself_is_empty(doc: Any) -> None:
    assert reconcile.diff(doc, doc).changes == ()
    assert reconcile.diff(doc, copy.deepcopy(doc)).changes == ()
    assert not reconcile.diff(doc, copy.deepcopy(doc))


@given(documents())
def test_patch_turns_actual_into_desired(pair: tuple[Any, Any]) -> None:
    desired, actual = pair
    patch = reconcile.diff(desired, actual).to_json_patch()
    assert strict_equal(apply(patch, actual), desired), patch


@given(documents())
def test_diff_is_empty_iff_strictly_equal(pair: tuple[Any, Any]) -> None:
    desired, actual = pair
    assert (not reconcile.diff(desired, actual)) == strict_equal(desired, actual)


@given(documents())
def test_narrowed_diff_equals_one_deepdiff_call(pair: tuple[Any, Any]) -> None:
    """The shape-matching descent before deepdiff changes speed, never the changes found."""
    desired, actual = pair
    ours = reconcile.diff(desired, actual).changes
    whole = [
        Change(path, op, old, new)  # type: ignore[arg-type]
        for op, path, old, new in structural_changes(desired, actual)
    ]
    theirs = tuple(_patch_order(whole)) if not strict_equal(desired, actual) else ()
    assert [(c.path, c.op) for c in ours] == [(c.path, c.op) for c in theirs]
    for mine, reference in zip(ours, theirs, strict=True):
        assert strict_equal(mine.old, reference.old), (mine, reference)
        assert strict_equal(mine.new, reference.new), (mine, reference)


@given(documents())
def test_change_paths_exist_where_they_should(pair: tuple[Any, Any]) -> None:
    desired, actual = pair
    for change in reconcile.diff(desired, actual).changes:
        assert change.op in ("add", "remove", "replace")
        have = lookup(actual, change.path)
        want = lookup(desired, change.path)
        if change.op in ("remove", "replace"):
            assert have is not MISSING, change
            assert strict_equal(change.old, have), change
        if change.op in ("add", "replace"):
            assert want is not MISSING, change
            assert strict_equal(change.new, want), change
        if change.op == "add":
            assert have is MISSING, change
            assert lookup(actual, change.path[:-1]) is not MISSING, change
            assert change.old is None
        if change.op == "remove":
            assert want is MISSING, change
            assert change.new is None


@given(documents())
def test_changes_touch_disjoint_paths(pair: tuple[Any, Any]) -> None:
    """No change sits inside another: each part of the document is changed once."""
    desired, actual = pair
    paths = [c.path for c in reconcile.diff(desired, actual).changes]
    for i, outer in enumerate(paths):
        for j, inner in enumerate(paths):
            if i != j:
                assert inner[: len(outer)] != outer, (outer, inner)


@given(documents())
def test_pointers_round_trip(pair: tuple[Any, Any]) -> None:
    desired, actual = pair
    for change in reconcile.diff(desired, actual).changes:
        parts = jsonpatch.JsonPointer(change.pointer).parts
        assert parts == [str(step) for step in change.path]


@given(documents())
def test_exported_patch_leaves_the_inputs_alone(pair: tuple[Any, Any]) -> None:
    desired, actual = pair
    before = copy.deepcopy(pair)
    patch = reconcile.diff(desired, actual).to_json_patch()
    jsonpatch.apply_patch(actual, patch, in_place=False)
    for op in patch:
        if isinstance(op.get("value"), list | dict):
            op["value"].clear()  # a caller scribbling on the patch
    assert strict_equal((desired, actual), before)


# -- resources ---------------------------------------------------------------------------------


@reconcile.resource("difftest_thing")
class Thing:
    name: str = reconcile.field(key=True)
    size: int = 0
    labels: dict[str, str] = reconcile.field(factory=dict)
    ports: list[int] = reconcile.field(factory=list)
    zone: str = reconcile.field(default="a", replace=True)
    uid: str | None = reconcile.field(default=None, computed=True)
    password: str = reconcile.field(default="", sensitive=True)
    note: str = reconcile.field(default="", ignore=True)
    host: str = reconcile.field(default="", normalize=str.lower)


FIELDS = ("name", "size", "labels", "ports", "zone", "uid", "password", "note", "host")
SECRET_PREFIX = "S3cr3t!"
small_text = st.text(alphabet="abcxyz/~", max_size=4)
secrets = st.text(alphabet="0123456789QWERTY", max_size=6).map(lambda s: SECRET_PREFIX + s)


@st.composite
def cased(draw: st.DrawFn, word: str) -> str:
    """``word`` with the case of each ASCII letter drawn anew."""
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in word)


@st.composite
def things(draw: st.DrawFn) -> Thing:
    host = draw(st.text(alphabet="abcXYZ.-", max_size=6))
    return Thing(
        name="t",
        size=draw(st.integers(-3, 3)),
        labels=draw(st.dictionaries(small_text, small_text, max_size=3)),
        ports=draw(st.lists(st.integers(0, 5), max_size=4)),
        zone=draw(st.sampled_from(["a", "b", "c"])),
        uid=draw(st.one_of(st.none(), st.sampled_from(["u1", "u2"]))),
        password=draw(secrets),
        note=draw(small_text),
        host=draw(cased(host)),
    )


@st.composite
def thing_pairs(draw: st.DrawFn) -> tuple[Thing, Thing]:
    """Desired and actual of one resource; often equal in most fields."""
    desired = draw(things())
    actual = draw(things())
    kept = draw(st.sets(st.sampled_from(["size", "labels", "ports", "zone", "uid", "password"])))
    values = {f: getattr(desired if f in kept else actual, f) for f in FIELDS}
    if draw(st.booleans()):
        values["host"] = draw(cased(desired.host))
    return desired, Thing(**values)


def _fields(thing: Thing) -> dict[str, Any]:
    return {f: copy.deepcopy(getattr(thing, f)) for f in FIELDS}


def changed_fields(diff: reconcile.Diff) -> set[str | int]:
    return {c.path[0] for c in diff.changes}


@given(things())
def test_resource_diff_with_itself_is_empty(thing: Thing) -> None:
    assert not reconcile.diff(thing, thing)
    assert not reconcile.diff(thing, copy.deepcopy(thing))


@given(thing_pairs())
def test_ignored_and_unset_computed_fields_never_change(pair: tuple[Thing, Thing]) -> None:
    desired, actual = pair
    fields = changed_fields(reconcile.diff(desired, actual))
    assert "note" not in fields
    assert "name" not in fields
    if desired.uid is None:
        assert "uid" not in fields
    else:
        assert ("uid" in fields) == (desired.uid != actual.uid)


@given(thing_pairs())
def test_normalize_ignores_case_only_differences(pair: tuple[Thing, Thing]) -> None:
    desired, actual = pair
    fields = changed_fields(reconcile.diff(desired, actual))
    assert ("host" in fields) == (desired.host.lower() != actual.host.lower())


@given(things(), st.data())
def test_case_variants_of_a_normalized_field_are_equal(thing: Thing, data: st.DataObject) -> None:
    variant = Thing(**{**_fields(thing), "host": data.draw(cased(thing.host))})
    assert not reconcile.diff(thing, variant)
    assert not reconcile.diff(variant, thing)


@given(thing_pairs())
def test_requires_replace_iff_replace_field_differs(pair: tuple[Thing, Thing]) -> None:
    desired, actual = pair
    result = reconcile.diff(desired, actual)
    assert result.requires_replace == (desired.zone != actual.zone)
    assert result.replace_paths == ((("zone",),) if desired.zone != actual.zone else ())


@given(thing_pairs())
def test_only_differing_fields_change(pair: tuple[Thing, Thing]) -> None:
    desired, actual = pair
    expected = {
        f
        for f in ("size", "labels", "ports", "zone", "password")
        if not strict_equal(getattr(desired, f), getattr(actual, f))
    }
    if desired.uid is not None and desired.uid != actual.uid:
        expected.add("uid")
    if desired.host.lower() != actual.host.lower():
        expected.add("host")
    assert changed_fields(reconcile.diff(desired, actual)) == expected


@given(thing_pairs())
def test_resource_patch_updates_plain_fields(pair: tuple[Thing, Thing]) -> None:
    desired, actual = pair
    patch = [
        op
        for op in reconcile.diff(desired, actual).to_json_patch()
        if op["path"] not in ("/password", "/host")
    ]
    patched = apply(patch, _fields(actual))
    for f in ("size", "labels", "ports", "zone"):
        assert strict_equal(patched[f], _fields(desired)[f]), f
    if desired.uid is not None:
        assert patched["uid"] == desired.uid


@given(thing_pairs())
def test_sensitive_values_never_leak(pair: tuple[Thing, Thing]) -> None:
    desired, actual = pair
    result = reconcile.diff(desired, actual)
    patch_text = json.dumps(result.to_json_patch())
    outputs = [repr(result), str(result), patch_text, *(repr(c) for c in result.changes)]
    for text in outputs:
        assert SECRET_PREFIX not in text
        assert desired.password not in text
        assert actual.password not in text
    secret_changes = [c for c in result.changes if c.path[0] == "password"]
    if desired.password != actual.password:
        assert len(secret_changes) == 1
        change = secret_changes[0]
        assert change.sensitive
        assert change.op == "replace"
        assert reconcile.diff(desired, actual).changes == result.changes  # same salt, same digest
        assert all("(sensitive)" in text for text in outputs[:3])
        assert "(sensitive)" in repr(change)
        assert {"op": "replace", "path": "/password", "value": "(sensitive)"} in (
            result.to_json_patch()
        )
    else:
        assert secret_changes == []


def test_change_is_the_public_change() -> None:
    assert reconcile.Change is Change


# -- set-valued fields -------------------------------------------------------------------------


@reconcile.resource("difftest_bag")
class Bag:
    name: str = reconcile.field(key=True)
    tags: frozenset[str] = frozenset()
    groups: dict[str, frozenset[int]] = reconcile.field(factory=dict)


bags = st.builds(
    Bag,
    name=st.just("b"),
    tags=st.frozensets(small_text, max_size=4),
    groups=st.dictionaries(small_text, st.frozensets(st.integers(0, 20), max_size=4), max_size=3),
)


def _bag_document(bag: Bag) -> dict[str, Any]:
    """The JSON form of a bag: sets as sorted lists."""
    return {"tags": sorted(bag.tags), "groups": {k: sorted(v) for k, v in bag.groups.items()}}


@given(bags, bags)
def test_set_fields_diff_as_whole_sorted_lists(desired: Bag, actual: Bag) -> None:
    result = reconcile.diff(desired, actual)
    assert (not result) == (desired.tags == actual.tags and desired.groups == actual.groups)
    patched = apply(result.to_json_patch(), _bag_document(actual))
    assert strict_equal(patched, _bag_document(desired))
    for change in result.changes:
        # a set is replaced whole, or added / removed whole with its dict key
        in_groups = change.path[:1] == ("groups",) and len(change.path) <= 2
        assert change.path == ("tags",) or in_groups, change
