"""Plan JSON and recorded state, per step: serialise a 10,000-step plan, record 10,000 steps.

Baselines in the same run: ``json.dumps``/``json.loads`` of the same steps as
plain dicts, and a plain SQLite loop inserting the same rows (one commit per
row, WAL). Targets: under 50 us per step to serialise; under 200 us per
recorded step.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import attrs

import reconcile as rc
from reconcile import Record
from reconcile._diff.records import record_for

from .harness import Row, measure
from .workload import Service, world


class _Live(rc.Provider[Service]):
    resource = Service
    blocking_io = False
    identified_by_key = True

    def __init__(self, live: dict[str, Service]) -> None:
        self.items = live

    def read(self, want: Service) -> Service | None:
        return self.items.get(rc.address_of(want))

    def create(self, want: Service) -> Service:
        return want

    def update(self, have: Service, want: Service, diff: rc.Diff) -> Service:
        return want

    def delete(self, have: Service) -> None:
        return None


def _changing_plan(n: int) -> rc.Plan:
    """A plan where every step changes something (the worst case for the JSON form)."""
    w = world(n)
    live = {a: attrs.evolve(r, replicas=r.replicas + 1) for a, r in w.live.items()}
    return rc.Reconciler([_Live(live)]).plan(w.desired)


def run(quick: bool) -> list[Row]:
    n = 1_000 if quick else 10_000
    plan = _changing_plan(n)
    text = plan.to_json()
    as_dicts = json.loads(text)
    to_json = measure(lambda p: p.to_json(), lambda: plan, runs=3, memory=False)
    base_dump = measure(json.dumps, lambda: as_dicts, runs=3, memory=False)
    from_json = measure(rc.Plan.from_json, lambda: text, runs=3, memory=False)
    base_load = measure(json.loads, lambda: text, runs=3, memory=False)
    records = [record_for(s.declared, s.actual, "bench") for s in plan.steps if s.declared]
    rows = [
        Row("plan.to_json", n, to_json, base_dump, "json.dumps of the dicts", "< 50 us/step",
            {"us_per_step": round(to_json.seconds / n * 1e6, 1)}),
        Row("Plan.from_json", n, from_json, base_load, "json.loads", "< 50 us/step",
            {"us_per_step": round(from_json.seconds / n * 1e6, 1)}),
    ]  # fmt: skip
    ours = measure(_record, lambda: (_fresh_db(), records), runs=3, memory=False)
    base = measure(_plain_sqlite, lambda: (_fresh_db(), records), runs=3, memory=False)
    rows.append(
        Row("SQLiteState.save per applied step", len(records), ours, base,
            "plain sqlite insert+commit", "< 200 us/step",
            {"us_per_step": round(ours.seconds / len(records) * 1e6, 1)})
    )  # fmt: skip
    return rows


def _fresh_db() -> Path:
    return Path(tempfile.mkdtemp()) / "state.db"


def _record(args: tuple[Path, list[Record]]) -> None:
    path, records = args
    state = rc.SQLiteState(path)
    apply_id = state.begin_apply("bench", "{}", {})
    for record in records:
        intent = state.open_intent(record.address, record.kind, "update", record.spec, apply_id)
        state.save(
            record, intent=intent, step=(apply_id, rc.StepEntry(record.address, "update", "ok"))
        )
    state.close()


def _plain_sqlite(args: tuple[Path, list[Record]]) -> None:
    path, records = args
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE r (address TEXT PRIMARY KEY, spec TEXT, outputs TEXT)")
    for r in records:
        db.execute("BEGIN")
        db.execute(
            "INSERT OR REPLACE INTO r VALUES (?, ?, ?)",
            (r.address, json.dumps(r.spec), json.dumps(dict(r.outputs))),
        )
        db.execute("COMMIT")
    db.close()
