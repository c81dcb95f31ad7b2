"""Folders of plain Kubernetes YAML from the command line: diff, PR preview, apply, status, watch.

The installed ``reconcile`` script in a subprocess, on Git repositories made
with the ``git`` binary: one built here, and the real history of
argocd-example-apps from the shared corpus (``../shared/corpus``, skipped with
the reason when absent). ``--source-format kube`` or ``[source] format = "kube"``
says the files are Kubernetes documents; ``[providers.kube] cluster = FILE``
is the simulated cluster apply and status talk to.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from .cli_user import RECONCILE, commit, git, home_env, reconcile

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="the git binary is needed"),
    pytest.mark.skipif(os.name != "posix", reason="POSIX paths and processes"),
]

AUTHOR = "Ann Author <ann@example.org>"
CORPUS = Path(
    os.environ.get(
        "RECONCILE_CORPUS", Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
    )
)
HISTORY = CORPUS / "gitops" / "argocd-example-apps-history"


class World:
    """A Git repository, a configuration folder and the console script run against both."""

    def __init__(self, root: Path, config: str) -> None:
        if not RECONCILE.exists():
            pytest.skip("the reconcile console script is not installed in this environment")
        self.root, self.repo = root, root / "repo"
        self.repo.mkdir()
        self.config = root / "config" / "reconcile.toml"
        self.config.parent.mkdir()
        self.config.write_text(config)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        return git(self.repo, *args, author=AUTHOR)

    def commit(self, files: Mapping[str, str | None], subject: str) -> str:
        return commit(self.repo, files, subject, author=AUTHOR)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        more = ["--config", str(self.config)]
        return reconcile(None, *args, *more, code=None, env=home_env(self.root))

    def ok(self, *args: str) -> str:
        return reconcile(None, *args, "--config", str(self.config), env=home_env(self.root)).stdout


def _deployment(image: str) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\n"
        "spec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n"
        "    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n"
        f"      - name: web\n        image: {image}\n        ports:\n        - containerPort: 80\n"
    )


SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n"
    "  ports:\n  - port: 80\n    targetPort: 80\n"
)
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: live\n"
KUSTOMIZATION = "resources:\n- web.yaml\n- service.yaml\n"
DEPLOYMENT = "k8s[apps,Deployment,demo,web]"


@pytest.fixture
def world(tmp_path: Path) -> World:
    cluster = tmp_path / "cluster.json"
    made = World(
        tmp_path,
        '[source]\nformat = "kube"\nnamespace = "demo"\n\n'
        f'[providers.kube]\ncluster = "{cluster}"\n\n[state]\npath = "{tmp_path / "state.db"}"\n',
    )
    made.commit(
        {
            "apps/web.yaml": _deployment("nginx:1.26"),
            "apps/service.yaml": SERVICE,
            "apps/kustomization.yaml": KUSTOMIZATION,
            "README.md": "demo\n",
        },
        "web",
    )
    made.commit(
        {"apps/web.yaml": _deployment("nginx:1.27"), "apps/settings.yaml": CONFIGMAP}, "bump"
    )
    return made


def test_diff_reads_a_folder_of_kubernetes_yaml(world: World) -> None:
    out = world.ok("diff", "--git", str(world.repo), "--from", "main~1:apps", "--to", "main:apps")
    assert "1 added, 1 changed, 0 removed" in out
    assert "+ k8s[,ConfigMap,demo,settings]" in out
    assert f"~ {DEPLOYMENT}" in out
    assert '"nginx:1.26" -> "nginx:1.27"' in out


def test_the_pr_preview_of_a_kubernetes_folder_is_markdown(world: World) -> None:
    out = world.ok(
        "diff", "--git", str(world.repo), "--from", "main~1:apps", "--to", "main:apps",
        "--format", "markdown",
    )  # fmt: skip
    assert out.startswith("### Desired state: `main~1` → `main`")
    assert f"<code>~ {DEPLOYMENT}</code> (changed)" in out
    assert "<code>+ k8s[,ConfigMap,demo,settings]</code> (added)" in out


def test_the_source_format_flag_overrides_the_configuration(tmp_path: Path) -> None:
    made = World(tmp_path, "")
    made.commit({"apps/service.yaml": SERVICE}, "svc")
    made.commit({"apps/settings.yaml": CONFIGMAP}, "settings")
    argv = ("diff", "--git", str(made.repo), "--from", "main~1:apps", "--to", "main:apps")
    done = made.run(*argv)
    assert done.returncode == 1
    assert "unknown kind" in done.stderr  # reconcile manifests by default
    assert "hint: these look like Kubernetes documents; pass --source-format kube" in done.stderr
    out = made.ok(*argv, "--source-format", "kube")
    assert "+ k8s[,ConfigMap,,settings]" in out


def test_apply_status_and_watch_talk_to_the_simulated_cluster(world: World) -> None:
    spec = f"{world.repo}@main~1:apps"
    out = world.ok("apply", "--git", spec, "--yes")
    assert "2 created" in out
    cluster = json.loads((world.root / "cluster.json").read_text())
    assert sorted(o["kind"] for o in cluster["objects"]) == ["Deployment", "Service"]

    assert "In sync (Synced, Healthy)" in world.ok("status", "--git", spec)
    head = f"{world.repo}@main:apps"
    out = world.ok("status", "--git", head)
    assert "Out of sync" in out
    assert f"{DEPLOYMENT}: body.spec.template.spec.containers" in out
    assert "k8s[,ConfigMap,demo,settings]" in out

    out = world.ok("watch", "--git", head, "--max-cycles", "1", "--interval", "0.1")
    assert "synced" in out
    assert "In sync" in world.ok("status", "--git", head)


def test_diff_live_renders_markdown(world: World) -> None:
    world.ok("apply", "--git", f"{world.repo}@main~1:apps", "--yes")
    out = world.ok(
        "diff", "--git", str(world.repo), "--from", "main~1", "--to", "main:apps", "--live",
        "--format", "markdown",
    )  # fmt: skip
    assert out.startswith("### Live state → `main`")
    assert "**Plan: 1 to add, 1 to change, 0 to replace, 0 to destroy.**" in out
    assert "```diff\n" in out
    assert f"~ {DEPLOYMENT}" in out


def test_without_a_kubernetes_provider_apply_says_what_to_configure(tmp_path: Path) -> None:
    made = World(tmp_path, f'[source]\nformat = "kube"\n\n[state]\npath = "{tmp_path / "s.db"}"\n')
    made.commit({"apps/service.yaml": SERVICE}, "svc")
    done = made.run("apply", "--git", f"{made.repo}@main:apps", "--yes")
    assert done.returncode == 1
    assert "[providers.kube]" in done.stderr
    assert "Traceback" not in done.stderr


# -- the real history of argocd-example-apps ------------------------------------------------


def _key(address: str) -> str:
    """``k8s[apps,Deployment,,web]`` as the index writes it: ``Deployment//web``."""
    match = re.fullmatch(r"k8s\[([^,]*),([^,]+),([^,]*),([^\]]+)\]", address)
    assert match is not None, address
    _, kind, namespace, name = match.groups()
    return f"{kind}/{namespace}/{name}"


def _expected(objects: Mapping[str, Any]) -> dict[str, set[str]]:
    """What the index says changed; an object whose API group changed is a new identity."""
    found: dict[str, set[str]] = {
        "added": {o["key"] for o in objects["objects_added"]},
        "removed": {o["key"] for o in objects["objects_removed"]},
        "changed": set(),
    }
    for item in objects["objects_modified"]:
        before, after = item.get("apiVersion_from", ""), item.get("apiVersion_to", "")
        if before.rpartition("/")[0] != after.rpartition("/")[0]:
            found["added"].add(item["key"])
            found["removed"].add(item["key"])
        else:
            found["changed"].add(item["key"])
    return found


def test_pr_previews_of_the_argocd_example_apps_history_match_the_index(tmp_path: Path) -> None:
    if not (HISTORY / "index.json").is_file():
        pytest.skip(f"the shared corpus is absent ({HISTORY}); it is third-party data")
    index = json.loads((HISTORY / "index.json").read_text())
    made = World(tmp_path, '[source]\nformat = "kube"\n')
    commits = []
    for snapshot in index["commits_in_order"]:
        short = snapshot["commit"][:7] if isinstance(snapshot, dict) else str(snapshot)[:7]
        for child in made.repo.iterdir():
            if child.name != ".git":
                shutil.rmtree(child)
        shutil.copytree(HISTORY / short, made.repo, dirs_exist_ok=True)
        commits.append(made.commit({}, f"snapshot {short}"))
    for number, transition in enumerate(index["transitions"]):
        base, head = commits[number], commits[number + 1]
        for app, objects in transition["objects_by_app_folder"].items():
            done = made.run(
                "diff", "--git", str(made.repo), "--from", f"{base}:{app}", "--to",
                f"{head}:{app}", "--format", "json",
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            found: dict[str, set[str]] = {"added": set(), "removed": set(), "changed": set()}
            for change in json.loads(done.stdout)["changes"]:
                found[change["change"]].add(_key(change["address"]))
            assert found == _expected(objects), (number, app)


def test_a_file_that_no_longer_parses_refuses_the_sync_and_prunes_nothing(world: World) -> None:
    world.ok("apply", "--git", f"{world.repo}@main:apps", "--yes")
    templated = SERVICE.replace("name: web", "name: {{ .Values.name }}")
    world.commit({"apps/service.yaml": templated}, "template the service")
    done = world.run("apply", "--git", f"{world.repo}@main:apps", "--yes", "--prune")
    assert done.returncode == 1
    assert f"{world.repo}@" in done.stderr
    assert ":apps/service.yaml" in done.stderr
    assert "cannot be read as YAML" in done.stderr
    cluster = json.loads((world.root / "cluster.json").read_text())
    assert sorted(o["kind"] for o in cluster["objects"]) == ["ConfigMap", "Deployment", "Service"]


def test_a_local_folder_of_kubernetes_yaml_plans_and_applies(tmp_path: Path) -> None:
    made = World(
        tmp_path,
        'manifests = ["manifests"]\n\n[source]\nformat = "kube"\nnamespace = "demo"\n\n'
        f'[providers.kube]\ncluster = "{tmp_path / "cluster.json"}"\n',
    )
    folder = made.config.parent / "manifests"
    folder.mkdir()
    (folder / "web.yaml").write_text(_deployment("nginx:1.27") + "---\n" + SERVICE)
    out = made.ok("plan")
    assert f"+ {DEPLOYMENT}" in out
    assert "Plan: 2 to add" in out
    made.ok("apply", "--yes")
    assert "In sync" in made.ok("status")


def test_notes_name_skipped_files_in_the_repository(world: World) -> None:
    done = world.run("diff", "--git", str(world.repo), "--from", "main~1:apps", "--to", "main:apps")
    assert done.returncode == 0, done.stderr
    assert f"note: skipped {world.repo}@main:apps/kustomization.yaml: kustomize" in done.stderr
    assert "reconcile-git-" not in done.stderr


FLUX = CORPUS / "gitops" / "flux2-kustomize-helm-example"


def _indexed(index: Mapping[str, Any], folder: str) -> dict[str, str]:
    """``Kind/namespace/name`` -> content digest of the cluster objects the index lists."""
    return {
        f"{o['kind']}/{o.get('namespace') or ''}/{o['name']}": o["content_sha256"]
        for f in index["files"]
        if f["path"].startswith(folder + "/") and f["category"] == "kubernetes-manifest"
        for o in f.get("objects", [])
    }


@pytest.mark.parametrize("pair", [("clusters/staging", "clusters/production")])
def test_pr_preview_between_flux_clusters_matches_the_index(
    tmp_path: Path, pair: tuple[str, str]
) -> None:
    if not (FLUX / "INDEX.json").is_file():
        pytest.skip(f"the shared corpus is absent ({FLUX}); it is third-party data")
    index = json.loads((FLUX / "INDEX.json").read_text())
    made = World(tmp_path, '[source]\nformat = "kube"\n')
    shutil.copytree(FLUX, made.repo, dirs_exist_ok=True)
    made.commit({}, "flux example")
    base, head = pair
    done = made.run(
        "diff", "--git", str(made.repo), "--from", f"main:{base}", "--to", f"main:{head}",
        "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "flux-system/kustomization.yaml: kustomize build file" in done.stderr
    found: dict[str, set[str]] = {"added": set(), "removed": set(), "changed": set()}
    for change in json.loads(done.stdout)["changes"]:
        found[change["change"]].add(_key(change["address"]))
    old, new = _indexed(index, base), _indexed(index, head)
    assert found == {
        "added": set(new) - set(old),
        "removed": set(old) - set(new),
        "changed": {k for k in set(old) & set(new) if old[k] != new[k]},
    }
    assert found["changed"]  # the clusters do differ


def test_each_skipped_file_is_noted_once_per_command(world: World) -> None:
    done = world.run("status", "--git", f"{world.repo}@main:apps")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("apps/kustomization.yaml: kustomize build file") == 1, done.stderr
