"""Timing and memory measurement shared by every benchmark workload.

Each figure is the median of several runs after one warm-up; peak memory is
measured in a separate run under ``tracemalloc`` so it does not slow the timing.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["Measure", "Row", "measure"]


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


def measure(
    run: Callable[[Any], object], setup: Callable[[], Any], *, runs: int = 5, memory: bool = True
) -> Measure:
    """Median wall time of ``run(setup())`` over ``runs`` runs after a warm-up."""
    run(setup())
    times = []
    for _ in range(runs):
        arg = setup()
        gc.collect()
        start = time.perf_counter()
        run(arg)
        times.append(time.perf_counter() - start)
    peak = 0
    if memory:
        arg = setup()
        gc.collect()
        tracemalloc.start()
        run(arg)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return Measure(statistics.median(times), peak)
