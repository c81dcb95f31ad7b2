"""The scheduler's ready queues: a cycle costs what it starts, not what waits.

Ready jobs wait in a first-in, first-out queue per kind. A cycle takes from the
front of each kind's queue while its lane (the pool, or calls made inline) has
room and its limiter admits, and leaves the rest unlooked-at; before, every
cycle walked every ready job, which made wide applies quadratic. These stories
drive ``Scheduler`` directly with hooks that count what it asks.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
from collections.abc import Iterator

from reconcile._apply.execution import Done, Execution, Job, Prepared
from reconcile._apply.scheduler import Scheduler
from reconcile._provider.limits import Limiter
from reconcile._provider.policy import RetryPolicy
from reconcile._util.clock import SystemClock


class Hooks:
    """Hooks that make each job's call a no-op (or a failure) and count what is asked."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.failing = failing
        self.prepared = 0
        self.launched: list[str] = []  # job ids, in the order they started
        self.ended: dict[str, str] = {}

    def prepare(self, job: Job) -> Prepared | Done:
        self.prepared += 1
        return self._call, (job.id,)

    def _call(self, job_id: str) -> str:
        if job_id in self.failing:
            raise RuntimeError(f"{job_id} failed")
        return job_id

    def started(self, job: Job, attempt: int) -> None:
        self.launched.append(job.id)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def retrying(self, job: Job, attempt: int, error: BaseException, delay: float) -> None:
        raise AssertionError("nothing here is retried")

    def finished(self, job: Job, done: Done) -> None:
        self.ended[job.id] = done.status


@contextlib.contextmanager
def _scheduler(
    *, parallelism: int, limiters: dict[str, Limiter] | None = None, inline: tuple[str, ...] = ()
) -> Iterator[Scheduler]:
    with cf.ThreadPoolExecutor(parallelism) as pool:
        options = Execution(
            parallelism=parallelism, retry=RetryPolicy(attempts=1), limiters=limiters or {}, seed=0
        )
        yield Scheduler(options, pool, inline=inline)


def test_jobs_held_back_by_their_limiter_are_not_prepared_again_every_cycle():
    """One call at a time for 300 ready jobs: each cycle asks about the first of them,
    not all 300 (which made 45,000 preparations before)."""
    n = 300
    limiter = Limiter(SystemClock(), max_concurrency=1, rate=None)
    hooks = Hooks()
    with _scheduler(parallelism=8, limiters={"slow": limiter}) as scheduler:
        done, interrupted = scheduler.run([Job(f"j{i}", (), "slow") for i in range(n)], hooks)
    assert not interrupted
    assert {d.status for d in done.values()} == {"ok"}
    assert hooks.launched == [f"j{i}" for i in range(n)], "first in, first out within a kind"
    assert hooks.prepared <= 3 * n, f"{hooks.prepared} preparations for {n} jobs"


def test_a_wide_inline_kind_does_not_hold_back_pooled_work_and_each_runs_once():
    """2,000 inline jobs beside a pooled kind: every job starts exactly once, the pooled
    ones in the first cycle rather than after the inline backlog."""
    inline = [Job(f"i{n}", (), "local") for n in range(2000)]
    pooled = [Job(f"p{n}", (), "remote") for n in range(4)]
    hooks = Hooks()
    with _scheduler(parallelism=4, inline=("local",)) as scheduler:
        done, _ = scheduler.run(inline + pooled, hooks)
    assert sorted(hooks.launched) == sorted(j.id for j in inline + pooled)
    assert {d.status for d in done.values()} == {"ok"}
    first_pooled = min(hooks.launched.index(j.id) for j in pooled)
    assert first_pooled <= 100, f"a pooled job waited behind {first_pooled} inline calls"
    assert [j for j in hooks.launched if j.startswith("i")] == [j.id for j in inline]
    assert hooks.prepared == len(inline) + len(pooled)


def test_a_failure_blocks_its_many_dependents_once_each():
    """A failed job skips everything below it, however many, and nothing else."""
    root = Job("root", (), "local")
    children = [Job(f"c{n}", ("root",), "local") for n in range(1500)]
    grandchildren = [Job(f"g{n}", (f"c{n}",), "local") for n in range(1500)]
    other = Job("other", (), "local")
    hooks = Hooks(failing=frozenset({"root"}))
    with _scheduler(parallelism=2, inline=("local",)) as scheduler:
        done, _ = scheduler.run([root, *children, *grandchildren, other], hooks)
    assert done["root"].status == "failed"
    assert done["other"].status == "ok"
    assert {done[j.id].status for j in children + grandchildren} == {"skipped"}
    assert hooks.launched == ["root", "other"]
