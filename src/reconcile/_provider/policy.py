"""How provider calls are retried and bounded: exponential backoff with full jitter, timeouts.

A step's writes and the reads that observe (``read``, ``read_many``, ``list``)
follow the same policy.

Defaults: 5 attempts, delays drawn uniformly from ``[0, min(cap, base * 2**n))``
with base 0.5 s and cap 30 s (the "full jitter" of AWS's backoff study), and no
per-step timeout. Only :class:`reconcile.TransientError` is retried.
"""

from __future__ import annotations

import random

import attrs

__all__ = ["RetryPolicy"]


@attrs.frozen
class RetryPolicy:
    """Retry a call raising ``TransientError`` (a step, or a read while observing) up to
    ``attempts`` times in all."""

    attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    base: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    cap: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))

    def delay(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after the ``failures``-th failure (1-based): full jitter."""
        return rng.uniform(0.0, min(self.cap, self.base * 2 ** (failures - 1)))
