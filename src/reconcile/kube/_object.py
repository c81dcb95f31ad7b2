"""``KubeObject``, the resource one Kubernetes object is, and its manifests both ways.

Used by the loader (``_load``) for each document and by ``reconcile.testing``'s
``FakeCluster``. The key is the API group, kind, namespace and name (an
apiVersion change is an update of ``version``); ``body`` is the rest of the
manifest, checked to be JSON data so it survives state files and plans.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

import attrs

from reconcile._model.resource import field, resource
from reconcile._util.errors import InvalidStateError

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "KUSTOMIZE_GROUP",
    "KubeDocumentError",
    "KubeObject",
    "from_manifest",
    "split_api_version",
    "to_manifest",
]

#: Kinds that live outside namespaces: ``default_namespace`` is never applied to them.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService", "CertificateSigningRequest", "ClusterIssuer", "ClusterRole",
        "ClusterRoleBinding", "CSIDriver", "CSINode", "CustomResourceDefinition",
        "GatewayClass", "IngressClass", "MutatingWebhookConfiguration", "Namespace", "Node",
        "PersistentVolume", "PriorityClass", "RuntimeClass", "StorageClass",
        "ValidatingAdmissionPolicy", "ValidatingWebhookConfiguration", "VolumeAttachment",
    }
)  # fmt: skip
_IDENTITY = ("apiVersion", "kind")
_META_IDENTITY = ("name", "namespace")
KUSTOMIZE_GROUP = "kustomize.config.k8s.io"

Path = tuple[str | int, ...]


class KubeDocumentError(InvalidStateError):
    """A document cannot be a ``KubeObject``; ``unsupported`` when it is valid but not handled."""

    def __init__(self, message: str, path: Path = (), *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.unsupported = unsupported


# -- the resource ------------------------------------------------------------------


def _non_empty(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value or "," in value:
        raise KubeDocumentError(f"{attribute.name} must be a non-empty string without ','")


def _plain_name(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or "/" in value or "," in value:
        raise KubeDocumentError(f"{attribute.name} must be a string without '/' or ','")


def _check_body(_: Any, __: attrs.Attribute[Any], body: Any) -> None:
    if not isinstance(body, dict):
        raise KubeDocumentError("body must be a mapping")
    if any(k in body for k in _IDENTITY):
        raise KubeDocumentError("body holds apiVersion or kind: they are the key fields")
    meta = body.get("metadata", {})
    if not isinstance(meta, dict) or any(k in meta for k in _META_IDENTITY):
        raise KubeDocumentError("body.metadata must be a mapping without name or namespace")
    _check_json(body, ())


def _check_json(value: Any, path: Path) -> None:
    """Only what JSON can hold: a YAML date or a non-string key would not survive the API."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise KubeDocumentError(f"key {k!r} is not a string", path)
            _check_json(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(v, (*path, i))
    elif value is not None and not isinstance(value, str | int | float | bool):
        shown = type(value).__name__
        raise KubeDocumentError(f"a {shown} is not JSON data (quote it in YAML)", path)


@resource("k8s")
class KubeObject:
    """One Kubernetes object: ``k8s[group,Kind,namespace,name]``; ``body`` is compared as data.

    ``group`` is the API group ("" for the core group), ``namespace`` is "" for
    cluster-scoped objects, ``body`` is the manifest minus apiVersion, kind, name, namespace.
    """

    group: str = field(key=True, validator=_plain_name)
    object_kind: str = field(key=True, validator=_non_empty)
    namespace: str = field(key=True, validator=_plain_name)
    name: str = field(key=True, validator=_non_empty)
    version: str = field(validator=_non_empty)
    body: dict[str, Any] = field(factory=dict, validator=_check_body)

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` as ``("apps", "v1")``; the core group's ``"v1"`` as ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    if not version or "/" in group:
        raise KubeDocumentError(f"apiVersion {api_version!r} is not group/version", ("apiVersion",))
    return group, version


# -- manifests ---------------------------------------------------------------------


def from_manifest(
    doc: Any,
    *,
    default_namespace: str = "",
    cluster_scoped: Collection[str] = CLUSTER_SCOPED_KINDS,
) -> KubeObject:
    """The ``KubeObject`` a manifest describes; ``default_namespace`` fills a missing namespace.

    Raises :class:`KubeDocumentError` naming the field path when it cannot.
    """
    api_version, kind, meta = _identity(doc)
    group, version = split_api_version(api_version)
    namespace = meta.get("namespace") or ("" if kind in cluster_scoped else default_namespace)
    body = {k: copy.deepcopy(v) for k, v in doc.items() if k not in (*_IDENTITY, "metadata")}
    rest = {k: copy.deepcopy(v) for k, v in meta.items() if k not in _META_IDENTITY}
    if rest:
        body = {"metadata": rest, **body}
    return KubeObject(group, kind, namespace, meta["name"], version, body)  # body paths = doc paths


def _identity(doc: Any) -> tuple[str, str, dict[str, Any]]:
    if not isinstance(doc, dict):
        raise KubeDocumentError(f"a manifest is a mapping, not a {type(doc).__name__}")
    for name in _IDENTITY:
        if not isinstance(doc.get(name), str) or not doc[name]:
            raise KubeDocumentError(f"{name} is missing: not a Kubernetes object", (name,))
    api_version, kind = doc["apiVersion"], doc["kind"]
    if api_version.startswith(KUSTOMIZE_GROUP + "/"):
        raise _unsupported(f"{kind}: a kustomize build file, not a cluster object")
    if kind.endswith("List") and "items" in doc:
        raise _unsupported(f"{kind}: lists of objects are not expanded")
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        raise KubeDocumentError("metadata is missing or not a mapping", ("metadata",))
    return api_version, kind, _checked_meta(kind, meta)


def _checked_meta(kind: str, meta: dict[str, Any]) -> dict[str, Any]:
    name = meta.get("name")
    if not name and meta.get("generateName"):
        why = "the server picks the name, so it has no stable identity to reconcile"
        raise _unsupported(f"{kind} with metadata.generateName only: {why}")
    if not isinstance(name, str) or not name:
        raise KubeDocumentError("metadata.name is missing or not a string", ("metadata", "name"))
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise KubeDocumentError("metadata.namespace is not a string", ("metadata", "namespace"))
    return meta


def _unsupported(message: str) -> KubeDocumentError:
    return KubeDocumentError(message, unsupported=True)


def to_manifest(obj: KubeObject) -> dict[str, Any]:
    """The manifest ``obj`` came from: ``from_manifest(to_manifest(obj)) == obj``."""
    meta: dict[str, Any] = {"name": obj.name}
    if obj.namespace:
        meta["namespace"] = obj.namespace
    meta.update(copy.deepcopy(obj.body.get("metadata", {})))
    doc: dict[str, Any] = {"apiVersion": obj.api_version, "kind": obj.object_kind, "metadata": meta}
    doc.update({k: copy.deepcopy(v) for k, v in obj.body.items() if k != "metadata"})
    return doc
