"""GitSource on real repositories: every revision read from the object database, never checked out.

Repositories are built in temporary folders with the ``git`` binary and with
dulwich's porcelain, bare and non-bare, loose and packed. Each commit adds,
changes or removes manifests; the tests check what each revision loads, that
the working tree is never touched, every ref form, ``path``, and that every
error names the revision (and, for manifests, file and line) with nothing applied.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from dulwich import porcelain

import reconcile as rc
from reconcile.sources import CommitInfo, GitSource, parse_git_spec
from reconcile.testing import MemoryProvider
from tests.gitenv import git_env

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="the git binary is needed")


@rc.resource("go_src_item")
class Item:
    name: str = rc.field(key=True)
    value: str = ""
    count: int = 0


# -- building repositories ------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    return git_env(home, committer=("Cy Committer", "cy@example.org"))


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=_env(cwd), check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _doc(item: Item) -> str:
    """One manifest document for ``item`` (block style, so line numbers are predictable)."""
    lines = ["kind: go_src_item", "spec:", f"  name: {item.name}"]
    if item.value:
        lines.append(f"  value: {item.value}")
    if item.count:
        lines.append(f"  count: {item.count}")
    return "\n".join(lines) + "\n"


def _write_tree(root: Path, files: Mapping[str, str | None]) -> None:
    """Write (text) or delete (None) each file under ``root``."""
    for name, text in files.items():
        path = root / name
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


A1, A2 = Item("a", value="one"), Item("a", value="two")
B, C, X = Item("b", count=2), Item("c", value="sea", count=3), Item("x", value="outside")

#: Commit by commit: the files each commit writes (None deletes) and its subject.
HISTORY: list[tuple[str, dict[str, str | None]]] = [
    (
        "Add a and b",
        {
            "manifests/a.yaml": _doc(A1),
            "manifests/b.yaml": _doc(B),
            "other/x.yaml": _doc(X),
            "README.md": "# not a manifest\n",
        },
    ),
    ("Change a", {"manifests/a.yaml": _doc(A2)}),
    (
        "Remove b, add c\n\nThe body is not the subject.",
        {"manifests/b.yaml": None, "manifests/sub/c.yaml": _doc(C)},
    ),
]

#: What ``path="manifests"`` declares at each commit, written down independently.
EXPECTED: list[dict[str, Item]] = [
    {"go_src_item[a]": A1, "go_src_item[b]": B},
    {"go_src_item[a]": A2, "go_src_item[b]": B},
    {"go_src_item[a]": A2, "go_src_item[c]": C},
]


@attrs.frozen
class Built:
    path: Path
    commits: list[str]  # oldest first


def _git_repo(root: Path) -> Built:
    """A non-bare repository made with the git binary: HISTORY, tags v1 (light) and v2 (annotated),
    and a branch ``feature`` at the second commit."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    commits = []
    for subject, files in HISTORY:
        _write_tree(root, files)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", subject)
        commits.append(git(root, "rev-parse", "HEAD"))
    git(root, "tag", "v1", commits[0])
    git(root, "tag", "-a", "v2", "-m", "release two", commits[1])
    git(root, "branch", "feature", commits[1])
    return Built(root, commits)


def _dulwich_repo(root: Path) -> Built:
    """The same history made with dulwich's porcelain only (no git binary)."""
    repo = porcelain.init(str(root))
    repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")
    commits = []
    try:
        for subject, files in HISTORY:
            gone = [name for name, text in files.items() if text is None]
            if gone:
                porcelain.rm(repo, [str(root / name) for name in gone])
            _write_tree(root, {n: t for n, t in files.items() if t is not None})
            porcelain.add(repo, [str(root / n) for n, t in files.items() if t is not None])
            sha = porcelain.commit(
                repo,
                message=subject.encode(),
                author=b"Dee Dulwich <dee@example.org>",
                committer=b"Dee Dulwich <dee@example.org>",
            )
            commits.append(sha.decode())
        porcelain.tag_create(repo, b"v1", objectish=commits[0].encode())
        porcelain.tag_create(
            repo,
            b"v2",
            author=b"Dee Dulwich <dee@example.org>",
            message=b"release two",
            annotated=True,
            objectish=commits[1],
        )
        porcelain.branch_create(repo, b"feature", objectish=commits[1])
    finally:
        repo.close()
    return Built(root, commits)


@pytest.fixture
def repo(tmp_path: Path) -> Built:
    return _git_repo(tmp_path / "work")


SHAPES = ["git-worktree", "git-bare-clone", "git-bare-packed", "dulwich", "dulwich-bare"]


@pytest.fixture(params=SHAPES)
def any_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Built:
    """The same history in every shape GitSource must read."""
    kind = request.param
    if kind.startswith("dulwich"):
        built = _dulwich_repo(tmp_path / "dulwich")
        if kind == "dulwich-bare":
            bare = porcelain.clone(
                str(built.path), str(tmp_path / "dulwich-bare.git"), bare=True, errstream=_Sink()
            )
            try:  # dulwich's clone makes only the default branch local; git's --bare makes all
                bare.refs[b"refs/heads/feature"] = built.commits[1].encode()
            finally:
                bare.close()
            return Built(tmp_path / "dulwich-bare.git", built.commits)
        return built
    built = _git_repo(tmp_path / "work")
    if kind == "git-worktree":
        return built
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(built.path), str(bare))
    if kind == "git-bare-packed":
        git(bare, "gc", "-q")  # objects in a pack, refs in packed-refs
        assert not list((bare / "refs" / "heads").iterdir())
    return Built(bare, built.commits)


class _Sink:
    """A byte stream that swallows dulwich's progress output."""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


@pytest.fixture
def source_of() -> Iterator[Any]:
    """Open GitSources and close them all at the end."""
    opened: list[GitSource] = []

    def make(*args: Any, **kwargs: Any) -> GitSource:
        made = GitSource(*args, **kwargs)
        opened.append(made)
        return made

    yield make
    for s in opened:
        s.close()


def _by_address(resources: list[Any]) -> dict[str, Any]:
    found = {rc.address_of(r): r for r in resources}
    assert len(found) == len(resources)
    return found


# -- every revision, every shape -------------------------------------------------------


def test_each_revision_loads_what_that_commit_holds(any_repo: Built, source_of: Any) -> None:
    src = source_of(any_repo.path, "main", "manifests")
    assert src.revision() == any_repo.commits[-1]
    for commit, expected in zip(any_repo.commits, EXPECTED, strict=True):
        assert _by_address(src.load(commit)) == expected
    assert _by_address(src.load()) == EXPECTED[-1]  # default: what the ref points at now


def test_files_lists_only_manifests_under_path_sorted(any_repo: Built, source_of: Any) -> None:
    src = source_of(any_repo.path, "main", "manifests")
    first, last = any_repo.commits[0], any_repo.commits[-1]
    assert [name for name, _ in src.files(first)] == ["manifests/a.yaml", "manifests/b.yaml"]
    assert [name for name, _ in src.files(last)] == ["manifests/a.yaml", "manifests/sub/c.yaml"]
    assert dict(src.files(last))["manifests/sub/c.yaml"] == _doc(C).encode()
    everything = source_of(any_repo.path, "main")
    names = [name for name, _ in everything.files(first)]
    assert names == ["manifests/a.yaml", "manifests/b.yaml", "other/x.yaml"]  # README.md skipped


def test_describe_gives_author_committer_and_subject(repo: Built, source_of: Any) -> None:
    src = source_of(repo.path, "main", "manifests")
    info = src.describe(repo.commits[2])
    assert isinstance(info, CommitInfo)
    assert info.id == repo.commits[2]
    assert info.author == "Ann Author <ann@example.org>"
    assert info.committer == "Cy Committer <cy@example.org>"
    assert info.subject == "Remove b, add c"  # the first line only
    assert info.time > 0
    assert info.as_meta() == {
        "commit": repo.commits[2],
        "author": "Ann Author <ann@example.org>",
        "subject": "Remove b, add c",
    }
    assert src.describe().id == repo.commits[-1]


def test_dulwich_made_commits_describe_their_author(tmp_path: Path, source_of: Any) -> None:
    built = _dulwich_repo(tmp_path / "d")
    info = source_of(built.path).describe(built.commits[1])
    assert info.author == "Dee Dulwich <dee@example.org>"
    assert info.subject == "Change a"


# -- ref forms ----------------------------------------------------------------------------


REF_FORMS = {
    "HEAD": 2,
    "main": 2,
    "refs/heads/main": 2,
    "feature": 1,
    "v1": 0,  # lightweight tag
    "v2": 1,  # annotated tag: peeled to its commit
    "full-sha-0": 0,
    "short-sha-1": 1,
    "main~1": 1,
    "main~2": 0,
    "HEAD^": 1,
    "v2~1": 0,
}


@pytest.mark.parametrize(
    "form",
    list(REF_FORMS),
)
def test_ref_forms_resolve_to_the_right_commit(any_repo: Built, source_of: Any, form: str) -> None:
    index = REF_FORMS[form]
    ref = form
    if form.startswith("full-sha"):
        ref = any_repo.commits[index]
    elif form.startswith("short-sha"):
        ref = any_repo.commits[index][:8]
    src = source_of(any_repo.path, ref, "manifests")
    assert src.revision() == any_repo.commits[index]
    assert _by_address(src.load()) == EXPECTED[index]
    assert _by_address(src.load(ref)) == EXPECTED[index]


def test_revision_follows_a_moving_branch(repo: Built, source_of: Any) -> None:
    src = source_of(repo.path, "main", "manifests")
    assert src.revision() == repo.commits[-1]
    _write_tree(repo.path, {"manifests/d.yaml": _doc(Item("d"))})
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", "Add d")
    newest = git(repo.path, "rev-parse", "HEAD")
    assert src.revision() == newest  # re-read on every call, same GitSource object
    assert "go_src_item[d]" in _by_address(src.load())
    git(repo.path, "reset", "-q", "--hard", repo.commits[0])  # a branch can move backwards too
    assert src.revision() == repo.commits[0]


def test_parse_git_spec() -> None:
    assert parse_git_spec("/srv/repo") == ("/srv/repo", "HEAD", "")
    assert parse_git_spec("/srv/repo@main") == ("/srv/repo", "main", "")
    assert parse_git_spec("/srv/repo@v1.2:deploy/prod") == ("/srv/repo", "v1.2", "deploy/prod")
    assert parse_git_spec("/srv/repo:apps") == ("/srv/repo", "HEAD", "apps")
    assert parse_git_spec("/srv/repo@:apps") == ("/srv/repo", "HEAD", "apps")
    assert parse_git_spec("/home/u@host/repo@main:x") == ("/home/u@host/repo", "main", "x")


# -- path -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("manifests", {"go_src_item[a]", "go_src_item[c]"}),
        ("manifests/", {"go_src_item[a]", "go_src_item[c]"}),
        ("/manifests/sub", {"go_src_item[c]"}),
        ("manifests/sub", {"go_src_item[c]"}),
        ("other", {"go_src_item[x]"}),
        ("", {"go_src_item[a]", "go_src_item[c]", "go_src_item[x]"}),
    ],
)
def test_path_restricts_to_a_folder(
    repo: Built, source_of: Any, path: str, expected: set[str]
) -> None:
    assert set(_by_address(source_of(repo.path, "main", path).load())) == expected


# -- the working tree is never touched --------------------------------------------------------


def _worktree(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every working-tree file (and the index and HEAD): mtime, size, bytes."""
    seen = {}
    for path in sorted(root.rglob("*")):
        inside_git = ".git" in path.relative_to(root).parts
        if path.is_file() and (not inside_git or path.name in ("index", "HEAD")):
            st = path.stat()
            seen[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_size, path.read_bytes())
    return seen


def _status(root: Path) -> str:
    args = ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"]
    done = subprocess.run(args, cwd=root, env=_env(root), check=True, capture_output=True)
    return done.stdout.decode()


def test_working_tree_is_untouched_and_ignored(repo: Built, source_of: Any) -> None:
    _write_tree(
        repo.path,
        {
            "manifests/a.yaml": "kind: go_src_item\nspec: {name: a, value: EDITED-BY-HAND}\n",
            "manifests/sub/c.yaml": None,
            "manifests/untracked.yaml": _doc(Item("untracked")),
            "other/x.yaml": "{{ not: even yaml",
        },
    )
    status_before = _status(repo.path)
    assert " M manifests/a.yaml" in status_before
    assert " D manifests/sub/c.yaml" in status_before
    assert "?? manifests/untracked.yaml" in status_before
    before = _worktree(repo.path)

    src = source_of(repo.path, "HEAD", "manifests")
    assert _by_address(src.load()) == EXPECTED[-1]  # committed content, not the edits
    assert set(_by_address(source_of(repo.path, "HEAD", "other").load())) == {"go_src_item[x]"}
    for commit, expected in zip(repo.commits, EXPECTED, strict=True):
        assert _by_address(src.load(commit)) == expected
        src.describe(commit)
    src.files(repo.commits[0])

    assert _worktree(repo.path) == before  # no checkout: same bytes, same mtimes
    assert _status(repo.path) == status_before
    assert git(repo.path, "rev-parse", "HEAD") == repo.commits[-1]


def test_loading_an_old_revision_does_not_move_head(repo: Built, source_of: Any) -> None:
    head_file = (repo.path / ".git" / "HEAD").read_bytes()
    src = source_of(repo.path, repo.commits[0], "manifests")
    assert _by_address(src.load()) == EXPECTED[0]
    assert (repo.path / ".git" / "HEAD").read_bytes() == head_file
    assert (repo.path / "manifests" / "sub" / "c.yaml").exists()  # still the newest tree on disk
    assert _status(repo.path) == ""


# -- errors ------------------------------------------------------------------------------------


def _counting() -> tuple[rc.Reconciler, MemoryProvider[Item]]:
    provider = MemoryProvider(Item)
    return rc.Reconciler([provider], state=rc.MemoryState()), provider


@pytest.mark.parametrize("ref", ["no-such-branch", "v9", "0" * 40, "main~7", "deadbeef"])
def test_unknown_ref_is_a_source_error_and_nothing_is_applied(
    repo: Built, source_of: Any, ref: str
) -> None:
    src = source_of(repo.path, ref, "manifests")
    with pytest.raises(rc.SourceError) as caught:
        src.revision()
    assert ref in str(caught.value)
    assert str(repo.path) in str(caught.value)
    reconciler, provider = _counting()
    with pytest.raises(rc.SourceError):
        reconciler.sync(src)
    with pytest.raises(rc.SourceError):
        reconciler.status(src)
    assert not provider.calls
    assert reconciler.history() == []


def test_unknown_revision_given_to_load_is_a_source_error(repo: Built, source_of: Any) -> None:
    src = source_of(repo.path, "main", "manifests")
    with pytest.raises(rc.SourceError, match="nope"):
        src.load("nope")


def test_a_ref_naming_a_blob_or_tree_is_a_source_error(repo: Built, source_of: Any) -> None:
    blob = git(repo.path, "rev-parse", "HEAD:manifests/a.yaml")
    tree = git(repo.path, "rev-parse", "HEAD^{tree}")
    for ref in (blob, tree):
        with pytest.raises(rc.SourceError, match=ref[:12]):
            source_of(repo.path, ref).revision()


def test_missing_path_names_the_revision(repo: Built, source_of: Any) -> None:
    src = source_of(repo.path, "main", "deploy/prod")
    with pytest.raises(rc.SourceError) as caught:
        src.load()
    message = str(caught.value)
    assert "deploy/prod" in message
    assert repo.commits[-1][:7] in message
    # a folder that exists now but not at an older revision
    sub = source_of(repo.path, "main", "manifests/sub")
    assert set(_by_address(sub.load())) == {"go_src_item[c]"}
    with pytest.raises(rc.SourceError) as older:
        sub.load(repo.commits[0])
    assert repo.commits[0][:7] in str(older.value)
    assert "manifests/sub" in str(older.value)
    reconciler, provider = _counting()
    with pytest.raises(rc.SourceError):
        reconciler.sync(sub, revision=repo.commits[0])
    assert not provider.calls


def test_path_naming_a_file_is_a_source_error(repo: Built, source_of: Any) -> None:
    with pytest.raises(rc.SourceError, match="is a file, not a folder"):
        source_of(repo.path, "main", "manifests/a.yaml").load()


def test_path_naming_a_file_error_names_the_revision(repo: Built, source_of: Any) -> None:
    with pytest.raises(rc.SourceError) as caught:
        source_of(repo.path, "main", "manifests/a.yaml").load()
    assert repo.commits[-1][:7] in str(caught.value)


def test_a_folder_that_is_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.yaml").write_text(_doc(A1))
    for where in (plain, tmp_path / "does-not-exist"):
        with pytest.raises(rc.SourceError, match="not a Git repository") as caught:
            GitSource(where)
        assert str(where) in str(caught.value)


def test_a_repository_without_commits(tmp_path: Path, source_of: Any) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    src = source_of(empty)
    with pytest.raises(rc.SourceError, match="no commits yet"):
        src.revision()
    reconciler, provider = _counting()
    with pytest.raises(rc.SourceError):
        reconciler.sync(src)
    assert not provider.calls


def test_a_manifest_error_at_a_revision_names_revision_file_and_line(
    repo: Built, source_of: Any
) -> None:
    bad = "kind: go_src_item\nspec:\n  name: bad\n  count: many\n"  # line 4 is wrong
    _write_tree(repo.path, {"manifests/bad.yaml": bad})
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", "Break it")
    broken = git(repo.path, "rev-parse", "HEAD")
    src = source_of(repo.path, "main", "manifests")
    with pytest.raises(rc.ManifestError) as caught:
        src.load()
    message = str(caught.value)
    assert broken[:7] in message
    assert "manifests/bad.yaml:4" in message
    assert "count" in message
    assert isinstance(caught.value, rc.ReconcileError)
    # earlier revisions still load; nothing was applied for the broken one
    assert _by_address(src.load(repo.commits[-1])) == EXPECTED[-1]
    reconciler, provider = _counting()
    with pytest.raises(rc.ManifestError):
        reconciler.sync(src)
    with pytest.raises(rc.ManifestError):
        reconciler.plan_sync(src, prune=True)
    assert not provider.calls
    assert reconciler.history() == []


def test_a_yaml_syntax_error_at_a_revision(repo: Built, source_of: Any) -> None:
    _write_tree(repo.path, {"manifests/sub/c.yaml": "kind: go_src_item\nspec: {name: c\n"})
    git(repo.path, "commit", "-q", "-am", "Unclosed mapping")
    broken = git(repo.path, "rev-parse", "HEAD")
    with pytest.raises(rc.ManifestError) as caught:
        source_of(repo.path, "main", "manifests").load()
    assert broken[:7] in str(caught.value)
    assert "manifests/sub/c.yaml:" in str(caught.value)


def test_a_good_revision_applies_with_its_commit_recorded(repo: Built, source_of: Any) -> None:
    src = source_of(repo.path, "main", "manifests")
    reconciler, provider = _counting()
    result = reconciler.sync(src, revision=repo.commits[0])
    assert result.ok
    assert {rc.address_of(r) for r in provider} == set(EXPECTED[0])
    entry = reconciler.history()[0]
    assert entry.revision == repo.commits[0]
    assert entry.meta["subject"] == "Add a and b"
