"""One prune policy for ``apply --git``, ``watch`` and the Python API, through the console script.

A real Git repository made with the ``git`` binary, the installed ``reconcile``
script in a subprocess, the built-in file provider writing a real folder.
Prune happens only with ``--prune``; ``--max-deletes`` caps it; a revision that
would delete everything reconcile manages is refused unless ``--allow-prune-all``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import attrs
import pytest

import reconcile as rc
from reconcile.sources import GitSource
from reconcile.testing import MemoryProvider

from .cli_user import RECONCILE, commit, git, home_env, reconcile

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="the git binary is needed"),
    pytest.mark.skipif(os.name != "posix", reason="POSIX paths and processes"),
]

AUTHOR = "Ann Author <ann@example.org>"


def _file(path: str, content: str) -> str:
    return f"kind: file\nspec:\n  path: {path}\n  content: {json.dumps(content)}\n"


@attrs.frozen
class Site:
    root: Path
    repo: Path
    config: Path
    live: Path

    def git(self, *args: str) -> str:
        return git(self.repo, *args, author=AUTHOR)

    def commit(self, files: Mapping[str, str | None], subject: str) -> str:
        return commit(self.repo, files, subject, author=AUTHOR, allow_empty=True)

    def reconcile(self, *args: str) -> subprocess.CompletedProcess[str]:
        more = ["--config", str(self.config)]
        return reconcile(None, *args, *more, code=None, env=home_env(self.root))

    def apply(self, *more: str) -> subprocess.CompletedProcess[str]:
        return self.reconcile("apply", "--git", f"{self.repo}@main:site", "--yes", *more)

    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.live)) for p in self.live.rglob("*") if p.is_file())


PAGES = {f"site/{n}.yaml": _file(f"{n}.html", f"{n}\n") for n in ("a", "b", "c", "d")}
README = {"site/README.md": "The site's pages; Git keeps a folder only while it holds a file.\n"}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    if not RECONCILE.exists():
        pytest.skip("the reconcile console script is not installed in this environment")
    repo, config, live = tmp_path / "repo", tmp_path / "config", tmp_path / "live"
    for folder in (repo, config, live):
        folder.mkdir()
    (config / "reconcile.toml").write_text(
        f'[providers.files]\nroot = "{live}"\n\n[state]\npath = "{tmp_path / "state.db"}"\n'
    )
    made = Site(tmp_path, repo, config / "reconcile.toml", live)
    made.git("init", "-q", "-b", "main")
    made.commit({**PAGES, **README}, "four pages")
    done = made.apply()
    assert done.returncode == 0, done.stdout + done.stderr
    assert made.files() == ["a.html", "b.html", "c.html", "d.html"]
    return made


def test_apply_git_keeps_a_removed_resource_without_prune(site: Site) -> None:
    site.commit({"site/d.yaml": None}, "drop d")
    done = site.apply()
    assert done.returncode == 0, done.stdout + done.stderr
    assert site.files() == ["a.html", "b.html", "c.html", "d.html"]
    done = site.apply("--prune")
    assert done.returncode == 0, done.stdout + done.stderr
    assert site.files() == ["a.html", "b.html", "c.html"]


def test_apply_git_refuses_to_prune_everything_and_names_the_flag(site: Site) -> None:
    site.commit(dict.fromkeys(PAGES), "empty the folder")
    done = site.apply("--prune")
    assert done.returncode == 1
    assert "refusing to delete all 4 managed resources" in done.stderr
    assert "--allow-prune-all" in done.stderr
    assert "Traceback" not in done.stderr
    assert site.files() == ["a.html", "b.html", "c.html", "d.html"]
    done = site.apply("--prune", "--allow-prune-all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert site.files() == []


def test_apply_git_max_deletes_refuses_a_larger_prune(site: Site) -> None:
    site.commit({"site/c.yaml": None, "site/d.yaml": None}, "drop c and d")
    done = site.apply("--prune", "--max-deletes", "1")
    assert done.returncode == 1
    assert "--max-deletes 1" in done.stderr
    assert "file[c.html]" in done.stderr
    assert "file[d.html]" in done.stderr
    assert site.files() == ["a.html", "b.html", "c.html", "d.html"]
    assert site.apply("--prune", "--max-deletes", "2").returncode == 0
    assert site.files() == ["a.html", "b.html"]


def test_plan_git_shows_the_same_policy(site: Site) -> None:
    site.commit({"site/d.yaml": None}, "drop d")
    plan = site.reconcile("plan", "--git", f"{site.repo}@main:site")
    assert plan.returncode == 0, plan.stderr
    assert "No changes" in plan.stdout
    plan = site.reconcile("plan", "--git", f"{site.repo}@main:site", "--prune")
    assert "file[d.html] will be destroyed" in plan.stdout


def test_watch_names_the_flag_when_a_revision_would_prune_everything(site: Site) -> None:
    site.commit(dict.fromkeys(PAGES), "empty the folder")
    done = site.reconcile(
        "watch", "--git", f"{site.repo}@main:site", "--prune", "--max-cycles", "1",
        "--interval", "0.1",
    )  # fmt: skip
    assert "refusing to delete all 4 managed resources" in done.stdout
    assert "--allow-prune-all" in done.stdout
    assert len(site.files()) == 4


@rc.resource("prune_policy_app")
class App:
    name: str = rc.field(key=True)


def test_the_python_api_takes_one_policy_value_and_names_both_spellings(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    site = Site(tmp_path, repo, tmp_path / "unused.toml", tmp_path)
    repo.mkdir()
    site.git("init", "-q", "-b", "main")
    site.commit(
        {"apps/a.yaml": "kind: prune_policy_app\nspec: {name: a}\n", "apps/README.md": "apps\n"},
        "a",
    )
    apps = MemoryProvider(App)
    reconciler = rc.Reconciler([apps], state=rc.MemoryState())
    source = GitSource(repo, "main", "apps")
    assert reconciler.sync(source).ok
    site.commit({"apps/a.yaml": None}, "nothing")
    assert reconciler.sync(source).ok  # prune is off unless asked
    assert apps.get("prune_policy_app[a]") is not None
    with pytest.raises(rc.PruneRefused) as refused:
        reconciler.sync(source, prune=rc.PrunePolicy())
    assert "--allow-prune-all" in str(refused.value)
    assert "allow_prune_all=True" in str(refused.value)
    assert refused.value.deletes == ("prune_policy_app[a]",)
    assert reconciler.sync(source, prune=rc.PrunePolicy(allow_prune_all=True)).ok
    assert apps.get("prune_policy_app[a]") is None


# -- what the GitOps commands print ------------------------------------------------------------


def test_diff_live_markdown_is_a_pull_request_comment(site: Site) -> None:
    site.commit({"site/a.yaml": _file("a.html", "a, edited\n")}, "edit a")
    done = site.reconcile(
        "diff", "--git", str(site.repo), "--from", "main~1", "--to", "main:site", "--live",
        "--format", "markdown",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("### Live state → `main`")
    assert "**Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy.**" in done.stdout
    assert '~ content = "a\\n" -> "a, edited\\n"' in done.stdout


def test_the_pr_preview_renders_values_as_the_plan_does(site: Site) -> None:
    site.commit({"site/e.yaml": _file("e.html", "e\n"), "site/d.yaml": None}, "add e, drop d")
    plan = site.reconcile("plan", "--git", f"{site.repo}@main:site", "--prune").stdout
    preview = site.reconcile(
        "diff", "--git", str(site.repo), "--from", "main~1:site", "--to", "main:site"
    ).stdout
    planned = {line.strip() for line in plan.splitlines() if line.strip().startswith("+ ")}
    shown = {line.strip() for line in preview.splitlines() if line.startswith("    + ")}
    assert shown
    assert shown == planned - {"+ file[e.html]"}
    assert '+ mode    = "0o644"' in shown
    assert "+ size    = (known after apply)" in shown
    removed = {line.strip() for line in preview.splitlines() if line.startswith("    - ")}
    assert '- mode    = "0o644"' in removed
    assert not any(line.startswith(("- size", "- sha256")) for line in removed)
    markdown = site.reconcile(
        "diff", "--git", str(site.repo), "--from", "main~1:site", "--to", "main:site",
        "--format", "markdown",
    ).stdout  # fmt: skip
    assert '+ mode    = "0o644"' in markdown
    assert "= 420" not in markdown
    assert "= null" not in markdown.replace("source  = null", "")


def test_watch_names_what_it_healed(site: Site) -> None:
    (site.live / "b.html").write_text("edited by hand\n")
    done = site.reconcile(
        "watch", "--git", f"{site.repo}@main:site", "--self-heal", "--max-cycles", "1",
        "--interval", "0.1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "healed 1 (file[b.html]), 1 applied" in done.stdout
    assert (site.live / "b.html").read_text() == "b\n"
