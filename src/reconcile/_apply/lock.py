"""Taking the state's apply lock: wait up to a timeout, then name who holds it and why.

Called by the reconciler around every write; one apply at a time per state.
"""

from __future__ import annotations

import time

from reconcile._state.contract import State
from reconcile._state.values import LockInfo
from reconcile._util.errors import LockedError

__all__ = ["acquire"]

_POLL = 0.1


def acquire(state: State, holder: LockInfo, timeout: float | None) -> None:
    """Take ``state``'s lock for ``holder``, polling up to ``timeout`` seconds (None: once)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while (current := state.acquire(holder)) is not None:
        if deadline is None or time.monotonic() >= deadline:
            raise LockedError(_locked_message(current), current)
        time.sleep(_POLL)


def _locked_message(holder: LockInfo) -> str:
    advice = (
        "it is no longer running, but its lock is one the OS does not release (an "
        "older reconcile's, or on files that cannot be locked): break it with "
        "force_unlock() (or `reconcile unlock`) after checking nothing else uses this state"
        if holder.alive is False
        else "wait for it to finish, or pass lock_timeout= to wait"
    )
    return f"state is locked by {holder.describe()}; {advice}"
