"""The scheduler's bookkeeping (``_apply.graph.Run``) under random graphs and outcomes.

The end-to-end graph properties drive whole applies; this one drives the
bookkeeping alone, finishing ready jobs in any order with any status, and checks
after every step what a run promises: a job is ready only once everything it
waits for has finished, each job finishes exactly once, a failure or skip blocks
its hard dependents all the way down and never a soft one, and the run ends
with every job finished.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reconcile._apply.execution import Done, Job
from reconcile._apply.graph import Run
from reconcile._util.vocabulary import Status


class Hooks:
    """The hooks ``Run.finish`` calls: it records the order jobs finish in."""

    def __init__(self) -> None:
        self.finished_ids: list[Hashable] = []

    def finished(self, job: Job, done: Done) -> None:
        self.finished_ids.append(job.id)


@st.composite
def graphs(draw: Any) -> list[Job]:
    """Jobs 0..n-1 whose edges point to lower ids only (a DAG), hard or soft, in 3 kinds."""
    n = draw(st.integers(1, 25))
    jobs = []
    for i in range(n):
        before = draw(st.sets(st.integers(0, i - 1), max_size=4)) if i else set()
        soft = draw(st.sets(st.sampled_from(sorted(before)), max_size=2)) if before else set()
        kind = draw(st.sampled_from(["a", "b", "c"]))
        jobs.append(Job(i, tuple(sorted(before - soft)), kind, tuple(sorted(soft))))
    return jobs


statuses = st.sampled_from([Status.OK, Status.OK, Status.OK, Status.FAILED, Status.CANCELLED])


@given(jobs=graphs(), data=st.data())
def test_ready_only_after_prerequisites_and_failures_block_hard_dependents(
    jobs: list[Job], data: st.DataObject
) -> None:
    run, hooks = Run(jobs), Hooks()
    by_id = {j.id: j for j in jobs}
    while run.ready:
        kind = data.draw(st.sampled_from([k for k, _ in run.ready.queues()]))
        job_id, _ = run.ready.pop(kind)
        job = by_id[job_id]
        for before in (*job.after, *job.after_finished):
            assert before in run.done, f"{job_id} ready before {before} finished"
        for before in job.after:
            assert run.done[before].status is Status.OK, f"{job_id} ran after a failure"
        assert job_id not in run.done
        run.finish(job_id, Done(data.draw(statuses)), hooks)
    assert run.finished
    assert sorted(hooks.finished_ids) == sorted(by_id)  # each exactly once
    for job in jobs:
        done = run.done[job.id]
        hard_failed = [b for b in job.after if run.done[b].status is not Status.OK]
        if done.blocked_by is not None:
            assert done.blocked_by in hard_failed
            assert done.status in (Status.SKIPPED, Status.CANCELLED)
            cause = run.done[done.blocked_by].status
            assert (done.status is Status.CANCELLED) == (cause is Status.CANCELLED)
        else:
            assert not hard_failed, f"{job.id} was run although {hard_failed} did not succeed"
