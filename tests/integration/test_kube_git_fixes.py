"""Kubernetes YAML synced from real Git repositories: what a revision's files hold, and where.

A repository made with the ``git`` binary, ``GitSource`` with the kube loader,
``FakeCluster`` as the cluster. A Kustomization document inside a release file
costs only itself; ``creationTimestamp: null`` (``kubectl create --dry-run -o
yaml``) converges; every error names ``repo@revision:path`` as in the repository.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import reconcile as rc
from reconcile.kube import load_kube_documents, read_kube_documents
from reconcile.sources import GitSource
from reconcile.testing import FakeCluster

from .cli_user import commit, git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="the git binary is needed")


class Repo:
    """A Git repository built with the ``git`` binary, one commit per ``commit`` call."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        git(root, "init", "-q", "-b", "main")

    def commit(self, files: Mapping[str, str | None], subject: str) -> str:
        return commit(self.root, files, subject)


def _kube(allow_unsupported: bool = True) -> Callable[[Path], list[Any]]:
    return lambda folder: load_kube_documents(
        folder, default_namespace="shop", allow_unsupported=allow_unsupported
    )


def _deployment(name: str) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n"
        f"  selector:\n    matchLabels: {{app: {name}}}\n  template:\n"
        f"    metadata:\n      labels: {{app: {name}}}\n"
        f"    spec:\n      containers:\n      - name: {name}\n        image: shop/{name}:1.0\n"
    )


def _service(name: str) -> str:
    return (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n"
        f"  selector: {{app: {name}}}\n  ports:\n  - port: 80\n"
    )


NAMES = [f"svc{i:02}" for i in range(12)]
RELEASE = "---\n".join(_deployment(n) + "---\n" + _service(n) for n in NAMES)
KUSTOMIZATION = (
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    "namespace: shop\nimages:\n- name: shop/svc00\n  newTag: '2.0'\n"
)
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"


def _released(tmp_path: Path) -> tuple[Repo, FakeCluster, rc.Reconciler, GitSource]:
    """The release and its namespace committed to a new repository and synced to a cluster."""
    repo = Repo(tmp_path / "repo")
    repo.commit({"apps/release.yaml": RELEASE, "apps/namespace.yaml": NAMESPACE}, "release")
    cluster = FakeCluster()
    reconciler = rc.Reconciler([cluster], state=rc.MemoryState())
    source = GitSource(repo.root, "main", "apps", loader=_kube())
    assert reconciler.sync(source).ok
    return repo, cluster, reconciler, source


# -- defect 6: one Kustomization document beside 24 objects ------------------------------


def test_a_kustomization_document_costs_only_itself_and_prune_keeps_the_rest(
    tmp_path: Path,
) -> None:
    repo, cluster, reconciler, source = _released(tmp_path)
    assert len(cluster) == 25

    repo.commit({"apps/release.yaml": RELEASE + "---\n" + KUSTOMIZATION}, "kustomize it")
    assert len(source.load()) == 25
    result = reconciler.sync(source, prune=True)
    assert result.ok
    assert len(cluster) == 25  # nothing pruned: the 24 objects are still desired
    assert reconciler.status(source).sync is rc.Sync.SYNCED


def test_the_kustomization_document_alone_is_reported_by_its_index(tmp_path: Path) -> None:
    folder = tmp_path / "apps"
    folder.mkdir()
    (folder / "release.yaml").write_text(RELEASE + "---\n" + KUSTOMIZATION)
    found = read_kube_documents(folder, default_namespace="shop")
    assert len(found.objects) == 24
    (unsupported,) = found.unsupported
    assert unsupported.file.endswith("release.yaml")
    assert "document 25" in unsupported.reason  # documents count from 1
    assert "kustomize" in unsupported.reason
    with pytest.raises(rc.ManifestError, match=r"release\.yaml.*document 25"):
        load_kube_documents(folder, default_namespace="shop")


def test_a_revision_whose_file_cannot_be_read_whole_is_refused_and_prunes_nothing(
    tmp_path: Path,
) -> None:
    repo, cluster, reconciler, source = _released(tmp_path)
    broken = RELEASE + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n"
    head = repo.commit({"apps/release.yaml": broken}, "a broken document")
    with pytest.raises(rc.ManifestError) as refused:
        reconciler.sync(source, prune=True)
    assert f"{repo.root}@{head[:12]}:apps/release.yaml" in str(refused.value)
    assert len(cluster) == 25


# -- defect 7: fields only the server writes -----------------------------------------------

DRY_RUN_CONFIGMAP = """\
apiVersion: v1
data:
  mode: production
kind: ConfigMap
metadata:
  creationTimestamp: null
  name: settings
"""

DRY_RUN_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: web
    spec:
      containers:
      - image: nginx:1.27
        name: nginx
        resources: {}
status: {}
"""

EXPORTED_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  uid: 3f2b6f0e-0000-4000-8000-000000000000
  resourceVersion: "4711"
  generation: 3
  creationTimestamp: "2024-01-01T00:00:00Z"
  selfLink: /api/v1/namespaces/shop/services/web
  managedFields:
  - manager: kubectl
    operation: Update
spec:
  selector: {app: web}
  ports:
  - port: 80
status:
  loadBalancer: {ingress: [{ip: 203.0.113.9}]}
"""


def test_kubectl_dry_run_output_converges(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    repo.commit(
        {
            "apps/settings.yaml": DRY_RUN_CONFIGMAP,
            "apps/web.yaml": DRY_RUN_DEPLOYMENT,
            "apps/service.yaml": EXPORTED_SERVICE,
        },
        "from kubectl",
    )
    cluster = FakeCluster()
    reconciler = rc.Reconciler([cluster], state=rc.MemoryState())
    source = GitSource(repo.root, "main", "apps", loader=_kube())
    assert reconciler.sync(source).ok
    status = reconciler.status(source)
    assert status.sync is rc.Sync.SYNCED, [(r.address, r.paths) for r in status.out_of_sync]
    assert reconciler.plan_sync(source)[0].is_empty
    live = cluster.get("k8s[,ConfigMap,shop,settings]")
    assert live is not None
    assert isinstance(live.body["metadata"]["creationTimestamp"], str)  # the server's own


def test_a_change_beside_server_fields_still_shows(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    repo.commit({"apps/settings.yaml": DRY_RUN_CONFIGMAP}, "settings")
    cluster = FakeCluster()
    reconciler = rc.Reconciler([cluster], state=rc.MemoryState())
    source = GitSource(repo.root, "main", "apps", loader=_kube())
    assert reconciler.sync(source).ok
    repo.commit({"apps/settings.yaml": DRY_RUN_CONFIGMAP.replace("production", "staging")}, "s")
    status = reconciler.status(source)
    assert [r.paths for r in status.out_of_sync] == [("body.data.mode",)]


# -- defect 8: error locations name repo@revision:path as in the repository ---------------


def test_loader_errors_name_the_path_in_the_repository(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [1, 2]\n"
    head = repo.commit({"deploy/apps/bad.yaml": bad, "deploy/apps/ok.yaml": NAMESPACE}, "bad")
    source = GitSource(repo.root, "main", "deploy/apps", loader=_kube())
    with pytest.raises(rc.ManifestError) as found:
        source.load()
    (problem,) = found.value.problems
    assert problem.file == f"{repo.root}@{head[:12]}:deploy/apps/bad.yaml"
    assert "reconcile-git-" not in str(found.value)


def test_declared_twice_names_both_files_in_the_repository(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    head = repo.commit({"apps/a.yaml": NAMESPACE, "apps/b.yaml": NAMESPACE}, "twice")
    source = GitSource(repo.root, "main", "apps", loader=_kube())
    with pytest.raises(rc.ManifestError) as found:
        source.load()
    text = str(found.value)
    assert "declared twice" in text
    assert f"{repo.root}@{head[:12]}:apps/a.yaml" in text
    assert f"{repo.root}@{head[:12]}:apps/b.yaml" in text
    assert "reconcile-git-" not in text
    assert str(Path(os.path.realpath(os.environ.get("TMPDIR", "/tmp")))) not in text.replace(
        str(repo.root), ""
    )


def test_declared_twice_without_a_loader_names_both_files(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    doc = "kind: file\nspec: {path: index.html}\n"
    head = repo.commit({"site/a.yaml": doc, "site/b.yaml": doc}, "twice")
    with pytest.raises(rc.ManifestError) as found:
        GitSource(repo.root, "main", "site").load()
    text = str(found.value)
    assert f"{repo.root}@{head[:12]}:site/a.yaml" in text
    assert f"{repo.root}@{head[:12]}:site/b.yaml" in text
