"""GitOps on real Git repositories: sync commit by commit, status and health, prune guards,
drift modes, watch (threads and a simulated clock), history and rollback, and a replay of
real Argo CD example history.

Expected changes are computed here, independently, from the manifests the tests write;
the engine's plans must hold exactly those.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

import reconcile as rc
from reconcile.sources import GitSource
from reconcile.testing import MemoryProvider, SimulatedClock
from tests.gitenv import ANN, git_env

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="the git binary is needed")

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
HISTORY_CORPUS = CORPUS / "gitops" / "argocd-example-apps-history"


# -- kinds and providers ----------------------------------------------------------------------


@rc.resource("go_app")
class App:
    name: str = rc.field(key=True)
    image: str = "nginx:1"
    replicas: int = 1
    labels: dict[str, str] = rc.field(factory=dict)
    ports: list[int] = rc.field(factory=list)
    uid: str | None = rc.field(default=None, computed=True)
    created_at: str | None = rc.field(default=None, computed=True)


@rc.resource("go_cfg")
class Cfg:
    name: str = rc.field(key=True)
    data: dict[str, str] = rc.field(factory=dict)


@rc.resource("go_detect_kind", drift="detect")
class DetectKind:
    name: str = rc.field(key=True)
    value: str = ""


KINDS: dict[str, type] = {"go_app": App, "go_cfg": Cfg, "go_detect_kind": DetectKind}
DEFAULTS: dict[str, dict[str, Any]] = {
    "go_app": {"image": "nginx:1", "replicas": 1, "labels": {}, "ports": []},
    "go_cfg": {"data": {}},
    "go_detect_kind": {"value": ""},
}
SERVER_LABEL = "server.example/managed-by"


def _server_fill(app: App) -> App:
    """What the "API server" adds on every write: an id, a timestamp and one label of its own."""
    return attrs.evolve(
        app,
        uid=app.uid or f"uid-{app.name}",
        created_at=app.created_at or "2024-01-01T00:00:00Z",
        labels={**app.labels, SERVER_LABEL: "apiserver"},
    )


class HealthApps(MemoryProvider[App]):
    """A MemoryProvider with ``health``: the test sets each address's phase."""

    def __init__(self) -> None:
        super().__init__(App, fill=_server_fill)
        self.phases: dict[str, str] = {}

    def health(self, have: App) -> str:
        return self.phases.get(rc.address_of(have), "Healthy")


def _world(
    state: rc.State | None = None, clock: Any = None
) -> tuple[rc.Reconciler, HealthApps, MemoryProvider[Cfg], MemoryProvider[DetectKind]]:
    apps, cfgs, detect = HealthApps(), MemoryProvider(Cfg), MemoryProvider(DetectKind)
    reconciler = rc.Reconciler(
        [apps, cfgs, detect], state=state if state is not None else rc.MemoryState(), clock=clock
    )
    return reconciler, apps, cfgs, detect


def _writes(*providers: MemoryProvider[Any]) -> int:
    return sum(p.writes for p in providers)


# -- repositories ----------------------------------------------------------------------------


BOB = ("Bob Builder", "bob@example.org")

Doc = dict[str, Any]


def manifest(*docs: Doc) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False)


def app(name: str, lifecycle: Mapping[str, Any] | None = None, **spec: Any) -> Doc:
    doc: Doc = {"kind": "go_app", "spec": {"name": name, **spec}}
    if lifecycle:
        doc["lifecycle"] = dict(lifecycle)
    return doc


def cfg(name: str, **data: str) -> Doc:
    return {"kind": "go_cfg", "spec": {"name": name, "data": data}}


class GitRepo:
    """A repository the test writes to with the git binary; manifests under ``manifests/``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        (path / "manifests").mkdir()
        (path / "manifests" / ".gitkeep").write_text("")  # the folder outlives its manifests
        self.opened: list[GitSource] = []

    def git(self, *args: str, author: tuple[str, str] = ANN) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env=git_env(self.path, author),
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def commit(
        self, files: Mapping[str, str | None], subject: str, *, author: tuple[str, str] = ANN
    ) -> str:
        """Write (or delete, for None) files under manifests/ and commit them; the new sha."""
        for name, text in files.items():
            path = self.path / name
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", subject, author=author)
        return self.git("rev-parse", "HEAD")

    def source(self, ref: str = "main", path: str = "manifests") -> GitSource:
        made = GitSource(self.path, ref, path)
        self.opened.append(made)
        return made

    def close(self) -> None:
        for s in self.opened:
            s.close()


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[GitRepo]:
    made = GitRepo(tmp_path / "repo")
    yield made
    made.close()


# -- independent expectations ------------------------------------------------------------------


def _desired(files: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Address -> full spec (defaults filled) from the manifest texts the test wrote."""
    found: dict[str, dict[str, Any]] = {}
    for text in files.values():
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            kind, spec = doc["kind"], doc["spec"]
            address = f"{kind}[{spec['name']}]"
            assert address not in found
            found[address] = {**DEFAULTS[kind], **spec}
    return found


def _paths(old: Any, new: Any, prefix: tuple[Any, ...] = ()) -> set[tuple[Any, ...]]:
    """Every changed leaf path: dict keys by name, list items by index."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: set[tuple[Any, ...]] = set()
        for k in old.keys() | new.keys():
            if k not in old or k not in new:
                out.add((*prefix, k))
            elif old[k] != new[k]:
                out |= _paths(old[k], new[k], (*prefix, k))
        return out
    if isinstance(old, list) and isinstance(new, list):
        out = set()
        for i in range(max(len(old), len(new))):
            if i >= len(old) or i >= len(new):
                out.add((*prefix, i))
            elif old[i] != new[i]:
                out |= _paths(old[i], new[i], (*prefix, i))
        return out
    return {prefix} if old != new else set()


@attrs.frozen
class Changes:
    created: frozenset[str]
    deleted: frozenset[str]
    updated: Mapping[str, frozenset[tuple[Any, ...]]]


def expected_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> Changes:
    updated = {
        a: frozenset(_paths(before[a], after[a]))
        for a in before.keys() & after.keys()
        if before[a] != after[a]
    }
    return Changes(
        frozenset(after.keys() - before.keys()), frozenset(before.keys() - after.keys()), updated
    )


def plan_changes(plan: rc.Plan) -> Changes:
    assert not [s for s in plan.steps if s.action is rc.Action.REPLACE]
    return Changes(
        frozenset(s.address for s in plan.steps if s.action is rc.Action.CREATE),
        frozenset(s.address for s in plan.steps if s.action is rc.Action.DELETE),
        {
            s.address: frozenset(tuple(c.path) for c in s.diff)
            for s in plan.steps
            if s.action is rc.Action.UPDATE
        },
    )


def live(*providers: MemoryProvider[Any]) -> dict[str, dict[str, Any]]:
    """Live state as the test's own spec dicts: server-owned fields and labels left out."""
    found: dict[str, dict[str, Any]] = {}
    for provider in providers:
        for res in provider:
            doc = attrs.asdict(res, filter=lambda a, _: a.name not in ("depends_on", "lifecycle"))
            doc.pop("uid", None)
            doc.pop("created_at", None)
            if "labels" in doc:
                doc["labels"] = {k: v for k, v in doc["labels"].items() if k != SERVER_LABEL}
            found[rc.address_of(res)] = doc
    return found


def _is_digest(value: object) -> bool:
    text = str(value)
    return text.startswith("sha256:") and len(text) == len("sha256:") + 64


# -- the multi-commit history ------------------------------------------------------------------

#: Each commit: the files it writes (None deletes), its subject, its author.
STORY: list[tuple[dict[str, str | None], str, tuple[str, str]]] = [
    (
        {
            "manifests/apps.yaml": manifest(
                app("web", labels={"app": "web"}, ports=[80]),
                app("api", image="api:1", replicas=2),
            ),
            "manifests/cfg.yaml": manifest(cfg("main", a="1")),
        },
        "Add web, api and config",
        ANN,
    ),
    (
        {
            "manifests/apps.yaml": manifest(
                app("web", image="nginx:2", labels={"app": "web", "tier": "front"}, ports=[80]),
                app("api", image="api:1", replicas=3),
            ),
            "manifests/workers/worker.yaml": manifest(app("worker", image="w:1")),
        },
        "Bump web, scale api, add a worker",
        BOB,
    ),
    (
        {
            "manifests/apps.yaml": manifest(
                app("web", image="nginx:2", labels={"app": "web", "tier": "front"}, ports=[80, 443])
            ),
            "manifests/cfg.yaml": manifest(cfg("main", a="1", b="2")),
        },
        "Retire api; web also on 443",
        ANN,
    ),
    (
        {
            "manifests/apps.yaml": manifest(
                app("web", image="nginx:2", labels={"app": "web"}, ports=[8080, 443])
            ),
            "manifests/workers/worker.yaml": None,
            "manifests/cfg.yaml": manifest(cfg("main", a="1", b="2"), cfg("extra", x="y")),
        },
        "Drop the tier label and the worker",
        BOB,
    ),
    ({"README.md": "no manifest changes here\n"}, "Docs only", ANN),
    (
        {
            "manifests/apps.yaml": manifest(
                app("web", image="nginx:2", labels={"app": "web"}, ports=[8080, 443]),
                app("api", image="api:2"),
            ),
            "manifests/cfg.yaml": manifest(cfg("main", a="9", b="2"), cfg("extra", x="y")),
        },
        "Bring api back",
        ANN,
    ),
]


@attrs.frozen
class Story:
    commits: list[str]
    desired: list[dict[str, dict[str, Any]]]  # per commit, computed by the test


def write_story(repo: GitRepo) -> Story:
    files: dict[str, str] = {}
    commits, desired = [], []
    for changes, subject, author in STORY:
        commits.append(repo.commit(changes, subject, author=author))
        for name, text in changes.items():
            if text is None:
                files.pop(name)
            else:
                files[name] = text
        desired.append(_desired({n: t for n, t in files.items() if n.startswith("manifests/")}))
    return Story(commits, desired)


@pytest.fixture(params=["memory", "sqlite"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> rc.State:
    if request.param == "memory":
        return rc.MemoryState()
    return rc.SQLiteState(tmp_path / "state" / "state.db")


def test_sync_each_commit_plans_exactly_the_changes_between_commits(
    repo: GitRepo, state: rc.State
) -> None:
    story = write_story(repo)
    reconciler, apps, cfgs, _ = _world(state)
    src = repo.source()
    previous: dict[str, dict[str, Any]] = {}
    plan_digests = []
    for i, (commit, want) in enumerate(zip(story.commits, story.desired, strict=True)):
        plan, revision = reconciler.plan_sync(src, revision=commit, prune=True)
        assert revision == commit
        assert plan_changes(plan) == expected_changes(previous, want), f"commit {i}"
        noops = {s.address for s in plan.steps if s.action is rc.Action.NOOP}
        assert noops == {a for a in previous.keys() & want.keys() if previous[a] == want[a]}

        result = reconciler.sync(src, revision=commit, prune=True)
        assert result.ok
        assert live(apps, cfgs) == want  # live state is exactly this commit's desired state
        pinned = repo.source(commit)
        status = reconciler.status(pinned)
        assert status.sync is rc.Sync.SYNCED
        assert status.revision_wanted == status.revision_applied == commit

        entry = reconciler.history()[0]
        subject, author = STORY[i][1], STORY[i][2]
        assert entry.status == "ok"
        assert entry.revision == commit
        assert entry.meta["commit"] == commit
        assert entry.meta["author"] == f"{author[0]} <{author[1]}>"
        assert entry.meta["subject"] == subject
        assert _is_digest(entry.meta["desired_digest"])
        assert _is_digest(entry.meta["plan_digest"])
        plan_digests.append(entry.meta["plan_digest"])
        previous = want

    assert len(reconciler.history()) == len(story.commits)
    assert len(set(plan_digests)) == len(plan_digests)  # each plan was different
    assert reconciler.last_applied_revision() == story.commits[-1]
    # the docs-only commit planned nothing
    assert story.desired[4] == story.desired[3]


def test_a_docs_only_commit_has_an_empty_plan(repo: GitRepo) -> None:
    story = write_story(repo)
    reconciler, *_ = _world()
    src = repo.source()
    for commit in story.commits[:4]:
        reconciler.sync(src, revision=commit, prune=True)
    plan, _ = reconciler.plan_sync(src, revision=story.commits[4], prune=True)
    assert plan.is_empty


def test_desired_digest_depends_only_on_the_desired_state(repo: GitRepo) -> None:
    story = write_story(repo)
    reconciler, *_ = _world()
    src = repo.source()
    digests = []
    for commit in story.commits[:5]:
        reconciler.sync(src, revision=commit, prune=True)
        digests.append(reconciler.history()[0].meta["desired_digest"])
    assert story.desired[3] == story.desired[4]
    assert digests[3] == digests[4]  # same manifests, same desired digest
    assert len(set(digests[:4])) == 4


def test_rollback_restores_the_earlier_commits_desired_state(
    repo: GitRepo, state: rc.State
) -> None:
    story = write_story(repo)
    reconciler, apps, cfgs, _ = _world(state)
    src = repo.source()
    for commit in story.commits[:4]:
        assert reconciler.sync(src, revision=commit, prune=True).ok
    apps.reset_calls()

    plan = reconciler.plan_rollback(src, story.commits[1])
    assert plan_changes(plan) == expected_changes(story.desired[3], story.desired[1])
    result = reconciler.rollback(src, story.commits[1])
    assert result.ok
    assert live(apps, cfgs) == story.desired[1]
    entry = reconciler.history()[0]
    assert entry.revision == story.commits[1]
    assert entry.meta["rollback"] is True
    assert entry.meta["subject"] == STORY[1][1]
    assert _is_digest(entry.meta["plan_digest"])
    assert reconciler.last_applied_revision() == story.commits[1]
    # status against the rolled-back revision is Synced; against the branch it is OutOfSync
    assert reconciler.status(repo.source(story.commits[1])).sync is rc.Sync.SYNCED
    behind = reconciler.status(src)
    assert behind.sync is rc.Sync.OUT_OF_SYNC
    assert behind.revision_wanted == story.commits[-1]
    assert behind.revision_applied == story.commits[1]
    # rolling back to the very first commit works too (pruning what came later)
    assert reconciler.rollback(src, story.commits[0]).ok
    assert live(apps, cfgs) == story.desired[0]


def test_rollback_journals_a_desired_digest(repo: GitRepo) -> None:
    story = write_story(repo)
    reconciler, *_ = _world()
    src = repo.source()
    for commit in story.commits[:2]:
        reconciler.sync(src, revision=commit, prune=True)
    reconciler.rollback(src, story.commits[0])
    assert _is_digest(reconciler.history()[0].meta.get("desired_digest"))


def test_rollback_refuses_a_revision_never_applied(repo: GitRepo) -> None:
    story = write_story(repo)
    reconciler, apps, cfgs, _ = _world()
    src = repo.source()
    reconciler.sync(src, revision=story.commits[0], prune=True)
    reconciler.sync(src, revision=story.commits[2], prune=True)
    before = live(apps, cfgs)
    apps.reset_calls()
    cfgs.reset_calls()
    entries = len(reconciler.history())
    for never in (story.commits[1], story.commits[3]):
        with pytest.raises(rc.StateError, match=never):
            reconciler.rollback(src, never)
        with pytest.raises(rc.StateError):
            reconciler.plan_rollback(src, never)
    assert _writes(apps, cfgs) == 0
    assert live(apps, cfgs) == before
    assert len(reconciler.history()) == entries


def test_rollback_refuses_a_revision_whose_apply_failed(repo: GitRepo) -> None:
    first = repo.commit({"manifests/a.yaml": manifest(app("web"))}, "web")
    second = repo.commit({"manifests/b.yaml": manifest(app("bad"))}, "bad")
    reconciler, apps, *_ = _world()
    src = repo.source()
    reconciler.sync(src, revision=first)
    apps.fail("create", address="go_app[bad]", times=None)
    assert not reconciler.sync(src, revision=second).ok
    with pytest.raises(rc.StateError):
        reconciler.rollback(src, second)
    assert reconciler.last_applied_revision() == first


def test_history_is_bounded(repo: GitRepo) -> None:
    story = write_story(repo)
    reconciler, *_ = _world(rc.MemoryState(keep_history=3))
    src = repo.source()
    for commit in story.commits:
        reconciler.sync(src, revision=commit, prune=True)
    kept = reconciler.history()
    assert [e.revision for e in kept] == story.commits[::-1][:3]


# -- status and health -------------------------------------------------------------------------


def _two_apps(repo: GitRepo) -> str:
    return repo.commit(
        {
            "manifests/apps.yaml": manifest(
                app("web", labels={"app": "web"}), app("api", image="api:1")
            ),
            "manifests/cfg.yaml": manifest(cfg("main", a="1")),
        },
        "Two apps and a config",
    )


def test_status_synced_then_out_of_sync_with_drifted_resources_and_fields(
    repo: GitRepo,
) -> None:
    first = _two_apps(repo)
    reconciler, apps, cfgs, _ = _world()
    src = repo.source()
    never = reconciler.status(src)
    assert never.sync is rc.Sync.OUT_OF_SYNC
    assert never.revision_applied is None
    assert {r.address for r in never.out_of_sync} == {"go_app[web]", "go_app[api]", "go_cfg[main]"}

    reconciler.sync(src)
    synced = reconciler.status(src)
    assert synced.sync is rc.Sync.SYNCED
    assert synced.health is rc.Health.HEALTHY
    assert synced.revision_wanted == synced.revision_applied == first
    assert synced.out_of_sync == ()

    apps.drift("go_app[api]", image="api:hacked", replicas=5)
    # a changed key is drift; a key the revision never set is not (as a server's own label)
    cfgs.drift("go_cfg[main]", data={"a": "2", "b": "extra"})
    drifted = reconciler.status(src)
    assert drifted.sync is rc.Sync.OUT_OF_SYNC
    by_address = {r.address: r for r in drifted.resources}
    assert set(by_address) == {"go_app[web]", "go_app[api]", "go_cfg[main]"}
    assert by_address["go_app[web]"].sync is rc.Sync.SYNCED
    assert by_address["go_app[api]"].sync is rc.Sync.OUT_OF_SYNC
    assert by_address["go_app[api]"].action is rc.Action.UPDATE
    assert set(by_address["go_app[api]"].paths) == {"image", "replicas"}
    assert set(by_address["go_cfg[main]"].paths) == {"data.a"}
    assert {r.address for r in drifted.out_of_sync} == {"go_app[api]", "go_cfg[main]"}
    assert drifted.revision_wanted == drifted.revision_applied == first
    assert _writes(apps, cfgs) == 3  # status changes nothing


def test_status_names_the_revision_wanted_and_the_one_last_applied(repo: GitRepo) -> None:
    first = _two_apps(repo)
    reconciler, *_ = _world()
    src = repo.source()
    reconciler.sync(src)
    second = repo.commit(
        {"manifests/apps.yaml": manifest(app("web", labels={"app": "web"}, replicas=4))},
        "Scale web, drop api",
    )
    status = reconciler.status(src)
    assert status.revision_wanted == second
    assert status.revision_applied == first
    assert status.sync is rc.Sync.OUT_OF_SYNC
    actions = {r.address: r.action for r in status.out_of_sync}
    assert actions == {"go_app[web]": rc.Action.UPDATE, "go_app[api]": rc.Action.DELETE}
    assert {r.address: r.paths for r in status.out_of_sync}["go_app[web]"] == ("replicas",)


def test_health_aggregates_worst_first(repo: GitRepo) -> None:
    _two_apps(repo)
    reconciler, apps, *_ = _world()
    src = repo.source()
    reconciler.sync(src)
    assert reconciler.status(src).health is rc.Health.HEALTHY

    apps.phases["go_app[web]"] = "Progressing"
    status = reconciler.status(src)
    assert status.health is rc.Health.PROGRESSING
    assert status.sync is rc.Sync.SYNCED  # health is not sync
    per = {r.address: r.health for r in status.resources}
    assert per == {
        "go_app[web]": rc.Health.PROGRESSING,
        "go_app[api]": rc.Health.HEALTHY,
        "go_cfg[main]": rc.Health.HEALTHY,
    }

    apps.remove("go_app[api]")
    status = reconciler.status(src)
    assert status.health is rc.Health.MISSING
    assert status.sync is rc.Sync.OUT_OF_SYNC
    missing = {r.address: r for r in status.resources}["go_app[api]"]
    assert missing.health is rc.Health.MISSING
    assert missing.action is rc.Action.CREATE

    apps.phases["go_app[web]"] = "Degraded"
    assert reconciler.status(src).health is rc.Health.DEGRADED  # Degraded wins over Missing

    apps.phases.clear()
    reconciler.sync(src)
    assert reconciler.status(src).health is rc.Health.HEALTHY


def test_server_filled_fields_never_make_it_out_of_sync(repo: GitRepo) -> None:
    repo.commit({"manifests/apps.yaml": manifest(app("web", labels={"app": "web"}))}, "web")
    reconciler, apps, *_ = _world()
    src = repo.source()
    reconciler.sync(src)
    have = apps.get("go_app[web]")
    assert have is not None
    assert have.uid == "uid-web"
    assert have.labels == {"app": "web", SERVER_LABEL: "apiserver"}  # the server's own label
    assert reconciler.status(src).sync is rc.Sync.SYNCED
    assert reconciler.plan_sync(src, prune=True)[0].is_empty

    apps.set_server_fields("go_app[web]", created_at="2030-01-01T00:00:00Z", uid="other")
    assert reconciler.status(src).sync is rc.Sync.SYNCED

    # a revision that changes the labels it owns: only that key is planned, never the server's
    repo.commit(
        {"manifests/apps.yaml": manifest(app("web", labels={"app": "web", "tier": "front"}))},
        "Label web's tier",
    )
    plan, _ = reconciler.plan_sync(src, prune=True)
    assert plan_changes(plan) == Changes(
        frozenset(), frozenset(), {"go_app[web]": frozenset({("labels", "tier")})}
    )
    assert reconciler.sync(src).ok
    have = apps.get("go_app[web]")
    assert have is not None
    assert have.labels == {"app": "web", "tier": "front", SERVER_LABEL: "apiserver"}
    assert reconciler.status(src).sync is rc.Sync.SYNCED


# -- prune guards ----------------------------------------------------------------------------------


def test_without_prune_a_removed_manifest_stays_and_status_says_so(repo: GitRepo) -> None:
    _two_apps(repo)
    reconciler, apps, *_ = _world()
    src = repo.source()
    reconciler.sync(src)
    repo.commit({"manifests/apps.yaml": manifest(app("web", labels={"app": "web"}))}, "Remove api")
    plan, _ = reconciler.plan_sync(src)
    assert plan.is_empty  # prune is off by default
    assert reconciler.sync(src).ok
    assert apps.get("go_app[api]") is not None
    status = reconciler.status(src)
    assert status.sync is rc.Sync.OUT_OF_SYNC
    assert [(r.address, r.action) for r in status.out_of_sync] == [
        ("go_app[api]", rc.Action.DELETE)
    ]

    assert reconciler.sync(src, prune=True).ok
    assert apps.get("go_app[api]") is None
    assert reconciler.status(src).sync is rc.Sync.SYNCED


def test_a_revision_removing_everything_is_refused_unless_allowed(repo: GitRepo) -> None:
    _two_apps(repo)
    reconciler, apps, cfgs, _ = _world()
    src = repo.source()
    reconciler.sync(src)
    repo.commit({"manifests/apps.yaml": None, "manifests/cfg.yaml": None}, "Remove everything")
    apps.reset_calls()
    cfgs.reset_calls()
    entries = len(reconciler.history())

    with pytest.raises(rc.PruneRefused) as caught:
        reconciler.sync(src, prune=True)
    message = str(caught.value)
    for address in ("go_app[web]", "go_app[api]", "go_cfg[main]"):
        assert address in message
    assert "allow_prune_all" in message
    with pytest.raises(rc.PruneRefused):
        reconciler.plan_sync(src, prune=True)
    assert _writes(apps, cfgs) == 0
    assert len(apps) == 2
    assert len(reconciler.history()) == entries

    assert reconciler.sync(src, prune=rc.PrunePolicy(allow_prune_all=True)).ok
    assert len(apps) == 0
    assert len(cfgs) == 0
    assert reconciler.status(src).sync is rc.Sync.SYNCED


def test_max_deletes_refuses_a_larger_prune_and_lists_what_would_go(repo: GitRepo) -> None:
    names = ["a", "b", "c", "d", "e"]
    repo.commit({f"manifests/{n}.yaml": manifest(app(n)) for n in names}, "Five apps")
    reconciler, apps, *_ = _world()
    src = repo.source()
    reconciler.sync(src)
    repo.commit({f"manifests/{n}.yaml": None for n in names[1:]}, "Keep only a")
    apps.reset_calls()

    with pytest.raises(rc.PruneRefused) as caught:
        reconciler.sync(src, prune=rc.PrunePolicy(max_deletes=3))
    message = str(caught.value)
    assert "max_deletes=3" in message
    for n in names[1:]:
        assert f"go_app[{n}]" in message
    assert "go_app[a]" not in message
    assert apps.writes == 0
    assert len(apps) == 5

    assert reconciler.sync(src, prune=rc.PrunePolicy(max_deletes=4)).ok
    assert {rc.address_of(a) for a in apps} == {"go_app[a]"}


# -- drift modes (a watch with a simulated clock: no real waiting) ---------------------------------


def _drift_repo(repo: GitRepo) -> str:
    return repo.commit(
        {
            "manifests/apps.yaml": manifest(
                app("plain"),
                app("detect", lifecycle={"drift": "detect"}),
                app("off", lifecycle={"drift": "off"}),
                app("correct", lifecycle={"drift": "correct"}),
            )
        },
        "Four drift modes",
    )


def _watch_with_drift(
    reconciler: rc.Reconciler,
    src: GitSource,
    options: rc.WatchOptions,
    after_first: Callable[[], None],
) -> list[rc.WatchEvent]:
    events: list[rc.WatchEvent] = []

    def on_event(event: rc.WatchEvent) -> None:
        events.append(event)
        if event.cycle == 1:
            after_first()

    reconciler.watch(src, options, on_event=on_event)
    return events


@pytest.mark.parametrize("self_heal", [True, False])
def test_drift_modes_per_resource(repo: GitRepo, self_heal: bool) -> None:
    _drift_repo(repo)
    reconciler, apps, *_ = _world(clock=SimulatedClock())
    src = repo.source()
    names = ("plain", "detect", "off", "correct")

    def drift_all() -> None:
        for n in names:
            apps.drift(f"go_app[{n}]", image="hand-edited")

    options = rc.WatchOptions(interval=1.0, self_heal=self_heal, max_cycles=2)
    events = _watch_with_drift(reconciler, src, options, drift_all)
    assert [e.cycle for e in events] == [1, 2]
    assert events[0].synced
    assert events[0].applied == 4

    image = {n: apps.get(f"go_app[{n}]").image for n in names}  # type: ignore[union-attr]
    healed = {"plain", "correct"} if self_heal else {"correct"}
    reported = {"detect"} | (set() if self_heal else {"plain"})
    assert {n for n in names if image[n] == "nginx:1"} == healed
    assert set(events[1].drifted) == {f"go_app[{n}]" for n in reported}
    assert events[1].healed == len(healed)
    assert events[1].sync is rc.Sync.OUT_OF_SYNC  # detect and off still differ
    assert events[1].error is None


def test_drift_mode_declared_on_the_kind(repo: GitRepo) -> None:
    repo.commit(
        {"manifests/d.yaml": manifest({"kind": "go_detect_kind", "spec": {"name": "k"}})},
        "A kind that only detects drift",
    )
    reconciler, _, _, detect = _world(clock=SimulatedClock())
    src = repo.source()
    options = rc.WatchOptions(interval=1.0, self_heal=True, max_cycles=2)
    events = _watch_with_drift(
        reconciler, src, options, lambda: detect.drift("go_detect_kind[k]", value="edited")
    )
    assert detect.get("go_detect_kind[k]").value == "edited"  # type: ignore[union-attr]
    assert events[1].drifted == ("go_detect_kind[k]",)


def test_watch_prunes_only_when_asked(repo: GitRepo) -> None:
    _two_apps(repo)
    reconciler, apps, cfgs, _ = _world(clock=SimulatedClock())
    src = repo.source()
    reconciler.sync(src)

    def remove(name: str) -> Callable[[rc.WatchEvent], None]:
        def commit(event: rc.WatchEvent) -> None:
            if event.cycle == 1:
                repo.commit({"manifests/apps.yaml": manifest(app(name))}, f"Keep only {name}")

        return commit

    report = reconciler.watch(
        src, rc.WatchOptions(interval=1.0, max_cycles=2), on_event=remove("web")
    )
    assert report.events[1].synced
    assert apps.get("go_app[api]") is not None  # prune is off by default, as in Argo CD
    assert report.events[1].sync is rc.Sync.OUT_OF_SYNC

    report = reconciler.watch(
        src, rc.WatchOptions(interval=1.0, prune=True, max_cycles=2), on_event=remove("api")
    )
    assert report.events[1].synced
    assert report.events[1].sync is rc.Sync.SYNCED
    assert {rc.address_of(a) for a in apps} == {"go_app[api]"}
    assert cfgs.get("go_cfg[main]") is not None


# -- watch in a background thread (real clock; liveness bounds only) -------------------------------


def _until(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``deadline_s`` (a liveness bound)."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"not within {deadline_s}s: {what}")
        time.sleep(0.01)


def test_watch_follows_new_commits_and_heals_drift_then_stops(repo: GitRepo) -> None:
    first = _two_apps(repo)
    reconciler, apps, cfgs, _ = _world()
    src = repo.source()
    interval = 0.05
    bound = max(100 * interval, 20.0)  # generous: a liveness bound, not a speed test
    stop = threading.Event()
    events: list[rc.WatchEvent] = []
    crashed: list[BaseException] = []

    def run() -> None:
        try:
            reconciler.watch(
                src, rc.WatchOptions(interval=interval, self_heal=True), stop=stop,
                on_event=events.append,
            )  # fmt: skip
        except BaseException as err:  # pragma: no cover - reported below
            crashed.append(err)

    thread = threading.Thread(target=run, name="go-watch", daemon=True)
    thread.start()
    try:
        _until(lambda: reconciler.last_applied_revision() == first, bound, "first commit synced")
        assert apps.get("go_app[api]") is not None

        second = repo.commit(
            {
                "manifests/apps.yaml": manifest(
                    app("web", labels={"app": "web"}, image="nginx:3"), app("api", image="api:1")
                ),
                "manifests/more.yaml": manifest(app("new")),
            },
            "Bump web, add new",
            author=BOB,
        )
        _until(
            lambda: (
                getattr(apps.get("go_app[new]"), "image", None) == "nginx:1"
                and getattr(apps.get("go_app[web]"), "image", None) == "nginx:3"
            ),
            bound,
            "second commit synced",
        )
        _until(lambda: reconciler.last_applied_revision() == second, bound, "journal")
        assert reconciler.history()[0].meta["author"] == "Bob Builder <bob@example.org>"

        apps.drift("go_app[web]", image="hand-edited", replicas=9)
        cfgs.remove("go_cfg[main]")
        _until(
            lambda: (
                getattr(apps.get("go_app[web]"), "image", None) == "nginx:3"
                and getattr(apps.get("go_app[web]"), "replicas", None) == 1
                and cfgs.get("go_cfg[main]") is not None
            ),
            bound,
            "drift healed",
        )
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive(), "watch did not stop after the stop event"
    assert not crashed
    assert events
    assert all(e.next_in >= interval for e in events)  # never a hot loop
    assert [e.cycle for e in events] == list(range(1, len(events) + 1))
    assert any(e.synced and e.revision == second for e in events)
    assert sum(e.healed for e in events) >= 2
    assert all(e.error is None for e in events)
    assert reconciler.status(src).sync is rc.Sync.SYNCED


def test_watch_with_a_stop_event_already_set_runs_no_cycle(repo: GitRepo) -> None:
    _two_apps(repo)
    reconciler, apps, *_ = _world()
    stop = threading.Event()
    stop.set()
    report = reconciler.watch(repo.source(), rc.WatchOptions(interval=0.05), stop=stop)
    assert report.events == ()
    assert apps.writes == 0


# -- backoff and pre-emption (simulated clock, counted cycles) -------------------------------------


def _ceiling(options: rc.WatchOptions, failures: int) -> float:
    return min(options.backoff_cap, options.interval * 2**failures)


def test_failing_revision_backs_off_exponentially_capped_never_below_interval(
    repo: GitRepo,
) -> None:
    good = repo.commit({"manifests/web.yaml": manifest(app("web"))}, "web")
    clock = SimulatedClock()
    reconciler, apps, *_ = _world(clock=clock)
    src = repo.source()
    reconciler.sync(src)
    bad = repo.commit({"manifests/bad.yaml": manifest(app("bad"))}, "A revision that fails")
    apps.fail("create", address="go_app[bad]", times=None)

    options = rc.WatchOptions(interval=1.0, backoff_cap=16.0, max_cycles=10)
    stamps: list[float] = []
    report = reconciler.watch(src, options, on_event=lambda e: stamps.append(clock.monotonic()))
    events = report.events
    assert len(events) == 10
    assert all(e.revision == bad and e.error for e in events)
    assert not any(e.synced for e in events)
    waits = [e.next_in for e in events]
    for n, wait in enumerate(waits, start=1):
        ceiling = _ceiling(options, n)
        assert max(options.interval, ceiling / 2) <= wait <= ceiling, (n, waits)
    cap = options.backoff_cap
    growing = [w for n, w in enumerate(waits, start=1) if _ceiling(options, n) < cap]
    assert len(growing) >= 3
    assert growing == sorted(growing)  # grows: jittered within bands that do not overlap
    assert waits[-1] > 4 * options.interval
    assert max(waits) <= options.backoff_cap
    # the loop really waited that long on the clock between cycles, and never spun hot
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps == pytest.approx(waits[:-1])
    assert report.last_synced == good
    assert apps.get("go_app[bad]") is None


def test_a_newer_commit_preempts_the_backoff_of_a_failing_one(repo: GitRepo) -> None:
    repo.commit({"manifests/web.yaml": manifest(app("web"))}, "web")
    clock = SimulatedClock()
    reconciler, apps, *_ = _world(clock=clock)
    src = repo.source()
    reconciler.sync(src)
    bad = repo.commit({"manifests/bad.yaml": manifest(app("bad"))}, "Fails")
    apps.fail("create", address="go_app[bad]", times=None)
    options = rc.WatchOptions(interval=1.0, backoff_cap=64.0, max_cycles=12)
    newer: dict[str, str] = {}
    stamps: list[float] = []

    def on_event(event: rc.WatchEvent) -> None:
        stamps.append(clock.monotonic())
        if event.cycle == 5:  # deep in backoff: a newer revision that still fails
            newer["still_bad"] = repo.commit(
                {"manifests/web.yaml": manifest(app("web", replicas=2))}, "Also fails"
            )
        if event.cycle == 8:  # and then one that fixes it
            newer["fixed"] = repo.commit({"manifests/bad.yaml": None}, "Remove bad")

    events = reconciler.watch(src, options, on_event=on_event).events
    revisions = [e.revision for e in events]
    assert revisions[:5] == [bad] * 5
    assert revisions[5:8] == [newer["still_bad"]] * 3
    assert revisions[8:] == [newer["fixed"]] * 4

    waits = [e.next_in for e in events]
    assert waits[4] >= 8 * options.interval  # the fifth failure waits long...
    assert stamps[5] - stamps[4] == pytest.approx(options.interval)  # ...but wakes for the new one
    for n, wait in enumerate(waits[5:8], start=1):  # the newer revision's retries start afresh
        assert max(options.interval, _ceiling(options, n) / 2) <= wait <= _ceiling(options, n)
    assert events[8].synced
    assert events[8].error is None
    assert waits[8:] == [options.interval] * 4  # success resets the backoff
    assert stamps[8] - stamps[7] == pytest.approx(options.interval)
    assert all(w >= options.interval for w in waits)
    assert reconciler.last_applied_revision() == newer["fixed"]
    assert apps.get("go_app[web]").replicas == 2  # type: ignore[union-attr]


def test_a_manifest_error_in_a_new_commit_backs_off_and_applies_nothing(repo: GitRepo) -> None:
    repo.commit({"manifests/web.yaml": manifest(app("web"))}, "web")
    clock = SimulatedClock()
    reconciler, apps, *_ = _world(clock=clock)
    src = repo.source()
    reconciler.sync(src)
    bad = "kind: go_app\nspec:\n  name: x\n  replicas: many\n"  # line 4 is wrong
    broken = repo.commit({"manifests/bad.yaml": bad}, "Broken")
    apps.reset_calls()
    options = rc.WatchOptions(interval=2.0, backoff_cap=10.0, max_cycles=6)
    events = reconciler.watch(src, options).events
    assert all(e.revision == broken for e in events)
    assert all(e.error and "bad.yaml:4" in e.error and broken[:7] in e.error for e in events)
    assert apps.writes == 0
    assert [e.next_in <= options.backoff_cap for e in events] == [True] * 6
    assert all(e.next_in >= options.interval for e in events)
    assert events[-1].next_in >= options.backoff_cap / 2


# -- replaying real Argo CD example history --------------------------------------------------------


def _kube() -> Any:
    try:
        import reconcile.kube as kube
        from reconcile.testing import FakeCluster
    except ImportError as err:  # pragma: no cover - depends on the other engineer's work
        pytest.skip(f"reconcile.kube is not available yet: {err}")
    return kube, FakeCluster


class KubeGitSource:
    """The ``Source`` protocol over a Git revision of plain Kubernetes YAML.

    GitSource reads ``kind``/``spec`` manifests only, so this reads the revision's blobs
    with ``GitSource.files`` and hands them to ``reconcile.kube``'s loader.
    """

    def __init__(self, git_source: GitSource, scratch: Path, kube: Any) -> None:
        self.git = git_source
        self.scratch = scratch
        self.kube = kube

    def __repr__(self) -> str:
        return f"KubeGitSource({self.git!r})"

    def revision(self) -> str:
        return self.git.revision()

    def describe(self, revision: str) -> Any:
        return self.git.describe(revision)

    def load(self, revision: str | None = None) -> list[Any]:
        revision = revision or self.git.revision()
        folder = self.scratch / revision
        if not folder.exists():
            for name, data in self.git.files(revision):
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        (folder / self.git.path).mkdir(parents=True, exist_ok=True)
        return list(self.kube.load_kube_documents(folder / self.git.path, allow_unsupported=True))


@pytest.fixture(scope="module")
def corpus_index() -> dict[str, Any]:
    if not HISTORY_CORPUS.is_dir():
        pytest.skip(f"the shared corpus is absent ({HISTORY_CORPUS})")
    return json.loads((HISTORY_CORPUS / "index.json").read_text())


def _replay_repo(root: Path, index: Mapping[str, Any]) -> list[str]:
    """One commit per snapshot folder: the tree is replaced by that snapshot."""
    repo = GitRepo(root)
    commits = []
    for snap in index["snapshots"]:
        for folder in index["app_folders"]:
            shutil.rmtree(repo.path / folder, ignore_errors=True)
            shutil.copytree(HISTORY_CORPUS / snap["short"] / folder, repo.path / folder)
        author = (snap["author"], "upstream@example.org")
        commits.append(repo.commit({}, snap["subject"], author=author))
    return commits


def _object_key(step: rc.Step) -> str:
    obj = step.desired if step.desired is not None else step.actual
    return f"{obj.object_kind}/{obj.namespace}/{obj.name}"


@pytest.mark.parametrize("folder", ["guestbook", "kustomize-guestbook", "sock-shop"])
def test_replay_argocd_example_apps_history(
    tmp_path: Path, corpus_index: dict[str, Any], folder: str
) -> None:
    kube, fake_cluster = _kube()
    commits = _replay_repo(tmp_path / "repo", corpus_index)
    cluster = fake_cluster()
    reconciler = rc.Reconciler([cluster], state=rc.MemoryState())
    opened: list[GitSource] = []

    def source(ref: str) -> KubeGitSource:
        opened.append(GitSource(tmp_path / "repo", ref, folder))
        return KubeGitSource(opened[-1], tmp_path / "trees", kube)

    try:
        _replay(reconciler, cluster, source, commits, corpus_index, folder)
    finally:
        for s in opened:
            s.close()


def _replay(
    reconciler: rc.Reconciler,
    cluster: Any,
    source: Callable[[str], KubeGitSource],
    commits: list[str],
    corpus_index: Mapping[str, Any],
    folder: str,
) -> None:
    """Sync each snapshot in order, checking each plan against the corpus index; roll back."""
    snapshots = corpus_index["snapshots"]
    src = source("main")

    def objects_at(i: int) -> set[str]:
        """Cluster objects the index lists (kustomize build files are not cluster objects)."""
        return {
            f"{o['kind']}//{o['name']}"
            for f in snapshots[i]["files"]
            if f.get("app_folder") == folder and f.get("category") == "kubernetes-manifest"
            for o in f.get("objects", [])
        }

    for i, commit in enumerate(commits):
        plan, _ = reconciler.plan_sync(
            src, revision=commit, prune=rc.PrunePolicy(allow_prune_all=True)
        )
        steps = {_object_key(s): s for s in plan.steps}
        created = {k for k, s in steps.items() if s.action is rc.Action.CREATE}
        deleted = {k for k, s in steps.items() if s.action is rc.Action.DELETE}
        updated = {k for k, s in steps.items() if s.action in (rc.Action.UPDATE, rc.Action.REPLACE)}
        if i == 0:
            assert created == objects_at(0)
            assert not deleted
            assert not updated
        else:
            moved = corpus_index["transitions"][i - 1]["objects_by_app_folder"][folder]
            assert created == {o["key"] for o in moved["objects_added"]}, commit
            assert deleted == {o["key"] for o in moved["objects_removed"]}, commit
            assert updated == {o["key"] for o in moved["objects_modified"]}, commit
            assert all(steps[k].diff for k in updated)
            unchanged = {k for k, s in steps.items() if s.action is rc.Action.NOOP}
            assert unchanged == set(moved["objects_unchanged"]), commit
        assert objects_at(i) == set(steps) - deleted

        result = reconciler.sync(src, revision=commit, prune=rc.PrunePolicy(allow_prune_all=True))
        assert result.ok, [o.error for o in result.failed]
        pinned = source(commit)
        status = reconciler.status(pinned)
        assert status.sync is rc.Sync.SYNCED  # uid, resourceVersion, status, defaults ignored
        if any(k.startswith("Deployment/") for k in created):
            assert status.health is rc.Health.PROGRESSING  # until the controllers catch up
        cluster.settle()
        assert reconciler.status(pinned).health is rc.Health.HEALTHY
        assert reconciler.status(pinned).sync is rc.Sync.SYNCED
        assert {f"{o.object_kind}//{o.name}" for o in cluster} == objects_at(i)
        entry = reconciler.history()[0]
        assert entry.revision == commit
        assert entry.meta["subject"] == snapshots[i]["subject"]

    # roll all the way back to the first snapshot
    assert reconciler.rollback(src, commits[0]).ok
    assert {f"{o.object_kind}//{o.name}" for o in cluster} == objects_at(0)
    assert reconciler.status(source(commits[0])).sync is rc.Sync.SYNCED


DIGEST_WORKER = """
import sys
import reconcile as rc
from reconcile._gitops.operations import desired_digest
from reconcile.testing import MemoryProvider

@rc.resource("t_dd_login")
class Login:
    name: str = rc.field(key=True)
    password: str = rc.field(default="", sensitive=True)

state = rc.SQLiteState(sys.argv[1])
try:
    desired = [Login("db", password=sys.argv[2]), Login("web", password="another")]
    plan = rc.Reconciler([MemoryProvider(Login)], state=state).plan(desired)
    print(desired_digest(desired, plan.salt))
finally:
    state.close()
"""


def test_the_desired_digest_of_a_secret_is_the_same_in_every_process(tmp_path: Path) -> None:
    """Keyed by the state (its salt and key), not by each process's own salt."""

    def digest_in_a_new_process(secret: str) -> str:
        args = [sys.executable, "-c", DIGEST_WORKER, str(tmp_path / "state.db"), secret]
        done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120)
        return done.stdout.strip()

    first, second = digest_in_a_new_process("hunter22"), digest_in_a_new_process("hunter22")
    other = digest_in_a_new_process("hunter23")
    assert _is_digest(first)
    assert first == second
    assert other != first  # a changed secret is a changed desired state
    assert "hunter2" not in first + other
