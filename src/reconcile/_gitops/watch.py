"""Watch: poll a source for new revisions and live state for drift, and act on both.

Called by ``Reconciler.watch``. Each cycle: a new revision is synced (auto-sync);
otherwise drift is reported, and corrected where self-heal (or a resource's
``drift="correct"``) says so. Failures back off exponentially with jitter,
capped, never below the interval (no hot loop); a newer revision pre-empts the
backoff of an older one that keeps failing. A stop event ends the loop after
the cycle in flight.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

import attrs

from reconcile._util.clock import Clock, SystemClock
from reconcile._util.errors import ReconcileError

from .guard import PrunePolicy
from .health import Health
from .source import Source
from .status import Sync

__all__ = ["WatchEvent", "WatchOptions", "WatchReport", "watch"]

log = logging.getLogger("reconcile.watch")


@attrs.frozen
class WatchOptions:
    """How to watch: the poll interval, self-heal, the prune policy, the backoff cap."""

    interval: float = 30.0
    self_heal: bool = False
    prune: bool | PrunePolicy = False
    backoff_cap: float = 600.0
    max_cycles: int | None = None


@attrs.frozen
class WatchEvent:
    """One cycle: the revision seen, sync and health after it, what was done, any error.

    ``healed`` counts the drifted resources corrected; ``healed_addresses`` names them.
    """

    cycle: int
    revision: str | None
    sync: Sync | None
    health: Health | None
    synced: bool = False
    healed: int = 0
    drifted: tuple[str, ...] = ()
    healed_addresses: tuple[str, ...] = ()
    applied: int = 0
    error: str | None = None
    next_in: float = 0.0

    def line(self) -> str:
        """The one log line per cycle the command line prints."""
        rev = (self.revision or "?")[:12]
        what = "synced" if self.synced else self._healed() if self.healed else "watching"
        state = f"{self.sync or '?'}/{self.health or '?'}"
        tail = f" error: {self.error}" if self.error else ""
        drift = f" drift: {', '.join(self.drifted)}" if self.drifted else ""
        return f"cycle {self.cycle} rev {rev} {state} {what}, {self.applied} applied{drift}{tail}"

    def _healed(self) -> str:
        named = f" ({', '.join(self.healed_addresses)})" if self.healed_addresses else ""
        return f"healed {self.healed}{named}"


@attrs.frozen
class WatchReport:
    """How the watch ended: every cycle's event and the revision last synced."""

    events: tuple[WatchEvent, ...]
    last_synced: str | None


def watch(
    source: Source,
    cycle: Callable[[int, str, bool], WatchEvent],
    options: WatchOptions,
    *,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
    on_event: Callable[[WatchEvent], None] | None = None,
    rng: random.Random | None = None,
    start_revision: str | None = None,
) -> WatchReport:
    """Run cycles until ``stop`` is set or ``max_cycles``; ``cycle(n, rev, new)`` acts."""
    clock = clock or SystemClock()
    stop = stop or threading.Event()
    rng = rng or random.Random()
    events: list[WatchEvent] = []
    synced, failing, failures = start_revision, None, 0
    number = 0
    while not stop.is_set() and (options.max_cycles is None or number < options.max_cycles):
        number += 1
        event = _one_cycle(source, cycle, number, synced)
        if event.error is None and event.revision is not None:
            if event.synced or event.revision == synced:
                synced, failing, failures = event.revision, None, 0
        else:
            if event.revision != failing:
                failures = 0  # a newer revision: its retries start afresh
            failing, failures = event.revision, failures + 1
        delay = _delay(options, failures, rng)
        event = attrs.evolve(event, next_in=delay)
        events.append(event)
        log.info("%s", event.line())
        if on_event is not None:
            on_event(event)
        if options.max_cycles is not None and number >= options.max_cycles:
            break
        _wait(source, clock, stop, delay, options.interval, failing if failures else None)
    return WatchReport(tuple(events), synced)


def _one_cycle(
    source: Source, cycle: Callable[[int, str, bool], WatchEvent], number: int, synced: str | None
) -> WatchEvent:
    try:
        revision = source.revision()
    except ReconcileError as err:
        return WatchEvent(number, None, None, None, error=str(err))
    try:
        return cycle(number, revision, revision != synced)
    except ReconcileError as err:
        return WatchEvent(number, revision, None, None, error=str(err))


def _delay(options: WatchOptions, failures: int, rng: random.Random) -> float:
    """The interval; after failures, exponential with jitter, capped, never below the interval."""
    if failures == 0:
        return options.interval
    ceiling = min(options.backoff_cap, options.interval * 2**failures)
    return float(max(options.interval, ceiling / 2 + rng.uniform(0, ceiling / 2)))


def _wait(
    source: Source,
    clock: Clock,
    stop: threading.Event,
    delay: float,
    interval: float,
    failing: str | None,
) -> None:
    """Sleep ``delay`` in interval-sized slices; wake early on stop or a newer revision."""
    remaining = delay
    while remaining > 0 and not stop.is_set():
        step = min(interval, remaining) if interval > 0 else remaining
        if isinstance(clock, SystemClock):
            stop.wait(step)
        else:
            clock.sleep(step)
        remaining -= step
        if failing is not None and remaining > 0 and _moved(source, failing):
            return


def _moved(source: Source, failing: str) -> bool:
    try:
        return source.revision() != failing
    except ReconcileError:
        return False
