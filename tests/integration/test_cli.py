"""The ``reconcile`` command on a copy of ``examples/quickstart``.

In-process through click's ``CliRunner`` (apply, re-apply, drift, plans saved
and stale, confirmation, history, pruning, Ctrl-C), as a real subprocess of the
installed console script, and a table of malformed manifests and path escapes
that must each exit 1 naming the file and line and leave both the managed tree
and the recorded state byte-for-byte unchanged.

"Unchanged" for the state means: the bytes of ``state.db`` after this test
folds any write-ahead log into it (``PRAGMA wal_checkpoint(TRUNCATE)``, which
writes nothing when the log is empty), plus the rows of every table. Comparing
the raw bytes of ``state.db-wal`` would be fragile (SQLite may create, reset or
delete it on any open or close); after the checkpoint the main file holds
every committed transaction, so any write shows as a byte difference, and the
rows make a failure readable.
"""

from __future__ import annotations

import _thread
import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from click.testing import CliRunner, Result

from reconcile._cli import _registry, cli
from reconcile._cli._session import Session
from reconcile._state.sqlite import SQLiteState

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
ANSI = re.compile(r"\x1b\[")
Fingerprint = dict[str, tuple[Any, ...]]

pytestmark = pytest.mark.skipif(os.name != "posix", reason="modes and symlinks are POSIX")


# -- helpers -----------------------------------------------------------------------


def _copy_quickstart(dest: Path) -> Path:
    """The example without anything an earlier run left beside it."""
    shutil.copytree(QUICKSTART, dest, ignore=shutil.ignore_patterns("site", ".reconcile"))
    return dest


def _declared(project: Path) -> dict[str, dict[str, Any]]:
    """What the example's manifests declare, by address-ish key ``kind:path``."""
    found: dict[str, dict[str, Any]] = {}
    for file in sorted((project / "manifests").glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if doc:
                found[f"{doc['kind']}:{doc['spec']['path']}"] = doc["spec"]
    return found


def _tree(root: Path) -> Fingerprint:
    """Every entry under ``root`` (and root itself): mode, inode, mtime, bytes or link target."""
    seen: Fingerprint = {}
    if not root.exists():
        return seen
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            body: Any = ("link", os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            body = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            body = None
        seen[str(path.relative_to(root))] = (st.st_mode, st.st_ino, st.st_mtime_ns, body)
    return seen


def _db(project: Path) -> Path:
    return project / ".reconcile" / "state.db"


def _state(db: Path) -> tuple[dict[str, list[str]], str]:
    """Rows of every table, and the sha256 of ``state.db`` with its WAL folded in."""
    if not db.exists():
        return {}, "absent"
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        names = con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        rows = {
            name: sorted(repr(row) for row in con.execute(f'SELECT * FROM "{name}"'))
            for (name,) in names.fetchall()
        }
    return rows, hashlib.sha256(db.read_bytes()).hexdigest()


def _applies(db: Path) -> list[tuple[int, str]]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return list(con.execute("SELECT id, status FROM applies ORDER BY id"))


def _documents(file: Path) -> list[str]:
    return file.read_text().split("---\n")


def _write_documents(file: Path, docs: Sequence[str]) -> None:
    file.write_text("---\n".join(docs))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _copy_quickstart(tmp_path / "quickstart")


@pytest.fixture
def run(project: Path) -> Callable[..., Result]:
    """``reconcile ARGS...`` in-process; ``{p}`` in an argument is the project folder."""
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Result:
        argv = [a.replace("{p}", str(project)) for a in args]
        return runner.invoke(cli, argv, input=stdin, catch_exceptions=False)

    return invoke


@pytest.fixture
def applied(project: Path, run: Callable[..., Result]) -> Path:
    result = run("apply", "{p}", "--yes")
    assert result.exit_code == 0, result.output
    return project


def _config(project: Path) -> str:
    return str(project / "reconcile.toml")


# -- in-process: apply, re-apply, drift --------------------------------------------


def test_apply_creates_the_declared_tree(project: Path, run: Callable[..., Result]) -> None:
    result = run("apply", "{p}", "--yes")
    assert result.exit_code == 0, result.output
    assert "7 created" in result.stdout
    site = project / "site"
    declared = _declared(project)
    assert len(declared) == 7
    for key, spec in declared.items():
        kind, _, rel = key.partition(":")
        path = site / rel
        st = path.lstat()
        if kind == "file":
            assert stat.S_ISREG(st.st_mode), key
            assert path.read_text() == spec["content"], key
            assert stat.S_IMODE(st.st_mode) == spec.get("mode", 0o644), key
        elif kind == "directory":
            assert stat.S_ISDIR(st.st_mode), key
            assert stat.S_IMODE(st.st_mode) == spec.get("mode", 0o755), key
        else:
            assert kind == "symlink"
            assert stat.S_ISLNK(st.st_mode), key
            assert os.readlink(path) == spec["target"]
    link = site / "public" / "blog" / "index.html"
    assert link.read_text() == (site / "public" / "blog" / "first-post.html").read_text()
    assert sorted(p.name for p in site.rglob("*")) == sorted(
        ["public", "index.html", "css", "site.css", "blog", "first-post.html", "index.html"]
    )


def test_second_apply_says_no_changes_and_writes_nothing(
    applied: Path, run: Callable[..., Result]
) -> None:
    tree, state = _tree(applied / "site"), _state(_db(applied))
    result = run("apply", "{p}", "--yes")
    assert result.exit_code == 0, result.output
    assert "No changes" in result.stdout
    assert _tree(applied / "site") == tree  # mtimes and inodes too: nothing rewritten
    assert _state(_db(applied)) == state


def test_status_in_sync(applied: Path, run: Callable[..., Result]) -> None:
    result = run("status", "{p}", "--exit-code")
    assert result.exit_code == 0, result.output
    assert re.search(r"^In sync\b.*\b7 resources", result.stdout), result.stdout


def test_status_names_drifted_resources_and_fields(
    applied: Path, run: Callable[..., Result]
) -> None:
    index = applied / "site" / "public" / "index.html"
    index.write_text(index.read_text() + "<p>edited by hand</p>\n")
    os.chmod(applied / "site" / "public" / "css" / "site.css", 0o600)
    tree = _tree(applied / "site")

    result = run("status", "{p}")
    assert result.exit_code == 0, result.output
    assert re.search(r"^Out of sync\b.*\b2 of 7 resources", result.stdout), result.stdout
    assert re.search(r"file\[public/index\.html\]: content \(drift\)", result.stdout)
    assert re.search(r"file\[public/css/site\.css\]: mode \(drift\)", result.stdout)
    assert "first-post" not in result.stdout

    assert run("status", "{p}", "--exit-code").exit_code == 2
    assert _tree(applied / "site") == tree  # status only looks


def test_plan_exit_code(project: Path, run: Callable[..., Result]) -> None:
    first = run("plan", "{p}", "--exit-code")
    assert first.exit_code == 2, first.output
    assert "Plan: 7 to add" in first.stdout
    assert not (project / "site").exists()  # planning changes nothing
    assert run("apply", "{p}", "--yes").exit_code == 0
    again = run("plan", "{p}", "--exit-code")
    assert again.exit_code == 0, again.output
    assert run("plan", "{p}").exit_code == 0


def test_a_path_that_does_not_exist_is_an_error(
    applied: Path, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(applied)
    result = run("plan", "typo.yaml")
    assert result.exit_code == 1, result.output
    assert "typo.yaml" in result.output


def test_plan_json_is_versioned_json(project: Path, run: Callable[..., Result]) -> None:
    result = run("plan", "{p}", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["format_version"]
    changes = {c["address"]: c["action"] for c in plan["resource_changes"]}
    assert changes["symlink[public/blog/index.html]"] == "create"
    assert set(changes.values()) == {"create"}
    assert len(changes) == 7


# -- saved plans -------------------------------------------------------------------


def test_saved_plan_applies(project: Path, run: Callable[..., Result]) -> None:
    saved = project / "p.json"
    made = run("plan", "{p}", "--out", str(saved))
    assert made.exit_code == 0, made.output
    assert json.loads(saved.read_text())["format_version"]
    assert not (project / "site").exists()

    result = run("apply", str(saved), "--yes")
    assert result.exit_code == 0, result.output
    assert "7 created" in result.stdout
    assert (project / "site" / "public" / "blog" / "index.html").is_symlink()
    assert run("plan", "{p}", "--exit-code").exit_code == 0


def test_saved_plan_is_stale_when_the_manifests_change(
    applied: Path, run: Callable[..., Result]
) -> None:
    css = applied / "site" / "public" / "css" / "site.css"
    css.write_text("hand edit\n")
    saved = applied / "p.json"
    assert run("plan", "{p}", "--out", str(saved)).exit_code == 0
    pages = applied / "manifests" / "pages.yaml"
    pages.write_text(pages.read_text().replace("max-width: 40em", "max-width: 50em"))
    tree, state = _tree(applied / "site"), _state(_db(applied))

    result = run("apply", str(saved), "--yes")
    assert result.exit_code == 1, result.output
    assert "manifests changed" in result.output
    assert css.read_text() == "hand edit\n"
    assert _tree(applied / "site") == tree
    assert _state(_db(applied)) == state


def _stale_by_hand_edit(applied: Path, run: Callable[..., Result]) -> tuple[Result, Path]:
    css = applied / "site" / "public" / "css" / "site.css"
    css.write_text("first hand edit\n")
    saved = applied / "p.json"
    assert run("plan", "{p}", "--out", str(saved)).exit_code == 0
    css.write_text("second hand edit\n")
    return run("apply", str(saved), "--yes"), css


def test_saved_plan_is_stale_when_the_live_tree_changes(
    applied: Path, run: Callable[..., Result]
) -> None:
    before = _state(_db(applied))[0]
    result, css = _stale_by_hand_edit(applied, run)
    assert result.exit_code == 1, result.output
    assert "file[public/css/site.css]" in result.output
    assert "changed since planning" in result.output
    assert css.read_text() == "second hand edit\n"
    after = _state(_db(applied))[0]
    assert after["resources"] == before["resources"]
    assert after["meta"] == before["meta"]


def test_stale_saved_plan_leaves_no_journal_entry(
    applied: Path, run: Callable[..., Result]
) -> None:
    before = _applies(_db(applied))
    result, _ = _stale_by_hand_edit(applied, run)
    assert result.exit_code == 1
    assert _applies(_db(applied)) == before
    assert "running" not in run("history", "--config", _config(applied)).stdout


def test_saved_plan_applies_without_yes(project: Path, run: Callable[..., Result]) -> None:
    saved = project / "p.json"
    assert run("plan", "{p}", "--out", str(saved)).exit_code == 0
    result = run("apply", str(saved))
    assert result.exit_code == 0, result.output


# -- confirmation, journal, providers, lock ----------------------------------------


def test_apply_without_yes_refuses_when_stdin_is_not_a_terminal(
    project: Path, run: Callable[..., Result]
) -> None:
    result = run("apply", "{p}", stdin="y\n")
    assert result.exit_code == 1, result.output
    assert "--yes" in result.output
    assert "Plan: 7 to add" in result.stdout  # the plan was shown first
    assert not (project / "site").exists()
    assert _applies(_db(project)) == []


def test_apply_without_yes_leaves_drift_alone(applied: Path, run: Callable[..., Result]) -> None:
    index = applied / "site" / "public" / "index.html"
    index.write_text("hand edit\n")
    tree, state = _tree(applied / "site"), _state(_db(applied))
    result = run("apply", "{p}")
    assert result.exit_code == 1, result.output
    assert _tree(applied / "site") == tree
    assert _state(_db(applied)) == state


def _history(run: Callable[..., Result], project: Path) -> list[tuple[int, str]]:
    result = run("history", "--config", _config(project))
    assert result.exit_code == 0, result.output
    rows = []
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts and parts[0].isdigit():
            rows.append((int(parts[0]), parts[2]))
    return rows


def _shown_steps(result: Result) -> dict[str, tuple[str, str]]:
    """``show``'s step lines: address -> (status, action)."""
    steps = result.stdout.split("\nSteps:\n", 1)[1]
    found = {}
    for line in steps.splitlines():
        status_, action, address = line.split()[:3]
        found[address] = (status_, action)
    return found


def test_history_lists_applies_newest_first_and_show_prints_one(
    project: Path, run: Callable[..., Result]
) -> None:
    assert "No applies recorded yet" in run("history", "--config", _config(project)).stdout
    assert run("apply", "{p}", "--yes").exit_code == 0
    (project / "site" / "public" / "index.html").write_text("hand edit\n")
    assert run("apply", "{p}", "--yes").exit_code == 0

    assert _history(run, project) == [(2, "ok"), (1, "ok")]

    second = run("show", "2", "--config", _config(project))
    assert second.exit_code == 0, second.output
    assert second.stdout.startswith("Apply 2: ok")
    assert "~ file[public/index.html]" in second.stdout  # its plan
    assert _shown_steps(second)["file[public/index.html]"] == ("ok", "update")

    first = run("show", "1", "--config", _config(project))
    assert "Plan: 7 to add" in first.stdout
    shown = _shown_steps(first)
    assert len(shown) == 7
    assert set(shown.values()) == {("ok", "create")}

    missing = run("show", "99", "--config", _config(project))
    assert missing.exit_code == 1
    assert "no apply with id 99" in missing.output


def test_providers_lists_the_builtin_kinds(project: Path, run: Callable[..., Result]) -> None:
    result = run("providers", "--config", _config(project))
    assert result.exit_code == 0, result.output
    line = next(li for li in result.stdout.splitlines() if li.startswith("files"))
    assert "built-in" in line
    assert {"file", "directory", "symlink"} <= set(re.split(r"[,\s]+", line))


def _configure(project: Path, state: str = "", files: str = "") -> None:
    """Add lines to the example's ``[state]`` and ``[providers.files]`` tables."""
    config = project / "reconcile.toml"
    text = config.read_text()
    text = text.replace('path = ".reconcile/state.db"', f'path = ".reconcile/state.db"\n{state}')
    config.write_text(text.replace('root = "site"', f'root = "site"\n{files}'))


def test_files_durable_and_state_synchronous_come_from_the_config(
    project: Path, run: Callable[..., Result]
) -> None:
    _configure(project, state='synchronous = "FULL"', files="durable = false")
    session = Session.open([str(project)])
    assert session.config.synchronous == "FULL"
    assert isinstance(session.reconciler.state, SQLiteState)
    assert session.reconciler.state.synchronous == "FULL"
    session.reconciler.state.close()
    assert all("durable=False" in repr(p) for p in _registry.build_providers(session.config))
    assert run("apply", "{p}", "--yes").exit_code == 0
    assert (project / "site" / "public" / "index.html").is_file()
    again = run("plan", "{p}", "--exit-code")
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize(
    ("state", "files", "message"),
    [
        ("", 'durable = "yes"', "durable must be true or false"),
        ('synchronous = "OFF"', "", "synchronous must be one of"),
        ('synchronus = "FULL"', "", "unknown keys ['synchronus']"),
    ],
)
def test_a_bad_durability_setting_is_an_error(
    project: Path, run: Callable[..., Result], state: str, files: str, message: str
) -> None:
    _configure(project, state=state, files=files)
    result = run("plan", "{p}")
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert not (project / "site").exists()


def test_unlock_on_an_unlocked_state_says_so(applied: Path, run: Callable[..., Result]) -> None:
    rows = _state(_db(applied))[0]
    result = run("unlock", "--config", _config(applied))
    assert result.exit_code == 0, result.output
    assert "not locked" in result.stdout
    assert _state(_db(applied))[0] == rows  # rows only: its empty DELETE may touch a page


# -- pruning -----------------------------------------------------------------------


def test_removing_a_document_deletes_its_file(applied: Path, run: Callable[..., Result]) -> None:
    pages = applied / "manifests" / "pages.yaml"
    docs = _documents(pages)
    assert "public/css/site.css" in docs[1]
    _write_documents(pages, [d for i, d in enumerate(docs) if i != 1])
    css = applied / "site" / "public" / "css" / "site.css"
    others = {k: v for k, v in _tree(applied / "site").items() if "css" not in k}

    planned = run("plan", "{p}")
    assert "- file[public/css/site.css]" in planned.stdout
    assert "1 to destroy" in planned.stdout

    result = run("apply", "{p}", "--yes")
    assert result.exit_code == 0, result.output
    assert "1 deleted" in result.stdout
    assert not css.exists()
    assert css.parent.is_dir()  # its directory is still declared
    assert {k: v for k, v in _tree(applied / "site").items() if "css" not in k} == others
    assert run("plan", "{p}", "--exit-code").exit_code == 0


def test_removing_a_manifest_file_deletes_what_it_declared(
    applied: Path, run: Callable[..., Result]
) -> None:
    (applied / "manifests" / "pages.yaml").unlink()
    result = run("apply", "{p}", "--yes")
    assert result.exit_code == 0, result.output
    assert "4 deleted" in result.stdout
    left = sorted(str(p.relative_to(applied / "site")) for p in (applied / "site").rglob("*"))
    assert left == ["public", "public/blog", "public/css"]


# -- Ctrl-C ------------------------------------------------------------------------


def _interrupting_files(on_call: int) -> tuple[Callable[..., list[Any]], list[str]]:
    """The built-in factory, with ``create`` raising Ctrl-C in the main thread on call N."""
    calls: list[str] = []
    original = _registry.BUILTIN["files"]

    def factory(settings: Mapping[str, Any], base: Path) -> list[Any]:
        wrapped = []
        for provider in original(settings, base):
            cls = type(provider)

            def create(self: Any, want: Any, _cls: type = cls) -> Any:
                calls.append(want.path)
                if len(calls) == on_call:
                    _thread.interrupt_main()
                return _cls.create(self, want)

            wrapped.append(
                type(f"Interrupting{cls.__name__}", (cls,), {"create": create})(provider.root.path)
            )
        return wrapped

    return factory, calls


def test_ctrl_c_stops_cleanly_and_records_what_finished(
    project: Path, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    factory, calls = _interrupting_files(on_call=3)
    monkeypatch.setitem(_registry.BUILTIN, "files", factory)
    result = run("apply", "{p}", "--yes", "--parallelism", "1")
    monkeypatch.undo()

    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output
    assert len(calls) == 3  # nothing was started after Ctrl-C
    assert _history(run, project) == [(1, "interrupted")]

    shown = _shown_steps(run("show", "1", "--config", _config(project)))
    finished = {address for address, (status_, _) in shown.items() if status_ == "ok"}
    assert 2 <= len(finished) <= 3
    assert all(s != "running" for s, _ in shown.values())

    # What finished is recorded: the next plan creates exactly the rest.
    plan = json.loads(run("plan", "{p}", "--json").stdout)
    actions = {c["address"]: c["action"] for c in plan["resource_changes"]}
    for address in shown:
        assert actions.get(address, "noop") == ("noop" if address in finished else "create")

    again = run("apply", "{p}", "--yes")
    assert again.exit_code == 0, again.output
    assert f"{7 - len(finished)} created" in again.stdout
    assert run("plan", "{p}", "--exit-code").exit_code == 0


# -- the installed console script --------------------------------------------------


def _console_script() -> list[str]:
    beside = shutil.which("reconcile", path=str(Path(sys.executable).parent))
    found = beside or shutil.which("reconcile")
    return [found] if found else [sys.executable, "-m", "reconcile"]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TERM")}
    return {**env, **extra}


def _reconcile(
    *args: str | Path, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_console_script(), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(env) if env is not None else _clean_env(),
        timeout=120,
        check=False,
    )


def test_console_script_apply_twice_then_nothing_changed(project: Path) -> None:
    first = _reconcile("apply", project, "--yes")
    assert first.returncode == 0, first.stderr
    assert "7 created" in first.stdout
    tree = _tree(project / "site")
    second = _reconcile("apply", project, "--yes")
    assert second.returncode == 0, second.stderr
    assert "No changes" in second.stdout
    assert _tree(project / "site") == tree


def test_console_script_status_shows_drift(project: Path) -> None:
    assert _reconcile("apply", project, "--yes").returncode == 0
    css = project / "site" / "public" / "css" / "site.css"
    css.write_text("body { color: red; }\n")
    status_ = _reconcile("status", project)
    assert status_.returncode == 0, status_.stderr
    assert "file[public/css/site.css]: content (drift)" in status_.stdout
    assert _reconcile("status", project, "--exit-code").returncode == 2


def test_python_dash_m_runs_the_same_command(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconcile", "plan", str(project), "--exit-code"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Plan: 7 to add" in done.stdout


@pytest.mark.parametrize("force", [False, True], ids=["piped", "FORCE_COLOR=1"])
def test_no_color_output_has_no_ansi_escapes(project: Path, force: bool) -> None:
    env = _clean_env(FORCE_COLOR="1", TERM="xterm-256color") if force else _clean_env()
    coloured = _reconcile("plan", project, "--color", env=env)
    assert ANSI.search(coloured.stdout), "the check must be able to see escapes"
    for command in (["plan", project], ["apply", project, "--yes"], ["status", project]):
        done = _reconcile(*command, "--no-color", env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()
        assert not ANSI.search(done.stdout), done.stdout


@pytest.mark.parametrize(
    "force",
    [
        False,
        pytest.param(
            True,
        ),
    ],
    ids=["piped", "FORCE_COLOR=1"],
)
def test_no_color_errors_have_no_ansi_escapes(project: Path, force: bool) -> None:
    env = _clean_env(FORCE_COLOR="1", TERM="xterm-256color") if force else _clean_env()
    (project / "manifests" / "bad.yaml").write_text("kind: fiel\n")
    done = _reconcile("plan", project, "--no-color", env=env)
    assert done.returncode == 1
    assert "bad.yaml:1" in done.stderr
    assert not ANSI.search(done.stderr), done.stderr


# -- malformed manifests: exit 1, file and line, nothing changed --------------------


@attrs.frozen
class Bad:
    """Files to write under manifests/, where the error must point, and what it must say."""

    files: Mapping[str, str | bytes]
    where: str  # "name.yaml:LINE"
    says: tuple[str, ...]
    argv: tuple[str, ...] = ("apply", "{p}", "--yes")


_PAGES = (QUICKSTART / "manifests" / "pages.yaml").read_text()
_ONE_BAD_DOC = (
    _PAGES.replace("Hello from a declared tree", "Changed, but must not be applied")
    + "---\nkind: file\nspec:\n  path: public/new.html\n  content: new\n  mode: wide\n"
)
_BAD_LINE = _ONE_BAD_DOC.count("\n")  # the last line, "mode: wide"

BOMB = (
    "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10) if p else ', '.join(['x'] * 10)}]\n"
        for p, n in zip(["", "a", "b", "c", "d", "e"], "abcdef", strict=True)
    )
    + "g: ["
    + ", ".join(["*f"] * 10)
    + "]\n"
)

MALFORMED: dict[str, Any] = {
    "unknown-kind": Bad(
        {"bad.yaml": "# a typo\nkind: fiel\nspec: {path: a.txt, content: x}\n"},
        "bad.yaml:2",
        ("unknown kind 'fiel'",),
    ),
    "missing-key-field": Bad(
        {"bad.yaml": "kind: file\nspec:\n  content: x\n"},
        "bad.yaml:2",
        ("$.spec.path", "required field missing"),
    ),
    "wrong-type": Bad(
        {"bad.yaml": "kind: file\nspec:\n  path: a.txt\n  content: 5\n"},
        "bad.yaml:4",
        ("$.spec.content", "expected str, got int"),
    ),
    "mode-text-not-octal": Bad(
        {"bad.yaml": "kind: file\nspec:\n  path: a.txt\n  content: x\n  mode: rw\n"},
        "bad.yaml:5",
        ("$.spec.mode", "mode 'rw' is not a file mode", "octal text such as"),
    ),
    "wrong-type-bool-for-int": Bad(
        {"bad.yaml": "kind: file\nspec:\n  path: a.txt\n  content: x\n  mode: true\n"},
        "bad.yaml:5",
        ("expected int or str, got bool",),
    ),
    "key-field-is-a-list": Bad(
        {"bad.yaml": "kind: directory\nspec:\n  path: [a, b]\n"},
        "bad.yaml:3",
        ("$.spec.path", "expected str"),
    ),
    "unknown-field": Bad(
        {"bad.yaml": "kind: file\nspec:\n  path: a.txt\n  content: x\n  colour: red\n"},
        "bad.yaml:5",
        ("$.spec.colour", "unknown field"),
    ),
    "unknown-top-level-key": Bad(
        {"bad.yaml": "kind: directory\nspec: {path: a}\nmetadata: {}\n"},
        "bad.yaml:3",
        ("unknown key 'metadata'",),
    ),
    "duplicate-key-in-a-mapping": Bad(
        {"bad.yaml": "kind: file\nkind: directory\nspec: {path: a}\n"},
        "bad.yaml:2",
        ("duplicate key 'kind'",),
    ),
    "duplicate-address-across-files": Bad(
        {"zz-dup.yaml": "# declared again\nkind: directory\nspec: {path: public}\n"},
        "zz-dup.yaml:2",
        ("directory[public] is declared twice", "tree.yaml:2"),
    ),
    "dangling-depends-on": Bad(
        {
            "bad.yaml": "kind: file\nspec: {path: a.txt, content: x}\n"
            "depends_on:\n  - directory[nope]\n"
        },
        "bad.yaml:4",
        ("directory[nope]", "no manifest declares"),
    ),
    "dangling-ref": Bad(
        {
            "bad.yaml": "kind: file\nspec:\n  path: a.txt\n"
            "  content: {$ref: 'file[nope.txt]', field: content}\n"
        },
        "bad.yaml:4",
        ("$ref names file[nope.txt]",),
    ),
    "ref-to-a-field-the-kind-lacks": Bad(
        {
            "bad.yaml": "kind: file\nspec:\n  path: a.txt\n"
            "  content: {$ref: 'file[public/index.html]', field: colour}\n"
        },
        "bad.yaml:4",
        ("no such field",),
    ),
    "ref-with-extra-keys": Bad(
        {
            "bad.yaml": "kind: file\nspec:\n  path: a.txt\n"
            "  content: {$ref: 'file[public/index.html]', field: content, default: x}\n"
        },
        "bad.yaml:4",
        ("exactly the keys $ref and field",),
    ),
    "dependency-cycle": Bad(
        {
            "bad.yaml": "kind: directory\nspec: {path: a}\ndepends_on: ['directory[b]']\n---\n"
            "kind: directory\nspec: {path: b}\ndepends_on: ['directory[a]']\n"
        },
        "bad.yaml:1",
        ("dependency cycle", "directory[a] -> directory[b] -> directory[a]"),
    ),
    "depends-on-not-a-list": Bad(
        {"bad.yaml": "kind: file\nspec: {path: a.txt, content: x}\ndepends_on: {a: 1}\n"},
        "bad.yaml:3",
        ("$.depends_on", "expected a list"),
    ),
    "depends-on-item-not-a-string": Bad(
        {"bad.yaml": "kind: directory\nspec: {path: a}\ndepends_on:\n  - 7\n"},
        "bad.yaml:4",
        ("expected an address (str), got int",),
    ),
    "lifecycle-unknown-option": Bad(
        {
            "bad.yaml": "kind: file\nspec: {path: a.txt, content: x}\n"
            "lifecycle:\n  keep_forever: true\n"
        },
        "bad.yaml:4",
        ("$.lifecycle.keep_forever", "unknown field"),
    ),
    "lifecycle-ignore-changes-unknown-field": Bad(
        {
            "bad.yaml": "kind: file\nspec: {path: a.txt, content: x}\n"
            "lifecycle:\n  ignore_changes: [colour]\n"
        },
        "bad.yaml:4",
        ("names no field of this kind: colour",),
    ),
    "spec-missing": Bad({"bad.yaml": "\nkind: file\n"}, "bad.yaml:2", ("$.spec.path",)),
    "spec-not-a-mapping": Bad(
        {"bad.yaml": "kind: file\nspec: [1, 2]\n"}, "bad.yaml:2", ("expected a mapping",)
    ),
    "kind-missing": Bad(
        {"bad.yaml": "\nspec: {path: a.txt, content: x}\n"},
        "bad.yaml:2",
        ("missing key 'kind'",),
    ),
    "kind-not-a-string": Bad(
        {"bad.yaml": "kind: [file]\nspec: {path: a}\n"}, "bad.yaml:1", ("expected a kind name",)
    ),
    "mode-out-of-range": Bad(
        {"bad.yaml": "kind: file\nspec:\n  path: a.txt\n  content: x\n  mode: 99999\n"},
        "bad.yaml:5",
        ("$.spec.mode", "is not a file mode"),
    ),
    "mode-negative": Bad(
        {"bad.yaml": "kind: file\nspec:\n  path: a.txt\n  content: x\n  mode: -1\n"},
        "bad.yaml:5",
        ("$.spec.mode", "is not a file mode"),
    ),
    "file-with-content-and-source": Bad(
        {"bad.yaml": "kind: file\nspec:\n  path: a.txt\n  content: x\n  source: /etc/hostname\n"},
        "bad.yaml:2",
        ("exactly one of content", "source"),
    ),
    "file-with-neither-content-nor-source": Bad(
        {"bad.yaml": "kind: file\nspec:\n  path: a.txt\n"},
        "bad.yaml:2",
        ("exactly one of content",),
    ),
    "yaml-syntax-error": Bad(
        {"bad.yaml": "kind: file\nspec: {path: a.txt\n"}, "bad.yaml:3", ("YAML syntax error",)
    ),
    "yaml-tab-indentation": Bad(
        {"bad.yaml": "kind: file\nspec:\n\tpath: a.txt\n"},
        "bad.yaml:3",
        ("YAML syntax error", "'\\t'"),
    ),
    "document-is-a-list": Bad(
        {"bad.yaml": "- kind: file\n- spec: {}\n"}, "bad.yaml:1", ("not list",)
    ),
    "document-is-a-scalar": Bad(
        {"bad.yaml": "kind: directory\nspec: {path: fine}\n---\njust a string\n"},
        "bad.yaml:4",
        ("document 2", "not str"),
    ),
    "python-object-tag": Bad(
        {"bad.yaml": "kind: file\nspec: !!python/object/apply:os.system ['touch PWNED']\n"},
        "bad.yaml:2",
        ("python/object/apply:os.system", "plain data only"),
    ),
    "yaml-alias-bomb": Bad({"bad.yaml": BOMB}, "bad.yaml:1", ("aliases",)),
    "not-utf8": Bad(
        {"bad.yaml": b"kind: directory\nspec: {path: \xff}\n"}, "bad.yaml:2", ("not UTF-8",)
    ),
    "json-syntax-error": Bad(
        {"bad.json": '{\n  "kind": "file",\n  "spec": {"path": "a.txt",}\n}\n'},
        "bad.json:3",
        ("JSON syntax error",),
    ),
    "json-scalar": Bad({"bad.json": "42\n"}, "bad.json:1", ("object or a list of objects",)),
    "json-duplicate-key": Bad(
        {"bad.json": '{\n "kind": "directory",\n "spec": {"path": "x", "path": "y"}\n}\n'},
        "bad.json:3",
        ("duplicate key 'path'",),
    ),
    "json-list-with-a-scalar": Bad(
        {"bad.json": '[\n {"kind": "directory", "spec": {"path": "x"}},\n 3\n]\n'},
        "bad.json:3",
        ("document 2", "not int"),
    ),
    "toml-syntax-error": Bad(
        {"bad.toml": '[[resource]]\nkind = "file"\nspec = {path = "a.txt"\n'},
        "bad.toml:3",
        ("TOML syntax error",),
    ),
    "toml-not-resource-tables": Bad(
        {"bad.toml": '[resource]\nkind = "file"\n'}, "bad.toml:1", ("[[resource]]",)
    ),
    "toml-unknown-field": Bad(
        {
            "bad.toml": '[[resource]]\nkind = "file"\n[resource.spec]\npath = "a.txt"\n'
            'content = "x"\ncolour = "red"\n'
        },
        "bad.toml:6",
        ("$.spec.colour", "unknown field"),
    ),
    "one-bad-document-among-changes": Bad(
        {"pages.yaml": _ONE_BAD_DOC},
        f"pages.yaml:{_BAD_LINE}",
        ("$.spec.mode", "mode 'wide' is not a file mode"),
    ),
    "empty-file-named-explicitly": pytest.param(
        Bad(
            {"empty.yaml": ""},
            "empty.yaml:1",
            ("no documents",),
            argv=("apply", "manifests/empty.yaml", "--yes"),
        ),
    ),
}


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart after one successful apply by the console script; copied per case."""
    template = _copy_quickstart(tmp_path_factory.mktemp("template") / "quickstart")
    done = _reconcile("apply", template, "--yes")
    assert done.returncode == 0, done.stderr
    assert not (template / ".reconcile" / "state.db-wal").exists()
    return template


@pytest.fixture
def applied_copy(applied_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(applied_template, tmp_path / "quickstart", symlinks=True))


@contextlib.contextmanager
def _unchanged(project: Path) -> Iterator[None]:
    """The managed tree, the state and the project's top level are the same afterwards."""
    tree, state = _tree(project / "site"), _state(_db(project))
    names = sorted(p.name for p in project.iterdir())
    yield
    assert sorted(p.name for p in project.iterdir()) == names
    assert _tree(project / "site") == tree
    after = _state(_db(project))
    assert after[0] == state[0]
    assert after[1] == state[1]


@pytest.mark.parametrize("case", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_manifest_exits_1_naming_file_and_line(applied_copy: Path, case: Bad) -> None:
    with _unchanged(applied_copy):
        for name, text in case.files.items():
            data = text if isinstance(text, bytes) else text.encode()
            (applied_copy / "manifests" / name).write_bytes(data)
        argv = [a.replace("{p}", str(applied_copy)) for a in case.argv]
        done = _reconcile(*argv, cwd=applied_copy)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Apply complete" not in done.stdout
    assert not (applied_copy / "PWNED").exists()
    message = done.stderr
    for fragment in case.says:
        assert fragment in message, message
    assert re.search(re.escape(case.where) + r"(?!\d)", message), message


def test_the_malformed_table_is_large_enough() -> None:
    assert len(MALFORMED) >= 20


# -- path escapes ------------------------------------------------------------------


def _escape_cases(outside: Path) -> dict[str, tuple[str, str]]:
    """Manifest text and the words the error must use, for each way out of the root."""
    return {
        "dot-dot": (
            "kind: file\nspec: {path: ../escape.txt, content: x}\n",
            "contains '..'",
        ),
        "dot-dot-directory": (
            "kind: directory\nspec: {path: public/../../escaped}\n",
            "contains '..'",
        ),
        "absolute-outside": (
            f"kind: file\nspec: {{path: '{outside}/abs.txt', content: x}}\n",
            "is absolute and outside the root",
        ),
        "through-a-symlink": (
            "kind: file\nspec: {path: public/out/evil.txt, content: x}\n",
            "goes through a symlink",
        ),
        "symlink-target-outside": (
            "kind: symlink\nspec: {path: public/away, target: ../../../outside}\n",
            "resolves outside the root",
        ),
    }


ESCAPES = sorted(_escape_cases(Path("/x")))


@pytest.mark.parametrize("name", ESCAPES)
def test_path_escape_is_rejected_before_anything_is_written(
    applied_copy: Path, tmp_path: Path, name: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # A link inside the managed root that leads out of it, planted by someone else.
    (applied_copy / "site" / "public" / "out").symlink_to(outside, target_is_directory=True)
    text, says = _escape_cases(outside)[name]
    with _unchanged(applied_copy):
        (applied_copy / "manifests" / "escape.yaml").write_text(text)
        done = _reconcile("apply", applied_copy, "--yes", cwd=applied_copy)
        assert done.returncode == 1, done.stdout + done.stderr
    assert says in done.stderr, done.stderr
    assert "nothing there is read or written" in done.stderr
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "quickstart"]
