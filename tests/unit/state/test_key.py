"""Secrets at rest: a copied ``state.db`` alone gives no way to check a guess.

Digests of sensitive values are HMAC-SHA256 under a key kept outside the state file
(``state.db.key``, mode 0600, or ``RECONCILE_STATE_KEY``). These tests take the file as
an attacker would, with everything in it, and try to confirm the true password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from pathlib import Path

import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider

WEAK = "hunter2"  # a password any dictionary holds


@rc.resource("ar_login")
class Login:
    name: str = rc.field(key=True)
    password: str = rc.field(default="", sensitive=True)
    role: str = "reader"


@rc.resource("ar_user")
class User:
    """A write-only secret: only the recorded digest tells whether it changed."""

    name: str = rc.field(key=True)
    role: str = "dev"
    password: str = rc.field(default="", sensitive=True, write_only=True)


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILE_STATE_KEY", raising=False)


def _applied(path: Path) -> None:
    """A state at ``path`` in which a weak password was applied and recorded."""
    state = rc.SQLiteState(path)
    try:
        reconciler = rc.Reconciler([MemoryProvider(Login), MemoryProvider(User)], state=state)
        desired = [Login("admin", password=WEAK), User("ops", password=WEAK)]
        assert reconciler.apply(reconciler.plan(desired), desired=desired).ok
    finally:
        state.close()


def _db_text(path: Path) -> str:
    """Every text cell of every table: all an attacker holding the file can read."""
    with closing(sqlite3.connect(path)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        cells = [str(c) for t in tables for row in db.execute(f"SELECT * FROM {t}") for c in row]
    return "\n".join(cells)


def _meta(path: Path) -> dict[str, str]:
    with closing(sqlite3.connect(path)) as db:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())


def _guesses(meta: dict[str, str], value: str) -> set[str]:
    """Digests of ``value`` made with everything the file holds: each meta value as a
    BLAKE2b key (the old scheme) or an HMAC key, as hex or as text, or no key at all."""
    data = json.dumps(value).encode()
    made = {hashlib.sha256(data).hexdigest(), hashlib.blake2b(data, digest_size=16).hexdigest()}
    for text in meta.values():
        keys = [text.encode()]
        with suppress(ValueError):
            keys.append(bytes.fromhex(text))
        for key in keys:
            made.add(hmac.new(key, data, hashlib.sha256).hexdigest())
            if len(key) <= 64:
                made.add(hashlib.blake2b(data, key=key, digest_size=16).hexdigest())
    return made


def _keyed(key: bytes, value: str) -> str:
    return hmac.new(key, json.dumps(value).encode(), hashlib.sha256).hexdigest()


def _file_key(path: Path) -> bytes:
    return base64.b64decode(Path(f"{path}.key").read_text())


def test_a_copied_state_db_alone_cannot_confirm_a_guessed_password(tmp_path: Path) -> None:
    _applied(tmp_path / "state.db")
    stolen = tmp_path / "stolen" / "state.db"
    stolen.parent.mkdir()
    shutil.copyfile(tmp_path / "state.db", stolen)  # the file alone, as a backup leaks it
    text = _db_text(stolen)
    assert '"$sensitive"' in text, "the test expects recorded digests to attack"
    for guess in _guesses(_meta(stolen), WEAK):
        assert guess not in text, "a digest in the file confirms the guessed password"
    # With the key file as well, the guess is confirmed: the key is what protects it.
    assert _keyed(_file_key(tmp_path / "state.db"), WEAK) in text


def test_the_key_file_is_made_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        rc.SQLiteState(tmp_path / "state.db").close()
    finally:
        os.umask(old)
    key = tmp_path / "state.db.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    made = key.read_text()
    assert len(base64.b64decode(made.strip(), validate=True)) >= 32
    rc.SQLiteState(tmp_path / "state.db").close()
    assert key.read_text() == made, "reopening must keep the key"


def test_reopening_keeps_the_key_and_converges(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _applied(path)
    key = Path(f"{path}.key").read_bytes()
    users, logins = MemoryProvider(User), MemoryProvider(Login)
    state = rc.SQLiteState(path)
    try:
        reconciler = rc.Reconciler([logins, users], state=state)
        desired = [Login("admin", password=WEAK), User("ops", password=WEAK)]
        reconciler.apply(reconciler.plan(desired), desired=desired)
        assert reconciler.plan(desired).is_empty
        rotated = [Login("admin", password=WEAK), User("ops", password="x")]
        assert not reconciler.plan(rotated).is_empty
    finally:
        state.close()
    assert Path(f"{path}.key").read_bytes() == key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "state.db"
    rc.SQLiteState(path).close()
    key = Path(f"{path}.key")
    key.chmod(mode)
    with pytest.raises(rc.StateError) as caught:
        rc.SQLiteState(path)
    assert str(key) in str(caught.value)
    assert "chmod 600" in str(caught.value)
    key.chmod(0o600)
    rc.SQLiteState(path).close()


def test_a_key_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    key = Path(f"{path}.key")
    key.write_text(base64.b64encode(b"short").decode())
    key.chmod(0o600)
    with pytest.raises(rc.StateError, match="at least 32"):
        rc.SQLiteState(path)


def test_a_key_from_the_environment_is_used_and_no_file_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = os.urandom(32)
    monkeypatch.setenv("RECONCILE_STATE_KEY", base64.b64encode(key).decode())
    path = tmp_path / "state.db"
    _applied(path)
    assert not Path(f"{path}.key").exists()
    text = _db_text(path)
    assert _keyed(key, WEAK) in text
    for guess in _guesses(_meta(path), WEAK):
        assert guess not in text


@pytest.mark.parametrize("given", ["not base64!", base64.b64encode(b"x" * 31).decode()])
def test_a_bad_key_in_the_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("RECONCILE_STATE_KEY", given)
    with pytest.raises(rc.StateError, match="RECONCILE_STATE_KEY"):
        rc.SQLiteState(tmp_path / "state.db")
    assert given not in str(tmp_path.iterdir())


def _to_old_scheme(path: Path, value: str) -> None:
    """Rewrite the recorded digests as a release before keyed digests wrote them."""
    salt = _meta(path)["salt"]
    data = json.dumps(value).encode()
    old = hashlib.blake2b(data, key=bytes.fromhex(salt), digest_size=16).hexdigest()
    with closing(sqlite3.connect(path)) as db:
        for address, spec in db.execute("SELECT address, spec FROM resources").fetchall():
            doc = json.loads(spec)
            doc["password"] = {"$sensitive": old}
            db.execute(
                "UPDATE resources SET spec = ? WHERE address = ?", (json.dumps(doc), address)
            )
        db.commit()


def _recorded_digest(state: rc.State, address: str) -> str:
    (record,) = [r for r in state if r.address == address]
    digest: str = record.spec["password"]["$sensitive"]
    return digest


def test_an_old_scheme_state_keeps_converging_and_is_rewritten_keyed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    users, logins = MemoryProvider(User), MemoryProvider(Login)
    desired = [Login("admin", password=WEAK), User("ops", password=WEAK)]
    state = rc.SQLiteState(path)
    reconciler = rc.Reconciler([logins, users], state=state)
    reconciler.apply(reconciler.plan(desired), desired=desired)
    state.close()
    _to_old_scheme(path, WEAK)
    Path(f"{path}.key").unlink()  # the old release had no key file
    state = rc.SQLiteState(path)
    try:
        reconciler = rc.Reconciler([logins, users], state=state)
        assert reconciler.plan(desired).is_empty, "an old digest of the same value is no change"
        changed = [Login("admin", password=WEAK), User("ops", password="rotated")]
        step = reconciler.plan(changed).step("ar_user[ops]")
        assert step.action is rc.Action.UPDATE, "an old digest of another value is a change"
        moved = [Login("admin", password=WEAK), User("ops", role="admin", password=WEAK)]
        assert reconciler.apply(reconciler.plan(moved), desired=moved).ok
        assert _recorded_digest(state, "ar_user[ops]").startswith("hmac-sha256:")
        assert reconciler.plan(moved).is_empty
    finally:
        state.close()


@pytest.fixture
def state(store: rc.State) -> rc.State:
    """Each state store in turn (the unit tests' shared ``store``)."""
    return store


def test_both_stores_keep_keyed_digests_and_saved_plans_check(state: rc.State) -> None:
    users = MemoryProvider(User)
    reconciler = rc.Reconciler([users], state=state)
    desired = [User("ops", password=WEAK)]
    saved = rc.Plan.from_json(reconciler.plan(desired).to_json())
    assert reconciler.apply(saved, desired=desired).ok
    digest = _recorded_digest(state, "ar_user[ops]")
    assert digest.startswith("hmac-sha256:")
    salt = state.snapshot().salt.partition(".")[0]
    assert digest.removeprefix("hmac-sha256:") not in _guesses({"salt": salt}, WEAK)
    assert reconciler.plan(desired).is_empty
    stale = rc.Plan.from_json(reconciler.plan([User("ops", password="new")]).to_json())
    with pytest.raises(rc.StalePlanError):
        reconciler.apply(stale, desired=[User("ops", password="other")])


_APPLY_SAVED = """
import sys
import reconcile as rc
from reconcile.testing import MemoryProvider
from tests.unit.state.test_key import User

state = rc.SQLiteState(sys.argv[1])
plan = rc.Plan.from_json(open(sys.argv[2]).read())
reconciler = rc.Reconciler([MemoryProvider(User)], state=state)
try:
    result = reconciler.apply(plan, desired=[User("ops", password=sys.argv[3])])
    print("ok" if result.ok else "failed")
except rc.ReconcileError as err:
    print(f"refused: {type(err).__name__}: {err}")
"""


def _apply_saved(path: Path, saved: Path, password: str) -> str:
    """Apply the saved plan in a process of its own, as a later `apply` would."""
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", _APPLY_SAVED, str(path), str(saved), password],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_a_saved_plan_is_checked_with_the_same_key_and_refused_with_another(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    state = rc.SQLiteState(path)
    try:
        reconciler = rc.Reconciler([MemoryProvider(User)], state=state)
        saved = tmp_path / "plan.json"
        saved.write_text(reconciler.plan([User("ops", password=WEAK)]).to_json())
    finally:
        state.close()
    key = Path(f"{path}.key")
    mine = key.read_text()
    assert _apply_saved(path, saved, "guessed") == (
        "refused: StalePlanError: ar_user[ops]: password changed since planning"
    )
    key.write_text(base64.b64encode(os.urandom(32)).decode())  # the key was lost, a new one made
    refused = _apply_saved(path, saved, WEAK)
    assert refused.startswith("refused: StateError:"), refused
    assert "state key" in refused
    key.write_text(mine)
    assert _apply_saved(path, saved, WEAK) == "ok"


def test_states_opened_at_once_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    rc.SQLiteState(path).close()  # the file exists: only the key is raced for
    Path(f"{path}.key").unlink()
    with ThreadPoolExecutor(8) as pool:
        states = list(pool.map(lambda _: rc.SQLiteState(path), range(8)))
    try:
        assert len({s.snapshot().salt for s in states}) == 1, "two keys for one state"
    finally:
        for s in states:
            s.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []
