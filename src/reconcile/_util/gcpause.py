"""Pause the cyclic garbage collector around bulk work that creates no reference cycles.

Planning and the plan's JSON form allocate hundreds of thousands of acyclic objects;
on a large heap the collector's passes then cost a third or more of the work
(plan at 100,000 resources: 36.6 against 24.7 us per resource; plan JSON: 124
against 50 us per step). Reference counting still frees everything.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["no_cycle_collection"]


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Disable cyclic collection inside the block; restore it as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
