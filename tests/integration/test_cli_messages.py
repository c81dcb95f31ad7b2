"""What the CLI says in corners the scenarios found: targeting, stale Git plans, bad refs.

Each test runs the installed ``reconcile`` script in subprocesses over a copy of
``examples/quickstart`` or a repository made with the ``git`` binary, and checks
the words a user reads and the exit code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_user import copy_example, git, git_project, reconcile

CSS = "file[public/css/site.css]"


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    return copy_example("quickstart", tmp_path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with reconcile.toml and ./repo: the quickstart manifests as apps/ on main."""
    return git_project(tmp_path / "project")


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_targeting_never_says_live_state_matches_when_it_left_changes_out(
    quickstart: Path, command: str
) -> None:
    reconcile(quickstart, "apply", "--yes", "--include", CSS)  # the file and its two folders
    yes = ["--yes"] if command == "apply" else []
    args = [command, "--include", CSS, *yes]
    out = reconcile(quickstart, *args).stdout
    assert "Live state matches the desired state" not in out
    assert "No changes to the targeted resources." in out
    assert "4 addresses were left out by targeting (--include) and not checked" in out
    assert not (quickstart / "site/public/index.html").exists()

    args = [command, "--exclude", "directory[public/blog]", *yes]
    excluded = reconcile(quickstart, *args).stdout
    assert "Plan: 1 to add" in excluded  # index.html; the blog and what is in it left out
    assert "3 addresses were left out by targeting (--exclude) and not checked" in excluded

    reconcile(quickstart, "apply", "--yes")
    done = reconcile(quickstart, command, *args[1:]).stdout
    assert "No changes to the targeted resources." in done
    assert "Live state matches the desired state" not in done  # the blog was not checked


def test_a_saved_git_plan_made_stale_by_a_moved_ref_names_the_ref_and_commits(
    project: Path,
) -> None:
    repo = project / "repo"
    old = git(repo, "rev-parse", "HEAD")
    reconcile(project, "plan", "--git", "./repo@main:apps", "--out", "p.json")
    pages = repo / "apps/pages.yaml"
    pages.write_text(pages.read_text().replace("First post", "Second post"))
    git(repo, "commit", "-qam", "retitle")
    new = git(repo, "rev-parse", "HEAD")

    stale = reconcile(project, "apply", "p.json", "--yes", code=1).stderr
    assert "manifests changed" not in stale
    assert f"./repo@main moved from {old[:7]} to {new[:7]}" in stale
    assert not (project / "site").exists()


def test_watch_checks_its_source_before_it_says_it_is_watching(project: Path) -> None:
    missing = reconcile(project, "watch", "--git", "./nothere@main", "--max-cycles", "1", code=1)
    assert "watching" not in missing.stdout
    assert "nothere" in missing.stderr
    assert "not a Git repository" in missing.stderr

    unknown = reconcile(project, "watch", "--git", "./repo@mian", "--max-cycles", "1", code=1)
    assert "watching" not in unknown.stdout
    assert "'mian'" in unknown.stderr
    assert "did you mean 'main'?" in unknown.stderr


def test_rollback_checks_the_ref_of_its_source(project: Path) -> None:
    first = git(project / "repo", "rev-parse", "HEAD")
    reconcile(project, "apply", "--git", "./repo@main:apps", "--yes")
    bad = reconcile(project, "rollback", first[:7], "--git", "./repo@nope:apps", "--yes", code=1)
    assert "repo" in bad.stderr
    assert "'nope'" in bad.stderr
    assert "No changes" not in bad.stdout
    git(project / "repo", "branch", "nape")
    near = reconcile(project, "rollback", first[:7], "--git", "./repo@nope:apps", code=1)
    assert "did you mean 'nape'?" in near.stderr
