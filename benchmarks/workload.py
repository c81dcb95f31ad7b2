"""The plan-at-scale workload: N resources of a 20-field kind, with drift, gaps and extras.

1% of resources drifted at random nested paths, 0.5% missing from the live
system, 0.5% extra in recorded state (recorded, no longer desired). Seeded, so
every run and every baseline sees the same data.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import attrs

import reconcile as rc
from reconcile import Record


@rc.resource("bench_service")
class Service:
    name: str = rc.field(key=True)
    namespace: str = rc.field(key=True)
    image: str = ""
    replicas: int = 1
    cpu: str = "100m"
    memory: str = "128Mi"
    enabled: bool = True
    tier: str = "web"
    owner: str = ""
    region: str = rc.field(default="eu", replace=True)
    labels: dict[str, str] = rc.field(factory=dict)
    annotations: dict[str, str] = rc.field(factory=dict)
    ports: list[dict[str, Any]] = rc.field(factory=list)
    spec: dict[str, Any] = rc.field(factory=dict)
    env: list[str] = rc.field(factory=list)
    timeout: float = 30.0
    retries: int = 3
    version: str = "1"
    note: str = rc.field(default="", ignore=True)
    uid: str | None = rc.field(default=None, computed=True)


def make(i: int, rng: random.Random) -> Service:
    return Service(
        name=f"svc-{i}",
        namespace=f"ns-{i % 50}",
        image=f"registry.example.org/app-{i % 97}:{i % 13}",
        replicas=1 + i % 5,
        owner=f"team-{i % 17}",
        labels={"app": f"app-{i}", "env": rng.choice(["dev", "prod"]), "team": f"t{i % 17}"},
        annotations={"example.org/revision": str(i)},
        ports=[
            {"name": "http", "port": 8080, "protocol": "TCP"},
            {"name": "metrics", "port": 9090},
        ],
        spec={"strategy": {"type": "Rolling", "rolling": {"maxSurge": 1, "maxUnavailable": 0}}},
        env=[f"A={i}", "B=2"],
    )


def drift(res: Service, rng: random.Random) -> Service:
    """One change at a random nested path."""
    choice = rng.randrange(4)
    if choice == 0:
        return attrs.evolve(res, labels={**res.labels, "env": "drifted"})
    if choice == 1:
        ports = copy.deepcopy(res.ports)
        ports[0]["port"] = 8081
        return attrs.evolve(res, ports=ports)
    if choice == 2:
        spec = copy.deepcopy(res.spec)
        spec["strategy"]["rolling"]["maxSurge"] = 2
        return attrs.evolve(res, spec=spec)
    return attrs.evolve(res, replicas=res.replicas + 1)


@attrs.frozen
class World:
    """Desired resources, the live objects (by address), and the recorded extras."""

    desired: list[Service]
    live: dict[str, Service]
    extra: list[Service]


def world(n: int, seed: int = 7) -> World:
    rng = random.Random(seed)
    desired = [make(i, rng) for i in range(n)]
    live: dict[str, Service] = {}
    for res in desired:
        roll = rng.random()
        if roll < 0.005:
            continue  # missing
        filled = attrs.evolve(res, uid=f"u-{res.name}")
        live[rc.address_of(res)] = drift(filled, rng) if roll < 0.015 else filled
    extra = [attrs.evolve(make(n + i, rng), uid=f"x-{i}") for i in range(max(1, n // 200))]
    for res in extra:
        live[rc.address_of(res)] = res
    return World(desired, live, extra)


_UNMANAGED = ("uid", "note", "depends_on", "lifecycle")  # computed, ignored, engine fields


def as_dicts(items: list[Service]) -> dict[str, dict[str, Any]]:
    """The same managed data as plain dicts (what the baselines hold and compare)."""
    return {
        rc.address_of(r): {
            k: v for k, v in attrs.asdict(r, recurse=True).items() if k not in _UNMANAGED
        }
        for r in items
    }


def records_for(w: World) -> list[Record]:
    """Recorded state: everything desired that exists, plus the extras."""
    records = []
    for res in [*w.desired, *w.extra]:
        address = rc.address_of(res)
        have = w.live.get(address)
        if have is None:
            continue
        spec = {k: v for k, v in attrs.asdict(res).items() if k not in ("depends_on", "lifecycle")}
        records.append(Record(address, "bench_service", spec, {"uid": have.uid}))
    return records
