"""``openat2(RESOLVE_BENEATH)`` through ``ctypes``: open a folder below another in one call.

Written by hand because nothing does it for us: the standard library has no
``os.openat2`` (nor Go 1.24's ``os.Root``), and no maintained package wraps it with
a portable fallback. Probed once per process; ``has_openat2`` says whether it works.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from typing import Any

__all__ = ["FOLDER", "NOFOLLOW", "has_openat2", "openat2_beneath"]

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # the entry was lstat-ed as a file: never follow a link
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
FOLDER = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | NOFOLLOW | CLOEXEC
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
    how = _OpenHow(FOLDER & ~NOFOLLOW, 0, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
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
        top = os.open("/", FOLDER & ~NOFOLLOW)  # a folder that is always there
        try:
            os.close(openat2_beneath(top, "."))
            _OPENAT2 = True
        except OSError:  # ENOSYS, EPERM (seccomp), E2BIG/EINVAL (another struct)
            _OPENAT2 = False
        finally:
            os.close(top)
    return _OPENAT2
