"""Kubernetes documents end to end: real GitOps repositories loaded, synced and replayed.

The repositories (``../shared/corpus/gitops/``) are third-party data kept next
to the checkout, not in it: the tests that read them skip without it. Each
app folder is one Argo CD Application; it is loaded into the namespace named
after it, as an Application's destination would, and converged into a
``FakeCluster`` whose server-set fields must never put anything out of sync.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

import reconcile as rc
from reconcile.kube import (
    KubeObject,
    desired_view,
    from_manifest,
    load_kube_documents,
    read_kube_documents,
    to_manifest,
)
from reconcile.testing import FakeCluster

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
GITOPS = CORPUS / "gitops"
ARGO = GITOPS / "argocd-example-apps"
FLUX = GITOPS / "flux2-kustomize-helm-example"
HISTORY = GITOPS / "argocd-example-apps-history"

needs_corpus = pytest.mark.skipif(
    not all(p.is_dir() for p in (ARGO, FLUX, HISTORY)),
    reason=f"GitOps corpus not found at {GITOPS} (third-party data, not part of the repository)",
)

ARGO_APPS = (
    "guestbook",
    "helm-hooks",
    "kustomize-guestbook",
    "pre-post-sync",
    "sock-shop",
    "sync-waves",
)
HELM_APPS = ("apps", "blue-green", "helm-dependency", "helm-guestbook", "plugins/kustomized-helm")
FLUX_APPS = (
    "apps/base/podinfo",
    "apps/production",
    "apps/staging",
    "clusters/production",
    "clusters/staging",
    "infrastructure/configs",
    "infrastructure/controllers",
)
APPS = [(ARGO, a) for a in ARGO_APPS + HELM_APPS] + [(FLUX, a) for a in FLUX_APPS]
SYNCED = [(ARGO, a) for a in ARGO_APPS] + [(FLUX, a) for a in FLUX_APPS]
HELM_TEMPLATES = (
    "apps/templates/applications.yaml",
    "blue-green/templates/rollout.yaml",
    "blue-green/templates/services.yaml",
    "helm-guestbook/templates/deployment.yaml",
    "helm-guestbook/templates/service.yaml",
)
TAB_FILE = "kustomize-guestbook/guestbook-ui-svc.yaml"
LOADED = ("kubernetes-manifest", "empty-or-comment-only")


@cache
def _index(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _files_of(repo: Path, app: str) -> list[Any]:
    files = _index(repo / "INDEX.json")["files"]
    return [f for f in files if f["path"].startswith(app + "/")]


def _identity(o: Any, namespace: str = "") -> tuple[str, str, str, str]:
    return (o["apiVersion"], o["kind"], o["namespace"] or namespace, o["name"])


def _named(files: list[Any], namespace: str = "") -> Counter[tuple[str, str, str, str]]:
    """What the index says a loader must produce: every named object of every manifest file."""
    return Counter(
        _identity(o, namespace)
        for f in files
        if f["category"] == "kubernetes-manifest"
        for o in f.get("objects", [])
        if o.get("name")
    )


def _loaded(
    objects: tuple[KubeObject, ...] | list[KubeObject],
) -> Counter[tuple[str, str, str, str]]:
    return Counter((o.api_version, o.object_kind, o.namespace, o.name) for o in objects)


def _relative(repo: Path, files: Any) -> set[str]:
    return {Path(f).relative_to(repo).as_posix() for f in files}


def _app(repo: Path, app: str) -> list[KubeObject]:
    return load_kube_documents(
        repo / app, default_namespace=_namespace(app), allow_unsupported=True
    )


def _namespace(app: str) -> str:
    return app.replace("/", "-")


# -- loading -----------------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize(("repo", "app"), APPS, ids=[a for _, a in APPS])
def test_an_app_folder_loads_as_the_index_says(repo: Path, app: str) -> None:
    files = _files_of(repo, app)
    found = read_kube_documents(repo / app)
    assert _loaded(found.objects) == _named(files)
    refused = {f["path"] for f in files if f["category"] not in LOADED}
    nameless = {
        f["path"]
        for f in files
        if f["category"] == "kubernetes-manifest" and any(not o.get("name") for o in f["objects"])
    }
    assert _relative(repo, (u.file for u in found.unsupported)) == refused | nameless
    assert found.errors == ()


@needs_corpus
@pytest.mark.parametrize("repo", [ARGO, FLUX], ids=["argocd", "flux"])
def test_each_manifest_file_holds_the_objects_the_index_lists(repo: Path) -> None:
    files = [f for f in _index(repo / "INDEX.json")["files"] if f["category"] in LOADED]
    assert files
    for f in files:
        found = read_kube_documents(repo / f["path"])
        assert _loaded(found.objects) == _named([f]), f["path"]


@needs_corpus
def test_helm_templates_are_reported_as_templates_or_chart_files() -> None:
    in_charts = read_kube_documents(ARGO)
    reasons = {Path(u.file).relative_to(ARGO).as_posix(): u.reason for u in in_charts.unsupported}
    for template in HELM_TEMPLATES:
        assert reasons[template].startswith("a template of the Helm chart"), template
        alone = read_kube_documents(ARGO / template)
        (unsupported,) = alone.unsupported
        assert "Helm/Go template ('{{' at line" in unsupported.reason
        assert alone.errors == ()
    for chart in HELM_APPS:
        assert reasons[f"{chart}/Chart.yaml"].startswith("the metadata of the Helm chart")
    with pytest.raises(rc.ManifestError, match="unsupported: a template of the Helm chart"):
        load_kube_documents(ARGO / "helm-guestbook")


@needs_corpus
def test_kustomize_files_are_reported_with_what_is_not_applied() -> None:
    found = read_kube_documents([ARGO / "kustomize-guestbook", ARGO / "pre-post-sync"])
    reasons = {Path(u.file).relative_to(ARGO).as_posix(): u.reason for u in found.unsupported}
    assert reasons == {
        "kustomize-guestbook/kustomization.yaml": (
            "kustomize build file (kustomize is not run; the files it lists are read as they "
            "are; not applied: namePrefix)"
        ),
        "pre-post-sync/kustomization.yaml": (
            "kustomize build file (kustomize is not run; the files it lists are read as they "
            "are; not applied: namePrefix, bases)"
        ),
    }
    flux = read_kube_documents(FLUX / "apps" / "staging")
    assert [Path(u.file).name for u in flux.unsupported] == [
        "kustomization.yaml",
        "podinfo-values.yaml",
    ]
    assert flux.unsupported[1].reason.startswith("kustomize patch used by")


@needs_corpus
def test_the_tab_file_is_read_as_go_yaml_would_with_a_warning() -> None:
    found = read_kube_documents(ARGO / TAB_FILE)
    assert [(o.object_kind, o.name) for o in found.objects] == [("Service", "guestbook-ui")]
    (warning,) = found.warnings
    assert (warning.line, warning.column) == (1, 15)
    assert "found character '\\t'" in warning.message
    assert warning.message.endswith(
        "read with trailing blanks stripped, as Go YAML (kubectl) accepts it"
    )


@needs_corpus
def test_a_whole_repository_reports_what_clashes_and_what_is_hidden() -> None:
    found = read_kube_documents(FLUX)
    assert Path(found.unsupported[0].file).name == ".fluxschema.yml"
    clashes = sorted(
        Path(e.file).relative_to(FLUX).as_posix()
        for e in found.errors
        if "declared twice" in e.message
    )
    assert clashes == [
        "clusters/staging/apps.yaml",
        "clusters/staging/artifacts.yaml",
        "clusters/staging/infrastructure.yaml",
        "clusters/staging/infrastructure.yaml",
    ]


@needs_corpus
def test_formatting_differences_make_no_object_differences() -> None:
    plain = {o.object_kind: o for o in _app(ARGO, "guestbook")}
    kustomized = {o.object_kind: o for o in _app(ARGO, "kustomize-guestbook")}
    for kind, obj in plain.items():
        assert not rc.diff(obj, kustomized[kind]), kind


# -- syncing into a fake cluster -----------------------------------------------------


def _reconciler(with_state: bool) -> tuple[FakeCluster, rc.Reconciler]:
    cluster = FakeCluster()
    return cluster, rc.Reconciler([cluster], state=rc.MemoryState() if with_state else None)


def _changes(plan: rc.Plan) -> list[tuple[str, str, tuple[Any, ...]]]:
    return [(s.address, s.action.value, s.diff.paths) for s in plan.changes]


STATE = pytest.mark.parametrize("with_state", [False, True], ids=["stateless", "state"])


@needs_corpus
@STATE
@pytest.mark.parametrize(("repo", "app"), SYNCED, ids=[a for _, a in SYNCED])
def test_an_app_converges_and_server_fields_never_put_it_out_of_sync(
    repo: Path, app: str, with_state: bool
) -> None:
    desired = _app(repo, app)
    cluster, reconciler = _reconciler(with_state)
    assert reconciler.converge(desired).converged
    assert _changes(reconciler.plan(desired)) == []
    live = {rc.address_of(o): o for o in cluster}
    assert set(live) == {rc.address_of(o) for o in desired}
    for obj in desired:
        have = live[rc.address_of(obj)]
        assert {"uid", "creationTimestamp", "resourceVersion", "generation"} <= set(
            have.body["metadata"]
        )
        assert desired_view(obj, have) == obj
    cluster.settle()
    assert _changes(reconciler.plan(desired)) == []
    assert all(cluster.health(o) == "Healthy" for o in cluster)


def _guestbook(with_state: bool) -> tuple[FakeCluster, rc.Reconciler, list[KubeObject], str]:
    desired = _app(ARGO, "guestbook")
    cluster, reconciler = _reconciler(with_state)
    reconciler.converge(desired)
    return cluster, reconciler, desired, "k8s[apps,Deployment,guestbook,guestbook-ui]"


IMAGE = ("body", "spec", "template", "spec", "containers", 0, "image")


@needs_corpus
@STATE
def test_drift_in_what_the_revision_sets_shows_exactly_that_path(with_state: bool) -> None:
    cluster, reconciler, desired, web = _guestbook(with_state)
    cluster.patch(web, {"spec": {"replicas": 4}})
    assert _changes(reconciler.plan(desired)) == [(web, "update", (("body", "spec", "replicas"),))]
    containers = cluster.get(web).body["spec"]["template"]["spec"]["containers"]  # type: ignore[union-attr]
    cluster.edit(
        web,
        lambda body: body["spec"]["template"]["spec"].update(
            containers=[{**containers[0], "image": "evil:1"}]
        ),
    )
    (step,) = reconciler.plan(desired).changes
    assert step.diff.paths == (("body", "spec", "replicas"), IMAGE)
    assert [c.new for c in step.diff] == [1, "gcr.io/google-samples/gb-frontend:v5"]
    assert reconciler.converge(desired).converged
    assert _changes(reconciler.plan(desired)) == []


@needs_corpus
@STATE
def test_fields_added_later_by_controllers_stay_in_sync_and_are_kept(with_state: bool) -> None:
    cluster, reconciler, desired, web = _guestbook(with_state)
    cluster.patch(
        web,
        {
            "metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"template": {"metadata": {"labels": {"pod-template-hash": "abc"}}}},
            "status": {"conditions": [{"type": "Available", "status": "True"}]},
        },
    )
    service = "k8s[,Service,guestbook,guestbook-ui]"
    cluster.patch(service, {"metadata": {"labels": {"app.kubernetes.io/managed-by": "argocd"}}})
    assert _changes(reconciler.plan(desired)) == []
    cluster.patch(web, {"spec": {"replicas": 3}})
    assert reconciler.converge(desired).converged
    kept = cluster.get(web)
    assert kept is not None
    assert kept.body["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "2"}
    assert kept.body["spec"]["replicas"] == 1


@needs_corpus
@STATE
def test_a_field_dropped_from_the_revision_is_removed_from_the_cluster(with_state: bool) -> None:
    cluster, reconciler, desired, _ = _guestbook(with_state)
    service = next(o for o in desired if o.object_kind == "Service")
    others = [o for o in desired if o is not service]
    doc = to_manifest(service)
    node_port = from_manifest({**doc, "spec": {**doc["spec"], "type": "NodePort"}})
    assert reconciler.converge([*others, node_port]).converged
    live = cluster.get(service)
    assert live is not None
    assert live.body["spec"]["ports"][0]["nodePort"] >= 30000  # allocated by the server
    dropped = from_manifest({**doc, "spec": {**doc["spec"], "ports": [{"port": 81}]}})
    plan = reconciler.plan([*others, dropped])
    (step,) = plan.changes
    assert {(c.op, c.pointer) for c in step.diff} == {
        ("remove", "/body/spec/type"),
        ("replace", "/body/spec/ports/0/port"),
        ("remove", "/body/spec/ports/0/targetPort"),
    }
    assert reconciler.apply(plan).ok
    live = cluster.get(service)
    assert live is not None
    assert live.body["spec"]["type"] == "ClusterIP"  # the server's default again
    assert live.body["spec"]["ports"] == [{"port": 81, "protocol": "TCP", "targetPort": 81}]
    assert _changes(reconciler.plan([*others, dropped])) == []


# -- the fake cluster on its own ------------------------------------------------------------


def _deployment(replicas: int | None = None, image: str = "web:1") -> KubeObject:
    spec: dict[str, Any] = {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "a"},
        "spec": spec,
    }
    return from_manifest(doc)


def test_the_server_fills_defaults_metadata_and_status() -> None:
    cluster = FakeCluster()
    made = cluster.create(_deployment())
    meta, spec = made.body["metadata"], made.body["spec"]
    assert (meta["generation"], meta["resourceVersion"]) == (1, "1")
    assert meta["creationTimestamp"] == "2000-01-01T00:00:00Z"
    assert len(meta["uid"]) == 36
    assert (spec["replicas"], spec["revisionHistoryLimit"]) == (1, 10)
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert made.body["status"] == {"observedGeneration": 1, "replicas": 1, "readyReplicas": 0}
    assert cluster.health(made) == "Progressing"
    assert not cluster.diff(_deployment(), made)


def test_writes_bump_the_resource_version_and_spec_changes_the_generation() -> None:
    cluster = FakeCluster()
    first = cluster.create(_deployment())
    labelled = cluster.patch(first, {"metadata": {"labels": {"a": "b"}}})
    assert (
        labelled.body["metadata"]["resourceVersion"],
        labelled.body["metadata"]["generation"],
    ) == ("2", 1)
    want = _deployment(image="web:2")
    updated = cluster.update(labelled, want, cluster.diff(want, labelled))
    meta = updated.body["metadata"]
    assert (meta["resourceVersion"], meta["generation"], meta["uid"]) == (
        "3",
        2,
        first.body["metadata"]["uid"],
    )
    assert meta["labels"] == {"a": "b"}  # another client's label is kept
    assert updated.body["status"]["observedGeneration"] == 1


def test_health_follows_the_rollout() -> None:
    cluster = FakeCluster()
    web = cluster.create(_deployment(replicas=2))
    assert cluster.health(web) == "Progressing"
    cluster.settle()
    assert cluster.health(cluster.get(web)) == "Healthy"
    updated = cluster.update(web, _deployment(replicas=2, image="web:2"), rc.Diff())
    assert cluster.health(updated) == "Progressing"
    stalled = {
        "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ]
    }
    assert cluster.health(cluster.patch(web, {"status": stalled})) == "Degraded"
    cluster.settle()
    assert cluster.health(cluster.get(web)) == "Healthy"
    cluster.remove(web)
    assert cluster.health(cluster.get(web)) == "Missing"


def test_jobs_and_load_balancers_progress_until_settled() -> None:
    cluster = FakeCluster()
    job = cluster.create(
        from_manifest(
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "a"}}
        )
    )
    lb = cluster.create(
        from_manifest(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "s", "namespace": "a"},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            }
        )
    )
    assert lb.body["spec"]["ports"][0]["nodePort"] >= 30000
    assert (cluster.health(job), cluster.health(lb)) == ("Progressing", "Progressing")
    cluster.settle()
    assert {cluster.health(o) for o in cluster} == {"Healthy"}
    assert len(cluster) == len(list(cluster.list())) == 2


def test_creating_twice_and_updating_what_is_gone_fail_like_an_api_server() -> None:
    cluster = FakeCluster()
    made = cluster.create(_deployment())
    with pytest.raises(ValueError, match="AlreadyExists"):
        cluster.create(_deployment())
    cluster.delete(made)
    cluster.delete(made)
    with pytest.raises(KeyError, match="NotFound"):
        cluster.update(made, _deployment(), rc.Diff())


def test_a_label_key_with_a_slash_patches_with_an_escaped_pointer() -> None:
    old = to_manifest(_deployment())
    new = {**old, "metadata": {**old["metadata"], "labels": {"app.kubernetes.io/name": "web"}}}
    new["spec"] = {
        **old["spec"],
        "template": {
            **old["spec"]["template"],
            "metadata": {"labels": {"kubernetes.io/os": "linux"}},
        },
    }
    patch = rc.diff(new, old).to_json_patch()
    assert {op["path"] for op in patch} == {"/metadata/labels", "/spec/template/metadata"}
    cluster = FakeCluster()
    made = cluster.create(from_manifest(new))
    edited = cluster.edit(
        made, lambda body: body["metadata"]["labels"].update({"app.kubernetes.io/name": "api"})
    )
    (change,) = cluster.diff(from_manifest(new), edited)
    assert change.pointer == "/body/metadata/labels/app.kubernetes.io~1name"
    assert jsonpatch.apply_patch(old, patch) == new


class _CoreDiffOnly(FakeCluster):
    """The cluster with the engine's default diff, to see what recorded state does alone."""

    def diff(self, want: KubeObject, have: KubeObject) -> rc.Diff:
        return rc.Provider.diff(self, want, have)


def test_recorded_state_alone_keeps_server_keys_in_mappings_but_not_in_list_items() -> None:
    service = from_manifest(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s", "namespace": "a"},
            "spec": {"selector": {"app": "s"}},
        }
    )
    cluster = _CoreDiffOnly()
    stateless = rc.Reconciler([cluster])
    stateless.converge([service, _deployment()], max_rounds=2)
    assert {s.address for s in stateless.plan([service]).changes} == {rc.address_of(service)}
    stateful = rc.Reconciler([_CoreDiffOnly()], state=rc.MemoryState())
    stateful.converge([service, _deployment()], max_rounds=2)
    (step,) = stateful.plan([service, _deployment()]).changes  # the Service is in sync
    assert step.address == rc.address_of(_deployment())
    assert all(c.pointer.startswith("/body/spec/template/spec/containers/0/") for c in step.diff)


# -- replaying history ------------------------------------------------------------------------


def _snapshot(commit: str) -> dict[str, KubeObject]:
    objects = [
        o
        for app in _index(HISTORY / "index.json")["app_folders"]
        for o in _app(HISTORY / commit, app)
    ]
    return {rc.address_of(o): o for o in objects}


def _address(key: str, app: str, among: dict[str, KubeObject]) -> str:
    """The address of the index's ``Kind/namespace/name`` in ``app``'s namespace."""
    kind, namespace, name = key.split("/")
    (found,) = [
        a
        for a, o in among.items()
        if (o.object_kind, o.namespace, o.name) == (kind, namespace or app, name)
    ]
    return found


def _expected(
    transition: Any, before: dict[str, KubeObject], after: dict[str, KubeObject]
) -> dict[str, set[str]]:
    expected: dict[str, set[str]] = {"create": set(), "delete": set(), "update": set()}
    for app, objects in transition["objects_by_app_folder"].items():
        expected["create"] |= {_address(o["key"], app, after) for o in objects["objects_added"]}
        expected["delete"] |= {_address(o["key"], app, before) for o in objects["objects_removed"]}
        expected["update"] |= {_address(o["key"], app, after) for o in objects["objects_modified"]}
    return expected


def _by_action(plan: rc.Plan) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"create": set(), "delete": set(), "update": set()}
    for step in plan.changes:
        found[step.action.value].add(step.address)
    return found


def _manifest_pointers(step: rc.Step) -> set[str]:
    """The plan's diff paths as manifest pointers: ``/body`` dropped, ``/version`` as apiVersion."""
    return {
        "/apiVersion" if c.pointer == "/version" else c.pointer.removeprefix("/body")
        for c in step.diff
    }


def _check_updates(
    plan: rc.Plan,
    before: dict[str, KubeObject],
    after: dict[str, KubeObject],
    hints: dict[str, list[str]],
) -> None:
    for step in plan.changes:
        if step.action is not rc.Action.UPDATE:
            continue
        old, new = to_manifest(before[step.address]), to_manifest(after[step.address])
        patch = rc.diff(new, old).to_json_patch()
        assert jsonpatch.apply_patch(old, patch) == new, step.address
        assert _manifest_pointers(step) == {op["path"] for op in patch}, step.address
        for hint in hints[step.address]:  # the index's naive pointers lie at or under ours
            pointer = hint.split(" ", 1)[1]
            assert any(
                pointer == p or pointer.startswith(p + "/") for p in _manifest_pointers(step)
            ), hint


def _hints(transition: Any, after: dict[str, KubeObject]) -> dict[str, list[str]]:
    return {
        _address(o["key"], app, after): o["naive_changed_pointers"]
        for app, objects in transition["objects_by_app_folder"].items()
        for o in objects["objects_modified"]
    }


@needs_corpus
def test_replaying_history_plans_exactly_each_commits_changes() -> None:
    index = _index(HISTORY / "index.json")
    commits = index["commits_in_order"]
    assert commits == ["382b858", "b0decab", "8c06d23", "5c2d89b", "0d521c6"]
    cluster, reconciler = _reconciler(with_state=True)
    before: dict[str, KubeObject] = {}
    for number, commit in enumerate(commits):
        after = _snapshot(commit)
        plan = reconciler.plan(after.values())
        if number == 0:
            assert _by_action(plan) == {"create": set(after), "delete": set(), "update": set()}
        else:
            transition = index["transitions"][number - 1]
            assert (transition["from_commit"], transition["to_commit"]) == (
                commits[number - 1],
                commit,
            )
            assert _by_action(plan) == _expected(transition, before, after), commit
            _check_updates(plan, before, after, _hints(transition, after))
        assert reconciler.apply(plan, revision=commit).ok
        cluster.settle()
        assert _changes(reconciler.plan(after.values())) == []
        _assert_cluster_holds(cluster, after, index["snapshots"][number])
        before = after


def _assert_cluster_holds(
    cluster: FakeCluster, snapshot: dict[str, KubeObject], indexed: Any
) -> None:
    live = {rc.address_of(o): o for o in cluster}
    assert set(live) == set(snapshot)
    assert len(live) == sum(
        len(f.get("objects", []))
        for f in indexed["files"]
        if f["category"] == "kubernetes-manifest"
    )
    for address, want in snapshot.items():
        assert desired_view(want, live[address]) == want, address


def test_kubernetes_yaml_syncs_from_a_git_revision_with_health(tmp_path: Path) -> None:
    """A Git repository of plain Kubernetes YAML: GitSource with the kube loader, no checkout."""
    import shutil
    import subprocess

    from reconcile.sources import GitSource

    guestbook = CORPUS / "gitops" / "argocd-example-apps" / "guestbook"
    if not guestbook.is_dir():
        pytest.skip("the shared corpus is not beside this checkout")
    repo = tmp_path / "repo"
    shutil.copytree(guestbook, repo / "apps" / "guestbook")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@x", *args],
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-qm", "guestbook")
    source = GitSource(
        repo,
        "main",
        "apps",
        loader=lambda folder: load_kube_documents(folder, default_namespace="demo"),
    )
    cluster = FakeCluster()
    reconciler = rc.Reconciler([cluster], state=rc.MemoryState())

    assert reconciler.sync(source).ok
    status = reconciler.status(source)
    assert status.sync is rc.Sync.SYNCED
    assert status.health is rc.Health.PROGRESSING  # pods not ready yet
    cluster.settle()
    assert reconciler.status(source).health is rc.Health.HEALTHY
    assert reconciler.history()[0].meta["subject"] == "guestbook"
