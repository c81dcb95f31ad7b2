"""Quickstart: a fifty-line provider for DNS records kept in a JSON zone file.

Run it with ``python examples/dns_provider.py [ZONE_FILE]``. It declares a few
records, prints the plan, applies it, then plans again: the second plan is empty.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import attrs

import reconcile as rc


@rc.resource("record")
class Record:
    name: str = rc.field(key=True)
    type: str = rc.field(default="A", replace=True)
    value: str = rc.field(default="", normalize=str.lower)  # DNS names ignore case
    ttl: int = 300
    id: str | None = rc.field(default=None, computed=True)


class ZoneFile(rc.Provider[Record]):
    """Records live in one JSON file: {name: {type, value, ttl, id}}."""

    resource = Record

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()  # steps run in parallel: one writer of the file at a time

    def _load(self) -> dict[str, dict[str, object]]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def _save(self, zone: dict[str, dict[str, object]]) -> None:
        self.path.write_text(json.dumps(zone, indent=2, sort_keys=True))

    def read(self, want: Record) -> Record | None:
        found = self._load().get(want.name)
        return None if found is None else Record(name=want.name, **found)  # type: ignore[arg-type]

    def create(self, want: Record) -> Record:
        made = attrs.evolve(want, id=uuid.uuid4().hex[:8], depends_on=())
        with self.lock:
            zone = self._load()
            zone[made.name] = {
                "type": made.type,
                "value": made.value,
                "ttl": made.ttl,
                "id": made.id,
            }
            self._save(zone)
        return made

    def update(self, have: Record, want: Record, diff: rc.Diff) -> Record:
        with self.lock:
            zone = self._load()
            zone[have.name].update(value=want.value, ttl=want.ttl)
            self._save(zone)
        return attrs.evolve(have, value=want.value, ttl=want.ttl)

    def delete(self, have: Record) -> None:
        with self.lock:
            zone = self._load()
            zone.pop(have.name, None)
            self._save(zone)


def main(zone_path: Path) -> None:
    www = Record("www.example.org", value="192.0.2.10")
    desired = [
        www,
        Record("api.example.org", value="192.0.2.20", ttl=60),
        Record("docs.example.org", type="CNAME", value="WWW.example.org", depends_on=[www]),
    ]
    reconciler = rc.Reconciler([ZoneFile(zone_path)])

    plan = reconciler.plan(desired)
    print(plan.render())
    result = reconciler.apply(plan)
    print(f"applied: {len(result.applied)} steps, ok={result.ok}\n")
    print(reconciler.plan(desired).render())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp) / "zone.json")
