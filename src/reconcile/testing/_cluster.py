"""``FakeCluster``: an in-memory Kubernetes API server behind the provider interface.

For tests of GitOps flows over ``reconcile.kube.KubeObject``. Like a real server
it fills in defaults (replicas, Service type, cluster IP and node ports,
container pull policy, ...), sets ``metadata.uid``, ``creationTimestamp``,
``resourceVersion`` (on every write) and ``generation`` (on spec changes), and
keeps a ``status`` block that ``settle`` makes ready. It remembers the body last
applied to each object, so ``diff`` compares only what the desired document sets
(``reconcile.kube.compare``) while a field dropped from it still shows.
"""

from __future__ import annotations

import builtins
import copy
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import attrs

from reconcile._diff.changes import Diff
from reconcile._model.resource import address_of
from reconcile._provider.contract import Provider
from reconcile.kube import KubeObject, compare, without_server_fields

from ._clock import Clock, SimulatedClock

__all__ = ["FakeCluster", "Health"]

Health = Literal["Healthy", "Progressing", "Degraded", "Missing"]
Body = dict[str, Any]

_WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet")


class FakeCluster(Provider[KubeObject]):
    """An in-memory API server for ``KubeObject``; one instance is one isolated cluster.

    ``clock`` stamps ``creationTimestamp`` (a :class:`SimulatedClock` by default);
    ``seed`` makes uids repeatable. Thread-safe: apply may call it in parallel.
    """

    resource = KubeObject
    blocking_io = False

    def __init__(self, *, clock: Clock | None = None, seed: int | None = 0) -> None:
        self.clock: Clock = clock if clock is not None else SimulatedClock()
        self._rng = random.Random(seed)
        self._objects: dict[str, KubeObject] = {}
        self._applied: dict[str, Body] = {}
        self._revision = 0
        self._allocated = 0
        self._lock = threading.RLock()

    # -- the provider contract -------------------------------------------------

    def read(self, want: KubeObject) -> KubeObject | None:
        return self.get(want)

    def list(self) -> Iterable[KubeObject]:
        return builtins.list(self)

    def create(self, want: KubeObject) -> KubeObject:
        address = address_of(want)
        with self._lock:
            if address in self._objects:
                raise ValueError(f"{address} already exists (409 AlreadyExists)")
            mine = _client_part(want.body)
            body = self._defaulted(want.object_kind, copy.deepcopy(mine))
            body.setdefault("metadata", {}).update(self._birth())
            _set_status(body, _initial_status(want.object_kind, body))
            self._applied[address] = mine
            made = KubeObject(
                want.group, want.object_kind, want.namespace, want.name, want.version, body
            )
            return self._write(address, None, made)

    def update(self, have: KubeObject, want: KubeObject, diff: Diff) -> KubeObject:
        address = address_of(want)
        with self._lock:
            current = self._existing(address)
            mine = _client_part(want.body)
            body = _apply(current.body, mine, self._applied.get(address, {}))
            body = self._defaulted(want.object_kind, body)
            self._applied[address] = mine
            changed = attrs.evolve(current, version=want.version, body=body)  # type: ignore[misc]
            return self._write(address, current, changed)

    def delete(self, have: KubeObject) -> None:
        address = address_of(have)
        with self._lock:
            self._objects.pop(address, None)
            self._applied.pop(address, None)

    def diff(self, want: KubeObject, have: KubeObject) -> Diff:
        """Only what ``want`` sets, or the body last applied set, is compared."""
        with self._lock:
            applied = copy.deepcopy(self._applied.get(address_of(have)))
        return compare(want, have, applied)

    def health(self, have: KubeObject | None) -> Health:
        """Argo CD-style health: workloads are ``Progressing`` until ready (see :meth:`settle`)."""
        if have is None:
            return "Missing"
        check = _HEALTH.get(have.object_kind)
        return check(have.body) if check is not None else "Healthy"

    # -- the cluster's own life, and changes behind the engine's back ------------

    def settle(self) -> None:
        """Let controllers finish: workloads ready, Jobs complete, load balancers addressed."""
        with self._lock:
            for address, current in builtins.list(self._objects.items()):
                body = copy.deepcopy(current.body)
                _set_status(body, self._ready_status(current, body))
                if body != current.body:
                    self._write(address, current, attrs.evolve(current, body=body))  # type: ignore[misc]

    def patch(self, target: KubeObject | str, merge: Mapping[str, Any]) -> KubeObject:
        """Change an object as another client would, by JSON merge patch (RFC 7386)."""

        def change(body: Body) -> None:
            merged = _merge_patch(body, merge)
            body.clear()
            body.update(merged)

        return self.edit(target, change)

    def edit(self, target: KubeObject | str, change: Callable[[Body], None]) -> KubeObject:
        """Change an object's body in place with ``change``, as another client would."""
        address = _address(target)
        with self._lock:
            current = self._existing(address)
            body = copy.deepcopy(current.body)
            change(body)
            return self._write(address, current, attrs.evolve(current, body=body))  # type: ignore[misc]

    def remove(self, target: KubeObject | str) -> None:
        """Delete an object behind the engine's back."""
        with self._lock:
            self._objects.pop(_address(target), None)

    def get(self, target: KubeObject | str) -> KubeObject | None:
        """The object at ``target``'s address now (a copy), or None."""
        with self._lock:
            found = self._objects.get(_address(target))
            return _copy(found) if found is not None else None

    def __iter__(self) -> Iterator[KubeObject]:
        with self._lock:
            return iter([_copy(obj) for obj in self._objects.values()])

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    # -- internals -------------------------------------------------------------

    def _existing(self, address: str) -> KubeObject:
        found = self._objects.get(address)
        if found is None:
            raise KeyError(f"{address} not found (404 NotFound)")
        return found

    def _write(self, address: str, before: KubeObject | None, after: KubeObject) -> KubeObject:
        """Store ``after``: a new resourceVersion, a new generation when its spec changed."""
        meta = after.body.setdefault("metadata", {})
        self._revision += 1
        meta["resourceVersion"] = str(self._revision)
        if before is not None and _spec(before.body) != _spec(after.body):
            meta["generation"] = before.body["metadata"].get("generation", 1) + 1
        self._objects[address] = after
        return _copy(after)

    def _birth(self) -> Body:
        stamp = datetime.fromtimestamp(self.clock.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        uid = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        return {"uid": uid, "creationTimestamp": stamp, "generation": 1}

    def _allocate(self) -> int:
        self._allocated += 1
        return self._allocated

    def _defaulted(self, kind: str, body: Body) -> Body:
        spec = body.get("spec")
        if isinstance(spec, dict):
            if kind == "Service":
                _service_defaults(spec, self._allocate)
            elif kind in _DEFAULTS:
                _DEFAULTS[kind](spec)
        return body

    def _ready_status(self, obj: KubeObject, body: Body) -> Body | None:
        status = dict(_mapping(body.get("status")))
        spec = _mapping(body.get("spec"))
        if obj.object_kind in _WORKLOADS:
            count = spec.get("replicas", 1)
            generation = body["metadata"].get("generation", 1)
            return {"observedGeneration": generation, **dict.fromkeys(_REPLICAS, count)}
        if obj.object_kind == "Job":
            return {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        if obj.object_kind == "Service" and spec.get("type") == "LoadBalancer":
            if not _mapping(status.get("loadBalancer")).get("ingress"):
                status["loadBalancer"] = {"ingress": [{"ip": f"192.0.2.{self._allocate()}"}]}
            return status
        found = body.get("status")
        return found if isinstance(found, dict) else None


def _address(target: KubeObject | str) -> str:
    return target if isinstance(target, str) else address_of(target)


def _copy(obj: KubeObject) -> KubeObject:
    return attrs.evolve(obj, body=copy.deepcopy(obj.body))  # type: ignore[misc]


def _client_part(body: Body) -> Body:
    """What a client may write: no status, no server-owned metadata."""
    return copy.deepcopy(without_server_fields(body))


def _apply(live: Any, mine: Any, last: Any) -> Any:
    """kubectl apply's merge: set what ``mine`` sets, drop what only ``last`` set, keep the rest."""
    if not (isinstance(live, dict) and isinstance(mine, dict)):
        return copy.deepcopy(mine)
    before = last if isinstance(last, dict) else {}
    merged = {k: copy.deepcopy(v) for k, v in live.items() if k in mine or k not in before}
    for k, v in mine.items():
        merged[k] = _apply(live.get(k), v, before.get(k))
    return merged


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: mappings merge, ``None`` deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            merged.pop(k, None)
        else:
            merged[k] = _merge_patch(merged.get(k), v)
    return merged


def _spec(body: Body) -> Body:
    return {k: v for k, v in body.items() if k not in ("metadata", "status")}


def _set_status(body: Body, status: Body | None) -> None:
    if status is not None:
        body["status"] = status


# -- what the server fills in ----------------------------------------------------

_REPLICAS = ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas")
_STATUS: dict[str, Body] = {
    "Job": {"active": 1},
    "Service": {"loadBalancer": {}},
    "Namespace": {"phase": "Active"},
}


def _initial_status(kind: str, body: Body) -> Body | None:
    spec = _mapping(body.get("spec"))
    if kind in _WORKLOADS:
        return {"observedGeneration": 1, "replicas": spec.get("replicas", 1), "readyReplicas": 0}
    found = _STATUS.get(kind)
    return copy.deepcopy(found) if found is not None else None


def _workload_defaults(spec: Body, **extra: Any) -> None:
    spec.setdefault("replicas", 1)
    for key, value in extra.items():
        spec.setdefault(key, copy.deepcopy(value))
    _pod_defaults(spec.get("template"))


def _pod_defaults(template: Any) -> None:
    pod = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(pod, dict):
        return
    for key, value in _POD.items():
        pod.setdefault(key, value)
    for container in _dicts(pod.get("containers")) + _dicts(pod.get("initContainers")):
        _container_defaults(container)


def _container_defaults(container: Body) -> None:
    image = str(container.get("image", ""))
    tagged = ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
    container.setdefault("imagePullPolicy", "IfNotPresent" if tagged else "Always")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in _dicts(container.get("ports")):
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(probe), dict):
            for key, value in _PROBE.items():
                container[probe].setdefault(key, value)


def _service_defaults(spec: Body, allocate: Callable[[], int]) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName" and "clusterIP" not in spec:
        spec["clusterIP"] = f"10.96.0.{allocate()}"
        spec["clusterIPs"] = [spec["clusterIP"]]
    for port in _dicts(spec.get("ports")):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        if spec["type"] in ("NodePort", "LoadBalancer"):
            port.setdefault("nodePort", 30000 + allocate())


def _mapping(value: Any) -> Body:
    return value if isinstance(value, dict) else {}


def _dicts(items: Any) -> builtins.list[Body]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, builtins.list) else []


_POD = {
    "restartPolicy": "Always",
    "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
    "terminationGracePeriodSeconds": 30,
}
_PROBE = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
_ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
_DEFAULTS: dict[str, Callable[[Body], None]] = {
    "Deployment": lambda spec: _workload_defaults(
        spec, revisionHistoryLimit=10, progressDeadlineSeconds=600, strategy=_ROLLING
    ),
    "ReplicaSet": _workload_defaults,
    "StatefulSet": lambda spec: _workload_defaults(
        spec, revisionHistoryLimit=10, podManagementPolicy="OrderedReady"
    ),
    "Job": lambda spec: _workload_defaults(spec, backoffLimit=6, completions=1, parallelism=1),
}


# -- health ------------------------------------------------------------------------


def _conditions(body: Body) -> builtins.list[Body]:
    status = body.get("status")
    return _dicts(_mapping(status).get("conditions"))


def _has(body: Body, kind: str, status: str, reason: str | None = None) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == status and reason in (None, c.get("reason"))
        for c in _conditions(body)
    )


def _workload_health(body: Body) -> Health:
    if _has(body, "Progressing", "False", "ProgressDeadlineExceeded"):
        return "Degraded"
    status, spec = _mapping(body.get("status")), _mapping(body.get("spec"))
    if status.get("observedGeneration", 0) < body["metadata"].get("generation", 1):
        return "Progressing"
    ready = status.get("readyReplicas", 0) >= spec.get("replicas", 1)
    return "Healthy" if ready else "Progressing"


def _job_health(body: Body) -> Health:
    if _has(body, "Failed", "True"):
        return "Degraded"
    return "Healthy" if _has(body, "Complete", "True") else "Progressing"


def _service_health(body: Body) -> Health:
    spec, status = _mapping(body.get("spec")), _mapping(body.get("status"))
    if spec.get("type") != "LoadBalancer":
        return "Healthy"
    return "Healthy" if _mapping(status.get("loadBalancer")).get("ingress") else "Progressing"


_HEALTH: dict[str, Callable[[Body], Health]] = {
    **dict.fromkeys(_WORKLOADS, _workload_health),
    "Job": _job_health,
    "Service": _service_health,
}
