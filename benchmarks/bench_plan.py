"""Plan at scale, and the no-op converge: ratios to three baselines measured in the same run.

(a) the lower bound: compare each desired dict with its actual dict with ``==``
and collect the differing keys; (b) what a user writes by hand: (a), then
``DeepDiff`` on the pairs that differ; (c) one ``DeepDiff`` over the whole
desired-vs-actual mapping (small sizes only: it is quadratic-ish and slow).
Targets: plan no slower than (b), within 10x of (a), 50x faster than (c) at
10,000, linear growth (time per resource of the largest plan within 1.5x of a
1,000-resource plan's, the two taking turns); peak memory at most 1.5x (a)'s
holding the same data.

Each 1,000-resource plan of the growth row plans a world of its own, once per
timed run, as the largest plan does: planning one small world over and over
would time it warm in the CPU caches, which no real plan is (that ratio is
printed beside it, as ``growth_vs_warm``).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from deepdiff import DeepDiff

import reconcile as rc

from .harness import Measure, Row, Timed, measure, measure_together
from .workload import Service, World, as_dicts, records_for, world


class PagedApi(rc.Provider[Service]):
    """An in-memory API that reads 500 objects per call, as paging remote APIs do."""

    resource = Service
    blocking_io = False
    identified_by_key = True
    page = 500

    def __init__(self, live: dict[str, Service]) -> None:
        self.items = dict(live)
        self.calls = 0
        self.writes = 0

    def read(self, want: Service) -> Service | None:
        self.calls += 1
        return self.items.get(rc.address_of(want))

    def read_many(self, wants: Sequence[Service]) -> list[Service | None]:
        self.calls += -(-len(wants) // self.page)  # one call per page of 500
        get = self.items.get
        return [get(rc.address_of(w)) for w in wants]

    def create(self, want: Service) -> Service:
        self.writes += 1
        self.items[rc.address_of(want)] = want
        return want

    def update(self, have: Service, want: Service, diff: rc.Diff) -> Service:
        return self.create(want)

    def delete(self, have: Service) -> None:
        self.writes += 1
        self.items.pop(rc.address_of(have), None)


def _reconciler(w: World) -> tuple[rc.Reconciler, PagedApi]:
    provider = PagedApi(w.live)
    state = rc.MemoryState()
    for record in records_for(w):
        state.save(record)
    return rc.Reconciler([provider], state=state), provider


def _baseline_a(data: tuple[dict[str, Any], dict[str, Any]]) -> list[tuple[str, list[str]]]:
    desired, actual = data
    out = []
    for address, want in desired.items():
        have = actual.get(address)
        if have is None:
            out.append((address, ["*"]))
            continue
        keys = [k for k, v in want.items() if have.get(k) != v]
        if keys:
            out.append((address, keys))
    return out


def _baseline_b(data: tuple[dict[str, Any], dict[str, Any]]) -> list[Any]:
    desired, actual = data
    return [DeepDiff(actual[a], desired[a]) if a in actual else a for a, _ in _baseline_a(data)]


def _baseline_c(data: tuple[dict[str, Any], dict[str, Any]]) -> Any:
    desired, actual = data
    return DeepDiff(actual, desired)


def _dicts(w: World) -> tuple[dict[str, Any], dict[str, Any]]:
    return as_dicts(w.desired), as_dicts(list(w.live.values()))


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    sizes = [1_000] if quick else [1_000, 10_000, 100_000]
    for n in sizes:
        rows += _plan_rows(n, largest=n == sizes[-1] and not quick)
        rows.append(_noop_converge(n))
    return rows


RUNS = 5  # at every size: one run slowed by a neighbour's memory traffic leaves the median
GROWTH_FROM = 1_000
GROWTH_REPEAT = 20  # small plans per timed run (one alone is too short to time steadily)


def _plan_rows(n: int, largest: bool = False) -> list[Row]:
    w = world(n)
    probe = _reconciler(w)
    probe[0].plan(w.desired)
    data = _dicts(w)
    contenders: dict[str, Timed] = {
        "ours": (lambda rp: rp[0].plan(w.desired), lambda: _reconciler(w)),
        "a": (_baseline_a, lambda: data),
        "b": (_baseline_b, lambda: data),
    }
    if largest:  # linear growth: small plans, each of its own world, take turns with it
        smalls = [world(GROWTH_FROM, seed=i) for i in range(GROWTH_REPEAT)]

        def small_plans(planners: list[tuple[rc.Reconciler, PagedApi]]) -> None:
            for (reconciler, _), small in zip(planners, smalls, strict=True):
                reconciler.plan(small.desired)

        def warm_plans(planner: tuple[rc.Reconciler, PagedApi]) -> None:
            for _ in range(GROWTH_REPEAT):  # one world over and over: shown, not judged
                planner[0].plan(smalls[0].desired)

        contenders["small"] = (small_plans, lambda: [_reconciler(s) for s in smalls])
        contenders["warm"] = (warm_plans, lambda: _reconciler(smalls[0]))
    got = measure_together(contenders, runs=RUNS, memory=False)
    ours, a, b = got["ours"], got["a"], got["b"]
    ours_mb, dicts_mb = _memory(n)
    per = {
        "us_per_resource": round(ours.seconds / n * 1e6, 2),
        "read_calls": probe[1].calls,
        "peak_mb_ours": round(ours_mb, 1),
        "peak_mb_dicts": round(dicts_mb, 1),
        "memory_ratio": round(ours_mb / dicts_mb, 2),
    }
    rows = [
        Row("plan (observe+diff+order)", n, ours, a, "(a) == loop", "<= 10x; mem <= 1.5x", per),
        Row("plan vs hand-written", n, ours, b, "(b) == + DeepDiff", "<= 1x"),
    ]
    if n <= 10_000:
        c = measure(_baseline_c, lambda: data, runs=1, memory=False)
        rows.append(Row("plan vs one DeepDiff", n, ours, c, "(c) DeepDiff all", "<= 0.02x"))
    if largest:
        per_small = got["small"].seconds / (GROWTH_REPEAT * GROWTH_FROM)
        per_warm = got["warm"].seconds / (GROWTH_REPEAT * GROWTH_FROM)
        rows.append(
            Row(  # seconds per 1,000 resources, both
                "plan: time per resource vs at 1,000",
                n,
                Measure(ours.seconds / n * GROWTH_FROM, 0),
                Measure(per_small * GROWTH_FROM, 0),
                f"{GROWTH_FROM:,}-resource plans (each its own world) in turns with it",
                "<= 1.5x",
                {"us_per_resource": round(ours.seconds / n * 1e6, 2),
                 "us_per_resource_small": round(per_small * 1e6, 2),
                 "growth_vs_warm": round(ours.seconds / n / per_warm, 2)},
            )
        )  # fmt: skip
    return rows


def _memory(n: int) -> tuple[float, float]:
    """Peak MB holding the world as resources and planning it, vs holding it as plain dicts."""

    def ours() -> None:
        w = world(n)
        reconciler, _ = _reconciler(w)
        reconciler.plan(w.desired)

    w = world(n)
    return _traced(ours), _traced(lambda: _baseline_a(_dicts(w)))


def _traced(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def _noop_converge(n: int) -> Row:
    w = world(n)
    clean = World(w.desired, {rc.address_of(r): r for r in _filled(w.desired)}, [])
    calls: dict[str, int] = {}

    def converge(rp: tuple[rc.Reconciler, PagedApi]) -> None:
        report = rp[0].converge(clean.desired)
        assert report.converged
        calls["writes"] = rp[1].writes

    got = measure_together(
        {"ours": (converge, lambda: _reconciler(clean)), "a": (_baseline_a, lambda: _dicts(clean))},
        runs=RUNS,
        memory=False,
    )
    ours, base = got["ours"], got["a"]
    return Row(
        "no-op converge",
        n,
        ours,
        base,
        "(a) == loop",
        "<= 5x, 0 writes",
        {"writes": calls["writes"]},
    )


def _filled(items: list[Service]) -> list[Service]:
    import attrs

    return [attrs.evolve(r, uid=f"u-{r.name}") for r in items]
