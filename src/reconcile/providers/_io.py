"""Root confinement and careful file I/O for the local providers.

``Root.locate`` is called by every provider method, reads included, so a path
that leaves the root is refused while planning and again before any write.
Writes go to a temporary file beside the target, are fsynced, renamed over it
and the folder is fsynced; contents are hashed in chunks, never loaded whole.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import pathlib
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from reconcile._errors import InvalidStateError, PathEscapeError

__all__ = [
    "CHUNK",
    "Root",
    "StrPath",
    "file_chunks",
    "fsync_dir",
    "hash_chunks",
    "kind_of",
    "lstat",
    "replace_atomically",
    "text_chunks",
    "write_atomically",
]

T = TypeVar("T")
StrPath = str | os.PathLike[str]
CHUNK = 256 * 1024


class Root:
    """The folder a provider manages; nothing outside it is read as a resource or written."""

    def __init__(self, path: StrPath) -> None:
        self.path = pathlib.Path(path).absolute()
        self.real = self.path.resolve()  # resolved once: /tmp may itself be a link

    def __repr__(self) -> str:
        return f"Root({str(self.path)!r})"

    def locate(self, address: str, path: str) -> pathlib.Path:
        """Where ``path`` really is: its folder resolved and checked to be inside the root."""
        relative = self._relative(address, path)
        real = self.real
        try:
            folder = _folder(real, relative)
        except RuntimeError as err:  # how Python before 3.13 reports a loop of links
            raise OSError(errno.ELOOP, f"{address}: {path!r} goes through a loop of links") from err
        if not folder.is_relative_to(real):
            why = f"goes through a symlink to {folder}, outside the root {real}"
            raise PathEscapeError(address, path, why)
        return folder / relative.name

    def check_target(self, address: str, link: pathlib.Path, target: str) -> None:
        """A symlink's target must point inside the root as well."""
        lexical = pathlib.Path(os.path.normpath(link.parent / target))
        try:
            resolved = lexical.resolve()
        except (OSError, RuntimeError):  # a loop of links: judge by the text alone
            resolved = lexical
        real = self.real
        if not (lexical.is_relative_to(real) and resolved.is_relative_to(real)):
            why = f"is a link to {target!r}, which resolves outside the root {real}"
            raise PathEscapeError(address, str(link.relative_to(real)), why)

    def _relative(self, address: str, path: str) -> pathlib.PurePath:
        given = pathlib.Path(path)
        if ".." in given.parts:
            raise PathEscapeError(address, path, f"contains '..' (the root is {self.path})")
        if given.is_absolute():
            given = self._inside(address, path, given)
        if not given.parts:
            raise InvalidStateError(f"{address}: path {path!r} names the root itself")
        return given

    def _inside(self, address: str, path: str, given: pathlib.Path) -> pathlib.Path:
        for base in (self.path, self.real):
            if given.is_relative_to(base):
                return given.relative_to(base)
        raise PathEscapeError(address, path, f"is absolute and outside the root {self.path}")


def _folder(real: pathlib.Path, relative: pathlib.PurePath) -> pathlib.Path:
    """The real folder of ``real / relative``: lexical unless a component is a link."""
    folder = real
    for part in relative.parent.parts:
        folder = folder / part
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            return real / relative.parent  # nothing further exists: nothing to follow
        if stat.S_ISLNK(mode):
            return (real / relative).parent.resolve()  # a link: resolve it all the safe way
    return folder


def lstat(path: pathlib.Path) -> os.stat_result | None:
    """The entry at ``path`` itself (a link is not followed), or None when nothing is there."""
    try:
        return path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None


def kind_of(st: os.stat_result) -> str:
    """A word for the kind of entry, for error messages."""
    if stat.S_ISLNK(st.st_mode):
        return "a symlink"
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    return "a regular file" if stat.S_ISREG(st.st_mode) else "a special file"


def file_chunks(path: pathlib.Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
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


def write_atomically(target: pathlib.Path, chunks: Iterable[bytes], mode: int) -> tuple[int, str]:
    """Replace ``target`` with ``chunks`` all at once; returns their size and sha256."""

    def fill(temp: str) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        with open(temp, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        return size, digest.hexdigest()

    return replace_atomically(target, fill)


def replace_atomically(target: pathlib.Path, make: Callable[[str], T]) -> T:
    """``make`` builds a temporary entry beside ``target``, which is then renamed over it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        made = make(temp)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_dir(target.parent)
    return made


def fsync_dir(folder: pathlib.Path) -> None:
    """Make a rename or unlink in ``folder`` durable (POSIX; elsewhere a no-op)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
