"""Process-wide switches: every cache and fast-path flag that lives as long as the process.

One place to look when a result depends on what happened earlier in the process.
Each is filled as a side effect and never cleared; none holds a secret. The ones here:

- ``KINDS``: the kind registry, ``kind -> class`` (``resource`` fills it, saved plans and
  state read it); a second class under one kind is refused.
- ``LIVE_REFS``: every ``Ref`` alive, by identity; ``refs_exist()`` reads it (the
  planner's and serialiser's fast path when nothing holds a reference).
- ``COMPARATORS``: ``same_managed``'s field getters per resource class (``_diff.changes``).
- ``STEP_ACTIONS``: a step's Terraform action list per action and replace order
  (``_plan.json_form._actions``).

Left where they are, because moving them would cost more than it gives:

- the secrets salt: ``_model/secrets.py`` ``_SALT`` (a ``ContextVar`` set by
  ``use_salt`` for one plan or apply, per thread of control, so it is not a global);
- the cattrs converters: ``_model/serialize.py`` ``_converter`` and ``_strict``
  (cattrs is quarantined in that module by an import-linter contract);
- ``_state/values.py`` ``_second``: the text of the last whole second ``now()``
  formatted (row ``SQLiteState.save per applied step``);
- ``_util/gcpause.py`` ``no_cycle_collection``: not a cache, a switch flipped around a
  plan and a plan's JSON form (rows ``plan (observe+diff+order)`` and ``plan.to_json``).

The performance tricks these serve, each a named helper whose docstring names the
benchmark row (``benchmarks/*.py``) that justifies it: ``refs_exist``,
``_diff.changes.same_managed``, ``_plan.steps.in_sync_step``, ``_plan.json_form._actions``,
``_diff.documents.as_stored``, ``_diff.records.record_outdated``.
"""

from __future__ import annotations

import weakref
from typing import Any, cast

__all__ = ["COMPARATORS", "KINDS", "LIVE_REFS", "STEP_ACTIONS", "refs_exist"]

KINDS: dict[str, type[Any]] = {}

# By identity: a set keyed by equality holds one entry for equal refs, and loses
# it when the first of them dies while an equal one lives on.
LIVE_REFS: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()

COMPARATORS: dict[type, Any] = {}

STEP_ACTIONS: dict[tuple[Any, bool], tuple[str, ...]] = {}


def refs_exist() -> bool:
    """False when no ``Ref`` is alive in this process: no resource can hold one.

    Lets a plan skip resolving, probing by ids and marking unknowns for every resource
    (row ``plan (observe+diff+order)``: no reference exists there).
    """
    return bool(cast(Any, LIVE_REFS).data)  # the dict of weak references, read in C
