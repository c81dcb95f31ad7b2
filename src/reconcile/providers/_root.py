"""The root a local provider manages, opened one folder fd at a time so nothing escapes it.

Every operation runs on a directory file descriptor, never on a path string:
``Root.place`` opens the parent folder of an entry and hands out its fd and the
entry's name, so a folder swapped for a symlink between a check and a write (a
race) is refused instead of followed out of the root. ``Root.open_beneath`` is one
code path with two ways: ``openat2(RESOLVE_BENEATH)`` where the kernel has it, and
elsewhere, or when that call refuses or fails, a walk from the root one component
at a time with ``O_NOFOLLOW | O_DIRECTORY`` that follows a symlink by hand only
while it stays inside, creates missing folders, and gives a refusal its message.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import stat
from collections.abc import Iterator
from typing import Any

from reconcile._model.resource import address_of
from reconcile._util.errors import InvalidStateError, PathEscapeError

from ._openat2 import CLOEXEC, FOLDER, NOFOLLOW, has_openat2, openat2_beneath

__all__ = ["Place", "Root", "StrPath", "kind_of", "lstat_at", "readlink_at"]

StrPath = str | os.PathLike[str]
_SEP = os.sep
_MAX_LINKS = 40  # as the kernel's own limit on links in one lookup


class Place:
    """An entry inside the root: its parent folder's open fd (None if absent) and its name."""

    __slots__ = ("dir_fd", "name", "path")

    def __init__(self, dir_fd: int | None, name: str, path: str) -> None:
        self.dir_fd = dir_fd
        self.name = name
        self.path = path  # for messages only: never opened

    def __repr__(self) -> str:
        return self.path

    def folder(self) -> int:
        """The parent folder's fd; it exists when the place was opened with ``make``."""
        if self.dir_fd is None:
            raise FileNotFoundError(errno.ENOENT, "its folder does not exist", self.path)
        return self.dir_fd


class Root:
    """The folder a provider manages; nothing outside it is read as a resource or written."""

    def __init__(self, path: StrPath) -> None:
        self.path = pathlib.Path(path).absolute()
        self.real = self.path.resolve()  # resolved once: /tmp may itself be a link

    def __repr__(self) -> str:
        return f"Root({str(self.path)!r})"

    @contextlib.contextmanager
    def place(self, res: Any, *, make: bool = False, durable: bool = False) -> Iterator[Place]:
        """``res.path`` as a ``Place``; ``make`` creates missing folders on the way."""
        parts = self._parts(res, res.path)
        fds, done = self.open_beneath(res, parts[:-1], make, durable)
        try:
            path = os.path.join(self.real, *done, parts[-1])
            yield Place(fds[-1] if fds else None, parts[-1], path)
        finally:
            for fd in fds:
                os.close(fd)

    def check_target(self, res: Any, link: str, target: str) -> None:
        """A symlink's target must point inside the root as well."""
        lexical = pathlib.Path(os.path.normpath(os.path.join(os.path.dirname(link), target)))
        try:
            resolved = lexical.resolve()
        except (OSError, RuntimeError):  # a loop of links: judge by the text alone
            resolved = lexical
        real = self.real
        if not (lexical.is_relative_to(real) and resolved.is_relative_to(real)):
            why = f"is a link to {target!r}, which resolves outside the root {real}"
            raise PathEscapeError(address_of(res), os.path.relpath(link, real), why)

    def open_beneath(
        self, res: Any, folders: list[str], make: bool, durable: bool
    ) -> tuple[list[int], list[str]]:
        """Open ``folders`` below the root: fds to close, the last one theirs; ([], ...) if absent.

        ``openat2`` opens an existing folder in one call; when it is not there, or
        refuses (a link out of the root, an absolute link, a folder missing, a file
        in the way), the walk decides: it follows a link that stays inside, makes
        missing folders, and refuses an escape with the same error either way.
        """
        if folders and has_openat2():
            try:
                root = os.open(self.real, FOLDER & ~NOFOLLOW)  # the root was resolved once
            except OSError:
                pass  # missing: the walk makes it, or finds nothing
            else:
                try:
                    return [openat2_beneath(root, "/".join(folders))], list(folders)
                except OSError:
                    pass  # EXDEV, ELOOP, ENOENT, ENOTDIR, EAGAIN...: the walk decides
                finally:
                    os.close(root)
        return self._walk(res, folders, make, durable)

    def _walk(
        self, res: Any, folders: list[str], make: bool, durable: bool
    ) -> tuple[list[int], list[str]]:
        """Open ``folders`` from the root, one fd per level; ([], ...) when one is missing."""
        try:
            fds = [os.open(self.real, FOLDER & ~NOFOLLOW)]  # the root was resolved once
        except FileNotFoundError:
            if not make:
                return [], []
            _make_root(os.fspath(self.real), durable=durable)
            fds = [os.open(self.real, FOLDER & ~NOFOLLOW)]
        todo, links = list(reversed(folders)), 0
        done: list[str] = []
        try:
            while todo:
                part = todo.pop()
                if part == "..":  # only from a link's target: the parent of a real folder
                    if not done:
                        raise self._escape(res, os.path.join(self.real, ".."))
                    os.close(fds.pop())
                    done.pop()
                    continue
                opened = self._open_folder(res, fds[-1], part, make, durable)
                if isinstance(opened, int):
                    fds.append(opened)
                    done.append(part)
                elif opened is None:
                    for fd in fds:
                        os.close(fd)
                    return [], done
                else:  # a symlink: its target's components replace it
                    links += 1
                    if links > _MAX_LINKS:
                        message = f"{address_of(res)}: {res.path!r} goes through a loop of links"
                        raise OSError(errno.ELOOP, message)
                    todo += reversed(self._target_parts(res, done, opened))
                    if os.path.isabs(opened):
                        while len(fds) > 1:
                            os.close(fds.pop())
                        done.clear()
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        return fds, done

    def _open_folder(
        self, res: Any, parent: int, part: str, make: bool, durable: bool
    ) -> int | str | None:
        """``part`` in ``parent``: its fd, a link's target, or None when absent (and not made)."""
        for _ in range(100):  # a folder made and removed again at once by another process
            try:
                return os.open(part, FOLDER, dir_fd=parent)
            except FileNotFoundError:
                if not make:
                    return None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=parent)  # mode 0o777 minus the umask, as os.makedirs
                    if durable:
                        os.fsync(parent)
                continue
            except OSError as err:
                found = lstat_at(parent, part)
                if found is None:
                    continue  # removed meanwhile: look again
                if stat.S_ISLNK(found.st_mode):
                    target = readlink_at(parent, part)
                    if target is None:
                        continue  # no longer a link: look again
                    return target
                if stat.S_ISDIR(found.st_mode):
                    if err.errno in (errno.ELOOP, errno.ENOTDIR):
                        continue  # a link a moment ago, a folder now: look again
                    raise
                if not make:
                    return None  # a file where a folder would be: nothing is below it
                raise NotADirectoryError(
                    errno.ENOTDIR, f"{address_of(res)}: {part!r} on the way is {kind_of(found)}"
                ) from None
        raise OSError(errno.EAGAIN, f"{address_of(res)}: a folder on the way keeps changing")

    def _target_parts(self, res: Any, done: list[str], target: str) -> list[str]:
        """The components a link on the way stands for; one outside the root is refused."""
        if not os.path.isabs(target):
            return [p for p in target.split(_SEP) if p and p != "."]
        given = pathlib.Path(os.path.normpath(target))
        for base in (self.real, self.path):
            if given.is_relative_to(base):
                return list(given.relative_to(base).parts)
        raise self._escape(res, str(given))

    def _escape(self, res: Any, folder: str) -> PathEscapeError:
        why = f"goes through a symlink to {os.path.normpath(folder)}, outside the root {self.real}"
        return PathEscapeError(address_of(res), res.path, why)

    def _parts(self, res: Any, path: str) -> list[str]:
        """The components of ``path`` below the root (the common case split by hand)."""
        if _SEP == "/" and not path.startswith("/"):
            parts = [p for p in path.split("/") if p and p != "."]  # as pathlib normalises
        else:
            parts = list(self._relative(res, path).parts)
        if ".." in parts:
            raise PathEscapeError(address_of(res), path, f"contains '..' (the root is {self.path})")
        if not parts:
            raise InvalidStateError(f"{address_of(res)}: path {path!r} names the root itself")
        return parts

    def _relative(self, res: Any, path: str) -> pathlib.PurePath:
        """An absolute ``path`` inside the root, relative to it; any other path as given."""
        given = pathlib.Path(path)
        if ".." in given.parts or not given.is_absolute():
            return given
        for base in (self.path, self.real):
            if given.is_relative_to(base):
                return given.relative_to(base)
        raise PathEscapeError(
            address_of(res), path, f"is absolute and outside the root {self.path}"
        )


def lstat_at(folder: int, name: str) -> os.stat_result | None:
    """The entry ``name`` in ``folder`` itself (a link is not followed), or None if absent."""
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None


def readlink_at(folder: int, name: str) -> str | None:
    """The link's target, or None when ``name`` is gone or no longer a link."""
    try:
        return os.readlink(name, dir_fd=folder)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.EINVAL):
            return None
        raise


def kind_of(st: os.stat_result) -> str:
    """A word for the kind of entry, for error messages."""
    if stat.S_ISLNK(st.st_mode):
        return "a symlink"
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    return "a regular file" if stat.S_ISREG(st.st_mode) else "a special file"


def _make_root(folder: str, *, durable: bool) -> None:
    """``os.makedirs(folder, exist_ok=True)`` for the root, given by the user, and its parents.

    When durable, each new folder's entry is synced.
    """
    parent = os.path.dirname(folder)
    if parent and parent != folder and not os.path.exists(parent):
        _make_root(parent, durable=durable)
    try:
        os.mkdir(folder)
    except OSError:
        if not os.path.isdir(folder):
            raise
        return
    if durable:
        fd = os.open(parent, os.O_RDONLY | CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
