"""``GitSource``: desired state read from a Git revision, straight from the object database.

Uses dulwich only: no checkout, no ``git`` binary, the working tree untouched;
bare and non-bare repositories alike. ``revision()`` says which commit the ref
points at now; ``load(revision)`` reads the manifests under ``path`` at that
commit; ``describe(revision)`` gives its author and subject for the audit trail.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import attrs
from dulwich import objectspec
from dulwich.errors import NotGitRepository
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

from reconcile._util.errors import ManifestError, ManifestProblem, SourceError, did_you_mean

from ._manifests import is_manifest_name, load_blobs

__all__ = ["CommitInfo", "GitSource", "parse_git_spec"]

_SUBMODULE = 0o160000
_SYMLINK = 0o120000


@attrs.frozen
class CommitInfo:
    """Who made a revision and why: what the journal records for a Git source."""

    id: str
    author: str
    committer: str
    time: int
    subject: str

    def as_meta(self) -> dict[str, Any]:
        return {"commit": self.id, "author": self.author, "subject": self.subject}


class GitSource:
    """The manifests under ``path`` at the commit ``ref`` resolves to, in repository ``repo``."""

    def __init__(
        self,
        repo: str | os.PathLike[str],
        ref: str = "HEAD",
        path: str = "",
        *,
        kinds: Iterable[type] | None = None,
        loader: Callable[[Path], list[Any]] | None = None,
    ) -> None:
        self.location = Path(repo)
        self.ref = ref
        self.path = path.strip("/")
        self._kinds = tuple(kinds) if kinds is not None else None
        self._loader = loader
        try:
            self._repo = Repo(str(self.location))
        except NotGitRepository:
            missing = "" if self.location.exists() else " (no such folder)"
            raise SourceError(f"{self.location}: not a Git repository{missing}") from None

    def __repr__(self) -> str:
        where = f":{self.path}" if self.path else ""
        return f"GitSource('{self.location}@{self.ref}{where}')"

    def close(self) -> None:
        self._repo.close()

    def revision(self) -> str:
        """The commit id ``ref`` points at now (re-read every call: a branch moves)."""
        return self._commit(self.ref).id.decode()

    def describe(self, revision: str | None = None) -> CommitInfo:
        commit = self._commit(revision or self.ref)
        subject = commit.message.decode("utf-8", "replace").strip().splitlines()
        return CommitInfo(
            commit.id.decode(),
            commit.author.decode("utf-8", "replace"),
            commit.committer.decode("utf-8", "replace"),
            commit.commit_time,
            subject[0] if subject else "",
        )

    def load(self, revision: str | None = None) -> list[Any]:
        """The resources declared at ``revision`` (default: what ``ref`` points at now)."""
        commit = self._commit(revision or self.ref)
        short = commit.id.decode()[:12]
        label = f"{self.location}@{short}:"
        if self._loader is not None:
            return self._load_with(self._loader, commit.id.decode(), label)
        blobs = [(label + name, name, data) for name, data in self.files(commit.id.decode())]
        return load_blobs(blobs, self._kinds)

    def _load_with(
        self, loader: Callable[[Path], list[Any]], revision: str, label: str
    ) -> list[Any]:
        """Run a folder loader (e.g. Kubernetes YAML) on the revision's files, copied to a
        private temporary folder (never the working tree); errors name ``repo@rev:path``."""
        with tempfile.TemporaryDirectory(prefix="reconcile-git-") as tmp:
            root = Path(tmp)
            for name, data in self.files(revision, every=True):
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            try:
                return loader(root / self.path if self.path else root)
            except ManifestError as err:
                raise ManifestError([_relabel(p, root, label) for p in err.problems]) from None

    def files(self, revision: str, *, every: bool = False) -> list[tuple[str, bytes]]:
        """Manifest files under ``path`` at ``revision`` (``every``: all files, for loaders
        whose formats need neighbours, like charts): (path in the repo, bytes), sorted."""
        tree = self._subtree(self._commit(revision), self.path)
        wanted: Callable[[str], bool] = (lambda _: True) if every else is_manifest_name
        return sorted(self._walk(tree, self.path, wanted))

    def _commit(self, ref: str) -> Commit:
        """The commit ``ref`` names: a branch, tag, sha (short or full), or ``main~1``."""
        if ref == "HEAD" and not self._has_commits():
            raise SourceError(f"{self.location}: the repository has no commits yet")
        try:
            found = objectspec.parse_commit(self._repo, self._named(ref))
        except (KeyError, ValueError):
            hint = did_you_mean(ref, self._ref_names())
            raise SourceError(
                f"{self.location}: no branch, tag or commit {ref!r} in this repository{hint}"
            ) from None
        if not isinstance(found, Commit):
            raise SourceError(f"{self.location}: {ref!r} does not name a commit")
        return found

    def _named(self, ref: str) -> bytes | str:
        """``main~1`` and ``HEAD^`` to an object id; short shas and names pass through."""
        if "~" not in ref and "^" not in ref:
            return ref  # what parse_object makes of a short sha differs between dulwich versions
        try:
            return bytes(objectspec.parse_object(self._repo, ref).id)
        except KeyError:
            return ref

    def _ref_names(self) -> list[str]:
        """Branch and tag names (``main``, ``v1.0``), for a did-you-mean on a misspelt ref."""
        names = []
        for full in self._repo.refs.allkeys():
            for prefix in (b"refs/heads/", b"refs/tags/"):
                if full.startswith(prefix):
                    names.append(full[len(prefix) :].decode("utf-8", "replace"))
        return names

    def _has_commits(self) -> bool:
        try:
            self._repo.head()
        except KeyError:
            return False
        return True

    def _subtree(self, commit: Commit, path: str) -> Tree:
        tree = self._repo[commit.tree]
        for part in [p for p in path.split("/") if p]:
            assert isinstance(tree, Tree)
            try:
                _, sha = tree[part.encode()]
            except KeyError:
                rev = commit.id.decode()[:12]
                raise SourceError(f"{self.location}: no path {path!r} at revision {rev}") from None
            tree = self._repo[sha]
        if not isinstance(tree, Tree):
            rev = commit.id.decode()[:12]
            raise SourceError(f"{self.location}: {path!r} is a file, not a folder, at {rev}")
        return tree

    def _walk(
        self, tree: Tree, prefix: str, wanted: Callable[[str], bool]
    ) -> Iterator[tuple[str, bytes]]:
        for entry in tree.iteritems():
            name = entry.path.decode("utf-8", "replace")
            full = f"{prefix}/{name}" if prefix else name
            if entry.mode in (_SUBMODULE, _SYMLINK) or name.startswith("."):
                continue
            obj = self._repo[entry.sha]
            if isinstance(obj, Tree):
                yield from self._walk(obj, full, wanted)
            elif isinstance(obj, Blob) and wanted(full):
                yield full, obj.as_raw_string()


def _relabel(problem: ManifestProblem, root: Path, label: str) -> ManifestProblem:
    """A loader's problem with the temporary folder's paths as ``repo@rev:path`` in the repo."""
    prefixes = dict.fromkeys([str(root), os.path.realpath(root)])

    def shown(text: str) -> str:
        for prefix in prefixes:
            text = text.replace(prefix + os.sep, label).replace(prefix, label.rstrip(":"))
        return text

    return replace(problem, file=shown(problem.file), message=shown(problem.message))


def parse_git_spec(spec: str) -> tuple[str, str, str]:
    """``REPO[@REF][:PATH]`` as (repo, ref, path); ref defaults to HEAD."""
    repo_ref, _, path = spec.partition(":")
    repo, sep, ref = repo_ref.rpartition("@")
    if not sep:
        repo, ref = ref, "HEAD"
    return repo, ref or "HEAD", path
