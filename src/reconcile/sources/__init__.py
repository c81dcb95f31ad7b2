"""Where desired state comes from: manifest files (YAML, JSON, TOML) and folders of them.

``load_manifests(path, ...)`` returns the resources the files declare, or raises
:class:`reconcile.ManifestError` listing every problem in every file (file, line,
column, document, address, field path). ``ManifestSource`` adds ``revision()``,
a digest of the files, for callers that record where desired state came from.
"""

from reconcile._util.errors import ManifestError, ManifestProblem

from ._git import CommitInfo, GitSource, parse_git_spec
from ._manifests import ManifestSource, load_blobs, load_manifests

__all__ = [
    "CommitInfo",
    "GitSource",
    "ManifestError",
    "ManifestProblem",
    "ManifestSource",
    "load_blobs",
    "load_manifests",
    "parse_git_spec",
]

for _obj in (ManifestSource, ManifestProblem, load_manifests, GitSource, CommitInfo):
    _obj.__module__ = "reconcile.sources"
del _obj
