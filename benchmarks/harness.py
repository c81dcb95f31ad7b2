"""Timing and memory measurement shared by every benchmark workload.

Each figure is the median of several runs after one warm-up; a workload and its
baselines take turns run by run. Peak memory is measured in a separate run under
``tracemalloc`` so it does not slow the timing.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["Measure", "Row", "Timed", "measure", "measure_together"]


@attrs.frozen
class Measure:
    """Median seconds of ``runs`` timed runs, and the peak bytes of one traced run."""

    seconds: float
    peak_bytes: int


@attrs.frozen
class Row:
    """One line of the report: our time vs a baseline measured in the same run."""

    workload: str
    size: int
    ours: Measure
    baseline: Measure
    baseline_name: str
    target: str = ""
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def ratio(self) -> float:
        return self.ours.seconds / self.baseline.seconds if self.baseline.seconds else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "size": self.size,
            "ours_s": self.ours.seconds,
            "baseline": self.baseline_name,
            "baseline_s": self.baseline.seconds,
            "ratio": self.ratio,
            "ours_peak_mb": self.ours.peak_bytes / 2**20,
            "baseline_peak_mb": self.baseline.peak_bytes / 2**20,
            "target": self.target,
            **self.extra,
        }


Timed = tuple[Callable[[Any], object], Callable[[], Any]]
"""A workload to time: ``run`` and the ``setup`` that makes its argument afresh."""


def measure(
    run: Callable[[Any], object], setup: Callable[[], Any], *, runs: int = 5, memory: bool = True
) -> Measure:
    """Median wall time of ``run(setup())`` over ``runs`` runs after a warm-up."""
    return measure_together({"": (run, setup)}, runs=runs, memory=memory)[""]


def measure_together(
    contenders: Mapping[str, Timed], *, runs: int = 5, memory: bool = True
) -> dict[str, Measure]:
    """``measure`` for several workloads at once, their runs taking turns.

    On a shared machine the speed of the disk and the CPU drifts within seconds;
    taking turns lets each workload and its baseline see the same machine.
    """
    for run, setup in contenders.values():
        run(setup())
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, (run, setup) in contenders.items():
            arg = setup()
            gc.collect()
            start = time.perf_counter()
            run(arg)
            times[name].append(time.perf_counter() - start)
    return {
        name: Measure(statistics.median(times[name]), _peak(run, setup) if memory else 0)
        for name, (run, setup) in contenders.items()
    }


def _peak(run: Callable[[Any], object], setup: Callable[[], Any]) -> int:
    arg = setup()
    gc.collect()
    tracemalloc.start()
    try:
        run(arg)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
