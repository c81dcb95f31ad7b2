"""Crash recovery: resolve intents a killed apply left open, before anything plans.

Called by the reconciler while it holds the state's lock. For each open intent
it asks the provider what exists (by key, or through ``list`` when the remote
system chose the id) and records exactly that: adopted if it exists, dropped if
it does not. So a kill between a remote create and its record leaves no orphan
and no duplicate; a replacement made before the old object was destroyed is
adopted, and the old one recorded as deposed for the next plan to destroy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs

from reconcile._diff.changes import strict_equal
from reconcile._diff.deposed import deposed
from reconcile._diff.documents import SENSITIVE, document, outputs_of
from reconcile._diff.merge import with_keys_of
from reconcile._diff.records import rebuild, record_for
from reconcile._model.resource import address_of, spec_of
from reconcile._model.secrets import use_salt
from reconcile._provider.contract import Provider
from reconcile._provider.observe import Retrying
from reconcile._state.contract import State
from reconcile._state.values import Intent, Record
from reconcile._util.vocabulary import IntentAction

__all__ = ["recover"]

log = logging.getLogger("reconcile.recovery")

#: The digest of a secret an interrupted write may have changed: equal to no value's.
UNCERTAIN_DIGEST = "unknown: a write of a new value was interrupted"


def recover(
    state: State, providers: Mapping[str, Provider[Any]], reads: Retrying | None = None
) -> list[str]:
    """Resolve every open intent; returns the addresses whose record changed.

    ``reads`` retries a read or list raising ``TransientError``, as planning does.
    """
    reads = reads or Retrying()
    snapshot = state.snapshot()
    changed = []
    with use_salt(snapshot.salt):  # records written here digest secrets as the state does
        for intent in snapshot.intents:
            provider = providers.get(intent.kind)
            if provider is None:
                continue  # a kind we cannot see now; leave the intent for a run that can
            if _resolve(state, provider, intent, snapshot.records.get(intent.address), reads):
                changed.append(intent.address)
    return changed


def _resolve(
    state: State, provider: Provider[Any], intent: Intent, record: Record | None, reads: Retrying
) -> bool:
    outputs = record.outputs if record is not None else {}
    probe = rebuild(provider.resource, intent.spec, outputs, address=intent.address)
    found = reads.call(intent.address, "read", lambda: provider.read(probe), probe)
    found = found or _listed(provider, intent.address, reads)
    if found is None:
        log.warning("%s: interrupted %s left nothing; forgetting it", intent.address, intent.action)
        if record is not None and intent.action != IntentAction.UPDATE:
            state.forget(intent.address, intent=intent.id)
        else:
            state.close_intent(intent.id)
        return record is not None
    log.warning("%s: interrupted %s left it in place; adopting it", intent.address, intent.action)
    if record is None:
        state.save(record_for(probe, found, None), intent=intent.id)
        return True
    fresh = _replacement(provider, intent, record, found, reads)
    if fresh is not None:  # a create-before-destroy replace made it; the old one is deposed
        log.warning("%s: its replacement exists; the old object will be destroyed", intent.address)
        old = deposed(record, found, fresh)
        if old is not None:
            state.save(old)
        new = attrs.evolve(record, spec=intent.spec, outputs=outputs_of(fresh), tainted=False)
        state.save(new, intent=intent.id)
        return True
    # An interrupted write may or may not have happened: keep the lifecycle the record
    # holds, take the outputs of what exists, and for a write that sets a spec, record
    # what the live object shows of it (keys it may have added stay ours).
    spec = record.spec
    if intent.action != IntentAction.DELETE:
        spec = _after_interrupted(record.spec, intent.spec, document(found), provider.resource)
    kept = attrs.evolve(record, spec=spec, outputs=outputs_of(found), tainted=record.tainted)
    state.save(kept, intent=intent.id)
    return True


def _after_interrupted(
    last: Mapping[str, Any], intended: Mapping[str, Any], live: Mapping[str, Any], cls: type
) -> dict[str, Any]:
    """The last applied spec after a write of ``intended`` that was cut short.

    A field the live object shows with its intended value was written: take it.
    Any other keeps what was applied before, but claims every mapping key the
    write set, so the three-way merge does not mistake a key we may have added
    for someone else's and leave it. A secret the write was changing may or may
    not hold its new value, and a digest cannot be checked against the live one:
    it is recorded as unknown, so the next plan writes it again (a write-only
    field is compared with the last applied value only, and would otherwise keep
    whichever value the interrupted write left).
    """
    secret = {f.name for f in spec_of(cls).sensitive_fields}
    spec = dict(last)
    for name, value in intended.items():
        if name in secret:
            if name in spec and spec[name] != value:
                spec[name] = {SENSITIVE: UNCERTAIN_DIGEST}
            continue
        if name not in spec or (name in live and strict_equal(live[name], value)):
            spec[name] = value
        else:
            spec[name] = with_keys_of(spec[name], value)
    return spec


def _replacement(
    provider: Provider[Any], intent: Intent, record: Record, found: Any, reads: Retrying
) -> Any:
    """The new object of an interrupted replace, when ``found`` is still the old one.

    Only ``list`` can show it: it has the address, and outputs (an id) of its own.
    """
    if intent.action != IntentAction.REPLACE or outputs_of(found) != record.outputs:
        return None
    return _listed(provider, intent.address, reads, other_than=record.outputs)


def _listed(
    provider: Provider[Any],
    address: str,
    reads: Retrying,
    other_than: Mapping[str, Any] | None = None,
) -> Any:
    """Find a thing by address through ``list`` when ``read`` needs an id we never recorded.

    With ``other_than``, only a thing whose outputs differ from those (not the old one).
    """
    if not provider.can_list:
        return None
    return next(
        (
            item
            for item in reads.call(address, "list", lambda: list(provider.list()))
            if address_of(item) == address
            and (other_than is None or outputs_of(item) != other_than)
        ),
        None,
    )
