"""A process the files crash-safety test runs and kills with SIGKILL at a named point.

``python files_crash_worker.py ROOT STATE GENERATION KILL_AT`` converges
GENERATION's files (generation 1: 150 files in 5 folders; generation 2 rewrites
40, changes the mode of 8, deletes 30 and adds 10) into ROOT with the built-in
providers, ``local_providers(ROOT, durable=False)``, whose calls run inline on
the applying thread, and ``SQLiteState``.

Every crossing point passes a hook labelled with its kind: ``intent-before`` /
``intent-after`` (an intent opened, inside a cycle's intents batch),
``call-before`` / ``call-after`` (a provider write), ``write`` (inside a file
write, the temporary file complete but not yet renamed over the target) and
``record-before`` / ``record-after`` (a record saved or forgotten, inside a
cycle's completions batch). KILL_AT is ``LABEL:N`` (SIGKILL at the Nth crossing
of LABEL, naming it on stderr first) or ``0`` (never). The next process resumes
by itself: the dead one's lock died with it. Prints the crossings of each label,
whether it converged, and whether every write ran on this thread.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import reconcile as rc
import reconcile.providers._io as provider_io
from reconcile.providers import Directory, File, local_providers

FOLDERS = 5


class Hook:
    """Counts crossings by label; kills this process at the chosen one."""

    def __init__(self, kill_at: str) -> None:
        label, _, nth = kill_at.partition(":")
        self.label, self.nth = (label, int(nth)) if nth else ("", 0)
        self.passed: collections.Counter[str] = collections.Counter()
        self.threads: set[int] = set()

    def __call__(self, label: str, what: str = "") -> None:
        self.passed[label] += 1
        if label == self.label and self.passed[label] == self.nth:
            print(f"killed at {label}:{self.nth} {what}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)


class HookedState(rc.SQLiteState):
    """SQLite state whose intents and records pass the hook, before and after."""

    def __init__(self, path: Path, hook: Hook) -> None:
        super().__init__(path)
        self.hook = hook

    def open_intent(self, address: str, *args: Any) -> int:
        self.hook("intent-before", address)
        intent = super().open_intent(address, *args)
        self.hook("intent-after", address)
        return intent

    def save(self, record: rc.Record, **kw: Any) -> None:
        self.hook("record-before", record.address)
        super().save(record, **kw)
        self.hook("record-after", record.address)

    def forget(self, address: str, **kw: Any) -> None:
        self.hook("record-before", address)
        super().forget(address, **kw)
        self.hook("record-after", address)


def _hooked(call: Callable[..., Any], hook: Hook) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        hook.threads.add(threading.get_ident())
        what = rc.address_of(args[-1] if call.__name__ != "update" else args[1])
        hook("call-before", what)
        result = call(*args)
        hook("call-after", what)
        return result

    return wrapper


def providers(root: Path, hook: Hook) -> list[rc.Provider[Any]]:
    """The built-in providers, durable=False, each write wrapped in the hook."""
    made = local_providers(root, durable=False)
    for provider in made:
        for name in ("create", "update", "delete"):
            setattr(provider, name, _hooked(getattr(provider, name), hook))
    rename_over = provider_io._rename_over

    def hooked_rename(temp: str, target: str, durable: bool) -> None:
        hook("write", target)
        rename_over(temp, target, durable)

    provider_io._rename_over = hooked_rename  # looked up by name on every write
    return made


def _file(i: int, generation: int) -> File:
    folder = f"d{i % FOLDERS}"
    content = f"file {i} generation 1\n" * (1 + i % 4)
    mode = 0o600 if i % 4 == 0 else 0o644
    if generation == 2 and i % 3 == 0:
        content = f"file {i} rewritten in generation 2\n"
    elif generation == 2 and i % 10 == 1:
        mode = 0o640  # a mode alone: a chmod, no rewrite
    return File(f"{folder}/f{i:03}.txt", content=content, mode=mode, depends_on=[folder_of(i)])


def folder_of(i: int) -> Directory:
    return Directory(f"d{i % FOLDERS}", mode=0o755)


def desired(generation: int) -> list[Any]:
    """Generation 1: 5 folders, 150 files. Generation 2: 120 kept (48 changed), 10 new."""
    folders = [folder_of(i) for i in range(FOLDERS)]
    if generation == 1:
        return folders + [_file(i, 1) for i in range(150)]
    return folders + [_file(i, 2) for i in range(120)] + [_file(i, 2) for i in range(200, 210)]


def main(argv: list[str]) -> int:
    root, state_path, generation, kill_at = Path(argv[0]), Path(argv[1]), int(argv[2]), argv[3]
    hook = Hook(kill_at)
    made = providers(root, hook)
    state = HookedState(state_path, hook)
    reconciler = rc.Reconciler(made, state=state)
    report = reconciler.converge(desired(generation), revision=f"gen{generation}")
    inline = all(p.inline_apply for p in made) and hook.threads <= {threading.get_ident()}
    print(json.dumps({"hooks": dict(hook.passed), "converged": report.converged, "inline": inline}))
    return 0 if report.converged else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
