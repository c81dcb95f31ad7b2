"""Kubernetes-style documents as resources: ``KubeObject``, its manifests, and a folder loader.

An outer-ring package, above ``reconcile.sources`` (whose readers parse the
files) and under ``reconcile.testing`` (whose ``FakeCluster`` serves these
objects). Identity is the API *group*, kind, namespace and name: one object is
served at several versions, so an apiVersion change is an update of ``version``.
``compare`` diffs only what the desired document sets, as Argo CD does.
See docs/kubernetes.md.
"""

from ._compare import SERVER_METADATA, compare, desired_view, without_server_fields
from ._load import KubeLoad, Unsupported, load_kube_documents, read_kube_documents
from ._object import (
    CLUSTER_SCOPED_KINDS,
    KubeDocumentError,
    KubeObject,
    from_manifest,
    split_api_version,
    to_manifest,
)

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "SERVER_METADATA",
    "KubeDocumentError",
    "KubeLoad",
    "KubeObject",
    "Unsupported",
    "compare",
    "desired_view",
    "from_manifest",
    "load_kube_documents",
    "read_kube_documents",
    "split_api_version",
    "to_manifest",
    "without_server_fields",
]

# KubeObject keeps its defining module: cattrs resolves its type hints there.
for _obj in (KubeDocumentError, KubeLoad, Unsupported):
    _obj.__module__ = "reconcile.kube"
del _obj
