"""The GitOps commands of ``reconcile`` on a real Git repository of manifests.

The built-in ``file``/``directory`` kinds under ``manifests/`` of a repository
built here with the ``git`` binary; a ``reconcile.toml`` in a separate folder
(``--config``) sets the managed root and the state database. In-process through
click's ``CliRunner`` (apply, history, status, diff in every format with secrets
masked, diff --live, rollback, watch) and as a real subprocess stopped by SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner, Result

import reconcile as rc
from reconcile._cli import cli
from tests.gitenv import git_env

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="the git binary is needed"),
    pytest.mark.skipif(os.name != "posix", reason="signals and file modes are POSIX"),
]

CONSOLE_SCRIPT = Path(sys.executable).parent / "reconcile"


@rc.resource("go_cli_secret")
class Credential:
    """A kind with a sensitive field; only diffed as desired state, so it needs no provider."""

    name: str = rc.field(key=True)
    user: str = ""
    password: str = rc.field(default="", sensitive=True)


SECRETS = ("hunter2-OLD-PASSWORD", "s3cr3t-NEW-PASSWORD", "REMOVED-secret-value", "brand-NEW-added")


def _file(path: str, content: str) -> str:
    return f"kind: file\nspec:\n  path: {path}\n  content: {json.dumps(content)}\n"


def _secret(name: str, user: str, password: str) -> str:
    return f"kind: go_cli_secret\nspec:\n  name: {name}\n  user: {user}\n  password: {password}\n"


FIRST: dict[str, str | None] = {
    "manifests/www.yaml": "kind: directory\nspec: {path: www}\n",
    "manifests/index.yaml": _file("www/index.html", "<h1>v1</h1>\n"),
    "manifests/old.yaml": _file("www/old.html", "old page\n"),
    "secrets/db.yaml": _secret("db", "admin", SECRETS[0]),
    "secrets/gone.yaml": _secret("gone", "temp", SECRETS[2]),
}
SECOND: dict[str, str | None] = {
    "manifests/index.yaml": _file("www/index.html", "<h1>v2</h1>\n"),
    "manifests/old.yaml": None,
    "manifests/about.yaml": _file("www/about.html", "about us\n"),
    "secrets/db.yaml": _secret("db", "root", SECRETS[1]),
    "secrets/gone.yaml": None,
    "secrets/new.yaml": _secret("new", "svc", SECRETS[3]),
}


@attrs.frozen
class Site:
    root: Path
    repo: Path
    config: Path
    live: Path
    commits: list[str]

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.repo, env=git_env(self.root), check=True,
            capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout.strip()

    def commit(self, files: Mapping[str, str | None], subject: str) -> str:
        for name, text in files.items():
            path = self.repo / name
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", subject)
        sha = self.git("rev-parse", "HEAD")
        self.commits.append(sha)
        return sha

    def spec(self, ref: str = "main") -> str:
        return f"{self.repo}@{ref}:manifests"

    def tree(self) -> dict[str, str]:
        """The managed folder: relative path -> text (folders as "/")."""
        return {
            str(p.relative_to(self.live)): "/" if p.is_dir() else p.read_text()
            for p in sorted(self.live.rglob("*"))
        }


@pytest.fixture
def site(tmp_path: Path) -> Site:
    repo, config, live = tmp_path / "repo", tmp_path / "config", tmp_path / "live"
    for folder in (repo, config, live):
        folder.mkdir()
    db = tmp_path / "state" / "state.db"
    (config / "reconcile.toml").write_text(
        f'[providers.files]\nroot = "{live}"\n\n[state]\npath = "{db}"\n'
    )
    made = Site(tmp_path, repo, config / "reconcile.toml", live, [])
    made.git("init", "-q", "-b", "main")
    made.commit(FIRST, "First site")
    made.commit(SECOND, "Second site")
    return made


@pytest.fixture
def run() -> Iterator[Callable[..., Result]]:
    """``reconcile ARGS...`` in-process; signal handlers the command installs are restored."""
    runner = CliRunner()
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    yield invoke
    for sig, handler in saved.items():
        signal.signal(sig, handler)


V1 = {"www": "/", "www/index.html": "<h1>v1</h1>\n", "www/old.html": "old page\n"}
V2 = {"www": "/", "www/index.html": "<h1>v2</h1>\n", "www/about.html": "about us\n"}


def _apply(run: Callable[..., Result], site: Site, ref: str) -> Result:
    result = run("apply", "--git", site.spec(ref), "--yes", "--prune", "--config", site.config)
    assert result.exit_code == 0, result.output
    return result


# -- apply and history ------------------------------------------------------------------


def test_apply_from_git_and_history_shows_commit_and_subject(
    site: Site, run: Callable[..., Result]
) -> None:
    c1, c2 = site.commits
    result = _apply(run, site, c1)
    assert "3 created" in result.output
    assert site.tree() == V1
    result = _apply(run, site, "main")
    assert site.tree() == V2  # index updated, about created, old.html (no longer declared) deleted

    history = run("history", "--config", site.config)
    assert history.exit_code == 0, history.output
    lines = history.output.splitlines()
    assert len(lines) == 2
    assert c2[:19] in lines[0]
    assert "Ann Author <ann@example.org>: Second site" in lines[0]
    assert c1[:19] in lines[1]
    assert "First site" in lines[1]
    assert all(" ok " in line for line in lines)
    assert all("plan sha256:" in line for line in lines)


def test_history_shows_a_desired_digest_for_git_applies(
    site: Site, run: Callable[..., Result]
) -> None:
    _apply(run, site, "main")
    history = run("history", "--config", site.config)
    assert "desired sha256:" in history.output


def test_apply_of_an_unknown_ref_fails_and_changes_nothing(
    site: Site, run: Callable[..., Result]
) -> None:
    result = run("apply", "--git", site.spec("no-such-branch"), "--yes", "--config", site.config)
    assert result.exit_code == 1
    assert "no-such-branch" in result.output
    assert site.tree() == {}
    assert "No applies recorded yet." in run("history", "--config", site.config).output


# -- status -----------------------------------------------------------------------------------


def test_status_in_sync_then_out_of_sync_with_the_field(
    site: Site, run: Callable[..., Result]
) -> None:
    _apply(run, site, "main")
    c2 = site.commits[1]
    result = run("status", "--git", site.spec(), "--config", site.config, "--exit-code")
    assert result.exit_code == 0, result.output
    assert "In sync (Synced, Healthy)" in result.output
    assert f"revision {c2[:19]}, last applied {c2[:19]}" in result.output

    (site.live / "www" / "index.html").write_text("edited by hand\n")
    result = run("status", "--git", site.spec(), "--config", site.config)
    assert result.exit_code == 0, result.output
    assert "Out of sync (OutOfSync, Healthy): 1 of 3 resources differ" in result.output
    assert "file[www/index.html]: content" in result.output
    assert "file[www/about.html]" not in result.output
    result = run("status", "--git", site.spec(), "--config", site.config, "--exit-code")
    assert result.exit_code == 2


def test_status_before_any_apply_says_never(site: Site, run: Callable[..., Result]) -> None:
    result = run("status", "--git", site.spec(), "--config", site.config)
    assert result.exit_code == 0, result.output
    assert "Out of sync" in result.output
    assert "last applied never" in result.output


# -- diff: pull-request previews ----------------------------------------------------------------


def _diff(run: Callable[..., Result], site: Site, path: str, fmt: str, *more: str) -> Result:
    c1, c2 = site.commits
    result = run(
        "diff", "--git", site.repo, "--from", c1, "--to", f"{c2}:{path}", "--format", fmt, *more
    )
    assert result.exit_code == 0, result.output
    return result


def test_diff_text(site: Site, run: Callable[..., Result]) -> None:
    out = _diff(run, site, "manifests", "text").output
    assert "1 added, 1 changed, 1 removed" in out
    assert "+ file[www/about.html]" in out
    assert "- file[www/old.html]" in out
    assert "~ file[www/index.html]" in out
    assert "content" in out
    assert "directory[www]" not in out  # unchanged resources are not listed
    assert site.tree() == {}  # no live state touched


def test_diff_json(site: Site, run: Callable[..., Result]) -> None:
    doc = json.loads(_diff(run, site, "manifests", "json").stdout)
    assert doc["base"] == site.commits[0]
    changes = {c["address"]: c for c in doc["changes"]}
    assert {a: c["change"] for a, c in changes.items()} == {
        "file[www/about.html]": "added",
        "file[www/index.html]": "changed",
        "file[www/old.html]": "removed",
    }
    [edit] = changes["file[www/index.html]"]["diff"]
    assert edit == {
        "op": "replace",
        "path": ["content"],
        "old": "<h1>v1</h1>\n",
        "new": "<h1>v2</h1>\n",
    }
    assert changes["file[www/about.html]"]["document"]["content"] == "about us\n"


def test_diff_markdown(site: Site, run: Callable[..., Result]) -> None:
    out = _diff(run, site, "manifests", "markdown").output
    assert out.count("<details>") == 3
    assert out.count("</details>") == 3
    assert "<code>~ file[www/index.html]</code>" in out
    assert "```diff" in out


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_diff_never_shows_secrets(site: Site, run: Callable[..., Result], fmt: str) -> None:
    result = _diff(run, site, "secrets", fmt)
    out = result.output
    for secret in SECRETS:
        assert secret not in out, f"{secret} leaked in {fmt}"
    for address in ("go_cli_secret[db]", "go_cli_secret[gone]", "go_cli_secret[new]"):
        assert address in out
    assert "root" in out  # the non-sensitive change is shown
    if fmt == "json":
        doc = json.loads(result.stdout)
        changed = {c["address"]: c for c in doc["changes"]}["go_cli_secret[db]"]
        assert {tuple(x["path"]) for x in changed["diff"]} == {("user",), ("password",)}


def test_diff_live_shows_the_plan_against_live_state(
    site: Site, run: Callable[..., Result]
) -> None:
    c1 = site.commits[0]
    _apply(run, site, c1)
    (site.live / "www" / "index.html").write_text("edited by hand\n")
    result = run(
        "diff", "--git", site.repo, "--from", c1, "--to", "main:manifests", "--live",
        "--config", site.config,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert "file[www/index.html]" in out
    assert "edited by hand" in out  # live state, not the base revision
    assert "file[www/about.html] will be created" in out
    assert "file[www/old.html] will be destroyed" in out
    assert "1 to add, 1 to change, 0 to replace, 1 to destroy" in out
    assert site.tree()["www/index.html"] == "edited by hand\n"  # nothing applied

    as_json = run(
        "diff", "--git", site.repo, "--from", c1, "--to", "main:manifests", "--live",
        "--config", site.config, "--format", "json",
    )  # fmt: skip
    plan = json.loads(as_json.stdout)
    assert "format_version" in plan


def test_diff_of_an_unknown_revision_fails(site: Site, run: Callable[..., Result]) -> None:
    result = run("diff", "--git", site.repo, "--from", "nope", "--to", "main:manifests")
    assert result.exit_code == 1
    assert "nope" in result.output


# -- rollback ----------------------------------------------------------------------------------


def test_rollback_restores_the_earlier_tree(site: Site, run: Callable[..., Result]) -> None:
    c1, c2 = site.commits
    _apply(run, site, c1)
    _apply(run, site, "main")
    assert site.tree() == V2

    result = run("rollback", c1[:10], "--git", site.spec(), "--yes", "--config", site.config)
    assert result.exit_code == 0, result.output
    assert site.tree() == V1
    history = run("history", "--config", site.config).output.splitlines()
    assert c1[:19] in history[0]
    assert "First site" in history[0]

    # back again to the newer one
    result = run("rollback", c2, "--git", site.spec(), "--yes", "--config", site.config)
    assert result.exit_code == 0, result.output
    assert site.tree() == V2


def test_rollback_to_a_revision_never_applied_fails(site: Site, run: Callable[..., Result]) -> None:
    _apply(run, site, "main")
    result = run(
        "rollback", site.commits[0], "--git", site.spec(), "--yes", "--config", site.config
    )
    assert result.exit_code == 1
    assert "never applied" in result.output
    assert site.tree() == V2


def test_rollback_without_yes_and_no_terminal_refuses(
    site: Site, run: Callable[..., Result]
) -> None:
    _apply(run, site, site.commits[0])
    _apply(run, site, "main")
    result = run("rollback", site.commits[0], "--git", site.spec(), "--config", site.config)
    assert result.exit_code == 1
    assert "--yes" in result.output
    assert site.tree() == V2


# -- watch ------------------------------------------------------------------------------------


def test_watch_prints_one_line_per_cycle_with_the_revision(
    site: Site, run: Callable[..., Result]
) -> None:
    c2 = site.commits[1]
    result = run(
        "watch", "--git", site.spec(), "--config", site.config, "--max-cycles", "2",
        "--interval", "0.1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("cycle ")]
    assert len(lines) == 2
    assert lines[0].startswith(f"cycle 1 rev {c2[:12]} Synced/Healthy synced")
    assert lines[1].startswith(f"cycle 2 rev {c2[:12]}")
    assert "watch stopped" in result.output
    assert site.tree() == V2
    assert c2[:19] in run("history", "--config", site.config).output


def test_watch_self_heal_reverts_a_hand_edit(site: Site, run: Callable[..., Result]) -> None:
    _apply(run, site, "main")
    (site.live / "www" / "index.html").write_text("edited by hand\n")
    result = run(
        "watch", "--git", site.spec(), "--config", site.config, "--max-cycles", "1",
        "--interval", "0.1",
    )  # fmt: skip
    assert "drift: file[www/index.html]" in result.output  # reported, not healed by default
    assert site.tree()["www/index.html"] == "edited by hand\n"
    result = run(
        "watch", "--git", site.spec(), "--config", site.config, "--max-cycles", "1",
        "--interval", "0.1", "--self-heal",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "healed 1" in result.output
    assert site.tree() == V2


def _reader(stream: object, into: queue.Queue[str]) -> threading.Thread:
    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.put(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the console script is not installed")
def test_watch_subprocess_stops_cleanly_on_sigterm(site: Site) -> None:
    c2 = site.commits[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    argv = [
        str(CONSOLE_SCRIPT), "watch", "--git", site.spec(), "--config", str(site.config),
        "--interval", "0.1",
    ]  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=site.root
    ) as proc:
        pump = _reader(proc.stdout, lines)
        try:
            deadline = time.monotonic() + 60  # liveness bound only
            while not any(line.startswith("cycle 2 ") for line in seen):
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"no second cycle: {seen!r}")
                with contextlib.suppress(queue.Empty):
                    seen.append(lines.get(timeout=0.5))
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        pump.join(timeout=10)
        stderr = proc.stderr.read() if proc.stderr else ""
    while not lines.empty():
        seen.append(lines.get())
    assert code == 0, (seen, stderr)
    assert seen[-1].strip() == "watch stopped", seen
    assert any(line.startswith(f"cycle 1 rev {c2[:12]}") for line in seen)
    assert "Traceback" not in stderr
    assert site.tree() == V2
