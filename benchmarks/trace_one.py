"""The life of one new resource, counted: functions and modules of ``reconcile``
entered between ``Reconciler.plan`` and its state record (plan then apply, SQLite
state, caches warm). This is issue 18's path-length figure.

    python -m benchmarks.trace_one [--list]

Uses ``sys.setprofile``, so only Python functions count (C calls are skipped), and a
comprehension counts as part of its function.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import reconcile as rc
from reconcile.testing import MemoryProvider


@rc.resource("trace_item")
class Item:
    name: str = rc.field(key=True)
    size: int = 0


# Comprehension frames are part of the function that holds them (Python 3.12 inlines them).
_COMPREHENSIONS = {"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"}


@contextmanager
def counting(package: str) -> Iterator[dict[tuple[str, str], None]]:
    """Record every (module, function) of ``package`` entered inside the block, in the
    order of first entry."""
    entered: dict[tuple[str, str], None] = {}

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            module = frame.f_globals.get("__name__", "")
            name = frame.f_code.co_qualname
            inner = name.rpartition(".")[2] in _COMPREHENSIONS
            if (module == package or module.startswith(package + ".")) and not inner:
                entered.setdefault((module, name))

    threading_profile = sys.getprofile()
    sys.setprofile(profile)
    import threading

    threading.setprofile(profile)
    try:
        yield entered
    finally:
        sys.setprofile(threading_profile)
        threading.setprofile(None)


def trace(folder: Path) -> list[tuple[str, str]]:
    """Plan and apply one new resource in a fresh state after a warm-up in another
    state file (which fills the process-wide caches); count the second run only."""
    for name in ("warm", "traced"):
        state = rc.SQLiteState(folder / f"{name}.db")
        reconciler = rc.Reconciler([MemoryProvider(Item)], state)
        with counting("reconcile") as entered:
            reconciler.apply(reconciler.plan([Item(name, 1)]))
        state.close()
    return [(m, f) for m, f in entered if not m.startswith("reconcile.testing")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--list", action="store_true", help="print every function entered, in order"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        entered = trace(Path(tmp))
    modules = {module for module, _ in entered}
    if args.list:
        for module, name in entered:
            print(f"{module}:{name}")
    print(
        "one new resource, plan then apply (SQLite state, caches warm, engine only): "
        f"{len(entered)} functions in {len(modules)} modules"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
