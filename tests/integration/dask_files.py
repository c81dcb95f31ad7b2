"""A small real-files provider, importable by Dask worker processes (so: picklable).

Each create/update writes the file and a note of the worker's pid beside it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import attrs

import reconcile as rc


@rc.resource("dask_file")
class DaskFile:
    name: str = rc.field(key=True)
    content: str = ""
    sha256: str | None = rc.field(default=None, computed=True)


class DaskFiles(rc.Provider[DaskFile]):
    """Files under ``root``; every attribute is plain data, so it pickles."""

    resource = DaskFile

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, want: DaskFile) -> DaskFile | None:
        path = self.root / want.name
        if not path.exists():
            return None
        content = path.read_text()
        return DaskFile(want.name, content, hashlib.sha256(content.encode()).hexdigest())

    def _write(self, want: DaskFile) -> DaskFile:
        (self.root / want.name).write_text(want.content)
        (self.root / f"{want.name}.pid").write_text(str(os.getpid()))
        digest = hashlib.sha256(want.content.encode()).hexdigest()
        return attrs.evolve(want, sha256=digest, depends_on=())

    def create(self, want: DaskFile) -> DaskFile:
        return self._write(want)

    def update(self, have: DaskFile, want: DaskFile, diff: rc.Diff) -> DaskFile:
        return self._write(want)

    def delete(self, have: DaskFile) -> None:
        (self.root / have.name).unlink(missing_ok=True)
