"""Provider packages installed with pip, used through the ``reconcile`` console script.

Two real packages are built as wheels here and installed by ``pip install
--target`` into a temporary folder, which the subprocess gets on its
``PYTHONPATH``: nothing is installed into the test environment itself, and no
network or build backend is needed. ``acme-kv`` provides the kind ``acme_kv``
(pairs kept as files in a folder); ``acme-vault`` provides ``acme_secret`` and its
factory needs a ``token`` setting; ``acme-login`` provides ``acme_login`` (a sensitive
password) and ``acme_conn``, whose provider quotes its ``dsn`` in its errors.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .cli_user import copy_example, git, reconcile

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pip") is None, reason="installing the test packages needs pip"
)

KV = '''
"""Key-value pairs kept as files in a folder."""
from pathlib import Path

import reconcile as rc


@rc.resource("acme_kv")
class Pair:
    key: str = rc.field(key=True)
    value: str = ""


class Pairs(rc.Provider[Pair]):
    resource = Pair

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self, want: Pair) -> Pair | None:
        path = self.folder / want.key
        return Pair(want.key, path.read_text()) if path.exists() else None

    def create(self, want: Pair) -> Pair:
        if want.value == "refused":
            raise RuntimeError("the store refused the value")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / want.key).write_text(want.value)
        return want

    def update(self, have: Pair, want: Pair, diff: rc.Diff) -> Pair:
        return self.create(want)

    def delete(self, have: Pair) -> None:
        (self.folder / have.key).unlink()


def factory(settings, base):
    return [Pairs(base / settings.get("folder", "kv"))]
'''

VAULT = '''
"""A kind whose provider cannot work without a token."""
import reconcile as rc


@rc.resource("acme_secret")
class Secret:
    name: str = rc.field(key=True)


class Secrets(rc.Provider[Secret]):
    resource = Secret

    def __init__(self, token: str) -> None:
        self.token = token

    def read(self, want):
        return None

    def create(self, want):
        return want

    def update(self, have, want, diff):
        return want

    def delete(self, have):
        pass


def factory(settings, base):
    return [Secrets(settings["token"])]
'''


LOGIN = '''
"""A login with a sensitive password, and connections whose errors quote their dsn."""
import reconcile as rc


@rc.resource("acme_login")
class Login:
    name: str = rc.field(key=True)
    password: str = rc.field(default="", sensitive=True)


@rc.resource("acme_conn")
class Conn:
    name: str = rc.field(key=True)
    dsn: str = ""


class Logins(rc.Provider[Login]):
    resource = Login

    def read(self, want):
        return None

    def create(self, want):
        return want

    def update(self, have, want, diff):
        return want

    def delete(self, have):
        pass


class Conns(rc.Provider[Conn]):
    resource = Conn

    def __init__(self, folder):
        self.folder = folder

    def read(self, want):
        path = self.folder / want.name
        return Conn(want.name, path.read_text()) if path.exists() else None

    def create(self, want):
        if want.name == "bad":
            raise RuntimeError(f"cannot connect with {want.dsn!r}")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / want.name).write_text(want.dsn)
        return want

    def update(self, have, want, diff):
        return self.create(want)

    def delete(self, have):
        (self.folder / have.name).unlink()


def factory(settings, base):
    return [Logins(), Conns(base / "conns")]
'''


def _wheel(folder: Path, dist: str, module: str, source: str, entry: str) -> Path:
    """A pure-Python wheel holding one module and one ``reconcile.providers`` entry point."""
    info = f"{dist.replace('-', '_')}-1.0.dist-info"
    files = {
        f"{module}.py": source,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[reconcile.providers]\n{entry}\n",
    }
    record = [f"{name},sha256={_digest(text)},{len(text.encode())}" for name, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = folder / f"{dist.replace('-', '_')}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def _digest(text: str) -> str:
    raw = hashlib.sha256(text.encode()).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder both packages were pip-installed into."""
    root = tmp_path_factory.mktemp("packages")
    wheels = [
        _wheel(root, "acme-kv", "acme_kv", KV, "kv = acme_kv:factory"),
        _wheel(root, "acme-vault", "acme_vault", VAULT, "vault = acme_vault:factory"),
        _wheel(root, "acme-login", "acme_login", LOGIN, "login = acme_login:factory"),
    ]
    target = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    done = subprocess.run(
        [*pip, "--target", str(target), *map(str, wheels)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return target


Completed = subprocess.CompletedProcess[str]


def _reconcile(packages: Path, *args: str | Path) -> Completed:
    """The console script with the installed test packages on its ``PYTHONPATH``."""
    path = os.pathsep.join(filter(None, [str(packages), os.environ.get("PYTHONPATH")]))
    return reconcile(None, *args, code=None, env={"PYTHONPATH": path})


def _project(folder: Path, manifest: str, config: str = "") -> Path:
    folder.mkdir()
    (folder / "pairs.yaml").write_text(manifest)
    (folder / "reconcile.toml").write_text(config)
    return folder


PAIRS = "kind: acme_kv\nspec: {key: colour, value: blue}\n---\nkind: acme_kv\nspec: {key: size}\n"


def test_providers_lists_the_installed_packages_kinds(packages: Path) -> None:
    listed = _reconcile(packages, "providers")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line.split()[1:] for line in listed.stdout.splitlines()}
    assert lines["kv"] == ["acme-kv", "acme_kv"]
    assert lines["vault"] == ["acme-vault", "acme_secret"]
    assert lines["login"] == ["acme-login", "acme_conn,", "acme_login"]
    assert lines["files"][0] == "built-in"


def test_a_package_kind_plans_applies_and_reports_status(packages: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "kv", PAIRS, '[providers.kv]\nfolder = "store"\n')
    plan = _reconcile(packages, "plan", project)
    assert plan.returncode == 0, plan.stderr
    assert "+ acme_kv[colour]" in plan.stdout
    assert "+ acme_kv[size]" in plan.stdout

    applied = _reconcile(packages, "apply", project, "--yes")
    assert applied.returncode == 0, applied.stderr
    assert (project / "store" / "colour").read_text() == "blue"
    assert (project / "store" / "size").read_text() == ""

    (project / "store" / "colour").write_text("red")
    status = _reconcile(packages, "status", project)
    assert status.returncode == 0, status.stderr
    assert "acme_kv[colour]: value (drift)" in status.stdout


def test_pruning_a_package_kind_needs_only_recorded_state(packages: Path, tmp_path: Path) -> None:
    """With no manifest naming the kind left, its provider still deletes what was applied."""
    project = _project(tmp_path / "kv", PAIRS)
    assert _reconcile(packages, "apply", project, "--yes").returncode == 0
    (project / "pairs.yaml").write_text("")
    pruned = _reconcile(packages, "apply", project, "--yes")
    assert pruned.returncode == 0, pruned.stderr
    assert "2 deleted" in pruned.stdout
    assert sorted(p.name for p in (project / "kv").iterdir()) == []


def test_a_factory_that_needs_a_setting_does_not_break_the_quickstart(
    packages: Path, tmp_path: Path
) -> None:
    project = copy_example("quickstart", tmp_path)
    applied = _reconcile(packages, "apply", project, "--yes")
    assert applied.returncode == 0, applied.stderr
    assert "7 created" in applied.stdout
    assert _reconcile(packages, "status", project).returncode == 0


def test_a_factory_missing_its_setting_is_a_clear_error(packages: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "vault", "kind: acme_secret\nspec: {name: db}\n")
    for command in ("plan", "apply", "status"):
        done = _reconcile(packages, command, project, *(["--yes"] if command == "apply" else []))
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        config = project / "reconcile.toml"
        expected = (
            "Error: provider package 'acme-vault' (entry point 'vault'): "
            f"missing setting 'token' in [providers.vault] of {config}"
        )
        assert expected in done.stderr.replace("\n", ""), done.stderr
        assert not (project / ".reconcile").exists()  # no state made for a failed command
    given = _reconcile(packages, "plan", project, "--config", _with(project, "token = 't0k3n'"))
    assert given.returncode == 0, given.stderr
    assert "+ acme_secret[db]" in given.stdout


def _with(project: Path, setting: str) -> Path:
    config = project / "reconcile.toml"
    config.write_text(f"[providers.vault]\n{setting}\n")
    return config


def test_a_failed_step_prints_the_summary_and_its_error_once(
    packages: Path, tmp_path: Path
) -> None:
    manifest = "kind: acme_kv\nspec: {key: bad, value: refused}\n"
    project = _project(tmp_path / "kv", manifest)
    done = _reconcile(packages, "apply", project, "--yes")
    assert done.returncode == 1
    both = done.stdout + done.stderr
    assert "Apply complete" not in both
    assert both.count("Apply failed: 1 failed; 0 created") == 1, both
    assert both.count("the store refused the value") == 1, both
    assert "failed  acme_kv[bad] (create)" in done.stderr


COPIED = """\
kind: acme_login
spec: {name: db, password: "pa55-w0rd-§"}
---
kind: acme_conn
spec: {name: good, dsn: {$ref: "acme_login[db]", field: password}}
---
kind: acme_conn
spec: {name: bad, dsn: {$ref: "acme_login[db]", field: password}}
"""


def test_a_secret_copied_by_a_ref_and_quoted_in_an_error_shows_nowhere(
    packages: Path, tmp_path: Path
) -> None:
    """Plan text and JSON, apply's output, ``show``, ``history`` and the state files."""
    project = _project(tmp_path / "login", COPIED)
    runs = [_reconcile(packages, "plan", project), _reconcile(packages, "plan", project, "--json")]
    runs.append(_reconcile(packages, "apply", project, "--yes"))
    assert runs[-1].returncode == 1, runs[-1].stderr
    assert "failed  acme_conn[bad] (create)" in runs[-1].stderr
    runs += _drift_then_look(packages, project, "pa55-w0rd-§")
    assert "~ acme_conn[good]" in runs[3].stdout, runs[3].stdout  # the drift is shown, masked
    _assert_shown_nowhere(runs, project)


def _drift_then_look(packages: Path, project: Path, secret: str) -> list[Completed]:
    """After the first apply: drift ``good``, then plan, show, history and status, as a
    user looking at what happened would."""
    assert (project / "conns" / "good").read_text() == secret  # the provider got it
    (project / "conns" / "good").write_text(f"{secret} drifted")
    config = ("--config", project / "reconcile.toml")
    return [
        _reconcile(packages, "plan", project),
        _reconcile(packages, "show", "1", *config),
        _reconcile(packages, "history", *config),
        _reconcile(packages, "status", project),
    ]


def _assert_shown_nowhere(runs: list[Completed], project: Path) -> None:
    """No run printed a traceback, usage or the password; ``show`` printed the masked
    error; no file under ``.reconcile`` holds the password."""
    for done in runs:
        assert "Traceback" not in done.stderr
        assert "Usage:" not in done.stderr
        assert "pa55-w0rd" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert "(sensitive)" in runs[-3].stdout + runs[-3].stderr  # show: the masked error
    stored = b"".join(p.read_bytes() for p in (project / ".reconcile").rglob("*") if p.is_file())
    assert b"pa55-w0rd" not in stored


def test_diff_live_builds_the_providers_of_the_revisions_kinds(
    packages: Path, tmp_path: Path
) -> None:
    """``diff --live`` plans a Git revision whose kinds nothing local declares or recorded."""
    repo = _project(tmp_path / "repo", PAIRS)
    for args in (["init", "-q"], ["add", "pairs.yaml"], ["commit", "-qm", "pairs"]):
        git(repo, *args)
    config = tmp_path / "elsewhere" / "reconcile.toml"
    config.parent.mkdir()
    config.write_text('[providers.kv]\nfolder = "store"\n')
    live = ("--from", "HEAD", "--live", "--config", config)
    done = _reconcile(packages, "diff", "--git", repo, *live)
    assert done.returncode == 0, done.stderr
    assert "+ acme_kv[colour]" in done.stdout
    assert not (config.parent / "store").exists()  # a plan changes nothing


def test_diff_between_revisions_reads_a_package_kind(packages: Path, tmp_path: Path) -> None:
    repo = _project(tmp_path / "repo", PAIRS)
    git(repo, "init", "-q")
    for text in (PAIRS, PAIRS.replace("blue", "green")):
        (repo / "pairs.yaml").write_text(text)
        git(repo, "add", "pairs.yaml")
        git(repo, "commit", "-qm", "pairs")
    done = _reconcile(packages, "diff", "--git", repo, "--from", "HEAD~1", "--to", "HEAD")
    assert done.returncode == 0, done.stderr
    assert "acme_kv[colour]" in done.stdout
    assert "green" in done.stdout


TWO_HOPS = """\
kind: acme_login
spec: {name: db, password: "pa55-w0rd-2hop"}
---
kind: acme_conn
spec: {name: mid, dsn: {$ref: "acme_login[db]", field: password}}
---
kind: acme_conn
spec: {name: good, dsn: {$ref: "acme_conn[mid]", field: dsn}}
---
kind: acme_conn
spec: {name: bad, dsn: {$ref: "acme_conn[mid]", field: dsn}}
"""


def test_a_secret_copied_two_refs_deep_shows_nowhere(packages: Path, tmp_path: Path) -> None:
    """``good`` and ``bad`` copy ``mid``'s plain dsn, which copies the password: plan text
    and JSON, the saved plan file, apply's output, ``show``, ``history``, a drift plan and
    the state files hold it only masked."""
    project = _project(tmp_path / "login", TWO_HOPS)
    saved = tmp_path / "saved-plan.json"
    runs = [_reconcile(packages, "plan", project), _reconcile(packages, "plan", project, "--json")]
    runs.append(_reconcile(packages, "plan", project, "--out", saved))
    assert runs[-1].returncode == 0, runs[-1].stderr
    assert "pa55-w0rd" not in saved.read_text()
    runs.append(
        _reconcile(packages, "apply", saved, "--yes", "--config", project / "reconcile.toml")
    )
    assert runs[-1].returncode == 1, runs[-1].stdout + runs[-1].stderr
    assert "failed  acme_conn[bad] (create)" in runs[-1].stderr
    runs += _drift_then_look(packages, project, "pa55-w0rd-2hop")
    assert "~ acme_conn[good]" in runs[4].stdout, runs[4].stdout  # the drift is shown, masked
    assert runs[0].stdout.count("+ dsn  = (sensitive)") == 3, runs[0].stdout
    _assert_shown_nowhere(runs, project)
