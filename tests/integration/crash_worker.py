"""A process the crash-safety test runs and kills with SIGKILL at a chosen point.

``python crash_worker.py ROOT STATE GENERATION KILL_AT``: converges
GENERATION's desired blobs (generation 1: 200 blobs; generation 2 updates
150, deletes 50 and adds 20) into ROOT through a provider whose objects get
ids the "remote system" chooses (a uuid file name), like cloud VMs. Every
provider write and every state commit passes a numbered hook; at hook number
KILL_AT the process SIGKILLs itself. The next process resumes by itself, as one
restarted by systemd would: the dead one's lock died with it, and nobody breaks
it. Prints the number of hooks passed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import attrs

import reconcile as rc


@rc.resource("crash_blob")
class Blob:
    name: str = rc.field(key=True)
    content: str = ""
    id: str | None = rc.field(default=None, computed=True)


class Hook:
    """Counts crossing points; kills this process at point ``kill_at``."""

    def __init__(self, kill_at: int) -> None:
        self.kill_at = kill_at
        self.passed = 0

    def __call__(self) -> None:
        self.passed += 1
        if self.passed == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


class BlobStore(rc.Provider[Blob]):
    """Each blob is ROOT/<id>.json; only the id finds it (or a full listing)."""

    resource = Blob

    def __init__(self, root: Path, hook: Hook) -> None:
        self.root = root
        self.hook = hook

    def _path(self, blob_id: str) -> Path:
        return self.root / f"{blob_id}.json"

    def _load(self, path: Path) -> Blob:
        data = json.loads(path.read_text())
        return Blob(data["name"], data["content"], id=path.stem)

    def _write(self, blob_id: str, want: Blob) -> None:
        tmp = self.root / f".{blob_id}.tmp"
        tmp.write_text(json.dumps({"name": want.name, "content": want.content}))
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(self._path(blob_id))

    def read(self, want: Blob) -> Blob | None:
        if want.id is None or not self._path(want.id).exists():
            return None
        return self._load(self._path(want.id))

    def create(self, want: Blob) -> Blob:
        self.hook()
        blob_id = uuid.uuid4().hex
        self._write(blob_id, want)
        self.hook()  # the remote object exists; the engine has not recorded it yet
        return attrs.evolve(want, id=blob_id, depends_on=())

    def update(self, have: Blob, want: Blob, diff: rc.Diff) -> Blob:
        assert have.id is not None
        self.hook()
        self._write(have.id, want)
        self.hook()
        return attrs.evolve(want, id=have.id, depends_on=())

    def delete(self, have: Blob) -> None:
        assert have.id is not None
        self.hook()
        self._path(have.id).unlink(missing_ok=True)
        self.hook()

    def list(self) -> list[Blob]:
        return [self._load(p) for p in sorted(self.root.glob("*.json"))]


class HookedState(rc.SQLiteState):
    """SQLite state whose commits of records also pass the hook, before and after."""

    def __init__(self, path: Path, hook: Hook) -> None:
        super().__init__(path)
        self.hook = hook

    def save(self, record: rc.Record, **kw: Any) -> None:
        self.hook()
        super().save(record, **kw)
        self.hook()

    def forget(self, address: str, **kw: Any) -> None:
        self.hook()
        super().forget(address, **kw)
        self.hook()


def desired(generation: int) -> list[Blob]:
    """Generation 1: 200 blobs. Generation 2: 150 updated, 50 gone, 20 new."""
    if generation == 1:
        return [Blob(f"b{i:03}", f"v1-{i}") for i in range(200)]
    return [Blob(f"b{i:03}", f"v2-{i}") for i in range(150)] + [
        Blob(f"n{i:03}", f"new-{i}") for i in range(20)
    ]


def main(argv: list[str]) -> int:
    root, state_path, generation, kill_at = (
        Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    )  # fmt: skip
    hook = Hook(kill_at)
    state = HookedState(state_path, hook)
    reconciler = rc.Reconciler([BlobStore(root, hook)], state=state)
    report = reconciler.converge(desired(generation), revision=f"gen{generation}")
    print(json.dumps({"hooks": hook.passed, "converged": report.converged}))
    return 0 if report.converged else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
