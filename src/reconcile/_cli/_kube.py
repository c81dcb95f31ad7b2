"""Sources of plain Kubernetes documents for the command line, and a cluster kept in a file.

Used by ``Session`` (and ``diff``) when ``--source-format kube`` or ``[source]
format = "kube"`` says the files are Kubernetes YAML: each document becomes a
``reconcile.kube.KubeObject`` (kind ``k8s``). Unsupported files and documents
(Helm charts, kustomize files) are skipped with a note on stderr; errors, and
a file that does not parse outside a chart, fail the load: a revision never
prunes objects because part of their file could not be read. ``reconcile``
talks to no real cluster itself: a provider package serving ``k8s`` does, or
``[providers.kube] cluster = "FILE"`` selects ``FileCluster``,
``reconcile.testing.FakeCluster`` kept in a JSON file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from reconcile._diff.changes import Diff
from reconcile._model.resource import address_of
from reconcile._provider.contract import Provider
from reconcile._util.errors import ManifestError, ManifestProblem
from reconcile.kube import KubeObject, from_manifest, read_kube_documents, to_manifest
from reconcile.sources import GitSource, ManifestSource
from reconcile.testing import FakeCluster

from ._config import ConfigError

__all__ = [
    "FileCluster",
    "KubeFolders",
    "git_source",
    "kube_loader",
    "kube_providers",
    "with_kube_hint",
]

Loader = Callable[[Path], list[Any]]
_TEMPLATE = "a Helm/Go template"  # how the loader reports a file YAML cannot parse, outside charts


def kube_loader(namespace: str = "", where: Callable[[Path, str], str] | None = None) -> Loader:
    """Read a folder of Kubernetes YAML: errors fail; each unsupported file is noted once,
    named by ``where(folder, file)`` (default: as found)."""
    noted: set[tuple[str, str]] = set()

    def load(folder: Path) -> list[Any]:
        found = read_kube_documents(folder, default_namespace=namespace)
        unreadable = [
            ManifestProblem(u.file, f"cannot be read as YAML: {u.reason}; outside a Helm chart, "
                            "its objects would be missing (and pruned)")
            for u in found.unsupported
            if u.reason.startswith(_TEMPLATE)
        ]  # fmt: skip
        if found.errors or unreadable:
            raise ManifestError([*found.errors, *unreadable])
        for item in found.unsupported:
            file = where(folder, item.file) if where is not None else item.file
            if (file, item.reason) not in noted:
                noted.add((file, item.reason))
                click.echo(f"note: skipped {file}: {item.reason}", err=True)
        return list(found.objects)

    return load


def git_source(repo: str, ref: str, path: str, fmt: str, namespace: str = "") -> GitSource:
    """A Git revision's folder, read as ``fmt`` (``reconcile`` manifests or ``kube``)."""
    depth = len([p for p in path.split("/") if p])

    def where(folder: Path, file: str) -> str:
        """A file of the revision's temporary copy as ``repo@ref:path`` in the repository."""
        root = folder.parents[depth - 1] if depth else folder
        return f"{repo}@{ref}:{Path(file).relative_to(root)}"

    loader = kube_loader(namespace, where) if fmt == "kube" else None
    return GitSource(repo, ref, path, loader=loader)


class KubeFolders:
    """Kubernetes YAML in local files and folders, as a ``Source``; revision: their digest."""

    def __init__(self, paths: Sequence[Path], namespace: str = "") -> None:
        self.paths = tuple(paths)
        self._load = kube_loader(namespace)

    def __repr__(self) -> str:
        return f"KubeFolders({', '.join(repr(str(p)) for p in self.paths)})"

    def revision(self) -> str:
        return ManifestSource(*self.paths).revision()

    def load(self, revision: str | None = None) -> list[Any]:
        return [obj for path in self.paths for obj in self._load(path)]


class FileCluster(FakeCluster):
    """``FakeCluster`` kept in a JSON file between commands, to try GitOps without a cluster.

    Between two commands the simulated controllers finish (``settle``): workloads are ready.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        if path.is_file():
            self._restore(json.loads(path.read_text()))
            self.settle()

    def create(self, want: KubeObject) -> KubeObject:
        made = super().create(want)
        self._save()
        return made

    def update(self, have: KubeObject, want: KubeObject, diff: Diff) -> KubeObject:
        made = super().update(have, want, diff)
        self._save()
        return made

    def delete(self, have: KubeObject) -> None:
        super().delete(have)
        self._save()

    def _restore(self, data: Mapping[str, Any]) -> None:
        for manifest in data.get("objects", []):
            obj = from_manifest(manifest, cluster_scoped=())
            self._objects[address_of(obj)] = obj
        self._applied.update(data.get("applied", {}))
        self._revision = int(data.get("revision", 0))
        self._allocated = int(data.get("allocated", 0))

    def _save(self) -> None:
        with self._lock:
            data = {
                "objects": [to_manifest(o) for o in self._objects.values()],
                "applied": self._applied,
                "revision": self._revision,
                "allocated": self._allocated,
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".cluster-")
            with os.fdopen(fd, "w") as out:
                json.dump(data, out, indent=1, sort_keys=True)
            os.replace(tmp, self.path)


def kube_providers(settings: Mapping[str, Any], base: Path) -> Iterable[Provider[Any]]:
    """``[providers.kube]``: ``cluster = "FILE"`` serves kind ``k8s`` from a simulated cluster."""
    unknown = sorted(set(settings) - {"cluster"})
    if unknown:
        raise ConfigError(f"[providers.kube]: unknown settings {unknown} (known: ['cluster'])")
    cluster = settings.get("cluster")
    if cluster is None:
        return []
    if not isinstance(cluster, str) or not cluster:
        raise ConfigError(f"[providers.kube]: cluster must be a file path, not {cluster!r}")
    return [FileCluster((base / cluster).resolve())]


_LOOKS_KUBE = "unknown key 'apiVersion'"
_HINT = (
    "\nhint: these look like Kubernetes documents; pass --source-format kube "
    '(or set [source] format = "kube" in reconcile.toml)'
)


def with_kube_hint(message: str) -> str:
    """An error about manifests that are Kubernetes documents, with the option that reads them."""
    return message + _HINT if _LOOKS_KUBE in message else message


NO_PROVIDER = (
    "the source holds Kubernetes documents (kind 'k8s') but no provider serves them: "
    "install a provider package for your cluster (entry point group reconcile.providers), "
    'or set [providers.kube] cluster = "cluster.json" in reconcile.toml for a simulated '
    "cluster kept in that file"
)

kube_providers.kinds = (KubeObject,)  # type: ignore[attr-defined]
