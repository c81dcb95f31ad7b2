"""Kubernetes documents: manifests both ways, identity rules, what is compared, the loader."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile.kube import (
    KubeDocumentError,
    KubeObject,
    compare,
    desired_view,
    from_manifest,
    load_kube_documents,
    read_kube_documents,
    split_api_version,
    to_manifest,
)

# -- strategies --------------------------------------------------------------------

DNS = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
GROUPS = st.one_of(st.just(""), st.lists(DNS, min_size=1, max_size=3).map(".".join))
VERSIONS = st.sampled_from(["v1", "v1beta1", "v2", "v1alpha3"])
KINDS = st.from_regex(r"[A-Z][A-Za-z]{0,12}", fullmatch=True).filter(lambda k: k != "List")
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=8))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
LABELS = st.dictionaries(st.from_regex(r"([a-z]+\.io/)?[a-z]+", fullmatch=True), DNS, max_size=3)


def _api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A manifest with an explicit namespace (or none, for a cluster-scoped object)."""
    meta: dict[str, Any] = {"name": draw(DNS)}
    if draw(st.booleans()):
        meta["namespace"] = draw(DNS)
    if draw(st.booleans()):
        meta["labels"] = draw(LABELS)
    if draw(st.booleans()):
        meta["annotations"] = draw(st.dictionaries(st.text(min_size=1, max_size=8), st.text()))
    doc = {
        "apiVersion": _api_version(draw(GROUPS), draw(VERSIONS)),
        "kind": draw(KINDS),
        "metadata": meta,
    }
    rest = draw(st.dictionaries(st.sampled_from(["spec", "data", "rules", "type"]), JSON))
    return {**doc, **rest}


@st.composite
def objects(draw: st.DrawFn) -> KubeObject:
    body: dict[str, Any] = draw(st.dictionaries(st.sampled_from(["spec", "data"]), JSON))
    if draw(st.booleans()):
        body["metadata"] = {"labels": draw(LABELS)}
    namespace = draw(st.one_of(st.just(""), DNS))
    return KubeObject(draw(GROUPS), draw(KINDS), namespace, draw(DNS), draw(VERSIONS), body)


# -- manifests both ways -----------------------------------------------------------


@given(manifests())
def test_a_manifest_round_trips(doc: dict[str, Any]) -> None:
    assert to_manifest(from_manifest(doc)) == doc


@given(objects())
def test_an_object_round_trips(obj: KubeObject) -> None:
    assert from_manifest(to_manifest(obj)) == obj


def _scribble(value: Any) -> None:
    """Change every dict and list inside ``value``, at every depth."""
    if isinstance(value, dict):
        for child in list(value.values()):
            _scribble(child)
        value["\x00scribbled"] = True
    elif isinstance(value, list):
        for child in value:
            _scribble(child)
        value.append("\x00scribbled")


@given(manifests())
def test_from_manifest_copies_what_it_keeps(doc: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    obj = from_manifest(doc)
    _scribble(obj.body)
    obj.body.setdefault("metadata", {})["labels"] = {"changed": "yes"}
    assert doc == before


@given(manifests(), manifests())
def test_the_json_patch_between_two_manifests_turns_one_into_the_other(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    patch = rc.diff(new, old).to_json_patch()
    patched = jsonpatch.apply_patch(old, patch)
    assert json.dumps(patched, sort_keys=True) == json.dumps(new, sort_keys=True)


def test_the_body_is_the_manifest_without_its_identity() -> None:
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"replicas": 2},
    }
    obj = from_manifest(doc)
    assert (obj.group, obj.object_kind, obj.namespace, obj.name) == (
        "apps",
        "Deployment",
        "shop",
        "web",
    )
    assert obj.version == "v1"
    assert obj.api_version == "apps/v1"
    assert obj.body == {"metadata": {"labels": {"app": "web"}}, "spec": {"replicas": 2}}


# -- identity ----------------------------------------------------------------------


def _deployment(api_version: str, **meta: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "Deployment", "metadata": {"name": "web", **meta}}


def test_the_address_holds_group_kind_namespace_and_name() -> None:
    obj = from_manifest(_deployment("apps/v1", namespace="shop"))
    assert rc.address_of(obj) == "k8s[apps,Deployment,shop,web]"


def test_the_core_group_is_empty() -> None:
    doc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "a"}}
    assert rc.address_of(from_manifest(doc)) == "k8s[,Service,a,web]"
    assert split_api_version("v1") == ("", "v1")


def test_the_version_is_not_identity_but_is_compared() -> None:
    old = from_manifest(_deployment("apps/v1beta2", namespace="shop"))
    new = from_manifest(_deployment("apps/v1", namespace="shop"))
    assert rc.address_of(old) == rc.address_of(new)
    assert rc.diff(new, old).paths == (("version",),)


def test_groups_tell_apart_kinds_with_the_same_name() -> None:
    flux = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
    }
    assert rc.address_of(from_manifest(flux)) == (
        "k8s[kustomize.toolkit.fluxcd.io,Kustomization,flux-system,apps]"
    )
    build = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    with pytest.raises(KubeDocumentError, match="kustomize build file") as err:
        from_manifest(build)
    assert err.value.unsupported


def test_default_namespace_fills_only_namespaced_objects_without_one() -> None:
    assert from_manifest(_deployment("apps/v1"), default_namespace="dev").namespace == "dev"
    explicit = _deployment("apps/v1", namespace="prod")
    assert from_manifest(explicit, default_namespace="dev").namespace == "prod"
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}}
    assert from_manifest(ns, default_namespace="dev").namespace == ""
    role = {"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "x"}}
    made = from_manifest(role, default_namespace="dev", cluster_scoped={"Thing"})
    assert made.namespace == ""


@pytest.mark.parametrize(
    ("doc", "path", "says"),
    [
        ([1, 2], (), "mapping"),
        ({"kind": "Service", "metadata": {"name": "a"}}, ("apiVersion",), "apiVersion"),
        ({"apiVersion": "v1", "metadata": {"name": "a"}}, ("kind",), "kind"),
        ({"apiVersion": "v1", "kind": "Service"}, ("metadata",), "metadata"),
        ({"apiVersion": "v1", "kind": "Service", "metadata": {}}, ("metadata", "name"), "name"),
        (
            {"apiVersion": "a/b/c", "kind": "X", "metadata": {"name": "a"}},
            ("apiVersion",),
            "group/version",
        ),
        (
            {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "namespace": 3}},
            ("metadata", "namespace"),
            "namespace",
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "X",
                "metadata": {"name": "a"},
                "spec": {"at": datetime.date(2020, 1, 2)},
            },
            ("spec", "at"),
            "date is not JSON",
        ),
        (
            {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "data": {1: "one"}},
            ("data",),
            "not a string",
        ),
    ],
)
def test_a_bad_document_is_refused_with_its_path(
    doc: Any, path: tuple[Any, ...], says: str
) -> None:
    with pytest.raises(KubeDocumentError, match=says) as err:
        from_manifest(doc)
    assert err.value.path == path
    assert not err.value.unsupported
    assert isinstance(err.value, rc.InvalidStateError)


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        (
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "migrate-"}},
            "generateName",
        ),
        ({"apiVersion": "v1", "kind": "List", "items": []}, "not expanded"),
    ],
)
def test_valid_kubernetes_the_library_does_not_handle_is_unsupported(doc: Any, says: str) -> None:
    with pytest.raises(KubeDocumentError, match=says) as err:
        from_manifest(doc)
    assert err.value.unsupported


@pytest.mark.parametrize(
    "body",
    [
        {"apiVersion": "v1"},
        {"kind": "Service"},
        {"metadata": {"name": "x"}},
        {"metadata": {"namespace": "x"}},
        {"metadata": "labels"},
    ],
)
def test_identity_cannot_hide_in_the_body(body: dict[str, Any]) -> None:
    with pytest.raises(KubeDocumentError):
        KubeObject("", "Service", "ns", "web", "v1", body)


@pytest.mark.parametrize(
    ("field", "value"), [("group", "a/b"), ("object_kind", ""), ("name", ""), ("name", "a,b")]
)
def test_key_fields_must_fit_an_address(field: str, value: str) -> None:
    parts = {"group": "apps", "object_kind": "Deployment", "namespace": "", "name": "web"}
    with pytest.raises(KubeDocumentError, match=field):
        KubeObject(**{**parts, field: value}, version="v1")


# -- what is compared --------------------------------------------------------------


def _obj(body: dict[str, Any], version: str = "v1") -> KubeObject:
    return KubeObject("apps", "Deployment", "shop", "web", version, body)


LIVE = {
    "metadata": {"uid": "1234", "resourceVersion": "7", "labels": {"app": "web", "team": "a"}},
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [{"name": "c", "image": "i:1", "imagePullPolicy": "IfNotPresent"}]
            }
        },
    },
    "status": {"readyReplicas": 1},
}


def test_what_the_desired_document_does_not_set_is_not_compared() -> None:
    want = _obj(
        {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
        }
    )
    assert not compare(want, _obj(LIVE))
    assert desired_view(want, _obj(LIVE)).body == want.body


def test_what_the_desired_document_sets_is_compared_down_to_list_items() -> None:
    want = _obj({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"image": "i:2"}]}}}})
    paths = compare(want, _obj(LIVE)).paths
    assert set(paths) == {
        ("body", "spec", "replicas"),
        ("body", "spec", "template", "spec", "containers", 0, "image"),
    }


def test_a_path_set_last_time_and_dropped_now_shows_as_removed() -> None:
    want = _obj({"metadata": {"labels": {"app": "web"}}})
    applied = {"metadata": {"labels": {"app": "web", "team": "a"}}}
    diff = compare(want, _obj(LIVE), applied)
    assert [(c.op, c.path) for c in diff] == [("remove", ("body", "metadata", "labels", "team"))]


def test_extra_list_items_and_changed_types_show() -> None:
    want = _obj({"spec": {"template": "flat", "replicas": 1}})
    assert compare(want, _obj(LIVE)).paths == (("body", "spec", "template"),)
    two = {"spec": {"template": {"spec": {"containers": [{"name": "c"}, {"name": "d"}]}}}}
    one = _obj({"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}})
    assert compare(one, _obj(two)).paths == (("body", "spec", "template", "spec", "containers", 1),)


def test_a_version_change_is_compared() -> None:
    assert compare(_obj({}, "v1"), _obj(LIVE, "v1beta2")).paths == (("version",),)


# -- the loader --------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n  - port: 80\n"
)


def test_multi_document_files_with_a_leading_separator_load(tmp_path: Path) -> None:
    text = "---\n" + SERVICE.format(name="a") + "---\n" + SERVICE.format(name="b") + "---\n"
    found = read_kube_documents(_write(tmp_path, {"svc.yaml": text}), default_namespace="ns")
    assert [o.name for o in found.objects] == ["a", "b"]
    assert (found.unsupported, found.errors, found.warnings) == ((), (), ())


def test_comment_only_files_are_empty_not_errors(tmp_path: Path) -> None:
    found = read_kube_documents(_write(tmp_path, {"empty.yaml": "# nothing yet\n"}))
    assert found == type(found)()


def test_json_manifests_load(tmp_path: Path) -> None:
    text = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}'
    assert [o.object_kind for o in load_kube_documents(_write(tmp_path, {"c.json": text}))] == [
        "ConfigMap"
    ]


def test_trailing_tabs_are_tolerated_with_a_warning(tmp_path: Path) -> None:
    text = SERVICE.format(name="a").replace("\n", "\t\n")
    found = read_kube_documents(_write(tmp_path, {"svc.yaml": text}))
    assert [o.name for o in found.objects] == ["a"]
    (warning,) = found.warnings
    assert (warning.line, "trailing blanks stripped") == (1, "trailing blanks stripped")
    assert "'\\t'" in warning.message


def test_a_yaml_error_names_file_and_line(tmp_path: Path) -> None:
    text = SERVICE.format(name="a") + "  selector: [unclosed\n"
    found = read_kube_documents(_write(tmp_path, {"bad.yaml": text}))
    (error,) = found.errors
    assert error.file.endswith("bad.yaml")
    assert error.line == 9
    assert found.objects == ()
    with pytest.raises(rc.ManifestError, match=r"bad\.yaml:9"):
        load_kube_documents(tmp_path)


def test_a_template_is_unsupported_but_braces_in_strings_are_data(tmp_path: Path) -> None:
    template = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n"
    rule = SERVICE.format(name="a") + "  annotations: {summary: '{{ $value }} high'}\n"
    found = read_kube_documents(_write(tmp_path, {"t.yaml": template, "rule.yaml": rule}))
    assert [o.name for o in found.objects] == ["a"]
    (unsupported,) = found.unsupported
    assert unsupported.file.endswith("t.yaml")
    assert "Helm/Go template" in unsupported.reason
    assert "line 4" in unsupported.reason


def test_a_helm_chart_is_unsupported_file_by_file(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: x\nversion: 1.0.0\n",
            "chart/values.yaml": "replicas: 1\n",
            "chart/templates/svc.yaml": SERVICE.format(name="a"),
        },
    )
    found = read_kube_documents(root)
    reasons = {Path(u.file).name: u.reason for u in found.unsupported}
    assert set(reasons) == {"Chart.yaml", "values.yaml", "svc.yaml"}
    assert reasons["Chart.yaml"].startswith("the metadata of the Helm chart")
    assert reasons["values.yaml"].startswith("values of the Helm chart")
    assert reasons["svc.yaml"].startswith("a template of the Helm chart")
    assert found.objects == ()


def test_kustomizations_and_their_patch_files_are_unsupported(tmp_path: Path) -> None:
    kustomization = (
        "resources: [svc.yaml]\nnamePrefix: dev-\n"
        "patches:\n- path: patch.yaml\n- patch: '[]'\n"
        "patchesStrategicMerge: [more.yaml]\n"
    )
    root = _write(
        tmp_path,
        {
            "kustomization.yaml": kustomization,
            "svc.yaml": SERVICE.format(name="a"),
            "patch.yaml": SERVICE.format(name="a"),
            "more.yaml": SERVICE.format(name="a"),
            "component.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
        },
    )
    found = read_kube_documents(root)
    assert [o.name for o in found.objects] == ["a"]
    reasons = {Path(u.file).name: u.reason for u in found.unsupported}
    assert set(reasons) == {"kustomization.yaml", "patch.yaml", "more.yaml", "component.yaml"}
    assert (
        "not applied: namePrefix, patches, patchesStrategicMerge" in reasons["kustomization.yaml"]
    )
    assert reasons["patch.yaml"].startswith("kustomize patch used by")
    assert found.errors == ()


def test_objects_without_a_name_are_reported_per_document(tmp_path: Path) -> None:
    job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n"
    found = read_kube_documents(
        _write(tmp_path, {"m.yaml": SERVICE.format(name="a") + "---\n" + job})
    )
    (unsupported,) = found.unsupported
    assert unsupported.reason.startswith("document 2: Job with metadata.generateName only")
    assert len(found.objects) == 1


def test_duplicates_and_duplicate_keys_are_errors(tmp_path: Path) -> None:
    twice = SERVICE.format(name="a") + "metadata:\n  name: b\n"
    root = _write(
        tmp_path,
        {"a.yaml": SERVICE.format(name="a"), "b.yaml": SERVICE.format(name="a"), "c.yaml": twice},
    )
    found = read_kube_documents(root)
    messages = sorted((Path(e.file).name, e.line, e.message.split(" (")[0]) for e in found.errors)
    assert messages == [
        ("b.yaml", 1, "declared twice"),
        ("c.yaml", 8, "duplicate key 'metadata'"),
    ]


def test_hidden_files_missing_paths_and_other_suffixes_are_reported(tmp_path: Path) -> None:
    root = _write(
        tmp_path, {".schema.yaml": "a: 1\n", "notes.txt": "hi", "ok.yml": SERVICE.format(name="a")}
    )
    found = read_kube_documents([root, tmp_path / "nope", tmp_path / "notes.txt"])
    assert [Path(u.file).name for u in found.unsupported] == [".schema.yaml"]
    assert [e.message for e in found.errors] == [
        "no such file or folder",
        "not a .yaml, .yml or .json file",
    ]
    assert [o.name for o in found.objects] == ["a"]


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    root = _write(tmp_path, {"s.yaml": SERVICE.format(name="a")})
    assert len(load_kube_documents([root, root / "s.yaml", root])) == 1


def test_strict_loading_refuses_unsupported_files_unless_allowed(tmp_path: Path) -> None:
    root = _write(
        tmp_path, {"kustomization.yaml": "resources: []\n", "s.yaml": SERVICE.format(name="a")}
    )
    with pytest.raises(rc.ManifestError, match="unsupported: kustomize build file"):
        load_kube_documents(root)
    assert [o.name for o in load_kube_documents(root, allow_unsupported=True)] == ["a"]
