"""Write-only secrets as properties: converging reaches an empty plan, and no secret leaks.

For random users, each with a password the provider never returns, and random
rotations of some of them, converging reaches an empty plan every time, the
live world holds exactly the desired passwords, and no password appears in any
plan's text or JSON, in the journal, or anywhere in the state database's bytes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import MemoryProvider


@rc.resource("wop_user")
class User:
    name: str = rc.field(key=True)
    role: str = "dev"
    password: str = rc.field(default="", sensitive=True, write_only=True)


# "pw-" cannot occur in a hex digest or a salt, so a hit in the database is a leak.
secrets = st.text("abcdef0123456789", min_size=10, max_size=16).map(lambda s: f"pw-{s}")
names = st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True)


@st.composite
def generations(draw: st.DrawFn) -> list[list[User]]:
    """Two or three desired states of the same users: passwords and roles may change."""
    who = draw(names)
    out = []
    for _ in range(draw(st.integers(2, 3))):
        out.append(
            [
                User(n, draw(st.sampled_from(["dev", "ops"])), draw(secrets))
                if not out or draw(st.booleans())
                else out[-1][i]
                for i, n in enumerate(who)
            ]
        )
    return out


@given(generations(), st.booleans())
def test_write_only_secrets_converge_and_never_leak(states: list[list[User]], sqlite: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.db"
        state: rc.State = rc.SQLiteState(path) if sqlite else rc.MemoryState()
        users = MemoryProvider(User)
        reconciler = rc.Reconciler([users], state=state)
        texts: list[str] = []
        for desired in states:
            plan = reconciler.plan(desired)
            texts += [plan.render(), plan.to_json()]
            assert reconciler.converge(desired).converged
            again = reconciler.plan(desired)
            assert again.is_empty, again.render()
            assert sorted(users, key=rc.address_of) == sorted(desired, key=rc.address_of)
        texts += [e.plan or "" for e in state.history()]
        if isinstance(state, rc.SQLiteState):
            state.close()
        stored = b"".join(p.read_bytes() for p in Path(folder).iterdir() if p.is_file())
        for secret in {u.password for desired in states for u in desired}:
            assert not any(secret in text for text in texts)
            assert secret.encode() not in stored
