"""Which files are manifests, and the JSON and TOML readers (YAML lives in ``_yaml``).

Called by ``_manifests`` for each file it found. A reader yields :class:`RawDoc`
values and raises :class:`ParseFailure` where the file stops making sense. JSON
marks point at where each value starts (a member's value, a list's item); TOML
marks at the line of a key or table header (``tomllib`` keeps no positions, so
they are found in the text).
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

from ._documents import Mark, ParseFailure, Path, RawDoc, too_long
from ._yaml import read_yaml

__all__ = ["READERS", "read_json", "read_toml"]

Reader = Callable[[str, str], Iterator[RawDoc]]
_Scan = Callable[[str, int], tuple[Any, int]]  # the JSON scanner: a value and where it ends

_TOML_ERROR = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_RESOURCE = re.compile(r"\s*\[\[\s*resource\s*\]\]")
_TOML_TABLE = re.compile(r"\s*\[\[?\s*resource\.([^\]]+?)\s*\]\]?")
_TOML_SINGLE = re.compile(r"\s*\[\s*resource\s*\]")
_TOML_KEY = re.compile(r"\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")
_JSON_SPACE = " \t\n\r"


# -- JSON ------------------------------------------------------------------------


class _MarkingDecoder(json.JSONDecoder):
    """The pure-Python JSON scanner, noting where every member and item starts.

    ``members`` maps each object or list (by ``id``; the data keeps them alive) to
    the offset of each of its values, by key or index; ``duplicates`` holds the
    offset of each repeated key's value, and the offset of the first one.
    """

    def __init__(self) -> None:
        super().__init__(object_pairs_hook=self._pairs)
        self.members: dict[int, dict[str | int, int]] = {}
        self.duplicates: list[tuple[int, int, str]] = []
        self._keys: list[str] = []
        self.parse_object = self._object
        self.parse_array = self._array
        self.scan_once = json.scanner.py_make_scanner(self)  # type: ignore[attr-defined]

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self._keys = [key for key, _ in pairs]  # called last for each object: its own keys
        return dict(pairs)

    def _object(self, s_and_end: tuple[str, int], strict: bool, scan: _Scan, *args: Any) -> Any:
        offsets: list[int] = []
        obj, end = json.decoder.JSONObject(s_and_end, strict, _noting(scan, offsets), *args)  # type: ignore[attr-defined]
        first: dict[str, int] = {}
        for key, offset in zip(self._keys, offsets, strict=True):
            if key in first:
                self.duplicates.append((offset, first[key], key))
            first.setdefault(key, offset)
        self.members[id(obj)] = dict(zip(self._keys, offsets, strict=True))  # the last one wins
        return obj, end

    def _array(self, s_and_end: tuple[str, int], scan: _Scan) -> Any:
        offsets: list[int] = []
        items, end = json.decoder.JSONArray(s_and_end, _noting(scan, offsets))  # type: ignore[attr-defined]
        self.members[id(items)] = dict(enumerate(offsets))
        return items, end


def _noting(scan: _Scan, offsets: list[int]) -> _Scan:
    """``scan``, also noting where each value it reads starts (after any whitespace)."""

    def scan_noting(text: str, offset: int) -> tuple[Any, int]:
        offsets.append(offset)
        return scan(text, offset)

    return scan_noting


def read_json(file: str, text: str) -> Iterator[RawDoc]:
    """One document for a top-level object; one per item for a top-level list."""
    decoder = _MarkingDecoder()
    try:
        data = decoder.decode(text)
    except json.JSONDecodeError as err:
        raise ParseFailure(Mark(err.lineno, err.colno), f"JSON syntax error: {err.msg}") from None
    except RecursionError:
        raise ParseFailure(None, "JSON is nested too deeply to read") from None
    except ValueError as err:  # int() refuses a number of more than 4300 digits
        raise too_long("JSON", text, err) from None
    lines = _line_starts(text)
    top = len(text) - len(text.lstrip(_JSON_SPACE))
    if not isinstance(data, dict | list):
        raise ParseFailure(_at(lines, top), "a JSON manifest holds an object or a list of objects")
    items = [data] if isinstance(data, dict) else data
    starts = [top] if isinstance(data, dict) else _item_starts(decoder, data)
    ends = [*starts[1:], len(text)][: len(starts)]  # each item runs to the next one
    for index, (item, start, end) in enumerate(zip(items, starts, ends, strict=True), start=1):
        marks: dict[Path, Mark] = {(): _at(lines, start)}
        _json_marks(item, (), decoder.members, lines, marks)
        issues = tuple(
            (_at(lines, at), f"duplicate key {key!r} (first at line {_at(lines, first).line})")
            for at, first, key in decoder.duplicates
            if start <= at < end
        )
        yield RawDoc(file, index, item, marks, issues)


def _item_starts(decoder: _MarkingDecoder, items: list[Any]) -> list[int]:
    """Where each item of a top-level list starts: each one is a document."""
    return list(decoder.members[id(items)].values())


def _json_marks(
    value: Any,
    path: Path,
    members: dict[int, dict[str | int, int]],
    lines: list[int],
    marks: dict[Path, Mark],
) -> None:
    """Where every member and item under ``value`` starts, by its path."""
    if not isinstance(value, dict | list):
        return
    for step, offset in members.get(id(value), {}).items():
        marks[(*path, step)] = _at(lines, offset)
    children = value.items() if isinstance(value, dict) else enumerate(value)
    for step, item in children:
        _json_marks(item, (*path, step), members, lines, marks)


# -- TOML ------------------------------------------------------------------------


def read_toml(file: str, text: str) -> Iterator[RawDoc]:
    """One document per ``[[resource]]`` table; nothing else may sit at the top level."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = _TOML_ERROR.search(str(err))
        mark = Mark(int(found[1]), int(found[2])) if found else None
        message = _TOML_ERROR.sub("", str(err)).strip()
        raise ParseFailure(mark, f"TOML syntax error: {message}") from None
    except RecursionError:
        raise ParseFailure(None, "TOML is nested too deeply to read") from None
    except ValueError as err:  # int() refuses a number of more than 4300 digits
        raise too_long("TOML", text, err) from None
    lines = text.splitlines()
    for key in sorted(set(data) - {"resource"}):
        mark = _toml_line(lines, re.compile(rf"\s*\[*\s*{re.escape(key)}\b"))
        raise ParseFailure(mark, f"unknown top-level key {key!r}: use [[resource]] tables")
    tables = data.get("resource", [])
    if not isinstance(tables, list):
        mark = _toml_line(lines, _TOML_SINGLE)
        raise ParseFailure(mark, "resources are an array of tables: write [[resource]]")
    headers = [n for n, line in enumerate(lines) if _TOML_RESOURCE.match(line)] + [len(lines)]
    for index, table in enumerate(tables, start=1):
        start, end = headers[index - 1], headers[index]
        yield RawDoc(file, index, table, _toml_marks(lines, start, end))


def _toml_marks(lines: list[str], start: int, end: int) -> dict[Path, Mark]:
    """Lines of the table headers and ``key =`` lines between two ``[[resource]]`` headers."""
    marks: dict[Path, Mark] = {(): Mark(start + 1, 1)}
    table: Path = ()
    for n in range(start + 1, end):
        header = _TOML_TABLE.match(lines[n])
        key = _TOML_KEY.match(lines[n])
        if header:
            table = tuple(part.strip().strip('"') for part in header[1].split("."))
            marks.setdefault(table, Mark(n + 1, 1))
        elif key:
            marks.setdefault((*table, key[1].strip('"')), Mark(n + 1, key.start(1) + 1))
    return marks


def _toml_line(lines: list[str], pattern: re.Pattern[str]) -> Mark | None:
    for n, line in enumerate(lines):
        if pattern.match(line):
            return Mark(n + 1, 1)
    return None


# -- shared ----------------------------------------------------------------------


def _line_starts(text: str) -> list[int]:
    return [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]


def _at(lines: list[int], offset: int) -> Mark:
    line = bisect.bisect_right(lines, offset)
    return Mark(line, offset - lines[line - 1] + 1)


READERS: dict[str, Reader] = {
    ".yaml": read_yaml,
    ".yml": read_yaml,
    ".json": read_json,
    ".toml": read_toml,
}
