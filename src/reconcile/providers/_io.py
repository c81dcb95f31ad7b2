"""Careful file I/O for the local providers, on the folder fds ``Root.place`` hands out.

Writes go to a temporary file in the same folder fd and are renamed within it;
when durable, the file is fsynced before the rename and its folder after. Nothing
here follows a path string: see ``_root`` for how the folder fds are opened.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from ._openat2 import CLOEXEC, FOLDER, NOFOLLOW
from ._root import Place, Root, StrPath

__all__ = [
    "CHUNK",
    "chmod",
    "file_chunks",
    "hash_chunks",
    "is_leftover",
    "link_atomically",
    "lstat",
    "make_folder",
    "read_file",
    "readlink",
    "remove",
    "remove_leftovers",
    "text_chunks",
    "walk",
    "write_atomically",
]

T = TypeVar("T")
CHUNK = 256 * 1024
_BINARY = getattr(os, "O_BINARY", 0)


def lstat(place: Place) -> os.stat_result | None:
    """The entry itself (a link is not followed), or None when nothing is there."""
    if place.dir_fd is None:
        return None
    try:
        return os.stat(place.name, dir_fd=place.dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None


def readlink(place: Place) -> str:
    """The target of the link at ``place``."""
    return os.readlink(place.name, dir_fd=place.folder())


def read_file(place: Place) -> tuple[int, str, bytes | None]:
    """Size and sha256 of a file, read in chunks; its bytes too when they fit in one chunk."""
    flags = os.O_RDONLY | NOFOLLOW | CLOEXEC | _BINARY
    fd = os.open(place.name, flags, dir_fd=place.folder())
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
    place: Place, chunks: Iterable[bytes], mode: int, *, durable: bool
) -> tuple[int, str]:
    """Replace the entry with ``chunks`` all at once; returns their size and sha256."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC | _BINARY
    folder = place.folder()
    temp, fd = _beside(place, lambda name: os.open(name, flags, 0o600, dir_fd=folder))
    try:
        try:
            digest, size = hashlib.sha256(), 0
            for chunk in chunks:
                _write_all(fd, chunk)
                digest.update(chunk)
                size += len(chunk)
            os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _discard(folder, temp)
        raise
    _rename_over(temp, place, durable)
    return size, digest.hexdigest()


def link_atomically(place: Place, points_to: str, *, durable: bool) -> None:
    """Make the entry a symlink to ``points_to``, replacing whatever link was there at once."""
    folder = place.folder()
    temp, _ = _beside(place, lambda name: os.symlink(points_to, name, dir_fd=folder))
    _rename_over(temp, place, durable)


def make_folder(place: Place, *, durable: bool) -> None:
    """Make the folder at ``place`` unless it exists; when durable, sync its new entry."""
    try:
        os.mkdir(place.name, dir_fd=place.folder())  # mode 0o777 minus the umask
    except FileExistsError:
        return  # a file of that name is reported by the caller's check of its kind
    if durable:
        os.fsync(place.folder())


def chmod(place: Place, mode: int, *, durable: bool) -> None:
    """Change the mode of the entry (never through a link); when durable, sync it."""
    folder = place.folder()
    try:
        os.chmod(place.name, mode, dir_fd=folder, follow_symlinks=False)
    except (NotImplementedError, ValueError):
        # Python's word for fchmodat refusing nofollow: an old libc, or the entry is
        # a link now (another process swapped it). Opened without following, a link fails.
        fd = os.open(place.name, os.O_RDONLY | NOFOLLOW | CLOEXEC, dir_fd=folder)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    if durable:
        try:
            fd = os.open(place.name, os.O_RDONLY | NOFOLLOW | CLOEXEC, dir_fd=folder)
        except PermissionError:  # a mode that bars reading: a journaling fs commits it with this
            os.fsync(folder)
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove(place: Place, *, folder: bool, durable: bool) -> None:
    """Unlink the entry (``os.rmdir`` it when ``folder``); when durable, sync its folder."""
    parent = place.folder()
    if folder:
        os.rmdir(place.name, dir_fd=parent)
    else:
        os.unlink(place.name, dir_fd=parent)
    if durable:
        os.fsync(parent)


_LEFTOVER = re.compile(r"\..+\.[0-9a-f]{8}\.tmp\Z", re.DOTALL)


def is_leftover(name: str) -> bool:
    """Whether ``name`` is one of ``_beside``'s temporary names (left by a killed write)."""
    return _LEFTOVER.match(name) is not None


def remove_leftovers(place: Place) -> None:
    """Delete the temporaries killed writes left in the folder at ``place`` (never folders)."""
    fd = os.open(place.name, FOLDER, dir_fd=place.folder())
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                if is_leftover(entry.name) and not entry.is_dir(follow_symlinks=False):
                    _discard(fd, entry.name)
    finally:
        os.close(fd)


def walk(root: Root, describe: Callable[[str, int, str, os.stat_result], T | None]) -> list[T]:
    """``describe(relative_path, folder_fd, name, lstat)`` of every entry under the root.

    ``os.fwalk`` holds each folder open and never descends through a link.
    Temporaries a killed write left behind are skipped: they are ours, not orphans.
    """
    found: list[tuple[list[str], T]] = []
    if not os.path.isdir(root.real):
        return []  # nothing made yet
    for top, dirs, files, top_fd in os.fwalk(root.real):
        prefix = os.path.relpath(top, root.real).split(os.sep)
        prefix = [] if prefix == ["."] else prefix
        for name in dirs + [f for f in files if not is_leftover(f)]:
            try:
                seen = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            described = describe("/".join([*prefix, name]), top_fd, name, seen)
            if described is not None:
                found.append(([*prefix, name], described))
    found.sort(key=lambda pair: pair[0])  # by components, as pathlib sorts
    return [described for _, described in found]


def _beside(place: Place, create: Callable[[str], T]) -> tuple[str, T]:
    """A new entry made by ``create`` at a free temporary name in the entry's folder."""
    for _ in range(100):
        temp = f".{place.name}.{os.urandom(4).hex()}.tmp"
        try:
            return temp, create(temp)
        except FileExistsError:
            continue  # another writer's temporary name: draw again
    raise FileExistsError(errno.EEXIST, "no free temporary name beside it", place.path)


def _rename_over(temp: str, place: Place, durable: bool) -> None:
    folder = place.folder()
    try:
        os.replace(temp, place.name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        _discard(folder, temp)
        raise
    if durable:
        os.fsync(folder)


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def _discard(folder: int, temp: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp, dir_fd=folder)
