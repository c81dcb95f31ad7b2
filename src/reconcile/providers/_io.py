"""Root confinement and careful file I/O for the local providers.

``Root.locate`` is called by every provider method, reads included, so a path
that leaves the root is refused while planning and again before any write.
Writes go to a temporary file beside the target and are renamed over it;
when durable, the file is fsynced before the rename and its folder after.
Paths are plain strings here: this runs once per file per plan, and pathlib
costs more than the system calls it wraps.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import pathlib
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from reconcile._errors import InvalidStateError, PathEscapeError
from reconcile._model import address_of

__all__ = [
    "CHUNK",
    "Root",
    "StrPath",
    "chmod",
    "file_chunks",
    "hash_chunks",
    "is_leftover",
    "kind_of",
    "link_atomically",
    "lstat",
    "make_folders",
    "read_file",
    "remove_leftovers",
    "sync",
    "text_chunks",
    "write_atomically",
]

T = TypeVar("T")
StrPath = str | os.PathLike[str]
CHUNK = 256 * 1024
_SEP = os.sep
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # the entry was lstat-ed as a file: never follow a link
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class Root:
    """The folder a provider manages; nothing outside it is read as a resource or written."""

    def __init__(self, path: StrPath) -> None:
        self.path = pathlib.Path(path).absolute()
        self.real = self.path.resolve()  # resolved once: /tmp may itself be a link
        self._prefix = os.path.join(self.real, "")  # "/srv/root/": entries are prefix + parts

    def __repr__(self) -> str:
        return f"Root({str(self.path)!r})"

    def locate(self, res: Any) -> str:
        """Where ``res.path`` really is: its folder resolved and checked to be inside the root."""
        parts = self._parts(res, res.path)
        here = self._prefix
        for part in parts[:-1]:
            here += part
            try:
                mode = os.lstat(here).st_mode
            except FileNotFoundError:
                return self._prefix + _SEP.join(parts)  # nothing further exists: nothing to follow
            if stat.S_ISLNK(mode):
                return self._through_link(res, parts)
            here += _SEP
        return here + parts[-1]

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

    def _through_link(self, res: Any, parts: list[str]) -> str:
        """A folder on the way is a link: resolve it all, and refuse it if it leaves the root."""
        real = self.real
        try:
            folder = real.joinpath(*parts).parent.resolve()
        except RuntimeError as err:  # how Python before 3.13 reports a loop of links
            raise OSError(
                errno.ELOOP, f"{address_of(res)}: {res.path!r} goes through a loop of links"
            ) from err
        if not folder.is_relative_to(real):
            why = f"goes through a symlink to {folder}, outside the root {real}"
            raise PathEscapeError(address_of(res), res.path, why)
        return os.path.join(folder, parts[-1])


def lstat(path: str) -> os.stat_result | None:
    """The entry at ``path`` itself (a link is not followed), or None when nothing is there."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def kind_of(st: os.stat_result) -> str:
    """A word for the kind of entry, for error messages."""
    if stat.S_ISLNK(st.st_mode):
        return "a symlink"
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    return "a regular file" if stat.S_ISREG(st.st_mode) else "a special file"


def read_file(path: str) -> tuple[int, str, bytes | None]:
    """Size and sha256 of a file, read in chunks; its bytes too when they fit in one chunk."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _BINARY)
    try:
        digest, size, kept = hashlib.sha256(), 0, b""
        while chunk := os.read(fd, CHUNK):
            digest.update(chunk)
            size += len(chunk)
            kept = kept + chunk if size <= CHUNK else b""
    finally:
        os.close(fd)
    return size, digest.hexdigest(), kept if size <= CHUNK else None


def file_chunks(path: StrPath) -> Iterator[bytes]:
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            yield chunk


def text_chunks(text: str) -> Iterator[bytes]:
    """UTF-8 of ``text`` a slice at a time (a slice of code points encodes on its own)."""
    for start in range(0, len(text), CHUNK):
        yield text[start : start + CHUNK].encode()


def hash_chunks(chunks: Iterable[bytes]) -> tuple[int, str]:
    """Size and sha256 (hex) of a stream of bytes."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def write_atomically(
    target: str, chunks: Iterable[bytes], mode: int, *, durable: bool
) -> tuple[int, str]:
    """Replace ``target`` with ``chunks`` all at once; returns their size and sha256."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
    temp, fd = _beside(target, lambda name: os.open(name, flags, 0o600), durable)
    try:
        try:
            digest, size = hashlib.sha256(), 0
            for chunk in chunks:
                _write_all(fd, chunk)
                digest.update(chunk)
                size += len(chunk)
            _set_mode(fd, temp, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _discard(temp)
        raise
    _rename_over(temp, target, durable)
    return size, digest.hexdigest()


def link_atomically(target: str, points_to: str, *, durable: bool) -> None:
    """Make ``target`` a symlink to ``points_to``, replacing whatever link was there at once."""
    temp, _ = _beside(target, lambda name: os.symlink(points_to, name), durable)
    _rename_over(temp, target, durable)


def make_folders(folder: str, *, durable: bool) -> None:
    """``os.makedirs(folder, exist_ok=True)``; when durable, each new folder's entry is synced."""
    parent = os.path.dirname(folder)
    if parent and parent != folder and not os.path.exists(parent):
        make_folders(parent, durable=durable)
    try:
        os.mkdir(folder)  # mode 0o777 minus the umask, as os.makedirs
    except OSError:
        if not os.path.isdir(folder):
            raise
        return
    if durable:
        sync(parent)


def chmod(path: str, mode: int, *, durable: bool) -> None:
    """Change the mode of ``path``; when durable, sync the entry so the change survives."""
    os.chmod(path, mode)
    if durable:
        try:
            sync(path)
        except PermissionError:  # a mode that bars reading: a journaling fs commits it with this
            sync(os.path.dirname(path))


def sync(path: str) -> None:
    """fsync the file or folder at ``path``: a folder's renames and unlinks, a file's inode."""
    if os.name != "posix":  # pragma: no cover - folders cannot be opened elsewhere
        return
    fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_LEFTOVER = re.compile(r"\..+\.[0-9a-f]{8}\.tmp\Z", re.DOTALL)


def is_leftover(name: str) -> bool:
    """Whether ``name`` is one of ``_beside``'s temporary names (left by a killed write)."""
    return _LEFTOVER.match(name) is not None


def remove_leftovers(folder: str) -> None:
    """Delete the temporaries killed writes left in ``folder`` (never folders)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_leftover(entry.name) and not entry.is_dir(follow_symlinks=False):
                _discard(entry.path)


def _beside(target: str, create: Callable[[str], T], durable: bool) -> tuple[str, T]:
    """A new entry made by ``create`` at a free temporary name beside ``target``.

    Missing parent folders are made; only ``create``'s own errors are retried.
    """
    folder, name = os.path.split(target)
    made_folders = False
    for _ in range(100):
        temp = os.path.join(folder, f".{name}.{os.urandom(4).hex()}.tmp")
        try:
            return temp, create(temp)
        except FileExistsError:
            continue  # another writer's temporary name: draw again
        except FileNotFoundError:
            if made_folders:
                raise
            make_folders(folder, durable=durable)
            made_folders = True
    raise FileExistsError(errno.EEXIST, "no free temporary name beside it", target)


def _rename_over(temp: str, target: str, durable: bool) -> None:
    try:
        os.replace(temp, target)
    except BaseException:
        _discard(temp)
        raise
    if durable:
        sync(os.path.dirname(target))


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def _set_mode(fd: int, path: str, mode: int) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:  # pragma: no cover - Windows has no fchmod
        os.chmod(path, mode)


def _discard(temp: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)
