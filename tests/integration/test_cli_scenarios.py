"""The CLI as a user runs it: every documented workflow, end to end.

Each scenario runs the installed ``reconcile`` script in subprocesses over a copy
of ``examples/quickstart`` (and, for GitOps, a repository made with the ``git``
binary), then checks the exit code, what a user reads, and the files on disk.
"""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cli_user import (
    QUICKSTART_TOML,
    RECONCILE,
    copy_example,
    git,
    git_project,
    reconcile,
    user_env,
)

QUICKSTART_MANIFESTS = Path(__file__).resolve().parents[2] / "examples/quickstart/manifests"
SPEC = "./repo@main:apps"


def declared() -> dict[str, dict[str, Any]]:
    """The quickstart's resources by address, read from its manifests (the oracle)."""
    found = {}
    for page in sorted(QUICKSTART_MANIFESTS.glob("*.yaml")):
        for doc in yaml.safe_load_all(page.read_text()):
            found[f"{doc['kind']}[{doc['spec']['path']}]"] = doc["spec"]
    return found


def assert_site_matches(site: Path) -> None:
    """Every declared folder, file and symlink is on disk as declared."""
    for address, spec in declared().items():
        path = site / spec["path"]
        if address.startswith("directory"):
            assert path.is_dir(), address
            assert (path.stat().st_mode & 0o777) == spec["mode"], address
        elif address.startswith("symlink"):
            assert os.readlink(path) == spec["target"], address
        else:
            assert path.read_text() == spec["content"], address
            assert (path.stat().st_mode & 0o777) == spec.get("mode", 0o644), address


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    return copy_example("quickstart", tmp_path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with reconcile.toml and ./repo: the quickstart manifests as apps/ on main."""
    return git_project(tmp_path / "project")


def commit(project: Path, edits: dict[str, str | None], subject: str, author: str) -> str:
    """Write (or, for None, delete) files under repo/, commit them, return the commit id."""
    repo = project / "repo"
    for name, text in edits.items():
        if text is None:
            git(repo, "rm", "-q", name)
        else:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text)
            git(repo, "add", name)
    git(repo, "commit", "-qm", subject, author=author)
    return git(repo, "rev-parse", "HEAD")


def retitled() -> str:
    return (QUICKSTART_MANIFESTS / "pages.yaml").read_text().replace("First post", "Second post")


# --- plan, apply, status, drift, history, show ---------------------------------------


def test_plan_changes_nothing_and_apply_builds_the_site(quickstart: Path) -> None:
    site = quickstart / "site"
    shown = reconcile(quickstart, "plan").stdout
    assert "+ file[public/index.html]" in shown
    assert "Plan: 7 to add, 0 to change, 0 to replace, 0 to destroy." in shown
    assert not (site / "public").exists()
    reconcile(quickstart, "plan", "--exit-code", code=2)

    applied = reconcile(quickstart, "apply", "--yes").stdout
    assert "Apply complete: 7 created, 0 updated, 0 replaced, 0 deleted" in applied
    assert_site_matches(site)

    again = reconcile(quickstart, "apply", "--yes").stdout
    assert "No changes. Live state matches the desired state." in again
    reconcile(quickstart, "plan", "--exit-code")
    assert "In sync (Synced, Healthy): 7 resources match" in reconcile(quickstart, "status").stdout


def test_apply_without_yes_and_without_a_terminal_refuses(quickstart: Path) -> None:
    refused = reconcile(quickstart, "apply", code=1, stdin="y\n")
    assert "use --yes" in refused.stderr
    assert not (quickstart / "site" / "public").exists()


def test_drift_by_hand_is_shown_by_status_and_put_back_by_apply(quickstart: Path) -> None:
    site = quickstart / "site"
    reconcile(quickstart, "apply", "--yes")
    (site / "public/index.html").write_text("edited by hand\n")
    (site / "public/css").chmod(0o700)
    (site / "public/blog/index.html").unlink()

    status = reconcile(quickstart, "status").stdout
    assert "Out of sync (OutOfSync" in status
    assert "3 of 7 resources differ" in status
    assert "update   file[public/index.html]: content (drift)" in status
    assert "update   directory[public/css]: mode (drift)" in status
    assert "create   symlink[public/blog/index.html]" in status
    reconcile(quickstart, "status", "--exit-code", code=2)

    fixed = reconcile(quickstart, "apply", "--yes").stdout
    assert '~ content = "edited by hand\\n" -> "<!doctype html>' in fixed
    assert "Apply complete: 1 created, 2 updated, 0 replaced, 0 deleted" in fixed
    assert_site_matches(site)
    reconcile(quickstart, "status", "--exit-code")


def test_history_and_show_tell_what_each_apply_did(quickstart: Path) -> None:
    reconcile(quickstart, "apply", "--yes")
    (quickstart / "site/public/index.html").write_text("edited by hand\n")
    reconcile(quickstart, "apply", "--yes")

    lines = reconcile(quickstart, "history").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["2", "1"]  # newest first
    assert all(" ok " in line and "@" in line and "sha256:" in line for line in lines)
    assert len(reconcile(quickstart, "history", "--limit", "1").stdout.splitlines()) == 1

    shown = reconcile(quickstart, "show", "2").stdout
    assert shown.startswith("Apply 2: ok, ")
    assert "~ file[public/index.html]" in shown
    assert "ok        update   file[public/index.html]" in shown
    first = reconcile(quickstart, "show", "1").stdout
    assert first.count("ok        create ") == 7
    assert "no apply with id 9" in reconcile(quickstart, "show", "9", code=1).stderr


def test_history_in_a_folder_without_state_creates_nothing(quickstart: Path) -> None:
    shown = reconcile(quickstart, "history")
    assert "No applies recorded yet." in shown.stdout
    assert not (quickstart / ".reconcile").exists()


def test_a_failed_step_fails_the_apply_and_is_reported_once(quickstart: Path) -> None:
    logo = "kind: file\nspec: {path: public/logo.png, source: assets/logo.png}\n"
    (quickstart / "manifests/logo.yaml").write_text(logo + 'depends_on: ["directory[public]"]\n')
    failed = reconcile(quickstart, "apply", "--yes", code=1)
    said = failed.stdout + failed.stderr
    assert said.count("source 'assets/logo.png' is not a file") == 1, said
    assert "Apply complete" not in said
    assert_site_matches(quickstart / "site")  # the independent steps still ran
    assert not (quickstart / "site/public/logo.png").exists()
    assert " failed " in reconcile(quickstart, "history").stdout.splitlines()[0]


# --- in a terminal: colour, the question, the progress bar ---------------------------------


def in_terminal(cwd: Path, *args: str, answer: bytes = b"") -> tuple[int, str]:
    """``reconcile ARGS`` with a pseudo-terminal as stdin, stdout and stderr, as typed."""
    env = user_env()
    env.pop("NO_COLOR")
    ours, theirs = pty.openpty()
    with subprocess.Popen(
        [str(RECONCILE), *args], cwd=cwd, env=env, stdin=theirs, stdout=theirs, stderr=theirs
    ) as process:
        os.close(theirs)
        os.write(ours, answer)
        shown = b""
        while chunk := _read_some(ours):
            shown += chunk
        process.wait(timeout=120)
    os.close(ours)
    return process.returncode, shown.decode(errors="replace")


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the other end closed
        return b""


def test_in_a_terminal_apply_asks_and_shows_colour(quickstart: Path) -> None:
    code, shown = in_terminal(quickstart, "apply", answer=b"n\n")
    assert code == 1
    assert "Apply these changes? [y/N]" in shown
    assert "apply cancelled; nothing changed" in shown
    assert "\x1b[" in shown  # colour, by default on a terminal
    assert not (quickstart / "site/public").exists()

    code, shown = in_terminal(quickstart, "apply", answer=b"y\n")
    assert code == 0, shown
    assert "Apply complete: 7 created" in shown
    assert "Traceback" not in shown
    assert_site_matches(quickstart / "site")

    code, shown = in_terminal(quickstart, "status", "--no-color")
    assert code == 0
    assert shown.startswith("In sync")
    assert "\x1b[" not in shown


# --- saved plans ----------------------------------------------------------------------


def test_a_saved_plan_is_applied_later_after_drift_by_hand(quickstart: Path) -> None:
    site = quickstart / "site"
    reconcile(quickstart, "apply", "--yes")
    (site / "public/index.html").write_text("edited by hand\n")

    saved = reconcile(quickstart, "plan", "--out", "p.json").stdout
    assert "Saved the plan to p.json; apply it with: reconcile apply p.json" in saved
    plan = json.loads((quickstart / "p.json").read_text())
    assert "format_version" in plan
    assert (site / "public/index.html").read_text() == "edited by hand\n"  # plan changed nothing

    applied = reconcile(quickstart, "apply", "p.json", "--yes").stdout
    assert "Apply complete: 0 created, 1 updated" in applied
    assert_site_matches(site)
    assert "In sync" in reconcile(quickstart, "status").stdout
    assert reconcile(quickstart, "history").stdout.splitlines()[0].split()[2] == "ok"


def test_a_saved_plan_of_a_fresh_folder_is_applied(quickstart: Path) -> None:
    reconcile(quickstart, "plan", "--out", "p.json")
    assert "Apply complete: 7 created" in reconcile(quickstart, "apply", "p.json").stdout
    assert_site_matches(quickstart / "site")


def test_a_saved_plan_is_refused_when_the_manifests_changed(quickstart: Path) -> None:
    reconcile(quickstart, "plan", "--out", "p.json")
    pages = quickstart / "manifests/pages.yaml"
    pages.write_text(pages.read_text().replace("First post", "Second post"))
    refused = reconcile(quickstart, "apply", "p.json", "--yes", code=1)
    assert "changed since the plan was saved" in refused.stderr
    assert not (quickstart / "site/public").exists()


# --- GitOps: status, apply --git, diff, watch, rollback --------------------------------


def test_status_apply_and_history_of_a_git_revision(project: Path) -> None:
    first = git(project / "repo", "rev-parse", "HEAD")
    status = reconcile(project, "status", "--git", SPEC).stdout
    assert "7 of 7 resources differ" in status
    assert f"revision {first[:19]}" in status
    assert "last applied never" in status

    reconcile(project, "apply", "--git", SPEC, "--yes")
    assert_site_matches(project / "site")
    status = reconcile(project, "status", "--git", SPEC).stdout
    assert status.startswith("In sync (Synced, Healthy)")
    assert f"last applied {first[:19]}" in status

    (newest,) = reconcile(project, "history").stdout.splitlines()
    assert first[:19] in newest
    assert "Ann <ann@example.org>: add site" in newest
    assert f"revision {first}" in reconcile(project, "show", "1").stdout


def test_diff_previews_a_branch_as_text_json_and_markdown(project: Path) -> None:
    repo = project / "repo"
    git(repo, "switch", "-qc", "feature")
    commit(project, {"apps/pages.yaml": retitled()}, "retitle", "Bob <bob@example.org>")
    git(repo, "switch", "-q", "main")
    args = ("diff", "--git", "./repo", "--from", "main", "--to", "feature:apps")

    text = reconcile(project, *args).stdout
    assert "Desired state main -> feature: 0 added, 1 changed, 0 removed" in text
    assert "~ file[public/blog/first-post.html]" in text
    assert "Second post" in text

    found = json.loads(reconcile(project, *args, "--format", "json").stdout)
    assert (found["base"], found["head"]) == ("main", "feature")
    (change,) = found["changes"]
    assert change["address"] == "file[public/blog/first-post.html]"
    assert change["change"] == "changed"
    assert change["diff"][0]["path"] == ["content"]

    markdown = reconcile(project, *args, "--format", "markdown").stdout
    assert markdown.startswith("### Desired state: `main` → `feature`")
    assert "<code>~ file[public/blog/first-post.html]</code>" in markdown
    assert not (project / "site").exists()  # a preview changes nothing


def test_diff_shows_an_added_file_as_the_plan_does(project: Path) -> None:
    repo = project / "repo"
    git(repo, "switch", "-qc", "feature")
    added = 'kind: file\nspec: {path: public/new.txt, content: "new\\n"}\n'
    commit(project, {"apps/new.yaml": added}, "add a page", "Bob <bob@example.org>")
    git(repo, "switch", "-q", "main")
    args = ("diff", "--git", "./repo", "--from", "main", "--to", "feature:apps")
    planned = reconcile(project, "plan", "--git", "./repo@feature:apps").stdout
    assert '+ mode    = "0o644"' in planned  # what the plan shows, the preview shows too

    for fmt in ("text", "markdown"):
        shown = reconcile(project, *args, "--format", fmt).stdout
        assert "+ file[public/new.txt]" in shown
        assert re.search(r'\+ mode\s+= "0o644"', shown), shown
        assert not re.search(r"mode\s+= 420", shown)
        assert "size = null" not in shown  # an unset computed field is hidden, as in the plan


def test_diff_live_shows_the_plan_against_live_state_in_each_format(project: Path) -> None:
    reconcile(project, "apply", "--git", SPEC, "--yes")
    repo = project / "repo"
    git(repo, "switch", "-qc", "feature")
    commit(project, {"apps/pages.yaml": retitled()}, "retitle", "Bob <bob@example.org>")
    git(repo, "switch", "-q", "main")
    (project / "site/public/css/site.css").write_text("drifted\n")
    args = ("diff", "--git", "./repo", "--from", "main", "--to", "feature:apps", "--live")

    text = reconcile(project, *args).stdout
    assert "~ file[public/blog/first-post.html]" in text
    assert "~ file[public/css/site.css]" in text
    assert "Plan: 0 to add, 2 to change" in text

    plan = json.loads(reconcile(project, *args, "--format", "json").stdout)
    changes = plan["resource_changes"]
    addresses = {change["address"] for change in changes if change["action"] == "update"}
    assert addresses == {"file[public/blog/first-post.html]", "file[public/css/site.css]"}

    markdown = reconcile(project, *args, "--format", "markdown").stdout
    assert markdown.lstrip().startswith("#"), markdown  # a Markdown heading, not the text plan
    assert "file[public/blog/first-post.html]" in markdown
    assert "<details>" in markdown  # folded, for a pull-request comment
    assert markdown != text
    assert (project / "site/public/css/site.css").read_text() == "drifted\n"


def test_watch_syncs_a_new_commit_then_stops_after_its_cycles(project: Path) -> None:
    reconcile(project, "apply", "--git", SPEC, "--yes")
    second = commit(project, {"apps/pages.yaml": retitled()}, "retitle", "Bob <bob@example.org>")
    args = ("watch", "--git", SPEC, "--interval", "0.1", "--max-cycles", "2")
    lines = reconcile(project, *args).stdout.splitlines()
    assert lines[0] == f"watching {SPEC} every 0.1s (Ctrl-C stops after the current cycle)"
    assert lines[1].startswith(f"cycle 1 rev {second[:12]} Synced/Healthy synced, 1 applied")
    assert lines[2].startswith(f"cycle 2 rev {second[:12]} Synced/Healthy watching, 0 applied")
    assert lines[-1] == "watch stopped"
    post = project / "site/public/blog/first-post.html"
    assert post.read_text().startswith("<h1>Second post</h1>")
    assert "Bob <bob@example.org>: retitle" in reconcile(project, "history").stdout


def test_watch_without_self_heal_reports_drift_and_leaves_it(project: Path) -> None:
    reconcile(project, "apply", "--git", SPEC, "--yes")
    css = project / "site/public/css/site.css"
    css.write_text("drifted\n")
    out = reconcile(project, "watch", "--git", SPEC, "--interval", "0.1", "--max-cycles", "1")
    assert "OutOfSync/Healthy watching, 0 applied drift: file[public/css/site.css]" in out.stdout
    assert css.read_text() == "drifted\n"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_watch_self_heals_drift_until_stopped_by_a_signal(project: Path, stop: int) -> None:
    reconcile(project, "apply", "--git", SPEC, "--yes")
    css = project / "site/public/css/site.css"
    css.write_text("drifted\n")
    args = [str(RECONCILE), "watch", "--git", SPEC, "--interval", "0.2", "--self-heal"]
    with subprocess.Popen(
        args, cwd=project, env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as watcher:
        try:
            lines = _lines_of(watcher)
            seen = _read_until(lines, "healed")
            watcher.send_signal(stop)
            watcher.wait(timeout=60)
            rest = _read_until(lines, "watch stopped")
            errors = watcher.stderr.read() if watcher.stderr else ""
        finally:
            watcher.kill()
    assert watcher.returncode == 0, errors
    healed = next(line for line in seen if "healed" in line)
    assert "Synced/Healthy healed 1" in healed
    assert "file[public/css/site.css]" in healed  # the line names what it healed
    assert rest[-1] == "watch stopped"
    assert "Traceback" not in errors
    assert_site_matches(project / "site")


def _lines_of(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """``process``'s stdout lines, as a reader thread puts them in a queue."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout or ():
            lines.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue[str], word: str, timeout: float = 60) -> list[str]:
    """Lines up to the first holding ``word``; a hung watch fails the test, never hangs it."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            seen.append(lines.get(timeout=left))
        except queue.Empty:
            break
        if word in seen[-1]:
            return seen
    raise AssertionError(f"no {word!r} within {timeout}s: {seen}")


def test_rollback_asks_first_then_syncs_an_earlier_revision(project: Path) -> None:
    first = git(project / "repo", "rev-parse", "HEAD")
    reconcile(project, "apply", "--git", SPEC, "--yes")
    commit(project, {"apps/pages.yaml": retitled()}, "retitle", "Bob <bob@example.org>")
    reconcile(project, "apply", "--git", SPEC, "--yes")
    post = project / "site/public/blog/first-post.html"
    assert post.read_text().startswith("<h1>Second post</h1>")

    asked = reconcile(project, "rollback", first[:7], "--git", SPEC, code=1)
    assert '~ content = "<h1>Second post</h1>' in asked.stdout
    assert "use --yes" in asked.stderr
    assert post.read_text().startswith("<h1>Second post</h1>")

    reconcile(project, "rollback", first[:7], "--git", SPEC, "--yes")
    assert_site_matches(project / "site")
    newest = reconcile(project, "history").stdout.splitlines()[0]
    assert first[:19] in newest
    assert "add site" in newest
    status = reconcile(project, "status", "--git", SPEC).stdout
    assert "Out of sync" in status  # main still says Second post


def test_apply_git_prunes_only_when_asked_and_never_everything_unforced(project: Path) -> None:
    reconcile(project, "apply", "--git", SPEC, "--yes")
    site = project / "site"
    commit(project, {"apps/pages.yaml": None}, "drop the pages", "Bob <bob@example.org>")

    kept = reconcile(project, "apply", "--git", SPEC, "--yes").stdout
    assert "to destroy" not in kept or "0 to destroy" in kept
    assert (site / "public/index.html").is_file()  # prune is off by default
    assert "Out of sync" in reconcile(project, "status", "--git", SPEC).stdout

    refused = reconcile(
        project, "apply", "--git", SPEC, "--yes", "--prune", "--max-deletes", "1", code=1
    )
    assert "--max-deletes" in refused.stdout + refused.stderr
    assert (site / "public/index.html").is_file()

    pruned = reconcile(project, "apply", "--git", SPEC, "--yes", "--prune").stdout
    assert "4 deleted" in pruned
    assert not (site / "public/index.html").exists()
    assert (site / "public/css").is_dir()

    emptied = {"apps/tree.yaml": None, "apps/README.md": "Moved to another repository.\n"}
    commit(project, emptied, "empty the folder", "Bob <bob@example.org>")
    everything = reconcile(project, "apply", "--git", SPEC, "--yes", "--prune", code=1)
    assert "--allow-prune-all" in everything.stderr
    assert (site / "public/css").is_dir()
    reconcile(project, "apply", "--git", SPEC, "--yes", "--prune", "--allow-prune-all")
    assert not (site / "public").exists()


# --- references, targeting, JSON plans and the small commands ---------------------------

CONF = """kind: directory
spec: {path: conf, mode: 0750}
---
kind: file
spec: {path: conf/a.ini, content: "a = 1\\n", mode: {$ref: "directory[conf]", field: mode}}
---
kind: file
spec: {path: conf/b.ini, content: "b = 1\\n", mode: {$ref: "directory[conf]", field: mode}}
"""


def test_a_resource_that_held_a_reference_is_pruned_after_a_noop_apply(quickstart: Path) -> None:
    conf = quickstart / "manifests/conf.yaml"
    conf.write_text(CONF)
    reconcile(quickstart, "apply", "--yes")
    site = quickstart / "site"
    assert (site / "conf/b.ini").stat().st_mode & 0o777 == 0o750
    (site / "conf/a.ini").write_text("a = 2\n")  # drift one; b.ini is a noop in this apply
    reconcile(quickstart, "apply", "--yes")

    conf.write_text(CONF[: CONF.index("---\nkind: file\nspec: {path: conf/b.ini")])
    for command in (["plan"], ["status"]):
        shown = reconcile(quickstart, *command).stdout
        assert "file[conf/b.ini]" in shown
    pruned = reconcile(quickstart, "apply", "--yes").stdout
    assert "Apply complete: 0 created, 0 updated, 0 replaced, 1 deleted" in pruned
    assert not (site / "conf/b.ini").exists()
    assert (site / "conf/a.ini").read_text() == "a = 1\n"
    assert "In sync" in reconcile(quickstart, "status").stdout


def test_plan_json_include_and_exclude(quickstart: Path) -> None:
    plan = json.loads(reconcile(quickstart, "plan", "--json").stdout)
    assert plan["format_version"] == "1.0"
    assert {c["action"] for c in plan["resource_changes"]} == {"create"}
    assert not (quickstart / "site/public").exists()

    only = reconcile(quickstart, "apply", "--yes", "--include", "file[public/css/site.css]")
    assert "Apply complete: 3 created" in only.stdout  # the file and the folders it needs
    assert (quickstart / "site/public/css/site.css").is_file()
    assert not (quickstart / "site/public/index.html").exists()

    rest = reconcile(quickstart, "apply", "--yes", "--exclude", "directory[public/blog]").stdout
    assert "Apply complete: 1 created" in rest  # index.html; the blog and what is in it wait
    assert not (quickstart / "site/public/blog").exists()
    reconcile(quickstart, "apply", "--yes")
    assert_site_matches(quickstart / "site")


def test_config_and_state_options_and_python_dash_m(quickstart: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state = tmp_path / "other.db"
    config = quickstart / "reconcile.toml"
    reconcile(elsewhere, "apply", "--config", config, "--state", state, "--yes")
    assert state.is_file()
    assert not (quickstart / ".reconcile").exists()
    assert_site_matches(quickstart / "site")
    assert "1  " in reconcile(elsewhere, "history", "--config", config, "--state", state).stdout

    module = subprocess.run(
        [sys.executable, "-m", "reconcile", "status", "--state", state],
        cwd=quickstart, env=user_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert module.returncode == 0, module.stderr
    assert module.stdout.startswith("In sync")


def test_providers_and_unlock(quickstart: Path) -> None:
    listed = reconcile(quickstart, "providers").stdout
    line = re.search(r"^files\s+built-in\s+(.*)$", listed, re.M)
    assert line is not None, listed
    assert set(line.group(1).split(", ")) == {"file", "directory", "symlink"}
    reconcile(quickstart, "apply", "--yes")
    assert "State was not locked." in reconcile(quickstart, "unlock").stdout


def test_errors_in_a_manifest_name_the_file_and_line(quickstart: Path) -> None:
    (quickstart / "manifests/typo.yaml").write_text("kind: fiel\nspec: {path: x}\n")
    for command in (["plan"], ["status"], ["apply", "--yes"]):
        failed = reconcile(quickstart, *command, code=1)
        assert "typo.yaml" in failed.stderr
        assert "unknown kind 'fiel'" in failed.stderr
    assert not (quickstart / "site/public").exists()


# --- a folder of plain Kubernetes YAML in Git, applied to the simulated cluster -----------

KUBE_TOML = '[source]\nformat = "kube"\n\n[providers.kube]\ncluster = ".reconcile/cluster.json"\n'
RELEASE = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [deployment.yaml]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""
# As `kubectl create configmap settings --from-literal=greeting=hello --dry-run=client -o yaml`
# writes it, with the server-only field set to null.
SETTINGS = """apiVersion: v1
data: {greeting: hello}
kind: ConfigMap
metadata:
  creationTimestamp: null
  name: settings
  namespace: demo
"""
KUBE_SPEC = "./repo@main:k8s"
DEPLOYMENT = "k8s[apps,Deployment,demo,web]"


@pytest.fixture
def kube_project(tmp_path: Path) -> Path:
    """reconcile.toml for Kubernetes YAML and ./repo with k8s/ on main."""
    root = tmp_path / "kube"
    (root / "repo" / "k8s").mkdir(parents=True)
    (root / "reconcile.toml").write_text(KUBE_TOML)
    git(root / "repo", "init", "-q")
    commit(root, {"k8s/release.yaml": RELEASE, "k8s/settings.yaml": SETTINGS}, "web", "Ann <a@b.c>")
    return root


def cluster_objects(project: Path) -> dict[str, dict[str, Any]]:
    """The simulated cluster's objects by kind/name, from the file it is kept in."""
    data = json.loads((project / ".reconcile/cluster.json").read_text())
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in data["objects"]}


def test_a_kubernetes_folder_in_git_is_previewed_applied_and_converges(kube_project: Path) -> None:
    project = kube_project
    status = reconcile(project, "status", "--git", KUBE_SPEC)
    assert "3 of 3 resources differ" in status.stdout  # the Kustomization costs only itself
    assert "create   k8s[,ConfigMap,demo,settings]" in status.stdout
    assert "Kustomization" in status.stderr
    assert "release.yaml" in status.stderr

    applied = reconcile(project, "apply", "--git", KUBE_SPEC, "--yes").stdout
    assert "Apply complete: 3 created" in applied
    assert set(cluster_objects(project)) == {"Deployment/web", "Service/web", "ConfigMap/settings"}
    assert cluster_objects(project)["Deployment/web"]["spec"]["replicas"] == 2
    status = reconcile(project, "status", "--git", KUBE_SPEC, "--exit-code").stdout
    assert status.startswith("In sync (Synced, Healthy): 3 resources match")  # null timestamp
    pruning = reconcile(project, "apply", "--git", KUBE_SPEC, "--yes", "--prune").stdout
    assert "No changes." in pruning  # the objects beside the Kustomization are never pruned

    git(project / "repo", "switch", "-qc", "feature")
    scaled = RELEASE.replace("replicas: 2", "replicas: 3")
    commit(project, {"k8s/release.yaml": scaled}, "scale web", "Bob <bob@example.org>")
    git(project / "repo", "switch", "-q", "main")
    preview = ("diff", "--git", "./repo", "--from", "main:k8s", "--to", "feature:k8s")
    text = reconcile(project, *preview).stdout
    assert "0 added, 1 changed, 0 removed" in text
    assert f"~ {DEPLOYMENT}" in text
    assert "replicas: 2 -> 3" in text
    markdown = reconcile(project, *preview, "--format", "markdown").stdout
    assert markdown.startswith("### Desired state: `main` → `feature`")
    live = reconcile(project, *preview, "--live").stdout
    assert "Plan: 0 to add, 1 to change" in live

    git(project / "repo", "merge", "-q", "--ff-only", "feature")
    watched = reconcile(
        project, "watch", "--git", KUBE_SPEC, "--interval", "0.1", "--max-cycles", "1"
    )
    assert "synced, 1 applied" in watched.stdout
    assert cluster_objects(project)["Deployment/web"]["spec"]["replicas"] == 3


def test_a_skipped_kubernetes_document_is_named_as_it_is_in_the_repository(
    kube_project: Path,
) -> None:
    noted = reconcile(kube_project, "apply", "--git", KUBE_SPEC, "--yes").stderr
    assert noted.splitlines() == [
        "note: skipped ./repo@main:k8s/release.yaml: document 1: Kustomization: "
        "a kustomize build file, not a cluster object"
    ]  # once, and not the private copy the loader read, deleted since


def test_a_saved_plan_of_a_git_revision_applies_its_prune_until_the_ref_moves(
    project: Path,
) -> None:
    reconcile(project, "apply", "--git", SPEC, "--yes")
    commit(project, {"apps/pages.yaml": None}, "drop the pages", "Bob <bob@example.org>")
    saved = reconcile(project, "plan", "--git", SPEC, "--prune", "--out", "prune.json").stdout
    assert "Plan: 0 to add, 0 to change, 0 to replace, 4 to destroy." in saved
    assert (project / "site/public/index.html").is_file()

    applied = reconcile(project, "apply", "prune.json").stdout  # approved when it was saved
    assert "4 deleted" in applied
    assert not (project / "site/public/index.html").exists()
    assert (project / "site/public/css").is_dir()
    assert "Bob <bob@example.org>: drop the pages" in reconcile(project, "history").stdout

    reconcile(project, "plan", "--git", SPEC, "--out", "later.json")
    git(project / "repo", "commit", "-q", "--allow-empty", "-m", "moved on")
    refused = reconcile(project, "apply", "later.json", code=1)
    assert "plan again" in refused.stderr


def test_a_live_preview_of_a_project_never_applied_creates_no_state(project: Path) -> None:
    args = ("diff", "--git", "./repo", "--from", "main", "--to", "main:apps", "--live")
    shown = reconcile(project, *args).stdout
    assert "Plan: 7 to add, 0 to change, 0 to replace, 0 to destroy." in shown
    assert "In sync" not in reconcile(project, "status", "--git", SPEC).stdout
    assert not (project / ".reconcile").exists()  # looking, like status, leaves nothing behind


def test_a_plan_saved_in_the_manifest_folder_is_not_read_as_a_manifest(quickstart: Path) -> None:
    for page in (quickstart / "manifests").glob("*.yaml"):  # manifests = ["."], the default
        page.rename(quickstart / page.name)
    (quickstart / "reconcile.toml").write_text(QUICKSTART_TOML)
    reconcile(quickstart, "plan", "--out", "plan.json")
    applied = reconcile(quickstart, "apply", "plan.json").stdout
    assert "Apply complete: 7 created" in applied
    assert_site_matches(quickstart / "site")
    assert "No changes." in reconcile(quickstart, "plan").stdout
    assert "In sync" in reconcile(quickstart, "status").stdout
