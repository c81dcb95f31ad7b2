"""Root confinement and careful file I/O for the local providers.

Every operation runs on a directory file descriptor, never on a path string:
``Root.place`` opens the parent folder of an entry and hands out its fd and
the entry's name, so a folder swapped for a symlink between a check and a
write (a race) is refused instead of followed out of the root.
The parent folder is opened by ``Root.open_beneath``, one code path with two
ways: on Linux with ``openat2`` (5.6+), one call with ``RESOLVE_BENEATH``,
where the kernel refuses any step out of the root; elsewhere, or when that
call refuses or fails, the walk opens the folders from the root one component
at a time with ``O_NOFOLLOW | O_DIRECTORY``, follows a symlink on the way by
hand only while it stays inside the root, creates missing folders, and gives
the refusal its message. This is written by hand because nothing does it for
us: the standard library has no ``os.Root`` (Go 1.24 has one) and no
``os.openat2``, and no maintained package wraps ``openat2`` with a portable
fallback, so ``openat2`` is called through ``ctypes`` and probed once.
``Root.place`` is called by every provider method, reads included, so a path
that leaves the root is refused while planning and again before any write.
Writes go to a temporary file in the same folder fd and are renamed within it;
when durable, the file is fsynced before the rename and its folder after.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import pathlib
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from reconcile._errors import InvalidStateError, PathEscapeError
from reconcile._model import address_of

__all__ = [
    "CHUNK",
    "Place",
    "Root",
    "StrPath",
    "chmod",
    "file_chunks",
    "hash_chunks",
    "is_leftover",
    "kind_of",
    "link_atomically",
    "lstat",
    "make_folder",
    "openat2_beneath",
    "read_file",
    "readlink",
    "remove",
    "remove_leftovers",
    "text_chunks",
    "walk",
    "write_atomically",
]

T = TypeVar("T")
StrPath = str | os.PathLike[str]
CHUNK = 256 * 1024
_SEP = os.sep
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # the entry was lstat-ed as a file: never follow a link
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_FOLDER = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
_MAX_LINKS = 40  # as the kernel's own limit on links in one lookup
_SYS_OPENAT2 = 437  # the same number on every Linux architecture but alpha
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08  # no absolute path or link, no '..' above the fd, no jump out
_OPENAT2: bool | None = None  # probed on first use; tests set it to force either way


class _OpenHow(ctypes.Structure):
    """``struct open_how`` of ``linux/openat2.h``."""

    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


def _libc_syscall() -> Any:
    """libc's ``syscall`` function, or None off Linux or without one."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None


_syscall = _libc_syscall()


def openat2_beneath(dir_fd: int, rel: str) -> int:
    """The folder ``rel`` below ``dir_fd``, opened by ``openat2(RESOLVE_BENEATH)`` in one call.

    The kernel follows links only while they stay below ``dir_fd``: a step out
    (a link to outside, an absolute link, '..' above it) fails with EXDEV.
    Raises OSError with the call's errno (ENOSYS where there is no openat2).
    """
    if _syscall is None:
        raise OSError(errno.ENOSYS, "openat2 is not available here")
    how = _OpenHow(_FOLDER & ~_NOFOLLOW, 0, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    fd = _syscall(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_long(dir_fd),
        ctypes.c_char_p(os.fsencode(rel)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), rel)
    return int(fd)


def has_openat2() -> bool:
    """Whether ``openat2`` works here: probed once (absent, or barred by seccomp: no)."""
    global _OPENAT2  # a probe made once per process
    if _OPENAT2 is None:
        top = os.open("/", _FOLDER & ~_NOFOLLOW)  # a folder that is always there
        try:
            os.close(openat2_beneath(top, "."))
            _OPENAT2 = True
        except OSError:  # ENOSYS, EPERM (seccomp), E2BIG/EINVAL (another struct)
            _OPENAT2 = False
        finally:
            os.close(top)
    return _OPENAT2


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
                root = os.open(self.real, _FOLDER & ~_NOFOLLOW)  # the root was resolved once
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
            fds = [os.open(self.real, _FOLDER & ~_NOFOLLOW)]  # the root was resolved once
        except FileNotFoundError:
            if not make:
                return [], []
            _make_root(os.fspath(self.real), durable=durable)
            fds = [os.open(self.real, _FOLDER & ~_NOFOLLOW)]
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
                return os.open(part, _FOLDER, dir_fd=parent)
            except FileNotFoundError:
                if not make:
                    return None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=parent)  # mode 0o777 minus the umask, as os.makedirs
                    if durable:
                        os.fsync(parent)
                continue
            except OSError as err:
                found = _lstat_at(parent, part)
                if found is None:
                    continue  # removed meanwhile: look again
                if stat.S_ISLNK(found.st_mode):
                    target = _readlink_at(parent, part)
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


def lstat(place: Place) -> os.stat_result | None:
    """The entry itself (a link is not followed), or None when nothing is there."""
    if place.dir_fd is None:
        return None
    try:
        return os.stat(place.name, dir_fd=place.dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _lstat_at(folder: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _readlink_at(folder: int, name: str) -> str | None:
    """The link's target, or None when ``name`` is gone or no longer a link."""
    try:
        return os.readlink(name, dir_fd=folder)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.EINVAL):
            return None
        raise


def readlink(place: Place) -> str:
    """The target of the link at ``place``."""
    return os.readlink(place.name, dir_fd=place.folder())


def kind_of(st: os.stat_result) -> str:
    """A word for the kind of entry, for error messages."""
    if stat.S_ISLNK(st.st_mode):
        return "a symlink"
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    return "a regular file" if stat.S_ISREG(st.st_mode) else "a special file"


def read_file(place: Place) -> tuple[int, str, bytes | None]:
    """Size and sha256 of a file, read in chunks; its bytes too when they fit in one chunk."""
    flags = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _BINARY
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
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
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
        fd = os.open(place.name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=folder)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    if durable:
        try:
            fd = os.open(place.name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=folder)
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
    fd = os.open(place.name, _FOLDER, dir_fd=place.folder())
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
        fd = os.open(parent, os.O_RDONLY | _CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
