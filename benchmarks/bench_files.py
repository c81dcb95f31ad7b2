"""Files, end to end: converge 1,000 files in 10 directories on the local disk.

The built-in ``file`` and ``directory`` providers with SQLite state, as
``reconcile apply`` runs them (open state, plan, apply when there are changes).
Three workloads, each against a plain-Python script doing only the necessary
reads and writes on its own tree in the same run:

- first apply (target: within 3x), against a script that gives the same
  guarantees: durable, against plain writes made just as durable; with
  ``durable=False``, against a hand-written script that writes each file to a
  temporary and renames it into place, with an intent row before each write and
  a record and journal row after it, in SQLite, committed per 100 files as
  apply commits (what any engine that survives a crash must pay). Both are
  also shown against bare mkdir + write + chmod, for scale: on a fast disk the
  hand-written script alone takes 3-5x that bare loop;
- a no-op re-apply, against plain read + sha256 + stat + compare (target: within 3x);
- a re-apply after 5% content drift, 5% mode drift and 5% deletions, against
  the plain read-and-compare of every file plus rewriting the 15% that differ.

Writes run in both provider configurations. The default, ``durable=True``,
fsyncs each file before renaming it into place and then its folder; it is
measured against plain writes made just as durable as well as against plain
writes. ``durable=False`` writes just as atomically (temporary file, rename)
without the fsyncs. The state is ``SQLiteState`` with its default
``synchronous=NORMAL``, as the CLI opens it unless ``[state] synchronous`` says
otherwise: one transaction per step, no fsync per commit.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import reconcile as rc
from reconcile.providers import Directory, File, local_providers

from .harness import Row, Timed, measure_together

DIRS = 10
NOOP_RUNS = 9
MODE, DRIFT_MODE, DIR_MODE = 0o644, 0o600, 0o755


def _body(i: int) -> str:
    """About 1 KiB of text, different for every file."""
    return f"<p>file {i}: declared by a manifest, kept by reconcile.</p>\n" * 16


def _layout(count: int) -> list[tuple[str, bytes]]:
    """Every file's path (relative to the root) and bytes, spread over ``DIRS`` folders."""
    return [(f"d{i % DIRS:02d}/f{i:04d}.html", _body(i).encode()) for i in range(count)]


def _desired(count: int) -> list[Any]:
    folders = [Directory(f"d{d:02d}", mode=DIR_MODE) for d in range(DIRS)]
    files = [
        File(path, content=_body(i), mode=MODE, depends_on=[folders[i % DIRS]])
        for i, (path, _) in enumerate(_layout(count))
    ]
    return [*folders, *files]


def _drift(root: Path, count: int) -> int:
    """5% of files get new content, 5% a new mode, 5% are deleted; returns how many."""
    changed = 0
    for i, (path, _) in enumerate(_layout(count)):
        target = root / path
        if i % 20 == 0:
            target.write_bytes(b"edited by hand\n")
        elif i % 20 == 1:
            os.chmod(target, DRIFT_MODE)
        elif i % 20 == 2:
            target.unlink()
        else:
            continue
        changed += 1
    return changed


# -- ours ------------------------------------------------------------------------


def _apply(root: Path, db: Path, desired: list[Any], durable: bool = True) -> int:
    """What ``reconcile apply --yes`` does: open state, plan, apply if needed, close."""
    state = rc.SQLiteState(db)
    try:
        reconciler = rc.Reconciler(local_providers(root, durable=durable), state=state)
        plan = reconciler.plan(desired)
        if plan.is_empty:
            return 0
        result = reconciler.apply(plan)
        if not result.ok:
            raise RuntimeError(f"benchmark apply failed: {result.failed}")
        return len(plan.changes)
    finally:
        state.close()


# -- plain Python ----------------------------------------------------------------


def _plain_folders(root: Path) -> None:
    """The ``DIRS`` folders, made and chmodded as the plain scripts do."""
    for d in range(DIRS):
        folder = root / f"d{d:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, DIR_MODE)


def _plain_write(root: Path, layout: list[tuple[str, bytes]]) -> None:
    _plain_folders(root)
    for path, body in layout:
        target = root / path
        target.write_bytes(body)
        os.chmod(target, MODE)


def _plain_durable_write(root: Path, layout: list[tuple[str, bytes]]) -> None:
    """As ``_plain_write``, with the providers' durability: temp file, fsync, rename, fsync dir."""
    _plain_folders(root)
    for path, body in layout:
        target = root / path
        temp = target.with_name(f".{target.name}.tmp")
        with open(temp, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, MODE)
        os.replace(temp, target)
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_BY_HAND_SCHEMA = """
PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
CREATE TABLE files (path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, mode INTEGER NOT NULL);
CREATE TABLE intents (id INTEGER PRIMARY KEY, path TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE journal (seq INTEGER PRIMARY KEY, path TEXT NOT NULL, status TEXT NOT NULL);
"""


def _by_hand_safe_write(root: Path, db_path: Path, layout: list[tuple[str, bytes]]) -> None:
    """Apply's guarantees, hand-written: intent rows committed before each 100 writes,
    atomic writes (temporary + rename), then their records and journal in one commit."""
    root.mkdir(exist_ok=True)
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.executescript(_BY_HAND_SCHEMA)
        _plain_folders(root)
        for start in range(0, len(layout), 100):
            chunk = layout[start : start + 100]
            with db:
                db.executemany(
                    "INSERT INTO intents (path, body) VALUES (?, ?)",
                    [(path, body.decode()) for path, body in chunk],
                )
            done = []
            for path, body in chunk:
                target = root / path
                temp = target.with_name(f".{target.name}.{os.urandom(4).hex()}.tmp")
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, body)
                    os.fchmod(fd, MODE)
                finally:
                    os.close(fd)
                os.replace(temp, target)
                done.append((path, hashlib.sha256(body).hexdigest(), MODE))
            with db:
                db.executemany("INSERT INTO files VALUES (?, ?, ?)", done)
                db.executemany(
                    "INSERT INTO journal (path, status) VALUES (?, 'ok')", [(p,) for p, *_ in done]
                )
                db.execute("DELETE FROM intents")
    finally:
        db.close()


def _plain_compare(root: Path, layout: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Read, hash and stat every file; the ones that are missing or differ."""
    differ = []
    for path, body in layout:
        target = root / path
        try:
            found = target.stat()
            have = hashlib.sha256(target.read_bytes()).digest()
        except FileNotFoundError:
            differ.append((path, body))
            continue
        if have != hashlib.sha256(body).digest() or stat.S_IMODE(found.st_mode) != MODE:
            differ.append((path, body))
    return differ


def _plain_fix(root: Path, layout: list[tuple[str, bytes]]) -> None:
    """Compare everything, then rewrite, chmod or recreate what differs."""
    for path, body in _plain_compare(root, layout):
        target = root / path
        if not target.exists() or hashlib.sha256(target.read_bytes()).digest() != (
            hashlib.sha256(body).digest()
        ):
            target.write_bytes(body)
        os.chmod(target, MODE)


# -- the workloads ---------------------------------------------------------------


class _Trees:
    """Working folders for one benchmark run: ours (root + state) and the baseline's."""

    def __init__(self, top: Path) -> None:
        self.top = top

    def fresh(self, name: str) -> Path:
        folder = self.top / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder


def run(quick: bool) -> list[Row]:
    count = 100 if quick else 1000
    runs = 5 if quick else 3
    desired = _desired(count)
    layout = _layout(count)
    with tempfile.TemporaryDirectory(prefix="bench_files-") as top:
        trees = _Trees(Path(top))
        rows = _first_apply(trees, desired, layout, runs)
        rows.append(_noop(trees, desired, layout, runs))
        for durable in (True, False):
            rows.append(_drifted(trees, desired, layout, count, runs, durable))
    return rows


def _config(durable: bool) -> str:
    return "default: durable" if durable else "durable=False"


def _first_apply(
    trees: _Trees, desired: list[Any], layout: list[tuple[str, bytes]], runs: int
) -> list[Row]:
    """Our first apply, both ways, against plain writes and plain durable ones, taking turns."""

    def ours(durable: bool) -> Timed:
        def setup() -> Path:
            work = trees.fresh(f"first-{durable}")
            (work / "root").mkdir()
            return work

        return lambda w: _apply(w / "root", w / "state.db", desired, durable), setup

    got = measure_together(
        {
            "plain": (lambda w: _plain_write(w, layout), lambda: trees.fresh("first-plain")),
            "durable plain": (
                lambda w: _plain_durable_write(w, layout),
                lambda: trees.fresh("first-durable"),
            ),
            "same guarantees": (
                lambda w: _by_hand_safe_write(w / "root", w / "state.db", layout),
                lambda: trees.fresh("first-by-hand"),
            ),
            "durable": ours(True),
            "not durable": ours(False),
        },
        runs=runs,
    )
    plain, size = got["plain"], len(desired)
    return [
        Row(f"files: first apply ({_config(True)})", size, got["durable"], plain,
            "plain mkdir+write+chmod (for scale)", ""),
        Row("files: first apply (durable) vs plain fsync", size, got["durable"],
            got["durable plain"], "plain write+fsync+rename+fsync dir", "<= 3x"),
        Row(f"files: first apply ({_config(False)})", size, got["not durable"], plain,
            "plain mkdir+write+chmod (for scale)", ""),
        Row(f"files: first apply ({_config(False)}) vs by hand", size, got["not durable"],
            got["same guarantees"], "by hand: temp+rename, intent/record/journal rows",
            "<= 3x", {"by_hand_vs_bare": round(got["same guarantees"].seconds / plain.seconds, 2)}),
    ]  # fmt: skip


def _converged(trees: _Trees, name: str, desired: list[Any]) -> Path:
    work = trees.fresh(name)
    _apply(work / "root", work / "state.db", desired)
    return work


def _noop(trees: _Trees, desired: list[Any], layout: list[tuple[str, bytes]], runs: int) -> Row:
    work = _converged(trees, "noop", desired)
    plain = trees.fresh("noop-plain")
    _plain_write(plain, layout)

    def ours(w: Path) -> None:
        if _apply(w / "root", w / "state.db", desired):
            raise RuntimeError("the no-op re-apply found changes")

    def base(p: Path) -> None:
        if _plain_compare(p, layout):
            raise RuntimeError("the plain compare found changes")

    runs = max(runs, NOOP_RUNS)  # tens of milliseconds each: more runs steady the median
    got = measure_together(
        {"ours": (ours, lambda: work), "plain": (base, lambda: plain)}, runs=runs
    )
    return Row(
        "files: no-op re-apply",
        len(desired),
        got["ours"],
        got["plain"],
        "plain read+sha256+stat+compare",
        "<= 3x",
    )


def _drifted(
    trees: _Trees,
    desired: list[Any],
    layout: list[tuple[str, bytes]],
    count: int,
    runs: int,
    durable: bool,
) -> Row:
    work = _converged(trees, "drift", desired)
    plain = trees.fresh("drift-plain")
    _plain_write(plain, layout)
    drifted: list[int] = []

    def drift(folder: Path) -> Callable[[], Path]:
        def setup() -> Path:
            drifted.append(_drift(folder / "root" if folder is work else folder, count))
            return folder

        return setup

    def ours(w: Path) -> None:
        if _apply(w / "root", w / "state.db", desired, durable) != drifted[-1]:
            raise RuntimeError("the drift re-apply did not change exactly the drifted files")

    got = measure_together(
        {"ours": (ours, drift(work)), "plain": (lambda p: _plain_fix(p, layout), drift(plain))},
        runs=runs,
    )
    return Row(
        f"files: 15% drift re-apply ({_config(durable)})",
        len(desired),
        got["ours"],
        got["plain"],
        "plain compare all + fix 15%",
        "",
        {"drifted": drifted[-1]},
    )
