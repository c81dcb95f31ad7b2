"""GitOps operations: status, sync, watch and rollback of a ``Source``'s revisions.

An object the reconciler holds (composition, not a mixin): it combines the
engine's ``plan`` and ``apply`` with the sync rules (status, prune guards,
drift modes) and the watch loop, and journals where each desired state came
from (revision, commit, author, subject, digests).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import attrs

from reconcile._apply.outcomes import ApplyResult
from reconcile._apply.recorder import digest
from reconcile._diff.documents import stored_spec
from reconcile._model.resource import address_of
from reconcile._plan.plan import Plan
from reconcile._provider.contract import Provider
from reconcile._state.contract import State
from reconcile._util.clock import Clock
from reconcile._util.errors import StateError
from reconcile._util.vocabulary import ApplyStatus

from .guard import PrunePolicy, drift_filtered, pruned
from .source import Source, describe
from .status import SyncStatus, status_of
from .watch import WatchEvent, WatchOptions, WatchReport, watch

__all__ = ["Engine", "GitOps", "desired_digest"]


class Engine(Protocol):
    """What GitOps asks of the reconciler that holds it: plan, apply, state and a clock."""

    @property
    def state(self) -> State | None: ...

    @property
    def clock(self) -> Clock: ...

    def plan(self, desired: Iterable[Any]) -> Plan: ...

    def apply(
        self, plan: Plan, *, revision: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> ApplyResult: ...


@attrs.frozen
class GitOps:
    """Source-driven operations over ``engine``; prune is a ``PrunePolicy`` or None (off)."""

    engine: Engine
    providers: Mapping[str, Provider[Any]]

    def status(self, source: Source) -> SyncStatus:
        """``Synced`` or ``OutOfSync`` for the source's current revision, with health."""
        revision = source.revision()
        plan = self.engine.plan(source.load(revision))
        return status_of(plan, self.providers, revision, self.last_applied_revision())

    def plan_sync(
        self, source: Source, revision: str | None, prune: PrunePolicy | None
    ) -> tuple[Plan, str]:
        """The plan that syncs ``revision`` (default: current), under ``prune``."""
        revision = revision or source.revision()
        desired = source.load(revision)
        plan = self.engine.plan(desired)
        wanted = desired_digest(desired, plan.salt)
        plan = attrs.evolve(plan, meta={**plan.meta, "desired_digest": wanted})
        return self.prune_guarded(plan, prune), revision

    def prune_guarded(self, plan: Plan, prune: PrunePolicy | None) -> Plan:
        """``plan`` under the prune policy: its deletes dropped when off, else guarded."""
        state = self.engine.state
        recorded = len(state.snapshot().records) if state is not None else 0
        return pruned(plan, prune, recorded)

    def sync(self, source: Source, revision: str | None, prune: PrunePolicy | None) -> ApplyResult:
        """Apply a revision of ``source`` and journal where it came from (commit, author)."""
        plan, revision = self.plan_sync(source, revision, prune)
        return self.engine.apply(plan, revision=revision, meta=_journal(source, revision, plan))

    def watch(
        self,
        source: Source,
        options: WatchOptions,
        stop: threading.Event | None,
        on_event: Callable[[WatchEvent], None] | None,
    ) -> WatchReport:
        """Poll ``source`` and live state every ``interval``: sync new revisions, heal drift."""
        prune = PrunePolicy.of(options.prune)
        return watch(
            source,
            lambda n, rev, new: self._watch_cycle(source, options.self_heal, prune, n, rev, new),
            options,
            clock=self.engine.clock,
            stop=stop,
            on_event=on_event,
            start_revision=self.last_applied_revision(),
        )

    def _watch_cycle(
        self,
        source: Source,
        self_heal: bool,
        prune: PrunePolicy | None,
        number: int,
        revision: str,
        new: bool,
    ) -> WatchEvent:
        if new:
            result = self.sync(source, revision, prune)
            error = None if result.ok else f"{len(result.failed)} steps failed"
            after = self.status(source)
            return WatchEvent(
                number, revision, after.sync, after.health, synced=result.ok,
                applied=len(result.applied), error=error,
            )  # fmt: skip
        plan, _ = self.plan_sync(source, revision, prune)
        fixing, report = drift_filtered(plan, self_heal)
        healed: tuple[str, ...] = ()
        if fixing.changes:
            meta = _journal(source, revision, plan)
            result = self.engine.apply(fixing, revision=revision, meta=meta)
            healed = tuple(o.address for o in result.applied)
        after = self.status(source)
        drifted = tuple(s.address for s in report)
        return WatchEvent(
            number, revision, after.sync, after.health, healed=len(healed), drifted=drifted,
            applied=len(healed), healed_addresses=healed,
        )  # fmt: skip

    def plan_rollback(self, source: Source, revision: str) -> Plan:
        """The plan back to ``revision``, which must have been applied before (pruning on)."""
        state = self.engine.state
        history = state.history() if state is not None else []
        if revision not in {e.revision for e in history if e.status == ApplyStatus.OK}:
            raise StateError(f"revision {revision} was never applied here; cannot roll back to it")
        plan, _ = self.plan_sync(source, revision, PrunePolicy(allow_prune_all=True))
        return plan

    def rollback(self, source: Source, revision: str) -> ApplyResult:
        """Sync the desired state of an earlier applied revision again."""
        plan = self.plan_rollback(source, revision)
        meta = {**_journal(source, revision, plan), "rollback": True}
        return self.engine.apply(plan, revision=revision, meta=meta)

    def last_applied_revision(self) -> str | None:
        """The revision of the newest successful apply in the journal."""
        state = self.engine.state
        if state is None:
            return None
        return next((e.revision for e in state.history() if e.status == ApplyStatus.OK), None)


def _journal(source: Source, revision: str, plan: Plan) -> dict[str, Any]:
    """What a source-driven apply journals: commit, author, subject, the desired digest."""
    return {**describe(source, revision), "desired_digest": plan.meta.get("desired_digest")}


def desired_digest(desired: Iterable[Any], salt: str) -> str:
    """A digest of a desired state: its addresses and specs, secrets digested under ``salt``.

    ``salt`` is the plan's: the state's salt, bound to its key, so the same desired
    state has the same digest in every process using that state (the process's own
    salt would change it each run), and a secret enters only as an HMAC under the key.
    """
    docs = {address_of(r): stored_spec(r, salt) for r in desired}
    return digest(json.dumps(docs, sort_keys=True, default=repr).encode())
