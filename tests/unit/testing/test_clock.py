"""Clocks: simulated time advances only when slept or advanced, from any thread."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

import reconcile as rc
from reconcile.testing import Clock, SimulatedClock, SystemClock


def test_simulated_sleep_advances_both_clocks_at_once():
    clock = SimulatedClock(datetime(2030, 5, 1, tzinfo=UTC))
    started = time.monotonic()
    clock.sleep(3600)
    clock.advance(0.5)
    assert time.monotonic() - started < 1, "a simulated hour must not take real time"
    assert clock.monotonic() == 3600.5
    assert clock.now() == datetime(2030, 5, 1, 1, 0, 0, 500000, tzinfo=UTC)
    assert clock.sleeps == (3600,), "advance() is time passing, not a sleep"


@pytest.mark.parametrize("bad", [-1, float("nan")])
def test_time_never_goes_back(bad):
    clock = SimulatedClock()
    clock.sleep(bad)  # as SystemClock: nothing to wait for
    clock.sleep(0)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(bad)
    assert clock.monotonic() == 0
    assert clock.sleeps == ()


def test_naive_start_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(datetime(2030, 1, 1))  # a naive datetime: no timezone


def test_concurrent_sleeps_add_up_without_losing_any():
    clock = SimulatedClock()

    def nap() -> None:
        for _ in range(1000):
            clock.sleep(0.001)

    threads = [threading.Thread(target=nap) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(clock.sleeps) == 8000
    assert clock.monotonic() == pytest.approx(8.0)


def test_wall_time_follows_the_start():
    clock = SimulatedClock(datetime(2030, 1, 1, tzinfo=UTC))
    clock.sleep(90)
    assert clock.time() == datetime(2030, 1, 1, 0, 1, 30, tzinfo=UTC).timestamp()


def test_the_kit_uses_the_core_clock_protocol():
    assert Clock is rc.Clock
    assert SystemClock is rc.SystemClock
    assert isinstance(SimulatedClock(), rc.Clock)
    assert not isinstance(object(), rc.Clock)
