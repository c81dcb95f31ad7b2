"""Properties of pacing: watch backoff, retry delays and provider limits, for all inputs.

Examples elsewhere pin a few schedules; these say what holds for every interval,
cap, failure count, seed and interleaving of calls.
"""

from __future__ import annotations

import itertools
import math
import random

from hypothesis import given
from hypothesis import strategies as st

from reconcile import RetryPolicy
from reconcile._gitops.watch import WatchOptions, _delay
from reconcile._provider.limits import Limiter
from reconcile.testing import SimulatedClock

seconds = st.floats(min_value=0.001, max_value=3600, allow_nan=False)
failures = st.integers(min_value=0, max_value=200)
seeds = st.integers(min_value=0, max_value=2**32)


@given(interval=seconds, cap=seconds, failed=failures, seed=seeds)
def test_watch_waits_at_least_the_interval_and_at_most_the_cap_or_interval(
    interval: float, cap: float, failed: int, seed: int
) -> None:
    options = WatchOptions(interval=interval, backoff_cap=cap)
    delay = _delay(options, failed, random.Random(seed))
    assert delay >= interval
    if failed == 0:
        assert delay == interval
    else:
        ceiling = min(cap, interval * 2.0**failed)
        assert delay <= max(interval, ceiling)
        # full-range jitter stays in the upper half of the ceiling
        assert delay >= min(max(interval, ceiling / 2), max(interval, ceiling))


@given(interval=seconds, cap=seconds, seed=seeds)
def test_watch_backoff_ceiling_grows_with_failures_until_the_cap(
    interval: float, cap: float, seed: int
) -> None:
    options = WatchOptions(interval=interval, backoff_cap=cap)
    rng = random.Random(seed)
    delays = [_delay(options, n, rng) for n in range(1, 40)]
    assert max(delays) <= max(interval, cap)
    assert all(d >= interval for d in delays)


@given(
    attempts=st.integers(1, 20),
    base=st.floats(0, 60, allow_nan=False),
    cap=st.floats(0, 600, allow_nan=False),
    failed=st.integers(1, 200),
    seed=seeds,
)
def test_retry_delay_is_full_jitter_under_the_capped_exponential(
    attempts: int, base: float, cap: float, failed: int, seed: int
) -> None:
    policy = RetryPolicy(attempts=attempts, base=base, cap=cap)
    delay = policy.delay(failed, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2.0 ** (failed - 1))


actions = st.lists(
    st.one_of(
        st.just(("start", 0.0)),
        st.just(("finish", 0.0)),
        st.tuples(st.just("advance"), st.floats(0, 5, allow_nan=False)),
    ),
    max_size=60,
)


@given(
    most=st.none() | st.integers(1, 5),
    rate=st.none() | st.floats(0.1, 100, allow_nan=False),
    steps=actions,
)
def test_limiter_never_exceeds_its_concurrency_or_its_rate(
    most: int | None, rate: float | None, steps: list[tuple[str, float]]
) -> None:
    clock = SimulatedClock()
    limiter = Limiter(clock, most, rate)
    running, starts = 0, []
    for action, amount in steps:
        wait = limiter.wait_time()
        at_capacity = most is not None and running >= most
        assert (wait is None) == at_capacity
        if action == "start" and wait is not None:
            clock.advance(wait)  # wait as the scheduler does, then start
            assert limiter.wait_time() == 0.0
            limiter.acquire()
            running += 1
            starts.append(clock.monotonic())
        elif action == "finish" and running:
            limiter.release()
            running -= 1
        elif action == "advance":
            clock.advance(amount)
        assert most is None or running <= most
    if rate:
        for earlier, later in itertools.pairwise(starts):
            assert later - earlier >= 1.0 / rate - 1e-9 * max(1.0, later)


@given(most=st.integers(1, 5), rate=st.floats(0.1, 100, allow_nan=False), n=st.integers(1, 30))
def test_limiter_slot_paces_calls_one_interval_apart(most: int, rate: float, n: int) -> None:
    clock = SimulatedClock()
    limiter = Limiter(clock, most, rate)
    starts = []
    for _ in range(n):
        with limiter.slot():
            starts.append(clock.monotonic())
    assert all(
        math.isclose(b - a, 1.0 / rate, rel_tol=1e-9, abs_tol=1e-9) or b - a > 1.0 / rate
        for a, b in itertools.pairwise(starts)
    )
