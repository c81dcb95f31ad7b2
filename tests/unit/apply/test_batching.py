"""Apply with batched state writes, and providers whose calls run inline.

Each scheduler cycle's intents commit in one batch before any of its calls
start, and each cycle's records in one batch before dependents start. The
``Witness`` provider checks that from inside every write, through its own
connection to the SQLite file: its own intent is committed, and so are the
records of what it depends on (for a delete: the records of what depended on
it are gone). ``inline_apply`` providers run on the thread that called apply,
unless a step timeout or an executor is given; Ctrl-C inside an inline call
leaves that step unknown with its intent open, and the next run repairs it.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import reconcile as rc
from reconcile.providers import Directories, Files, Symlinks, local_providers


@rc.resource("ab_node")
class Node:
    name: str = rc.field(key=True)
    value: int = 0


@rc.resource("ab_leaf")
class Leaf:
    name: str = rc.field(key=True)


def addr(name: str) -> str:
    return f"ab_node[{name}]"


class Witness(rc.Provider[Node]):
    """An in-memory provider that looks at committed state from inside every write.

    ``problems`` collects what it found wrong (asserted by the test afterwards);
    ``calls`` notes (method, address, thread id) of every write; ``hook`` runs
    inside each write after the checks and the write itself.
    """

    resource = Node
    blocking_io = False

    def __init__(
        self,
        state_path: Path | None,
        *,
        inline: bool,
        dependents: dict[str, set[str]] | None = None,
        hook: Callable[[str, str], None] | None = None,
    ) -> None:
        self.inline_apply = inline
        self.state_path = state_path
        self.dependents = dependents or {}
        self.hook = hook
        self.store: dict[str, Node] = {}
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, int]] = []
        self.problems: list[str] = []
        self.checked = 0

    # -- what a write sees ---------------------------------------------------------------

    def _committed(self) -> tuple[dict[str, list[str]], set[str]]:
        """Open intents (address -> actions) and recorded addresses, as another process sees."""
        assert self.state_path is not None
        with contextlib.closing(sqlite3.connect(self.state_path, timeout=5)) as db:
            intents: dict[str, list[str]] = {}
            for address, action in db.execute("SELECT address, action FROM intents"):
                intents.setdefault(address, []).append(action)
            records = {r[0] for r in db.execute("SELECT address FROM resources")}
        return intents, records

    def _check(self, method: str, res: Node) -> None:
        if self.state_path is None:
            return
        address = rc.address_of(res)
        intents, records = self._committed()
        with self.lock:
            self.checked += 1
            if method not in intents.get(address, []):
                self.problems.append(f"{method} {address}: no committed intent ({intents})")
            if method == "delete":
                alive = self.dependents.get(address, set()) & records
                if alive:
                    self.problems.append(f"delete {address}: dependents still recorded {alive}")
            else:
                missing = set(res.depends_on) - records
                if missing:
                    self.problems.append(f"{method} {address}: prerequisites unrecorded {missing}")

    def _write(self, method: str, res: Node, body: Callable[[], Any]) -> Any:
        address = rc.address_of(res)
        self._check(method, res)
        with self.lock:
            self.calls.append((method, address, threading.get_ident()))
            result = body()
        if self.hook is not None:
            self.hook(method, address)
        return result

    # -- the provider contract ---------------------------------------------------------------

    def read(self, want: Node) -> Node | None:
        with self.lock:
            return self.store.get(rc.address_of(want))

    def create(self, want: Node) -> Node:
        return self._write("create", want, lambda: self._put(want))

    def update(self, have: Node, want: Node, diff: rc.Diff) -> Node:
        return self._write("update", want, lambda: self._put(want))

    def delete(self, have: Node) -> None:
        self._write("delete", have, lambda: self.store.pop(rc.address_of(have), None))

    def _put(self, want: Node) -> Node:
        made = attrs.evolve(want, depends_on=())
        self.store[rc.address_of(want)] = made
        return made

    def writes(self, method: str | None = None) -> list[str]:
        return [a for m, a, _ in self.calls if method in (None, m)]


def _graph(count: int = 24, value: Callable[[int], int] = lambda i: 0) -> list[Node]:
    """A tree (i depends on (i-1)//2) with extra edges i -> i-3 for every third i."""
    nodes = []
    for i in range(count):
        deps = {addr(f"n{(i - 1) // 2:02}")} if i else set()
        if i >= 3 and i % 3 == 0:
            deps.add(addr(f"n{i - 3:02}"))
        nodes.append(Node(f"n{i:02}", value=value(i), depends_on=sorted(deps)))
    return nodes[::-1]  # the plan must find the order itself


def _dependents(nodes: list[Node]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in nodes:
        for dep in node.depends_on:
            found.setdefault(dep, set()).add(rc.address_of(node))
    return found


def _downstream(nodes: list[Node], address: str) -> set[str]:
    """Everything that depends on ``address``, directly or not."""
    dependents, found, todo = _dependents(nodes), set(), [address]
    while todo:
        for d in dependents.get(todo.pop(), set()) - found:
            found.add(d)
            todo.append(d)
    return found


@contextlib.contextmanager
def _sqlite(tmp_path: Path) -> Iterator[rc.SQLiteState]:
    state = rc.SQLiteState(tmp_path / "state.db")
    try:
        yield state
    finally:
        state.close()


def _open_intents_outside(path: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT address, action FROM intents ORDER BY id").fetchall()


# -- C: what every write sees committed ------------------------------------------------------


@pytest.mark.parametrize("inline", [False, True], ids=["pool", "inline"])
@pytest.mark.parametrize("parallelism", [1, 4, 10])
def test_every_write_sees_its_intent_and_its_prerequisites_committed(tmp_path, parallelism, inline):
    first = _graph()
    kept = [n for n in _graph(value=lambda i: i % 2) if int(n.name[1:]) < 12]  # updates
    with _sqlite(tmp_path) as state:
        provider = Witness(state.path, inline=inline, dependents=_dependents(first))
        reconciler = rc.Reconciler([provider], state=state, parallelism=parallelism)
        assert reconciler.apply(reconciler.plan(first)).ok
        assert provider.checked == 24
        assert reconciler.apply(reconciler.plan(kept)).ok  # 6 updates, 12 deletes
        assert sorted(provider.writes("update")) == [addr(f"n{i:02}") for i in range(1, 12, 2)]
        assert len(provider.writes("delete")) == 12
        assert provider.checked == 24 + 6 + 12
        assert provider.problems == []
        assert state.snapshot().intents == ()
        assert _open_intents_outside(state.path) == []
        assert set(state.snapshot().records) == {rc.address_of(n) for n in kept}
        assert reconciler.plan(kept).is_empty


@pytest.mark.parametrize("inline", [False, True], ids=["pool", "inline"])
def test_a_failed_step_closes_its_intent_and_blocks_only_its_dependents(tmp_path, inline):
    def hook(method: str, address: str) -> None:
        if address == addr("n05"):
            raise RuntimeError("n05 refused")

    nodes = _graph(16)
    with _sqlite(tmp_path) as state:
        provider = Witness(state.path, inline=inline, hook=hook)
        reconciler = rc.Reconciler([provider], state=state, parallelism=4)
        result = reconciler.apply(reconciler.plan(nodes))
        assert result.outcome(addr("n05")).status is rc.Status.FAILED
        assert {o.address for o in result.skipped} == _downstream(nodes, addr("n05"))
        assert len(result.skipped) == 3  # n11, n12, and n15 after n12
        assert provider.problems == []
        assert state.snapshot().intents == (), "the failed step's intent was left open"
        assert _open_intents_outside(state.path) == []
        assert addr("n05") not in state.snapshot().records
        steps = state.entry(state.history()[0].id).steps
        assert (addr("n05"), "failed") in [(s.address, s.status) for s in steps]


# -- D: inline calls --------------------------------------------------------------------------


def _apply_on_a_thread(reconciler: rc.Reconciler, desired: list[Any]) -> tuple[int, Any]:
    """Plan and apply from a fresh thread; its id and the result (or the error raised)."""
    out: dict[str, Any] = {}

    def run() -> None:
        out["ident"] = threading.get_ident()
        try:
            out["result"] = reconciler.apply(reconciler.plan(desired))
        except BaseException as err:  # handed to the test to assert on
            out["result"] = err

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    return out["ident"], out["result"]


def test_an_inline_provider_runs_on_the_thread_that_called_apply():
    provider = Witness(None, inline=True)
    reconciler = rc.Reconciler([provider], parallelism=10)
    ident, result = _apply_on_a_thread(reconciler, _graph(12))
    assert result.ok, result
    assert len(provider.calls) == 12
    assert {t for _, _, t in provider.calls} == {ident}


def test_an_instance_may_turn_inline_apply_off_that_its_class_turns_on():
    class Quick(Witness):
        inline_apply = True

    provider = Quick(None, inline=False)
    ident, result = _apply_on_a_thread(rc.Reconciler([provider]), _graph(6))
    assert result.ok
    assert ident not in {t for _, _, t in provider.calls}


def test_a_provider_without_inline_apply_runs_on_the_pool():
    provider = Witness(None, inline=False)
    assert rc.Provider.inline_apply is False
    ident, result = _apply_on_a_thread(rc.Reconciler([provider], parallelism=4), _graph(8))
    assert result.ok
    assert ident not in {t for _, _, t in provider.calls}


def test_with_a_step_timeout_an_inline_provider_runs_on_the_pool():
    """A call on the calling thread could not be abandoned when it runs past its timeout."""
    provider = Witness(None, inline=True)
    reconciler = rc.Reconciler([provider], step_timeout=30.0)
    ident, result = _apply_on_a_thread(reconciler, _graph(8))
    assert result.ok
    assert len(provider.calls) == 8
    assert ident not in {t for _, _, t in provider.calls}


def test_with_an_executor_given_an_inline_provider_runs_on_it():
    provider = Witness(None, inline=True)
    names: list[str] = []
    with cf.ThreadPoolExecutor(3, thread_name_prefix="ab-given") as pool:
        provider.hook = lambda m, a: names.append(threading.current_thread().name)
        reconciler = rc.Reconciler([provider], executor=pool, parallelism=3)
        ident, result = _apply_on_a_thread(reconciler, _graph(8))
    assert result.ok
    assert len(names) == 8
    assert all(n.startswith("ab-given") for n in names), names
    assert ident not in {t for _, _, t in provider.calls}


class Leaves(rc.Provider[Leaf]):
    """A pool provider next to an inline one: notes the thread of each create."""

    resource = Leaf
    blocking_io = False

    def __init__(self) -> None:
        self.store: dict[str, Leaf] = {}
        self.threads: list[int] = []

    def read(self, want: Leaf) -> Leaf | None:
        return self.store.get(rc.address_of(want))

    def create(self, want: Leaf) -> Leaf:
        self.threads.append(threading.get_ident())
        made = attrs.evolve(want, depends_on=())
        self.store[rc.address_of(want)] = made
        return made

    def update(self, have: Leaf, want: Leaf, diff: rc.Diff) -> Leaf:
        return self.create(want)

    def delete(self, have: Leaf) -> None:
        self.store.pop(rc.address_of(have), None)


def test_inline_and_pool_kinds_mix_in_one_apply(tmp_path):
    with _sqlite(tmp_path) as state:
        nodes = Witness(state.path, inline=True)
        leaves = Leaves()
        reconciler = rc.Reconciler([nodes, leaves], state=state, parallelism=4)
        desired: list[Any] = _graph(6)
        desired += [Leaf(f"l{i}", depends_on=[addr(f"n0{i}")]) for i in range(6)]
        ident, result = _apply_on_a_thread(reconciler, desired)
        assert result.ok, result
        assert {t for _, _, t in nodes.calls} == {ident}
        assert len(leaves.threads) == 6
        assert ident not in set(leaves.threads)
        assert nodes.problems == []
        assert state.snapshot().intents == ()


@pytest.mark.parametrize("durable", [True, False])
def test_local_providers_run_inline_only_when_not_durable(tmp_path, durable):
    providers = local_providers(tmp_path, durable=durable)
    assert [type(p) for p in providers] == [Files, Directories, Symlinks]
    assert [p.inline_apply for p in providers] == [not durable] * 3
    assert Files.inline_apply is False, "an instance's setting leaked into its class"


# -- D: Ctrl-C inside an inline call -------------------------------------------------------


class _Interrupting:
    """Raises KeyboardInterrupt from the nth create, after that create wrote its object."""

    def __init__(self, nth: int) -> None:
        self.nth = nth
        self.creates = 0
        self.interrupted: str | None = None

    def __call__(self, method: str, address: str) -> None:
        if method != "create":
            return
        self.creates += 1
        if self.creates == self.nth:
            self.interrupted = address
            raise KeyboardInterrupt


def _interrupted(reconciler: rc.Reconciler, desired: list[Any]) -> BaseException | None:
    try:
        reconciler.apply(reconciler.plan(desired))
    except KeyboardInterrupt as err:  # catch it here, whatever it is, so pytest goes on
        return err
    return None


def _chain(count: int) -> list[Node]:
    nodes = [Node("c0")]
    for i in range(1, count):
        nodes.append(Node(f"c{i}", depends_on=[nodes[-1]]))
    return nodes


def test_ctrl_c_in_an_inline_call_leaves_that_step_unknown_with_its_intent_open(tmp_path, caplog):
    interrupt = _Interrupting(3)
    events: list[rc.Event] = []
    with _sqlite(tmp_path) as state:
        provider = Witness(state.path, inline=True, hook=interrupt)
        reconciler = rc.Reconciler([provider], state=state, on_event=events.append)
        desired = _chain(5)
        with caplog.at_level(logging.WARNING, logger="reconcile"):
            caught = _interrupted(reconciler, desired)
        assert isinstance(caught, rc.Interrupted), caught
        result = caught.result
        assert result.interrupted
        assert interrupt.interrupted == addr("c2")
        statuses = {o.address: o.status for o in result.outcomes}
        assert statuses == {
            addr("c0"): rc.Status.OK,
            addr("c1"): rc.Status.OK,
            addr("c2"): rc.Status.UNKNOWN,
            addr("c3"): statuses[addr("c3")],
            addr("c4"): statuses[addr("c4")],
        }
        # What waited on c2 never ran: skipped behind it (or cancelled), never started.
        assert {o.address for o in result.not_run} == {addr("c3"), addr("c4")}
        assert result.outcome(addr("c2")) in result.failed
        assert provider.writes() == [addr("c0"), addr("c1"), addr("c2")]
        snapshot = state.snapshot()
        assert [(i.address, i.action) for i in snapshot.intents] == [(addr("c2"), "create")]
        assert set(snapshot.records) == {addr("c0"), addr("c1")}
        mine = [e.kind for e in events if e.address == addr("c2")]
        assert mine == [rc.EventKind.STARTED, rc.EventKind.CANCELLED]
        assert rc.EventKind.TIMED_OUT not in [e.kind for e in events]
        assert any(
            "c2" in r.getMessage() and "was interrupted; read again next run" in r.getMessage()
            for r in caplog.records
        ), [r.getMessage() for r in caplog.records]
        latest = state.history()[0]
        assert latest.status == "interrupted"
        steps = {(s.address, s.status) for s in state.entry(latest.id).steps}
        assert (addr("c2"), "unknown") in steps
        assert (addr("c2"), "ok") not in steps

        report = reconciler.converge(desired)  # recovery reads c2 again: it exists, adopt it
        assert report.converged, report
        assert provider.writes("create").count(addr("c2")) == 1, "c2 was created twice"
        assert set(provider.store) == {rc.address_of(n) for n in desired}
        assert state.snapshot().intents == ()
        assert set(state.snapshot().records) == set(provider.store)
        assert reconciler.plan(desired).is_empty
        assert provider.problems == []


def test_ctrl_c_in_an_inline_call_cancels_the_steps_of_its_cycle_not_yet_started(tmp_path):
    """Eight independent steps start in one cycle; Ctrl-C in the third stops the other five."""
    interrupt = _Interrupting(3)
    with _sqlite(tmp_path) as state:
        provider = Witness(state.path, inline=True, hook=interrupt)
        reconciler = rc.Reconciler([provider], state=state, parallelism=10)
        desired = [Node(f"w{i}") for i in range(8)]
        caught = _interrupted(reconciler, desired)
        assert isinstance(caught, rc.Interrupted), caught
        statuses = [o.status for o in caught.result.outcomes]
        assert sorted(statuses) == sorted(
            [rc.Status.OK] * 2 + [rc.Status.UNKNOWN] + [rc.Status.CANCELLED] * 5
        )
        assert len(provider.writes()) == 3, "a step started after Ctrl-C"
        interrupted = interrupt.interrupted
        open_intents = {i.address for i in state.snapshot().intents}
        assert open_intents == {interrupted}, "a step that never started kept its intent"
        ok = {o.address for o in caught.result.outcomes if o.status is rc.Status.OK}
        assert set(state.snapshot().records) == ok
        assert not ok & open_intents

        report = reconciler.converge(desired)
        assert report.converged, report
        assert provider.writes("create").count(interrupted) == 1
        assert state.snapshot().intents == ()
        assert reconciler.plan(desired).is_empty
        assert provider.problems == []


def test_cancel_from_an_inline_call_starts_nothing_new():
    holder: dict[str, rc.Reconciler] = {}
    creates = {"n": 0}

    def hook(method: str, address: str) -> None:
        creates["n"] += 1
        if creates["n"] == 2:
            holder["r"].cancel()

    provider = Witness(None, inline=True, hook=hook)
    reconciler = holder["r"] = rc.Reconciler([provider], parallelism=4)
    result = reconciler.apply(reconciler.plan([Node(f"v{i:02}") for i in range(40)]))
    assert len(provider.writes()) == 2, "calls started after cancel()"
    assert len(result.not_run) == 38


@pytest.mark.parametrize("inline", [False, True], ids=["pool", "inline"])
def test_an_outcome_event_comes_after_its_record_is_committed(tmp_path, inline):
    """A progress callback that reads the state (here through its own connection, and
    through the store itself) finds what each FINISHED event reports."""
    seen: list[tuple[str, bool, bool]] = []
    with _sqlite(tmp_path) as state:

        def on_event(event: rc.Event) -> None:
            if event.kind is not rc.EventKind.FINISHED:
                return
            with contextlib.closing(sqlite3.connect(state.path)) as db:
                query = "SELECT 1 FROM resources WHERE address = ?"
                outside = db.execute(query, (event.address,)).fetchone() is not None
            inside = event.address in state.snapshot().records  # no lock held by apply
            seen.append((event.address, outside, inside))

        provider = Witness(None, inline=inline)
        reconciler = rc.Reconciler([provider], state=state, on_event=on_event, parallelism=4)
        desired = _graph(12)
        assert reconciler.apply(reconciler.plan(desired)).ok
    assert len(seen) == len(desired)
    assert all(outside and inside for _, outside, inside in seen), seen


def test_a_cycle_of_inline_steps_writes_its_records_together(tmp_path):
    """Sixty independent inline creates run in one cycle: their intents are written
    together and so are their records, not each in a transaction or savepoint of its
    own. (Statuses and actions reach the store as plain strings: an enum member is not
    what the store holds back for a batch, and every change would be written at once.)"""
    with _sqlite(tmp_path) as state:
        reconciler = rc.Reconciler([Witness(None, inline=True)], state=state)
        plan = reconciler.plan([Node(f"c{i:02d}") for i in range(60)])
        writes: list[str] = []
        state._db.set_trace_callback(
            lambda sql: writes.append(sql) if sql.split()[0].upper() in _ALONE else None
        )
        result = reconciler.apply(plan)
        state._db.set_trace_callback(None)
        assert result.ok, result
        assert [e.status for e in state.entry(state.history()[0].id).steps] == ["ok"] * 60
        assert len(writes) < 20, writes


_ALONE = {"COMMIT", "SAVEPOINT"}
