"""Which files are manifests, and the JSON and TOML readers (YAML lives in ``_yaml``).

Called by ``_manifests`` for each file it found. A reader yields :class:`RawDoc`
values and raises :class:`ParseFailure` where the file stops making sense. JSON
marks point at the object that holds a value; TOML marks at the line of a key
or table header (``tomllib`` keeps no positions, so they are found in the text).
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from ._documents import Mark, ParseFailure, Path, RawDoc
from ._yaml import read_yaml

__all__ = ["READERS", "read_json", "read_toml"]

Reader = Callable[[str, str], Iterator[RawDoc]]

_TOML_ERROR = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_RESOURCE = re.compile(r"\s*\[\[\s*resource\s*\]\]")
_TOML_TABLE = re.compile(r"\s*\[\[?\s*resource\.([^\]]+?)\s*\]\]?")
_TOML_SINGLE = re.compile(r"\s*\[\s*resource\s*\]")
_TOML_KEY = re.compile(r"\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")


# -- JSON ------------------------------------------------------------------------


class _MarkingDecoder(json.JSONDecoder):
    """The pure-Python JSON scanner, noting where each object starts and duplicate keys."""

    def __init__(self) -> None:
        super().__init__(object_pairs_hook=self._pairs)
        self.starts: dict[int, int] = {}
        self.duplicates: list[tuple[int, str]] = []
        self._pending: list[str] = []
        self.parse_object = self._object
        self.scan_once = json.scanner.py_make_scanner(self)  # type: ignore[attr-defined]

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        made = dict(pairs)
        if len(made) != len(pairs):
            counts = Counter(key for key, _ in pairs)
            self._pending += [key for key, n in counts.items() if n > 1]
        return made

    def _object(self, s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
        obj, end = json.decoder.JSONObject(s_and_end, *args)  # type: ignore[attr-defined]
        start = s_and_end[1] - 1
        self.starts[id(obj)] = start
        self.duplicates += [(start, key) for key in self._pending]
        self._pending.clear()
        return obj, end


def read_json(file: str, text: str) -> Iterator[RawDoc]:
    """One document for a top-level object; one per item for a top-level list."""
    decoder = _MarkingDecoder()
    lines = _line_starts(text)
    try:
        data = decoder.decode(text)
    except json.JSONDecodeError as err:
        raise ParseFailure(Mark(err.lineno, err.colno), f"JSON syntax error: {err.msg}") from None
    except RecursionError:
        raise ParseFailure(None, "JSON is nested too deeply to read") from None
    if not isinstance(data, dict | list):
        raise ParseFailure(Mark(1, 1), "a JSON manifest holds an object or a list of objects")
    issues = tuple((_at(lines, start), f"duplicate key {k!r}") for start, k in decoder.duplicates)
    items = [data] if isinstance(data, dict) else data
    for index, item in enumerate(items, start=1):
        marks: dict[Path, Mark] = {}
        _json_marks(item, (), decoder.starts, lines, marks)
        marks.setdefault((), Mark(1, 1))
        starts = set(marks.values())
        mine = tuple(issue for issue in issues if issue[0] in starts)
        yield RawDoc(file, index, item, marks, mine)


def _json_marks(
    value: Any, path: Path, starts: dict[int, int], lines: list[int], marks: dict[Path, Mark]
) -> None:
    if isinstance(value, dict):
        if id(value) in starts:
            marks[path] = _at(lines, starts[id(value)])
        for key, item in value.items():
            _json_marks(item, (*path, key), starts, lines, marks)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _json_marks(item, (*path, i), starts, lines, marks)


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
