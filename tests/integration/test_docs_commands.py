"""Executed docs: every shell block of README.md and docs/ that runs ``reconcile`` runs here.

The convention (also in docs/index.md, "Documentation that runs"):

- A ```` ```sh ```` or ```` ```console ```` block that runs ``reconcile`` (or an example,
  ``python examples/...``) is executed, page by page, blocks in order, in one
  temporary folder holding a copy of ``examples/``; never in the repository.
- ``sh``: every line is a command and must exit 0. ``console``: ``$ `` lines are
  commands; the lines after one are its output, compared with what it printed
  (stdout and stderr, as a terminal shows them), trailing blanks ignored. In the
  shown output ``...`` matches any text within a line (a hash, a timestamp, a
  path) and a line of only ``...`` matches any number of lines. A command exits 0
  unless its shown output holds ``Error:`` or it passes ``--exit-code``.
- The line before the fence may say ``<!-- docs-test: skip (REASON) -->`` (not
  run, the reason is required) or ``<!-- docs-test: setup NAME -->`` (prepare the
  folder first: see ``SETUPS``).
- Commands run under ``bash`` with this virtualenv first on PATH and a terminal on
  stdin that answers ``y`` (so a command that asks is answered as a user would);
  ``reconcile watch`` without ``--max-cycles`` gets ``--max-cycles 1``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from .cli_user import (
    EXAMPLES,
    GENERATED,
    ROOT,
    TIMEOUT,
    git,
    git_project,
    reconcile,
    user_env,
)

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
SHELLS = {"sh", "console", "bash", "shell"}
RUNS = re.compile(r"(^|[;&|(]\s*)(reconcile\s|python3? (-m reconcile|examples/))")
MARKER = re.compile(r"<!--\s*docs-test:\s*(skip|setup)\s*(.*?)\s*-->")


@attrs.frozen
class Command:
    """One command of a block and, in a console block, the output the page shows."""

    line: str
    shown: tuple[str, ...] | None  # None: the page shows no output (sh)


@attrs.frozen
class Block:
    page: Path
    lineno: int
    lang: str
    body: tuple[str, ...]
    marker: tuple[str, str] | None  # ("skip" | "setup", argument)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.lineno}"

    @property
    def runs(self) -> bool:
        return any(RUNS.search(c.line) for c in self.commands())

    def commands(self) -> list[Command]:
        if self.lang != "console":
            lines = [ln for ln in self.body if ln.strip() and not ln.lstrip().startswith("#")]
            return [Command(ln, None) for ln in lines]
        found: list[Command] = []
        for ln in self.body:
            if ln.startswith("$ "):
                found.append(Command(ln[2:], ()))
            elif found:
                found[-1] = attrs.evolve(found[-1], shown=(*(found[-1].shown or ()), ln))
        return found


def fences(page: Path) -> Iterator[Block]:
    """Every fenced block of a page (any language), with the docs-test marker before it."""
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^\s*```(\w*)", lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```"))
        before = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        marker = MARKER.search(before)
        found = (marker.group(1), marker.group(2)) if marker else None
        body = tuple(textwrap.dedent("\n".join(lines[i + 1 : end])).splitlines())
        yield Block(page, i + 1, fence.group(1), body, found)
        i = end + 1


def blocks(page: Path) -> Iterator[Block]:
    """The shell blocks of a page."""
    return (b for b in fences(page) if b.lang in SHELLS)


WEB_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
"""


def _git_repo(folder: Path) -> None:
    """./repo: the quickstart manifests as apps/ on main in two commits (the first applied
    already, so it can be rolled back to), k8s/ with a Deployment, a feature branch that
    changes both, and a reconcile.toml."""
    repo = git_project(folder) / "repo"
    reconcile(folder, "apply", "--git", f"./repo@{git(repo, 'rev-parse', 'HEAD')}:apps", "--yes")
    pages = repo / "apps/pages.yaml"
    pages.write_text(pages.read_text().replace("Hello from", "Hello again from"))
    (repo / "k8s").mkdir()
    (repo / "k8s/web.yaml").write_text(WEB_DEPLOYMENT)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "greet again", author="Bob <bob@example.org>")
    git(repo, "switch", "-qc", "feature")
    pages.write_text(pages.read_text().replace("First post", "Second post"))
    (repo / "k8s/web.yaml").write_text(WEB_DEPLOYMENT.replace("replicas: 2", "replicas: 3"))
    git(repo, "commit", "-qam", "retitle the post, scale web")
    git(repo, "switch", "-q", "main")


SETUPS: dict[str, Callable[[Path], None]] = {"git-repo": _git_repo}


def run_shell(folder: Path, line: str) -> subprocess.CompletedProcess[str]:
    """``line`` under bash in ``folder``, stdout and stderr merged, a terminal on stdin."""
    if re.search(r"\breconcile\s+watch\b", line) and "--max-cycles" not in line:
        line = re.sub(r"(\breconcile\s+watch\b[^#;&|]*)", r"\1 --max-cycles 1 ", line, count=1)
    terminal, answer = os.openpty()
    try:
        os.write(terminal, b"y\n")
        return subprocess.run(
            ["bash", "-c", line],
            cwd=folder,
            env=user_env(),
            stdin=answer,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(answer)
        os.close(terminal)


def matches(shown: tuple[str, ...], printed: list[str]) -> bool:
    """Whether ``printed`` is what the page shows, ``...`` standing for any text."""
    pattern = "".join(
        r"(?:[^\n]*\n)*" if ln.strip() == "..." else _line(ln.rstrip()) + r"\n" for ln in shown
    )
    text = "".join(ln.rstrip() + "\n" for ln in printed)
    return re.fullmatch(pattern, text) is not None


def _line(shown: str) -> str:
    return re.escape(shown).replace(re.escape("..."), r"[^\n]*")


def _trimmed(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _check(block: Block, command: Command, done: subprocess.CompletedProcess[str]) -> None:
    said = f"{block.where}: $ {command.line}\n{done.stdout}"
    assert "Traceback" not in done.stdout, said
    shown = _trimmed(list(command.shown or ()))
    may_fail = "--exit-code" in command.line or any("Error:" in ln for ln in shown)
    assert done.returncode == 0 or may_fail, f"exit {done.returncode}\n{said}"
    if shown:
        printed = _trimmed(done.stdout.splitlines())
        assert matches(tuple(shown), printed), "the page shows:\n" + "\n".join(shown) + f"\n{said}"


def run_page(page: Path, folder: Path) -> int:
    """Run the page's blocks in order in ``folder``; return how many ran."""
    ran = 0
    for block in blocks(page):
        if not block.runs:
            continue
        kind, argument = block.marker or ("", "")
        if kind == "skip":
            assert re.fullmatch(r"\(.+\)", argument), f"{block.where}: skip needs a (reason)"
            continue
        if kind == "setup":
            assert argument in SETUPS, f"{block.where}: unknown setup {argument!r}"
            SETUPS[argument](folder)
        for command in block.commands():
            _check(block, command, run_shell(folder, command.line))
        ran += 1
    return ran


RUNNING = [p for p in PAGES if any(b.runs for b in blocks(p))]


@pytest.mark.parametrize("page", RUNNING, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_commands_run_as_shown(page: Path, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples", ignore=GENERATED)
    assert run_page(page, tmp_path) > 0 or all(
        b.marker and b.marker[0] == "skip" for b in blocks(page) if b.runs
    )


def test_the_pages_that_document_commands_are_all_run() -> None:
    """The collection above is not empty by accident: the README and the GitOps how-to."""
    names = {str(p.relative_to(ROOT)) for p in RUNNING}
    assert {"README.md", "docs/how-to/gitops.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_are_only_in_shell_blocks(page: Path) -> None:
    """A command in a fence of another language would escape the test: say sh or console."""
    for block in fences(page):
        if block.lang not in {*SHELLS, "python"}:
            commands = [ln for ln in block.body if re.match(r"^(\$ )?reconcile\s+[a-z]", ln)]
            assert not commands, f"{block.where}: a ```{block.lang} block runs {commands[0]!r}"


def test_matching_allows_ellipses_and_nothing_else() -> None:
    shown = ("Out of sync: revision sha256:..., last applied ....", "...", "Plan: 1 to add.")
    first = "Out of sync: revision sha256:ab12, last applied never."
    printed = [first, "a", "b", "Plan: 1 to add."]
    assert matches(shown, printed)
    assert matches(shown, [printed[0], printed[-1]])
    assert not matches(shown, [*printed[:-1], "Plan: 2 to add."])
    assert not matches(("exact",), ["exact", "and more"])


def test_markers_skip_with_a_reason_and_name_a_setup(tmp_path: Path) -> None:
    text = (
        "<!-- docs-test: skip (needs a Kubernetes cluster) -->\n```sh\nreconcile apply .\n```\n\n"
        "<!-- docs-test: setup git-repo -->\n\n```console\n$ reconcile history\nNo applies\n```\n"
        "```text\nreconcile plan\n```\n"
    )
    (tmp_path / "page.md").write_text(text)
    found = list(blocks(tmp_path / "page.md"))
    assert [(b.lang, b.marker) for b in found] == [
        ("sh", ("skip", "(needs a Kubernetes cluster)")),
        ("console", ("setup", "git-repo")),
    ]
    assert found[1].commands() == [Command("reconcile history", ("No applies",))]
    assert [b.lang for b in fences(tmp_path / "page.md")] == ["sh", "console", "text"]
