"""The resource kinds of the local filesystem: ``file``, ``directory`` and ``symlink``.

Paths are relative to the provider's root (absolute paths inside the root are
accepted too). Modes are compared as numbers and shown in octal in plans; a mode
may also be given as octal text (``"0644"``, ``"644"``, ``"0o644"``), as Terraform
and Ansible write it and as YAML 1.2 reads ``0o644``.
"""

from __future__ import annotations

from typing import Any

from reconcile._model.resource import address_of, field, resource
from reconcile._util.errors import InvalidStateError

__all__ = ["Directory", "File", "Symlink"]


def _octal(mode: Any) -> Any:
    """Plans show ``0o644`` rather than ``420``; comparison is unchanged."""
    return oct(mode) if isinstance(mode, int) and not isinstance(mode, bool) else mode


def _mode(value: int | str) -> int | str:
    """Octal text as its number; anything else as given, for ``_valid_mode`` to judge."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    digits = text[2:] if text[:2] in ("0o", "0O") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return value
    try:
        return int(digits, 8)
    except ValueError:  # an 8 or a 9
        return value


def _valid_mode(instance: Any, attribute: Any, mode: int | str) -> None:
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise InvalidStateError(
            f"{address_of(instance)}: mode {mode!r} is not a file mode "
            '(a number such as 0o644, or octal text such as "0644")'
        )
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
    mode: int = field(default=0o644, converter=_mode, validator=_valid_mode, normalize=_octal)
    size: int | None = field(default=None, computed=True)
    sha256: str | None = field(default=None, computed=True)


@resource("directory")
class Directory:
    """A directory; only ever removed when empty."""

    path: str = field(key=True)
    mode: int = field(default=0o755, converter=_mode, validator=_valid_mode, normalize=_octal)


@resource("symlink")
class Symlink:
    """A symbolic link to ``target`` (relative to the link's folder, or absolute)."""

    path: str = field(key=True)
    target: str
