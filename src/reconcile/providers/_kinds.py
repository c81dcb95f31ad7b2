"""The resource kinds of the local filesystem: ``file``, ``directory`` and ``symlink``.

Paths are relative to the provider's root (absolute paths inside the root are
accepted too). Modes are compared as numbers and shown in octal in plans.
"""

from __future__ import annotations

from typing import Any

from reconcile._errors import InvalidStateError
from reconcile._model import address_of, field, resource

__all__ = ["Directory", "File", "Symlink"]


def _octal(mode: Any) -> Any:
    """Plans show ``0o644`` rather than ``420``; comparison is unchanged."""
    return oct(mode) if isinstance(mode, int) and not isinstance(mode, bool) else mode


def _valid_mode(instance: Any, attribute: Any, mode: int) -> None:
    if not 0 <= mode <= 0o7777:
        raise InvalidStateError(f"{address_of(instance)}: mode {mode:#o} is not a file mode")


def _content_or_source(instance: Any, attribute: Any, source: str | None) -> None:
    if (instance.content is None) == (source is None):
        raise InvalidStateError(
            f"{address_of(instance)}: give exactly one of content (text) and source (a file)"
        )


@resource("file")
class File:
    """A regular file with ``content`` (UTF-8 text) or the bytes of the ``source`` file."""

    path: str = field(key=True)
    content: str | None = None
    source: str | None = field(default=None, validator=_content_or_source)
    mode: int = field(default=0o644, validator=_valid_mode, normalize=_octal)
    size: int | None = field(default=None, computed=True)
    sha256: str | None = field(default=None, computed=True)


@resource("directory")
class Directory:
    """A directory; only ever removed when empty."""

    path: str = field(key=True)
    mode: int = field(default=0o755, validator=_valid_mode, normalize=_octal)


@resource("symlink")
class Symlink:
    """A symbolic link to ``target`` (relative to the link's folder, or absolute)."""

    path: str = field(key=True)
    target: str
