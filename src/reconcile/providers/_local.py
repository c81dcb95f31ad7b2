"""``Files``, ``Directories`` and ``Symlinks``: providers for one folder of the local disk.

Every method first opens the folders of the resource's path from the root, fd by fd
(``_io.Root.place``), and works on the entry by name in its open folder,
so an escape is refused by ``read`` at plan time and never reaches a write.
An entry of another type at a path (a directory where a file is wanted) is an
error, never replaced: reconcile does not delete what it was not asked to.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Generic, TypeVar, cast

from reconcile._diff.changes import Diff
from reconcile._model.resource import address_of, replace_fields
from reconcile._provider.contract import Provider

from ._io import (
    chmod,
    file_chunks,
    hash_chunks,
    link_atomically,
    lstat,
    make_folder,
    read_file,
    readlink,
    remove,
    remove_leftovers,
    text_chunks,
    walk,
    write_atomically,
)
from ._kinds import Directory, File, Symlink
from ._root import Place, Root, StrPath, kind_of

__all__ = ["Directories", "Files", "Symlinks", "local_providers"]

R = TypeVar("R")
SMALL = 64 * 1024  # a differing file up to this size shows as its text in a plan


class _Local(Provider[R], Generic[R]):
    """What the three providers share: the root, locating paths, walking the tree.

    ``durable`` (default True): every write is fsynced, and so is its folder, before
    the step is recorded, so it survives a power cut; False still writes atomically.
    """

    # A local filesystem answers in microseconds: threads would only add overhead.
    blocking_io: ClassVar[bool] = False
    # Files are found by their path (the key); no recorded id is needed to read them.
    identified_by_key: ClassVar[bool] = True

    def __init__(self, root: StrPath, *, durable: bool = True) -> None:
        self.root = Root(root)
        self.durable = durable
        # Without fsyncs a write takes microseconds: a thread hand-off would cost more.
        # Durable writes wait on the disk, so they keep running in parallel on the pool.
        self.inline_apply = not durable

    def __repr__(self) -> str:
        durable = "" if self.durable else ", durable=False"
        return f"{type(self).__name__}({str(self.root.path)!r}{durable})"

    def _place(self, res: Any, *, make: bool = False) -> contextlib.AbstractContextManager[Place]:
        """``res.path`` inside the root, its folders opened fd by fd (made when ``make``)."""
        return self.root.place(res, make=make, durable=self.durable)

    def _entry(
        self, res: Any, place: Place, is_kind: Callable[[int], bool], word: str
    ) -> os.stat_result | None:
        """The entry at ``place`` if it is of the wanted kind, None if absent; else an error."""
        found = lstat(place)
        if found is not None and not is_kind(found.st_mode):
            raise FileExistsError(
                f"{address_of(res)}: {res.path} is {kind_of(found)}, not {word}; "
                "remove it or change the desired state"
            )
        return found


class Files(_Local[File]):
    """Regular files under ``root``: written atomically, compared by sha256 in chunks."""

    resource = File

    def read(self, want: File) -> File | None:
        with self._place(want) as place:
            found = self._entry(want, place, stat.S_ISREG, "a regular file")
            if found is None:
                return None
            size, digest, data = read_file(place)
        content, source = self._reported(want, size, digest, data)
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
        return self._write(want)

    def update(self, have: File, want: File, diff: Diff) -> File:
        changed = {p[0] for p in diff.paths}
        if changed & {"content", "source"}:
            return self._write(want)
        if "mode" in changed:  # a mode alone is a chmod: the bytes are not rewritten
            with self._place(want) as place:
                self._entry(want, place, stat.S_ISREG, "a regular file")
                chmod(place, want.mode, durable=self.durable)
        return _evolve(want, size=have.size, sha256=have.sha256)

    def delete(self, have: File) -> None:
        with self._place(have) as place:
            if self._entry(have, place, stat.S_ISREG, "a regular file") is not None:
                remove(place, folder=False, durable=self.durable)

    def list(self) -> Iterable[File]:
        return walk(self.root, _describe_file)

    def _reported(
        self, want: File, size: int, digest: str, data: bytes | None
    ) -> tuple[str | None, str | None]:
        """Content and source as the plan should see them: the desired ones when bytes match."""
        if want.source is not None:
            same = hash_chunks(file_chunks(self._source(want)))[1] == digest
            return None, want.source if same else _summary(size, digest)
        if _same_text(want.content or "", size, digest, data):
            return want.content, None
        return _text_or_summary(size, digest, data), None

    def _write(self, want: File) -> File:
        if want.source is not None:
            chunks = file_chunks(self._source(want))
        else:
            chunks = text_chunks(want.content or "")
        with self._place(want, make=True) as place:
            size, digest = write_atomically(place, chunks, want.mode, durable=self.durable)
        return _evolve(want, size=size, sha256=digest)

    def _source(self, want: File) -> str:
        source = want.source or ""
        if not os.path.isfile(source):
            raise FileNotFoundError(f"{address_of(want)}: source {want.source!r} is not a file")
        return source


class Directories(_Local[Directory]):
    """Directories under ``root``; parents are made as needed, only empty ones are removed."""

    resource = Directory

    def read(self, want: Directory) -> Directory | None:
        with self._place(want) as place:
            found = self._entry(want, place, stat.S_ISDIR, "a directory")
        if found is None:
            return None
        return _new(Directory, path=want.path, mode=stat.S_IMODE(found.st_mode))

    def create(self, want: Directory) -> Directory:
        with self._place(want, make=True) as place:
            make_folder(place, durable=self.durable)  # may exist: made as a parent of a file
            return self._chmod(want, place)

    def update(self, have: Directory, want: Directory, diff: Diff) -> Directory:
        with self._place(want) as place:
            return self._chmod(want, place)

    def delete(self, have: Directory) -> None:
        with self._place(have) as place:
            if self._entry(have, place, stat.S_ISDIR, "a directory") is None:
                return
            try:
                remove_leftovers(place)  # a killed write's temporary must not keep it from going
                remove(place, folder=True, durable=self.durable)
            except OSError as err:
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                message = (
                    f"{address_of(have)}: {have.path} is not empty; only empty ones are removed"
                )
                raise OSError(err.errno, message) from err

    def list(self) -> Iterable[Directory]:
        return walk(self.root, _describe_folder)

    def _chmod(self, want: Directory, place: Place) -> Directory:
        found = self._entry(want, place, stat.S_ISDIR, "a directory")
        if found is not None:
            chmod(place, want.mode, durable=self.durable)
        return _evolve(want)


class Symlinks(_Local[Symlink]):
    """Symbolic links under ``root`` whose targets stay inside it; replaced atomically."""

    resource = Symlink

    def read(self, want: Symlink) -> Symlink | None:
        with self._place(want) as place:
            self.root.check_target(want, place.path, want.target)
            found = self._entry(want, place, stat.S_ISLNK, "a symlink")
            if found is None:
                return None
            return _new(Symlink, path=want.path, target=readlink(place))

    def create(self, want: Symlink) -> Symlink:
        return self._link(want)

    def update(self, have: Symlink, want: Symlink, diff: Diff) -> Symlink:
        return self._link(want)

    def delete(self, have: Symlink) -> None:
        with self._place(have) as place:
            if self._entry(have, place, stat.S_ISLNK, "a symlink") is not None:
                remove(place, folder=False, durable=self.durable)

    def list(self) -> Iterable[Symlink]:
        return walk(self.root, _describe_link)

    def _link(self, want: Symlink) -> Symlink:
        with self._place(want, make=True) as place:
            self.root.check_target(want, place.path, want.target)
            link_atomically(place, want.target, durable=self.durable)
        return _evolve(want)


def _describe_file(relative: str, folder: int, name: str, found: os.stat_result) -> File | None:
    """A regular file met by ``walk``, read through its folder's fd."""
    if not stat.S_ISREG(found.st_mode):
        return None
    size, digest, data = read_file(Place(folder, name, relative))
    text = _text_or_summary(size, digest, data)
    mode = stat.S_IMODE(found.st_mode)
    return _new(File, path=relative, content=text, mode=mode, size=size, sha256=digest)


def _describe_folder(
    relative: str, folder: int, name: str, found: os.stat_result
) -> Directory | None:
    if not stat.S_ISDIR(found.st_mode):
        return None
    return _new(Directory, path=relative, mode=stat.S_IMODE(found.st_mode))


def _describe_link(relative: str, folder: int, name: str, found: os.stat_result) -> Symlink | None:
    if not stat.S_ISLNK(found.st_mode):
        return None
    target = os.readlink(name, dir_fd=folder)
    return _new(Symlink, path=relative, target=target)


def local_providers(root: StrPath, *, durable: bool = True) -> list[Provider[Any]]:
    """The file, directory and symlink providers for one root, ready for a ``Reconciler``.

    ``durable=False`` skips the fsyncs (writes stay atomic): faster, but a power cut
    may lose the newest writes, which the next plan then finds and redoes.
    """
    return [
        Files(root, durable=durable),
        Directories(root, durable=durable),
        Symlinks(root, durable=durable),
    ]


def _new(cls: type[R], **fields: Any) -> R:
    """A resource from keywords (mypy does not see the ``__init__`` ``@resource`` adds)."""
    made: R = cast(Any, cls)(**fields)
    return made


def _evolve(res: R, **changes: Any) -> R:
    """``res`` as returned by a write: ``changes`` applied, ``depends_on`` dropped.

    The values are the write's own (a size, a digest), so validators need not run again.
    """
    made: R = replace_fields(res, {"depends_on": (), **changes})
    return made


def _same_text(content: str, size: int, digest: str, data: bytes | None) -> bool:
    """Whether the file's bytes are ``content`` in UTF-8: compared directly when small."""
    if len(content) > size:  # UTF-8 takes at least a byte per code point
        return False
    if data is not None:
        return content.encode() == data
    return hash_chunks(text_chunks(content))[1] == digest


def _summary(size: int, digest: str) -> str:
    """Stands in for content too large (or not text) to show: enough to see it differs."""
    return f"({size} bytes, sha256 {digest[:16]})"


def _text_or_summary(size: int, digest: str, data: bytes | None) -> str:
    """Small UTF-8 files show their text in plans; others (or binary ones) a summary."""
    if data is not None and size <= SMALL:
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode()
    return _summary(size, digest)
