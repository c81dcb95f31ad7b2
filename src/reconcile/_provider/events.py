"""Progress events of an apply, for progress bars and audit hooks.

The scheduler emits one ``Event`` per change of a step's life; the CLI draws
them, users may pass any callable. A callback that raises is logged, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from reconcile._util.vocabulary import EventKind

__all__ = ["Event", "EventKind", "EventSink", "emit"]

log = logging.getLogger("reconcile.events")


@attrs.frozen
class Event:
    """One step's progress: ``attempt`` counts from 1; ``delay`` is the backoff before a retry.

    A read retried while observing is reported as ``retried`` too, its ``action``
    ``read``, ``read_many`` or ``list``.
    """

    kind: EventKind
    address: str
    action: str
    attempt: int = 1
    error: str | None = None
    delay: float | None = None


EventSink = Callable[[Event], None]


def emit(sink: EventSink | None, event: Event) -> None:
    """Deliver ``event``; a failing callback must not break an apply."""
    if sink is None:
        return
    try:
        sink(event)
    except Exception:
        log.exception("progress callback failed on %s", event)
