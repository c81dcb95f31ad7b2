"""The deposed-address scheme: where the old object of a create-before-destroy replace
is recorded (``kind[key]~deposed-<digest of its outputs>``) until a plan destroys it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

from reconcile._state.values import Record, now

from .documents import outputs_of
from .records import record_for

__all__ = ["deposed", "deposed_address", "deposed_from"]

_DEPOSED = "~deposed-"


def deposed(record: Record | None, old: Any, new: Any) -> Record | None:
    """The record of the object a create-before-destroy replace left behind, to destroy.

    It lives at its own address (``kind[key]~deposed-<digest of its outputs>``), which
    no desired state has, so the next plan destroys it. None when the old object's
    outputs cannot tell it from the new one (a thing read by its key): destroying
    it would destroy the replacement.
    """
    outputs = outputs_of(old)
    if not outputs or outputs == outputs_of(new):
        return None
    base = record if record is not None else record_for(old, old, None)
    return attrs.evolve(
        base,
        address=deposed_address(base.address, outputs),
        outputs=outputs,
        tainted=False,
        protected=False,
        retain=False,
        updated_at=now(),
    )


def deposed_address(address: str, outputs: Mapping[str, Any]) -> str:
    """Where the old object at ``address`` with these outputs is recorded while deposed."""
    text = json.dumps(outputs, sort_keys=True, default=str).encode()
    return f"{address}{_DEPOSED}{hashlib.sha256(text).hexdigest()[:8]}"


def deposed_from(address: str) -> str | None:
    """The address a deposed record's old object was replaced at; None for any other."""
    owner, mark, _ = address.rpartition(_DEPOSED)
    return owner if mark else None
