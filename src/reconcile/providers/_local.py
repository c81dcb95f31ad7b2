"""``Files``, ``Directories`` and ``Symlinks``: providers for one folder of the local disk.

Every method first locates the resource's path inside the root (``_io.Root``),
so an escape is refused by ``read`` at plan time and never reaches a write.
An entry of another type at a path (a directory where a file is wanted) is an
error, never replaced: reconcile does not delete what it was not asked to.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, Generic, TypeVar, cast

import attrs

from reconcile._diff import Diff
from reconcile._model import address_of
from reconcile._provider import Provider

from ._io import (
    Root,
    StrPath,
    file_chunks,
    fsync_dir,
    hash_chunks,
    kind_of,
    lstat,
    replace_atomically,
    text_chunks,
    write_atomically,
)
from ._kinds import Directory, File, Symlink

__all__ = ["Directories", "Files", "Symlinks", "local_providers"]

R = TypeVar("R")
SMALL = 64 * 1024  # a differing file up to this size shows as its text in a plan


class _Local(Provider[R], Generic[R]):
    """What the three providers share: the root, locating paths, walking the tree."""

    # A local filesystem answers in microseconds: threads would only add overhead.
    blocking_io: ClassVar[bool] = False
    # Files are found by their path (the key); no recorded id is needed to read them.
    identified_by_key: ClassVar[bool] = True

    def __init__(self, root: StrPath) -> None:
        self.root = Root(root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root.path)!r})"

    def _locate(self, res: Any) -> pathlib.Path:
        return self.root.locate(address_of(res), res.path)

    def _entry(
        self, res: Any, path: pathlib.Path, is_kind: Callable[[int], bool], word: str
    ) -> os.stat_result | None:
        """The entry at ``path`` if it is of the wanted kind, None if absent; else an error."""
        found = lstat(path)
        if found is not None and not is_kind(found.st_mode):
            raise FileExistsError(
                f"{address_of(res)}: {res.path} is {kind_of(found)}, not {word}; "
                "remove it or change the desired state"
            )
        return found

    def _entries(self) -> Iterator[tuple[str, pathlib.Path, os.stat_result]]:
        """Everything under the root (links not followed), with its root-relative path."""
        real = self.root.real
        paths = [
            pathlib.Path(top) / name for top, dirs, files in os.walk(real) for name in dirs + files
        ]
        for full in sorted(paths):
            found = lstat(full)
            if found is not None:
                yield full.relative_to(real).as_posix(), full, found


class Files(_Local[File]):
    """Regular files under ``root``: written atomically, compared by sha256 in chunks."""

    resource = File

    def read(self, want: File) -> File | None:
        path = self._locate(want)
        found = self._entry(want, path, stat.S_ISREG, "a regular file")
        if found is None:
            return None
        size, digest = hash_chunks(file_chunks(path))
        content, source = self._reported(want, path, size, digest)
        mode = stat.S_IMODE(found.st_mode)
        return _new(
            File,
            path=want.path,
            content=content,
            source=source,
            mode=mode,
            size=size,
            sha256=digest,
        )

    def create(self, want: File) -> File:
        return self._write(want, self._locate(want))

    def update(self, have: File, want: File, diff: Diff) -> File:
        path = self._locate(want)
        changed = {p[0] for p in diff.paths}
        if changed & {"content", "source"}:
            return self._write(want, path)
        if "mode" in changed:  # a mode alone is a chmod: the bytes are not rewritten
            self._entry(want, path, stat.S_ISREG, "a regular file")
            os.chmod(path, want.mode)
        return _evolve(want, size=have.size, sha256=have.sha256)

    def delete(self, have: File) -> None:
        path = self._locate(have)
        if self._entry(have, path, stat.S_ISREG, "a regular file") is not None:
            path.unlink()
            fsync_dir(path.parent)

    def list(self) -> Iterable[File]:
        for relative, path, found in self._entries():
            if stat.S_ISREG(found.st_mode):
                size, digest = hash_chunks(file_chunks(path))
                text = _text_or_summary(path, size, digest)
                mode = stat.S_IMODE(found.st_mode)
                yield _new(File, path=relative, content=text, mode=mode, size=size, sha256=digest)

    def _reported(
        self, want: File, path: pathlib.Path, size: int, digest: str
    ) -> tuple[str | None, str | None]:
        """Content and source as the plan should see them: the desired ones when bytes match."""
        if want.source is not None:
            same = hash_chunks(file_chunks(self._source(want)))[1] == digest
            return None, want.source if same else _summary(size, digest)
        if hash_chunks(text_chunks(want.content or ""))[1] == digest:
            return want.content, None
        return _text_or_summary(path, size, digest), None

    def _write(self, want: File, path: pathlib.Path) -> File:
        if want.source is not None:
            chunks = file_chunks(self._source(want))
        else:
            chunks = text_chunks(want.content or "")
        size, digest = write_atomically(path, chunks, want.mode)
        return _evolve(want, size=size, sha256=digest)

    def _source(self, want: File) -> pathlib.Path:
        source = pathlib.Path(want.source or "")
        if not source.is_file():
            raise FileNotFoundError(f"{address_of(want)}: source {want.source!r} is not a file")
        return source


class Directories(_Local[Directory]):
    """Directories under ``root``; parents are made as needed, only empty ones are removed."""

    resource = Directory

    def read(self, want: Directory) -> Directory | None:
        found = self._entry(want, self._locate(want), stat.S_ISDIR, "a directory")
        if found is None:
            return None
        return _new(Directory, path=want.path, mode=stat.S_IMODE(found.st_mode))

    def create(self, want: Directory) -> Directory:
        path = self._locate(want)
        path.mkdir(parents=True, exist_ok=True)  # may exist: made as a parent of a file
        return self._chmod(want, path)

    def update(self, have: Directory, want: Directory, diff: Diff) -> Directory:
        return self._chmod(want, self._locate(want))

    def delete(self, have: Directory) -> None:
        path = self._locate(have)
        if self._entry(have, path, stat.S_ISDIR, "a directory") is None:
            return
        try:
            path.rmdir()
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            message = f"{address_of(have)}: {have.path} is not empty; only empty ones are removed"
            raise OSError(err.errno, message) from err
        fsync_dir(path.parent)

    def list(self) -> Iterable[Directory]:
        for relative, _, found in self._entries():
            if stat.S_ISDIR(found.st_mode):
                yield _new(Directory, path=relative, mode=stat.S_IMODE(found.st_mode))

    def _chmod(self, want: Directory, path: pathlib.Path) -> Directory:
        if self._entry(want, path, stat.S_ISDIR, "a directory") is not None:
            os.chmod(path, want.mode)
        return _evolve(want)


class Symlinks(_Local[Symlink]):
    """Symbolic links under ``root`` whose targets stay inside it; replaced atomically."""

    resource = Symlink

    def read(self, want: Symlink) -> Symlink | None:
        path = self._locate(want)
        self.root.check_target(address_of(want), path, want.target)
        found = self._entry(want, path, stat.S_ISLNK, "a symlink")
        if found is None:
            return None
        return _new(Symlink, path=want.path, target=os.readlink(path))

    def create(self, want: Symlink) -> Symlink:
        return self._link(want)

    def update(self, have: Symlink, want: Symlink, diff: Diff) -> Symlink:
        return self._link(want)

    def delete(self, have: Symlink) -> None:
        path = self._locate(have)
        if self._entry(have, path, stat.S_ISLNK, "a symlink") is not None:
            path.unlink()
            fsync_dir(path.parent)

    def list(self) -> Iterable[Symlink]:
        for relative, path, found in self._entries():
            if stat.S_ISLNK(found.st_mode):
                yield _new(Symlink, path=relative, target=os.readlink(path))

    def _link(self, want: Symlink) -> Symlink:
        path = self._locate(want)
        self.root.check_target(address_of(want), path, want.target)

        def make(temp: str) -> None:
            os.unlink(temp)
            os.symlink(want.target, temp)

        replace_atomically(path, make)
        return _evolve(want)


def local_providers(root: StrPath) -> list[Provider[Any]]:
    """The file, directory and symlink providers for one root, ready for a ``Reconciler``."""
    return [Files(root), Directories(root), Symlinks(root)]


def _new(cls: type[R], **fields: Any) -> R:
    """A resource from keywords (mypy does not see the ``__init__`` ``@resource`` adds)."""
    made: R = cast(Any, cls)(**fields)
    return made


def _evolve(res: R, **changes: Any) -> R:
    """``res`` as returned by a write: ``changes`` applied, ``depends_on`` dropped."""
    made: R = attrs.evolve(cast(Any, res), depends_on=(), **changes)
    return made


def _summary(size: int, digest: str) -> str:
    """Stands in for content too large (or not text) to show: enough to see it differs."""
    return f"({size} bytes, sha256 {digest[:16]})"


def _text_or_summary(path: pathlib.Path, size: int, digest: str) -> str:
    """Small UTF-8 files show their text in plans; others (or unreadable ones) a summary."""
    if size <= SMALL:
        with contextlib.suppress(UnicodeDecodeError, OSError):
            return path.read_bytes().decode()
    return _summary(size, digest)
