"""Examples of the diff engine: paths, patch order, strictness, pointers, secrets."""

from __future__ import annotations

import copy
from typing import Any

import attrs
import jsonpatch
import pytest

import reconcile
from reconcile import Change, Diff
from reconcile._diff.changes import pointer, strict_equal


def roundtrip(desired: Any, actual: Any) -> list[dict[str, Any]]:
    """The exported patch, after checking it turns ``actual`` into ``desired``."""
    patch = reconcile.diff(desired, actual).to_json_patch()
    assert strict_equal(jsonpatch.apply_patch(copy.deepcopy(actual), patch), desired)
    return patch


@reconcile.resource("difftest_unit_box")
class Box:
    name: str = reconcile.field(key=True)
    size: int = 0
    token: str = reconcile.field(default="", sensitive=True)
    tags: frozenset[str] = frozenset()


@reconcile.resource("difftest_unit_crate")
class Crate:
    name: str = reconcile.field(key=True)
    size: int = 0


@attrs.frozen
class Port:
    number: int
    protocol: str = "tcp"


@reconcile.resource("difftest_unit_service")
class Service:
    name: str = reconcile.field(key=True)
    ports: tuple[Port, ...] = ()
    zones: frozenset[str] = frozenset()
    weights: dict[str, frozenset[int]] = attrs.field(factory=dict)


def test_nested_dict_change_has_the_full_path() -> None:
    desired = {"spec": {"template": {"image": "web:2", "replicas": 3}}}
    actual = {"spec": {"template": {"image": "web:1", "replicas": 3}}}
    result = reconcile.diff(desired, actual)
    assert result.changes == (Change(("spec", "template", "image"), "replace", "web:1", "web:2"),)
    assert result.paths == (("spec", "template", "image"),)
    assert result.changes[0].pointer == "/spec/template/image"
    assert roundtrip(desired, actual) == [
        {"op": "replace", "path": "/spec/template/image", "value": "web:2"}
    ]


def test_added_and_removed_keys() -> None:
    desired = {"a": 1, "b": {"c": [1]}, "keep": 0}
    actual = {"a": 1, "old": None, "keep": 0, "gone": "x"}
    result = reconcile.diff(desired, actual)
    assert result.changes == (
        Change(("old",), "remove", None, None),
        Change(("gone",), "remove", "x", None),
        Change(("b",), "add", None, {"c": [1]}),
    )
    roundtrip(desired, actual)


def test_growing_list_adds_upward() -> None:
    patch = roundtrip({"xs": [1, 2, 3, 4]}, {"xs": [9]})
    assert patch == [
        {"op": "replace", "path": "/xs/0", "value": 1},
        {"op": "add", "path": "/xs/1", "value": 2},
        {"op": "add", "path": "/xs/2", "value": 3},
        {"op": "add", "path": "/xs/3", "value": 4},
    ]


def test_shrinking_list_removes_from_the_highest_index_down() -> None:
    patch = roundtrip({"xs": [0]}, {"xs": [1, 2, 3, 4]})
    assert patch == [
        {"op": "replace", "path": "/xs/0", "value": 0},
        {"op": "remove", "path": "/xs/3"},
        {"op": "remove", "path": "/xs/2"},
        {"op": "remove", "path": "/xs/1"},
    ]


def test_list_indices_order_numerically_past_nine() -> None:
    grow = roundtrip(list(range(12)), [])
    assert [op["path"] for op in grow] == [f"/{i}" for i in range(12)]
    shrink = roundtrip([], list(range(12)))
    assert [op["path"] for op in shrink] == [f"/{i}" for i in reversed(range(12))]


def test_nested_lists_shrink_and_grow_together() -> None:
    roundtrip({"a": [[1], [2, 3, 4]], "b": []}, {"a": [[1, 5, 6], [2], [7]], "b": [1, 2]})


@pytest.mark.parametrize(
    ("desired", "actual"),
    [(True, 1), (1, True), (False, 0), (1, 1.0), (0.0, 0), ([True], [1]), ({"a": 1.0}, {"a": 1})],
)
def test_bool_int_and_float_are_different(desired: Any, actual: Any) -> None:
    assert desired == actual  # what plain == would conclude
    assert not strict_equal(desired, actual)
    result = reconcile.diff(desired, actual)
    assert len(result) == 1
    assert result.changes[0].op == "replace"
    roundtrip(desired, actual)


def test_strict_equal() -> None:
    assert strict_equal({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
    assert not strict_equal({"a": [1]}, {"a": [1.0]})
    assert not strict_equal({"a": 1}, {"b": 1})
    assert not strict_equal([1], (1,))
    assert not strict_equal(None, False)


@pytest.mark.parametrize(
    ("key", "encoded"),
    [("a/b", "a~1b"), ("m~n", "m~0n"), ("~1", "~01"), ("/~", "~1~0"), ("", ""), ("01", "01")],
)
def test_keys_with_slash_and_tilde_are_escaped(key: str, encoded: str) -> None:
    patch = roundtrip({"k": {key: 1}}, {"k": {key: 2}})
    assert patch == [{"op": "replace", "path": f"/k/{encoded}", "value": 1}]
    assert jsonpatch.JsonPointer(patch[0]["path"]).parts == ["k", key]


def test_pointer_encoding() -> None:
    assert pointer(()) == ""
    assert pointer(("a/b", 0, "~")) == "/a~1b/0/~0"
    assert pointer(("~/",)) == "/~0~1"


def test_root_replacement_uses_the_empty_pointer() -> None:
    assert roundtrip([1], {"a": 1}) == [{"op": "replace", "path": "", "value": [1]}]


def test_empty_diff_is_falsy() -> None:
    empty = reconcile.diff({"a": [1, 2]}, {"a": [1, 2]})
    assert isinstance(empty, Diff)
    assert not empty
    assert len(empty) == 0
    assert list(empty) == []
    assert empty.to_json_patch() == []
    assert not empty.requires_replace
    assert not Diff()
    assert reconcile.diff({"a": 1}, {"a": 2})


def test_patch_does_not_share_values_with_the_desired_document() -> None:
    desired = {"a": {"b": [1]}}
    patch = reconcile.diff(desired, {}).to_json_patch()
    patch[0]["value"]["b"].append(2)
    assert desired == {"a": {"b": [1]}}


def test_sensitive_change_is_masked_everywhere() -> None:
    result = reconcile.diff(Box("b", token="hunter2-new"), Box("b", token="hunter2-old"))
    (change,) = result.changes
    assert change.path == ("token",)
    assert change.op == "replace"
    assert change.sensitive
    assert isinstance(change.old, reconcile.Redacted)
    assert isinstance(change.new, reconcile.Redacted)
    assert change.old != change.new
    for text in (repr(change), str(change), repr(result), str(result)):
        assert "hunter2" not in text
        assert "(sensitive)" in text
    assert result.to_json_patch() == [{"op": "replace", "path": "/token", "value": "(sensitive)"}]


def test_sensitive_field_left_equal_is_no_change() -> None:
    assert not reconcile.diff(Box("b", token="same"), Box("b", token="same"))
    assert reconcile.diff(Box("b", size=1, token="same"), Box("b", token="same")).paths == (
        ("size",),
    )


def test_diffing_two_kinds_is_a_definition_error() -> None:
    with pytest.raises(reconcile.DefinitionError, match="difftest_unit_box"):
        reconcile.diff(Box("x"), Crate("x"))
    with pytest.raises(reconcile.DefinitionError):
        reconcile.diff(Box("x"), {"name": "x"})
    with pytest.raises(reconcile.ReconcileError):
        reconcile.diff({"name": "x"}, Crate("x"))


def test_set_fields_are_replaced_whole_as_sorted_lists() -> None:
    result = reconcile.diff(Box("b", tags=frozenset({"b", "a", "c"})), Box("b", tags={"c", "d"}))
    assert result.changes == (Change(("tags",), "replace", ["c", "d"], ["a", "b", "c"]),)
    assert result.to_json_patch() == [{"op": "replace", "path": "/tags", "value": ["a", "b", "c"]}]
    assert not reconcile.diff(Box("b", tags=frozenset({"a", "b"})), Box("b", tags={"b", "a"}))


def test_nested_attrs_tuples_and_sets_in_resource_fields() -> None:
    desired = Service(
        "s",
        ports=(Port(80), Port(443)),
        zones=frozenset({"z1", "z2"}),
        weights={"w": frozenset({3, 1, 2})},
    )
    actual = Service(
        "s", ports=(Port(80, "udp"),), zones=frozenset({"z2"}), weights={"w": frozenset({1})}
    )
    result = reconcile.diff(desired, actual)
    assert {c.path[0] for c in result.changes} == {"ports", "zones", "weights"}
    assert ("ports", 0, "protocol") in result.paths
    document = {
        "ports": [{"number": 80, "protocol": "udp"}],
        "zones": ["z2"],
        "weights": {"w": [1]},
    }
    assert jsonpatch.apply_patch(document, result.to_json_patch()) == {
        "ports": [{"number": 80, "protocol": "tcp"}, {"number": 443, "protocol": "tcp"}],
        "zones": ["z1", "z2"],
        "weights": {"w": [1, 2, 3]},
    }
    assert not reconcile.diff(desired, copy.deepcopy(desired))
