"""A hostile reconcile.toml or saved plan: the installed script exits 1 naming the file and
what is wrong, never with a traceback (issue 17, item 4)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .cli_user import copy_example, reconcile

CONFIGS: dict[str, tuple[bytes, str]] = {
    "not UTF-8": (b'[state]\npath = "st\xffate.db"\n', "reconcile.toml:2: not UTF-8"),
    "NUL in root": (b'[providers.files]\nroot = "si\\u0000te"\n', "root holds a NUL"),
    "NUL in manifests": (b'manifests = ["manifests\\u0000"]\n', "manifests: a path holds a NUL"),
    "NUL in state path": (b'[state]\npath = "state\\u0000.db"\n', "[state] path holds a NUL"),
    "5,000 digits": (b"[state]\nsynchronous = " + b"1" * 5000 + b"\n", "4300 digits"),
    "nested 2,000 deep": (
        b"[state]\nsynchronous = " + b"[" * 2000 + b"]" * 2000 + b"\n",
        "nested too deeply",
    ),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_example("quickstart", tmp_path)


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_a_hostile_reconcile_toml_exits_1_naming_it(project: Path, case: str) -> None:
    text, words = CONFIGS[case]
    (project / "reconcile.toml").write_bytes(text)

    done = reconcile(project, "plan", ".", code=1)

    assert "reconcile.toml" in done.stderr or "[providers.files]" in done.stderr
    assert words in done.stderr


NULS: dict[str, tuple[bytes, str]] = {
    "root": (
        b'# the managed tree\nmanifests = ["."]\n\n[providers.files]\ndurable = false\n'
        b'root = "si\\u0000te"\n',
        "line 6: [providers.files] root holds a NUL character",
    ),
    "manifests": (
        b'# beside this file\n\nmanifests = [".", "ma\\u0000n"]\n[state]\npath = "s.db"\n',
        "line 3: manifests: a path holds a NUL character",
    ),
    "state path": (
        b'manifests = ["."]\n[source]\nformat = "reconcile"\n[state]\nsynchronous = "FULL"\n'
        b'# the database\n  path = "st\\u0000ate.db"  # NUL\n',
        "line 7: [state] path holds a NUL character",
    ),
}


@pytest.mark.parametrize("case", sorted(NULS))
def test_a_nul_in_a_path_names_the_file_and_the_line(project: Path, case: str) -> None:
    text, words = NULS[case]
    config = project / "reconcile.toml"
    config.write_bytes(text)

    done = reconcile(project, "plan", ".", code=1)

    assert f"{config.resolve()}, {words}" in done.stderr, done.stderr


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[bytes], bytes]:
    def edited(data: bytes) -> bytes:
        doc = json.loads(data)
        change(doc)
        return json.dumps(doc).encode()

    return edited


def _set(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["resource_changes"][0]["change"]["after"][key] = value

    return change


def _kind(doc: dict[str, Any]) -> None:
    doc["resource_changes"][0]["kind"] = "no_such_kind"


PLANS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "not UTF-8": (lambda d: d.replace(b'"public"', b'"pub\xfflic"', 1), "not UTF-8 text"),
    "unknown kind": (_edit(_kind), "no provider handles kind 'no_such_kind'"),
    "a mode that is a word": (_edit(_set("mode", "rwx")), "mode: expected int"),
    "a mode that is a list": (_edit(_set("mode", [1])), "mode: expected int"),
    "5,000 digits": (lambda d: d.replace(b'"mode": 493', b'"mode": ' + b"1" * 5000, 1), "4300"),
    "nested 2,000 deep": (
        lambda d: d.replace(b'"mode": 493', b'"mode": ' + b"[" * 2000 + b"]" * 2000, 1),
        "nested too deeply",
    ),
    "an encoded surrogate": (
        lambda d: d.replace(b'"public"', b'"pu\xed\xa0\x80b"', 1),
        "not UTF-8 text",
    ),
    "a lone surrogate": (lambda d: d.replace(b'"public"', b'"pu\\ud800b"', 1), "lone surrogate"),
    "a move without from": (_edit(lambda doc: doc.update(moves=[{"to": "x"}])), "moves"),
}


@pytest.mark.parametrize("case", sorted(PLANS))
def test_a_hostile_saved_plan_exits_1_naming_what_is_wrong(project: Path, case: str) -> None:
    reconcile(project, "plan", ".", "--out", "p.json")
    change, words = PLANS[case]
    plan = project / "p.json"
    plan.write_bytes(change(plan.read_bytes()))

    done = reconcile(project, "apply", "p.json", "--yes", code=1)

    assert words in done.stderr
    assert not (project / "site").exists()  # nothing was applied


def _stored(change: Callable[[str], str | bytes]) -> Callable[[Path], None]:
    """An edit of the plan the journal stored for apply 1 (bytes are stored as a BLOB)."""

    def edit(state: Path) -> None:
        db = sqlite3.connect(state)
        try:
            (plan,) = db.execute("SELECT plan FROM plans WHERE apply_id = 1").fetchone()
            db.execute("UPDATE plans SET plan = ? WHERE apply_id = 1", (change(plan),))
            db.commit()
        finally:
            db.close()

    return edit


def _json(change: Callable[[dict[str, Any]], None]) -> Callable[[str], str]:
    return lambda plan: _edit(change)(plan.encode()).decode()


def _action(doc: dict[str, Any]) -> None:
    doc["resource_changes"][0]["action"] = "explode"


STORED: dict[str, tuple[Callable[[Path], None], str]] = {
    "not UTF-8": (
        _stored(lambda p: p.encode().replace(b'"public"', b'"pub\xfflic"', 1)),
        "plan JSON is not UTF-8 text (line 1)",
    ),
    "bad JSON": (_stored(lambda p: p[:-5]), "plan JSON is malformed: Expecting"),
    "a bad field value": (_stored(_json(_action)), "action 'explode' is not one of create"),
    "resource_changes not a list": (
        _stored(_json(lambda doc: doc.update(resource_changes=5))),
        "resource_changes is missing or not a list",
    ),
}


@pytest.mark.parametrize("case", sorted(STORED))
def test_show_of_a_stored_plan_that_cannot_be_read_names_the_state_file(
    project: Path, case: str
) -> None:
    reconcile(project, "apply", "--yes")
    state = project / ".reconcile" / "state.db"
    damage, words = STORED[case]
    damage(state)

    done = reconcile(project, "show", "1", code=1)

    assert f"{state.resolve()}: the plan of apply 1: " in done.stderr, done.stderr
    assert words in done.stderr
    assert done.stdout == ""  # nothing half shown


def test_show_of_a_stored_plan_with_an_unknown_kind_shows_it(project: Path) -> None:
    """Rendering needs no provider: a kind whose package is gone is still shown."""
    reconcile(project, "apply", "--yes")
    _stored(_json(_kind))(project / ".reconcile" / "state.db")

    done = reconcile(project, "show", "1")

    assert "  + directory[public]\n" in done.stdout  # shown by its recorded address
