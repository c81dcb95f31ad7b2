"""The executor claim, for real: a plan's steps run on a Dask cluster of worker processes.

The same plan applied on the default thread pool and on ``Client.get_executor()``
of a ``LocalCluster`` gives the same files and the same outcomes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import reconcile as rc

from .dask_files import DaskFile, DaskFiles

distributed = pytest.importorskip("distributed", reason="install reconcile[dask] to run on Dask")

ROOT = Path(__file__).resolve().parents[2]


def _desired() -> list[DaskFile]:
    base = [DaskFile(f"base{i}", f"base {i}") for i in range(5)]
    leaves = [DaskFile(f"leaf{i}", f"leaf {i}", depends_on=[base[i % 5]]) for i in range(20)]
    return base + leaves + [DaskFile("top", "top", depends_on=leaves)]


def _contents(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in root.iterdir() if not p.name.endswith(".pid")}


def _apply(root: Path, executor: object | None) -> rc.ApplyResult:
    reconciler = rc.Reconciler([DaskFiles(root)], parallelism=8, executor=executor)
    return reconciler.apply(reconciler.plan(_desired()))


@pytest.fixture(scope="module")
def dask_executor():
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    )
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        yield client.get_executor()
    finally:
        client.close()
        cluster.close()


def test_a_dask_cluster_applies_the_same_plan_as_the_thread_pool(tmp_path, dask_executor):
    threads, cluster = tmp_path / "threads", tmp_path / "cluster"
    threads.mkdir()
    cluster.mkdir()

    on_threads = _apply(threads, None)
    on_cluster = _apply(cluster, dask_executor)

    assert on_threads.ok
    assert on_cluster.ok
    assert on_cluster.outcomes == on_threads.outcomes
    assert _contents(cluster) == _contents(threads)
    assert len(_contents(cluster)) == 26
    worker_pids = {p.read_text() for p in cluster.glob("*.pid")}
    assert str(os.getpid()) not in worker_pids, "steps ran in worker processes"
    again = rc.Reconciler([DaskFiles(cluster)], executor=dask_executor)
    assert again.plan(_desired()).is_empty
