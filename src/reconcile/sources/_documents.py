"""Raw manifest documents, as the format readers hand them to the builder.

Each reader (YAML, JSON, TOML) turns one file's text into :class:`RawDoc` values:
the parsed data plus where each part of it starts, so that a problem found later
(by the builder or the cross-document checks) can name a line and column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from reconcile._util.errors import ManifestProblem

__all__ = [
    "Mark",
    "ParseFailure",
    "Path",
    "RawDoc",
    "format_path",
    "lone_surrogates",
    "mark_at",
    "too_long",
]

Path = tuple[str | int, ...]

_LONG_NUMBER = re.compile(r"\d{4301,}")  # past ``sys.get_int_max_str_digits()``'s default
_SURROGATE = re.compile("[\ud800-\udfff]")


@attrs.frozen
class Mark:
    """A position in a file; both numbers start at 1, as editors show them."""

    line: int
    column: int


class ParseFailure(Exception):
    """A file cannot be parsed past ``mark``; documents read before it still count."""

    def __init__(self, mark: Mark | None, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


@attrs.frozen
class RawDoc:
    """One document of one file: its data, where its parts start, and reader findings."""

    file: str
    index: int  # 1-based position in the file
    data: Any
    marks: Mapping[Path, Mark]
    issues: tuple[tuple[Mark, str], ...] = ()

    def mark(self, path: Path) -> Mark | None:
        """Where ``path`` starts, or its nearest ancestor when the path itself is unknown."""
        for end in range(len(path), -1, -1):
            found = self.marks.get(path[:end])
            if found is not None:
                return found
        return None

    def problem(self, path: Path, message: str, address: str | None = None) -> ManifestProblem:
        """A problem located at ``path`` of this document."""
        at = self.mark(path)
        line, column = (at.line, at.column) if at is not None else (None, None)
        shown = format_path(path) if path else ""
        return ManifestProblem(self.file, message, line, column, self.index, address, shown)


def format_path(path: Path) -> str:
    """``("spec", "ports", 0)`` as ``$.spec.ports[0]``."""
    parts = ["$"]
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif step.isidentifier():
            parts.append(f".{step}")
        else:
            parts.append(f"[{step!r}]")
    return "".join(parts)


def mark_at(text: str, offset: int) -> Mark:
    """The line and column of a character offset in ``text``."""
    line_start = text.rfind("\n", 0, offset) + 1
    return Mark(text.count("\n", 0, offset) + 1, offset - line_start + 1)


def too_long(form: str, text: str, err: ValueError) -> ParseFailure:
    """A reader's ``ValueError`` (``int()`` refuses more than 4300 digits), at the first
    such number, without Python's advice to call ``sys.set_int_max_str_digits``."""
    found = _LONG_NUMBER.search(text)
    mark = mark_at(text, found.start()) if found else None
    return ParseFailure(mark, f"{form} value cannot be read: {str(err).split('; use sys.', 1)[0]}")


def lone_surrogates(data: Any) -> Iterator[Path]:
    """The path of every key or string holding a lone surrogate (it cannot be printed or
    encoded as UTF-8, so it would fail only later, while the plan is shown)."""
    stack: list[tuple[Path, Any]] = [((), data)]
    while stack:  # a loop, not recursion: the data may be nested as deep as its reader allows
        path, value = stack.pop()
        if isinstance(value, str) and _SURROGATE.search(value):
            yield path
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    yield (*path, key)
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))
