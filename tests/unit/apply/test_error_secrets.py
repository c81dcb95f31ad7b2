"""A provider error that quotes a secret: the library masks it before it logs, journals or
reports the error (issue 17, item 2). The exception object itself is the provider's."""

from __future__ import annotations

import logging
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

import reconcile as rc


@rc.resource("t_es_login")
class Login:
    name: str = rc.field(key=True)
    password: str = rc.field(default="", sensitive=True)


@rc.resource("t_es_conn")
class Conn:
    name: str = rc.field(key=True)
    dsn: str = ""


class Quoting(rc.Provider[Any]):
    """Refuses to create ``bad`` logins and every connection, quoting the secret back
    as a careless API would."""

    def __init__(self, resource: type[Any]) -> None:
        self.resource = resource

    def read(self, want: Any) -> Any:
        return None

    def create(self, want: Any) -> Any:
        if isinstance(want, Conn):
            raise ConnectionError("cannot connect with", want.dsn)
        if want.name == "bad":
            raise ValueError(f"password {want.password!r} refused; was {want.password}")
        return want

    def update(self, have: Any, want: Any, diff: rc.Diff) -> Any:
        raise AssertionError("never updated")

    def delete(self, have: Any) -> None:
        raise AssertionError("never deleted")


def _surfaces(tmp_path: Any, secret: str, caplog: Any) -> list[str]:
    """Every text the library makes of the failed apply, and the state db's bytes."""
    events: list[rc.Event] = []
    state_path = tmp_path / "state.db"
    state = rc.SQLiteState(state_path)
    providers = [Quoting(Login), Quoting(Conn)]
    reconciler = rc.Reconciler(providers, state=state, on_event=events.append)
    db = Login("db", password=secret)
    desired = [Login("bad", password=secret), db, Conn("c", dsn=rc.ref(db, "password"))]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="reconcile"):
        plan = reconciler.plan(desired)
        result = reconciler.apply(plan)
    failed = [result.outcome("t_es_login[bad]"), result.outcome("t_es_conn[c]")]
    assert [o.message.split("(")[0] for o in failed if o.message] == [
        "ValueError",
        "ConnectionError",
    ]
    (entry,) = reconciler.history()
    steps = reconciler.history_entry(entry.id).steps
    texts = [plan.render(), plan.to_json(), repr(result), repr(steps)]
    texts += [o.message or "" for o in failed]
    texts += [str(s.error) for s in steps]
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(e) for e in events]
    stored = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("state.db*")) if p.is_file())
    return [*texts, stored.decode("utf-8", "replace")]


def test_the_error_is_journaled_logged_and_reported_with_the_secret_masked(tmp_path, caplog):
    found = _surfaces(tmp_path, "hunter2-sekret", caplog)
    assert not [t for t in found if "hunter2-sekret" in t]
    assert any("(sensitive)" in t for t in found)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # examples: the profile
@given(  # the leading "§" keeps a secret from matching a table name or a digest by chance
    secret=st.text(st.characters(blacklist_categories=("Cs",)), min_size=3, max_size=20).map(
        lambda s: "§" + s
    )
)
def test_no_secret_survives_in_any_text_of_a_failed_apply(tmp_path_factory, caplog, secret):
    tmp_path = tmp_path_factory.mktemp("es")
    escaped = repr(secret)[1:-1]
    for text in _surfaces(tmp_path, secret, caplog):
        assert secret not in text, text
        assert escaped not in text, text


class QuotingReads(Quoting):
    """Fails every read, quoting the password it was asked to read by (retried once)."""

    def __init__(self) -> None:
        super().__init__(Login)
        self.reads = 0

    def read(self, want: Any) -> Any:
        self.reads += 1
        error = rc.TransientError if self.reads == 1 else PermissionError
        raise error(f"cannot read with {want.password!r}")


def test_a_read_error_quoting_a_secret_is_masked_in_the_plan_error_and_the_log(caplog):
    events: list[rc.Event] = []
    reconciler = rc.Reconciler([QuotingReads()], on_event=events.append)
    with (
        caplog.at_level(logging.DEBUG, logger="reconcile"),
        pytest.raises(rc.ObserveError) as raised,
    ):
        reconciler.plan([Login("db", password="hunter2-sekret")])
    refused = raised.value
    assert len(events) == 1  # the transient failure was retried, and reported
    texts = [str(refused), *(r.getMessage() for r in caplog.records), *map(repr, events)]
    assert "PermissionError" in str(refused)
    assert "(sensitive)" in str(refused)
    assert not [t for t in texts if "hunter2-sekret" in t]
