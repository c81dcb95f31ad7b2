"""Reading folders of plain Kubernetes YAML/JSON into ``KubeObject`` values, reporting the rest.

The files are parsed by ``reconcile.sources``' readers (PyYAML safe loading,
with a line and column for every key); each document becomes an object through
``from_manifest``. Helm charts and templates, kustomize files and the patches they
use, objects without a name and hidden files are reported, never silently skipped.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Collection, Iterable, Mapping
from typing import Any, NamedTuple

import attrs

from reconcile._model.resource import address_of
from reconcile._util.errors import ManifestError, ManifestProblem
from reconcile.sources._documents import ParseFailure, RawDoc
from reconcile.sources._formats import READERS

from ._object import (
    CLUSTER_SCOPED_KINDS,
    KUSTOMIZE_GROUP,
    KubeDocumentError,
    KubeObject,
    from_manifest,
)

__all__ = ["KubeLoad", "Unsupported", "load_kube_documents", "read_kube_documents"]

_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml")
_CHART_FILES = ("Chart.yaml", "Chart.yml")
_SUFFIXES = (".yaml", ".yml", ".json")
_KUSTOMIZE_TRANSFORMS = (
    "namePrefix", "nameSuffix", "namespace", "commonLabels", "labels", "commonAnnotations",
    "images", "replicas", "patches", "patchesStrategicMerge", "patchesJson6902",
    "configMapGenerator", "secretGenerator", "helmCharts", "components", "replacements", "bases",
)  # fmt: skip

StrPath = str | os.PathLike[str]


class Unsupported(NamedTuple):
    """A file (or a document of it) the loader does not handle, and why."""

    file: str
    reason: str


@attrs.frozen
class KubeLoad:
    """What ``read_kube_documents`` found: objects, and everything it could not use."""

    objects: tuple[KubeObject, ...] = ()
    unsupported: tuple[Unsupported, ...] = ()
    errors: tuple[ManifestProblem, ...] = ()
    warnings: tuple[ManifestProblem, ...] = ()

    def problems(self, *, allow_unsupported: bool = False) -> list[ManifestProblem]:
        """Errors, then unsupported files as problems unless they are allowed."""
        skipped = () if allow_unsupported else self.unsupported
        refused = [ManifestProblem(u.file, f"unsupported: {u.reason}") for u in skipped]
        return [*self.errors, *refused]


def load_kube_documents(
    paths: StrPath | Iterable[StrPath],
    *,
    default_namespace: str = "",
    allow_unsupported: bool = False,
    cluster_scoped: Collection[str] = CLUSTER_SCOPED_KINDS,
) -> list[KubeObject]:
    """The objects in plain Kubernetes YAML/JSON files and folders, or :class:`ManifestError`.

    Unsupported files (Helm charts, kustomize files, ...) are errors unless allowed.
    """
    found = read_kube_documents(
        paths, default_namespace=default_namespace, cluster_scoped=cluster_scoped
    )
    problems = found.problems(allow_unsupported=allow_unsupported)
    if problems:
        raise ManifestError(problems)
    return list(found.objects)


def read_kube_documents(
    paths: StrPath | Iterable[StrPath],
    *,
    default_namespace: str = "",
    cluster_scoped: Collection[str] = CLUSTER_SCOPED_KINDS,
) -> KubeLoad:
    """Read every manifest under ``paths``; never raises for what the files hold.

    Folders are walked in sorted order; ``.yaml``, ``.yml`` and ``.json`` files are read.
    """
    report = _Report(default_namespace, cluster_scoped)
    files = _unique(f for given in _as_paths(paths) for f in report.discover(given))
    parsed = [(f, docs) for f in files if (docs := report.parse(f)) is not None]
    config = [(f, docs) for f, docs in parsed if f.path.name in _KUSTOMIZATION_FILES]
    patches = report.kustomizations(config)
    patches.update(_embedded_patches(parsed))
    skipped = {f.real for f, _ in config}
    for file, docs in parsed:
        if file.real in patches:
            report.skip(file, f"kustomize patch used by {patches[file.real]}: a partial object")
        elif file.real not in skipped:
            report.build(file, docs)
    return report.result()


def _as_paths(paths: StrPath | Iterable[StrPath]) -> list[pathlib.Path]:
    if isinstance(paths, str | os.PathLike):
        return [pathlib.Path(paths)]
    return [pathlib.Path(p) for p in paths]


def _unique(files: Iterable[_File]) -> list[_File]:
    """Each file once (named twice, or inside two folders given), in the order found."""
    seen: dict[str, _File] = {}
    for file in files:
        seen.setdefault(file.real, file)
    return list(seen.values())


@attrs.frozen
class _File:
    label: str
    path: pathlib.Path
    root: pathlib.Path  # where a Helm chart is looked for, upward from the file

    @property
    def real(self) -> str:
        return os.path.realpath(self.path)


class _Report:
    """The loader's pass over the files, collecting objects and findings as it goes."""

    def __init__(self, default_namespace: str, cluster_scoped: Collection[str]) -> None:
        self.default_namespace = default_namespace
        self.cluster_scoped = cluster_scoped
        self.objects: dict[str, tuple[KubeObject, RawDoc]] = {}
        self.unsupported: list[Unsupported] = []
        self.errors: list[ManifestProblem] = []
        self.warnings: list[ManifestProblem] = []

    def result(self) -> KubeLoad:
        objects = tuple(obj for obj, _ in self.objects.values())
        return KubeLoad(objects, tuple(self.unsupported), tuple(self.errors), tuple(self.warnings))

    def skip(self, file: _File, reason: str) -> None:
        self.unsupported.append(Unsupported(file.label, reason))

    def discover(self, given: pathlib.Path) -> list[_File]:
        if given.is_dir():
            return self._walk(given, given)
        if not given.is_file():
            self.errors.append(ManifestProblem(str(given), "no such file or folder"))
        elif given.suffix.lower() not in _SUFFIXES:
            self.errors.append(ManifestProblem(str(given), "not a .yaml, .yml or .json file"))
        else:
            return [_File(str(given), given, given.parent)]
        return []

    def _walk(self, folder: pathlib.Path, root: pathlib.Path) -> list[_File]:
        found: list[_File] = []
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name.startswith("."):
                self.unsupported.append(Unsupported(str(entry), "hidden: not read"))
            elif entry.is_dir() and not entry.is_symlink():
                found += self._walk(entry, root)
            elif entry.suffix.lower() in _SUFFIXES and entry.is_file():
                found.append(_File(str(entry), entry, root))
        return found

    def parse(self, file: _File) -> list[RawDoc] | None:
        """The file's documents; None when it is part of a chart or cannot be read."""
        chart = _chart_of(file)
        if chart is not None:
            self.skip(
                file, f"{_chart_part(file, chart)} of the Helm chart in {chart}: render it first"
            )
            return None
        try:
            text = file.path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            self.errors.append(ManifestProblem(file.label, f"cannot read: {err}"))
            return None
        return self._documents(file, text)

    def _documents(self, file: _File, text: str) -> list[RawDoc] | None:
        try:
            return _read(file, text)
        except ParseFailure as err:
            failure = err
        if "{{" in text:
            line = text[: text.index("{{")].count("\n") + 1
            self.skip(file, f"a Helm/Go template ('{{{{' at line {line}): render it first")
            return None
        stripped = "\n".join(line.rstrip(" \t\r") for line in text.split("\n"))
        try:
            docs = _read(file, stripped)
        except ParseFailure:
            self.errors.append(_problem(file, failure))
            return None
        note = "; read with trailing blanks stripped, as Go YAML (kubectl) accepts it"
        self.warnings.append(_problem(file, failure, note))
        return docs

    def kustomizations(self, config: list[tuple[_File, list[RawDoc]]]) -> dict[str, str]:
        """Report kustomize build files; the patch files they use, by real path."""
        patches: dict[str, str] = {}
        for file, docs in config:
            data = docs[0].data if docs and isinstance(docs[0].data, dict) else {}
            self.skip(file, _kustomize_reason(data))
            for ref in _patch_refs(data):
                patches[os.path.realpath(file.path.parent / ref)] = file.label
        return patches

    def build(self, file: _File, docs: list[RawDoc]) -> None:
        for doc in docs:
            self.errors += [
                ManifestProblem(file.label, message, at.line, at.column, doc.index)
                for at, message in doc.issues
            ]
            try:
                obj = from_manifest(
                    doc.data,
                    default_namespace=self.default_namespace,
                    cluster_scoped=self.cluster_scoped,
                )
            except KubeDocumentError as err:
                self._refused(file, doc, err)
                continue
            self._add(obj, doc)

    def _refused(self, file: _File, doc: RawDoc, err: KubeDocumentError) -> None:
        if err.unsupported:
            self.skip(file, f"document {doc.index}: {err.message}")
        else:
            self.errors.append(doc.problem(err.path, err.message))

    def _add(self, obj: KubeObject, doc: RawDoc) -> None:
        address = address_of(obj)
        first = self.objects.get(address)
        if first is None:
            self.objects[address] = (obj, doc)
            return
        where = f"{first[1].file} document {first[1].index}"
        message = f"declared twice (first in {where})"
        self.errors.append(doc.problem((), message, address))


def _read(file: _File, text: str) -> list[RawDoc]:
    return list(READERS[file.path.suffix.lower()](file.label, text))


def _problem(file: _File, err: ParseFailure, note: str = "") -> ManifestProblem:
    line, column = (err.mark.line, err.mark.column) if err.mark is not None else (None, None)
    return ManifestProblem(file.label, err.message + note, line, column)


def _chart_of(file: _File) -> pathlib.Path | None:
    """The folder holding the Helm ``Chart.yaml`` this file belongs to, if any."""
    folder = file.path.parent
    while True:
        if any((folder / name).is_file() for name in _CHART_FILES):
            return folder
        if folder == file.root or folder == folder.parent:
            return None
        folder = folder.parent


def _chart_part(file: _File, chart: pathlib.Path) -> str:
    """What a file is to its chart: metadata, values, a template or another file."""
    if file.path.name in _CHART_FILES:
        return "the metadata"
    if file.path.name.startswith("values"):
        return "values"
    if "templates" in file.path.relative_to(chart).parts:
        return "a template"
    return "a file"


def _embedded_patches(parsed: list[tuple[_File, list[RawDoc]]]) -> dict[str, str]:
    """Patch files used by kustomize documents inside other files (the documents are
    reported alone, by ``build``; the file's other objects load)."""
    patches: dict[str, str] = {}
    for file, docs in parsed:
        for doc in docs:
            if _is_kustomize_document(doc) and file.path.name not in _KUSTOMIZATION_FILES:
                where = f"{file.label} document {doc.index}"
                for ref in _patch_refs(doc.data):
                    patches[os.path.realpath(file.path.parent / ref)] = where
    return patches


def _is_kustomize_document(doc: RawDoc) -> bool:
    data = doc.data
    return isinstance(data, dict) and str(data.get("apiVersion", "")).startswith(KUSTOMIZE_GROUP)


def _kustomize_reason(data: Mapping[str, Any]) -> str:
    used = [k for k in _KUSTOMIZE_TRANSFORMS if k in data]
    why = "kustomize build file (kustomize is not run; the files it lists are read as they are"
    if not used:
        return why + ")"
    return why + f"; not applied: {', '.join(used)})"


def _patch_refs(data: Mapping[str, Any]) -> list[str]:
    """Files a kustomization uses as patches (inline patches are not files)."""
    refs: list[str] = []
    for key in ("patches", "patchesJson6902"):
        for item in _list(data.get(key)):
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                refs.append(item["path"])
    for item in _list(data.get("patchesStrategicMerge")):
        if isinstance(item, str) and "\n" not in item:
            refs.append(item)
    return refs


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
