"""YAML manifests: PyYAML's safe loader only, with a mark for every key and item.

The only module that imports ``yaml``. Each document is composed into nodes
first, so every key and list item keeps its line and column, duplicate keys are
caught, and alias bombs are refused before anything walks the data; then it is
constructed by ``SafeLoader``, which never runs code (``!!python/object`` fails).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from ._documents import Mark, ParseFailure, Path, RawDoc, mark_at, too_long

__all__ = ["read_yaml"]

MAX_NODES = 1_000_000  # a document that expands to more (through aliases) is refused
_MERGE = "tag:yaml.org,2002:merge"
_IN_PROGRESS = -1


class _MarkedLoader(yaml.SafeLoader):
    """A SafeLoader that yields each document's node tree along with its data."""

    def marked_documents(self) -> Iterator[tuple[yaml.Node, Any]]:
        while self.check_node():
            node = self.get_node()
            if node is not None:
                yield node, self.construct_document(node)


def read_yaml(file: str, text: str) -> Iterator[RawDoc]:
    """Every non-empty document of a YAML stream, in order; :class:`ParseFailure` stops it."""
    try:
        loader = _MarkedLoader(text)  # the reader refuses unprintable characters (NUL) here
    except yaml.reader.ReaderError as err:
        code = err.character if isinstance(err.character, int) else ord(err.character)
        message = f"YAML error: character U+{code:04X} is not allowed"
        raise ParseFailure(mark_at(text, err.position), message) from None
    try:
        for index, (node, data) in enumerate(_documents(loader, text), start=1):
            if data is not None:  # an empty document, as a trailing ``---`` makes
                yield _raw(file, index, node, data)
    finally:
        loader.dispose()


def _documents(loader: _MarkedLoader, text: str) -> Iterator[tuple[yaml.Node, Any]]:
    try:
        yield from loader.marked_documents()
    except yaml.MarkedYAMLError as err:
        mark = _mark(err.problem_mark) if err.problem_mark is not None else None
        raise ParseFailure(mark, _message(err)) from None
    except yaml.YAMLError as err:
        raise ParseFailure(None, f"YAML error: {err}") from None
    except RecursionError:
        raise ParseFailure(None, "YAML is nested too deeply to read") from None
    except ValueError as err:  # int() refuses a number of more than 4300 digits
        raise too_long("YAML", text, err) from None


def _raw(file: str, index: int, node: yaml.Node, data: Any) -> RawDoc:
    if _expanded_size(node, {}) > MAX_NODES:
        mark = _mark(node.start_mark)
        raise ParseFailure(mark, f"document expands to more than {MAX_NODES} values (aliases)")
    marks: dict[Path, Mark] = {}
    issues: list[tuple[Mark, str]] = []
    _walk(node, (), marks, issues, set())
    return RawDoc(file, index, data, marks, tuple(issues))


def _walk(
    node: yaml.Node, path: Path, marks: dict[Path, Mark], issues: list[Any], seen: set[int]
) -> None:
    """Record where each key and item starts; each node once (aliases share nodes)."""
    marks.setdefault(path, _mark(node.start_mark))
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        _walk_mapping(node, path, marks, issues, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), marks, issues, seen)


def _walk_mapping(
    node: yaml.MappingNode, path: Path, marks: dict[Path, Mark], issues: list[Any], seen: set[int]
) -> None:
    first: dict[str, int] = {}
    for key, value in node.value:
        if key.tag == _MERGE or not isinstance(key, yaml.ScalarNode):
            continue
        at = _mark(key.start_mark)
        if key.value in first:
            issues.append((at, f"duplicate key {key.value!r} (first at line {first[key.value]})"))
        first.setdefault(key.value, at.line)
        marks.setdefault((*path, key.value), at)
        _walk(value, (*path, key.value), marks, issues, seen)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the document holds once aliases are expanded (memoised, so cheap)."""
    known = sizes.get(id(node))
    if known == _IN_PROGRESS:
        raise ParseFailure(_mark(node.start_mark), "a value contains itself (recursive alias)")
    if known is not None:
        return known
    sizes[id(node)] = _IN_PROGRESS
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    sizes[id(node)] = total = 1 + sum(_expanded_size(c, sizes) for c in children)
    return total


def _mark(mark: yaml.Mark) -> Mark:
    return Mark(mark.line + 1, mark.column + 1)


def _message(err: yaml.MarkedYAMLError) -> str:
    if isinstance(err, yaml.constructor.ConstructorError) and "tag" in str(err.problem):
        return f"{err.problem}: manifests hold plain data only (YAML safe_load)"
    context = f"{err.context}: " if err.context else ""
    return f"YAML syntax error: {context}{err.problem}"
