"""``ManifestSource`` and ``load_manifests``: desired state from files and folders.

The pipeline: find the files (folders recursively, sorted), read their bytes
once, parse each by its extension (``_formats``), build one resource per document
(``_build``), then check them together (``_checks``). Every problem in every file
is collected; if there is any, :class:`ManifestError` lists them all and no
resource is returned, so nothing bad can reach a plan.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from collections.abc import Iterable
from typing import Any

import attrs

from reconcile._model.values import Moved, moved
from reconcile._util.errors import ManifestError, ManifestProblem, SourceError

from ._build import Built, KindTable, build
from ._checks import check
from ._documents import ParseFailure, RawDoc, lone_surrogates
from ._formats import READERS

__all__ = ["CONFIG_NAME", "ManifestSource", "is_manifest_name", "load_blobs", "load_manifests"]

CONFIG_NAME = "reconcile.toml"

StrPath = str | os.PathLike[str]


@attrs.frozen
class _File:
    """One manifest file: ``label`` names it in messages, ``name`` in the revision digest."""

    label: str
    name: str
    path: pathlib.Path
    explicit: bool  # named on its own (not found in a folder): an empty file is an error


@attrs.frozen
class _Snapshot:
    """The bytes of every manifest file, read once, and what went wrong finding them."""

    files: tuple[tuple[_File, bytes], ...]
    problems: tuple[ManifestProblem, ...]


class ManifestSource:
    """Desired state kept in manifest files: YAML, JSON or TOML files, or folders of them.

    ``kinds`` limits the kinds a document may name to the given resource classes;
    by default every class declared with ``@reconcile.resource`` can be read.
    """

    def __init__(self, path: StrPath, *more: StrPath, kinds: Iterable[type] | None = None) -> None:
        self.paths = tuple(pathlib.Path(p) for p in (path, *more))
        self._kinds = KindTable(kinds)

    def __repr__(self) -> str:
        return f"ManifestSource({', '.join(repr(str(p)) for p in self.paths)})"

    def revision(self) -> str:
        """A digest of the manifest files' names and bytes: same files, same revision."""
        snapshot = _snapshot(self.paths)
        if snapshot.problems:
            raise ManifestError(snapshot.problems)
        return _digest(snapshot)

    def load(self, revision: str | None = None) -> list[Any]:
        """Every resource the manifests declare, in file and document order.

        Raises :class:`reconcile.ManifestError` listing every problem in every file.
        Files hold one revision only: asking for another raises ``SourceError``.
        """
        snapshot = _snapshot(self.paths)
        if revision is not None and revision != _digest(snapshot):
            raise SourceError(
                f"{self!r}: the files changed; revision {revision[:19]} is no longer available"
            )
        return _load_snapshot(snapshot, self._kinds)


def load_blobs(
    blobs: Iterable[tuple[str, str, bytes]], kinds: Iterable[type] | None = None
) -> list[Any]:
    """Resources from in-memory files ``(label, name, bytes)``, e.g. blobs of a Git tree.

    ``label`` names the file in errors (a Git source puts the revision in it);
    ``name`` decides the format by its extension. Same rules as files on disk.
    """
    files = tuple(
        (_File(label, name, pathlib.Path(name), False), data) for label, name, data in blobs
    )
    return _load_snapshot(_Snapshot(files, ()), KindTable(kinds))


def _load_snapshot(snapshot: _Snapshot, kinds: KindTable) -> list[Any]:
    """Parse, build and check every document; all problems at once, or the resources."""
    problems = list(snapshot.problems)
    built: list[Built] = []
    moves: list[Moved] = []
    for file, data in snapshot.files:
        for doc in _parse(file, data, problems):
            if isinstance(doc.data, dict) and doc.data.get("kind") == "moved":
                moves += _moved(doc, problems)
                continue
            made, found = build(doc, kinds)
            problems += found
            if made is not None:
                built.append(made)
    problems += check(built)
    if problems:
        raise ManifestError(_in_file_order(problems, snapshot))
    return [*(b.resource for b in built), *moves]


def _moved(doc: RawDoc, problems: list[ManifestProblem]) -> list[Moved]:
    """``kind: moved`` with ``spec: {from: ADDRESS, to: ADDRESS}``: a rename, not a resource."""
    spec = doc.data.get("spec")
    extra = set(doc.data) - {"kind", "spec"}
    if extra:
        problems.append(
            doc.problem((sorted(map(str, extra))[0],), "a moved document has only kind and spec")
        )
        return []
    if (
        not isinstance(spec, dict)
        or set(spec) != {"from", "to"}
        or not all(isinstance(v, str) for v in spec.values())
    ):
        problems.append(doc.problem(("spec",), "moved needs spec: {from: ADDRESS, to: ADDRESS}"))
        return []
    return [moved(spec["from"], spec["to"])]


def is_manifest_name(name: str) -> bool:
    """Whether a file name (not hidden, not ``reconcile.toml``) is read as a manifest."""
    base = name.rsplit("/", 1)[-1]
    suffix = pathlib.PurePosixPath(base).suffix.lower()
    return not base.startswith(".") and base != CONFIG_NAME and suffix in READERS


def load_manifests(*paths: StrPath, kinds: Iterable[type] | None = None) -> list[Any]:
    """The resources declared in manifest files and folders; see :class:`ManifestSource`."""
    if not paths:
        raise TypeError("load_manifests() needs at least one file or folder")
    return ManifestSource(*paths, kinds=kinds).load()


def _digest(snapshot: _Snapshot) -> str:
    digest = hashlib.sha256()
    for file, data in snapshot.files:
        digest.update(f"{file.name}\0{len(data)}\0".encode())
        digest.update(data)
    return f"sha256:{digest.hexdigest()}"


def _snapshot(paths: Iterable[pathlib.Path]) -> _Snapshot:
    files: list[tuple[_File, bytes]] = []
    problems: list[ManifestProblem] = []
    seen: set[str] = set()
    for file in (f for given in paths for f in _expand(given, problems)):
        real = os.path.realpath(file.path)
        if real in seen:
            continue  # named twice, or inside two folders given: read once
        seen.add(real)
        try:
            data = file.path.read_bytes()
        except OSError as err:
            problems.append(ManifestProblem(file.label, f"cannot read: {err.strerror or err}"))
            continue
        if not _is_saved_plan(file, data):
            files.append((file, data))
    return _Snapshot(tuple(files), tuple(problems))


def _is_saved_plan(file: _File, data: bytes) -> bool:
    """A plan saved with ``reconcile plan --out`` into a manifest folder: never a manifest,
    nor part of the folder's revision (applying it would otherwise find it stale)."""
    if file.explicit or file.path.suffix.lower() != ".json" or b'"resource_changes"' not in data:
        return False
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    return isinstance(doc, dict) and {"format_version", "resource_changes"} <= doc.keys()


def _expand(given: pathlib.Path, problems: list[ManifestProblem]) -> list[_File]:
    """The manifest files a path names: itself, or those found in the folder."""
    if given.is_dir():
        return [_File(str(p), p.relative_to(given).as_posix(), p, False) for p in _walk(given)]
    if not given.exists():
        problems.append(ManifestProblem(str(given), "no such file or folder"))
    elif given.suffix.lower() not in READERS:
        kinds = ", ".join(READERS)
        problems.append(ManifestProblem(str(given), f"not a manifest file (use {kinds})"))
    else:
        return [_File(str(given), given.name, given, True)]
    return []


def _walk(folder: pathlib.Path) -> list[pathlib.Path]:
    """Manifest files under ``folder`` in sorted order; hidden names and linked folders skipped.

    ``reconcile.toml``, the command line's configuration, is never a manifest.
    """
    found: list[pathlib.Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name == CONFIG_NAME:
            continue
        if entry.is_dir():
            if not entry.is_symlink():
                found += _walk(entry)
        elif entry.suffix.lower() in READERS and entry.is_file():
            found.append(entry)
    return found


def _parse(file: _File, data: bytes, problems: list[ManifestProblem]) -> list[RawDoc]:
    """The documents of one file; parse failures and empty named files become problems."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        problems.append(ManifestProblem(file.label, "not UTF-8 text", line))
        return []
    docs: list[RawDoc] = []
    try:
        for doc in READERS[file.path.suffix.lower()](file.label, text):
            docs.append(doc)
    except ParseFailure as err:
        problems.append(_failure(file, err))
        return _printable(docs, problems)
    if not docs and file.explicit:
        problems.append(ManifestProblem(file.label, "no documents in this file (empty?)", 1))
    return _printable(docs, problems)


def _printable(docs: list[RawDoc], problems: list[ManifestProblem]) -> list[RawDoc]:
    """The documents whose text is all valid Unicode; a lone surrogate (``"\\ud800"``) in
    the others is a problem now, not a ``UnicodeEncodeError`` when the plan is printed."""
    kept: list[RawDoc] = []
    for doc in docs:
        bad = sorted(lone_surrogates(doc.data), key=str)
        problems += [doc.problem(path, "a lone surrogate (not valid Unicode text)") for path in bad]
        if not bad:
            kept.append(doc)
    return kept


def _in_file_order(problems: list[ManifestProblem], snapshot: _Snapshot) -> list[ManifestProblem]:
    order = {file.label: i for i, (file, _) in enumerate(snapshot.files)}
    return sorted(problems, key=lambda p: (order.get(p.file, -1), p.line or 0, p.column or 0))


def _failure(file: _File, err: ParseFailure) -> ManifestProblem:
    if err.mark is None:
        return ManifestProblem(file.label, err.message)
    return ManifestProblem(file.label, err.message, err.mark.line, err.mark.column)
