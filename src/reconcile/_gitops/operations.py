"""GitOps on the reconciler: status, sync, watch and rollback of a ``Source``'s revisions.

A mixin of ``Reconciler`` (one idea per module): these methods only combine the
reconciler's own ``plan`` and ``apply`` with the ``_sync`` rules (status, prune
guards, drift modes) and the ``_watch`` loop, and journal where each desired
state came from (revision, commit, author, subject, digests).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from reconcile._apply.outcomes import ApplyResult
from reconcile._diff.documents import stored_spec
from reconcile._model.resource import address_of
from reconcile._plan.plan import Plan
from reconcile._provider.contract import Provider
from reconcile._state.contract import State
from reconcile._util.clock import Clock
from reconcile._util.errors import StateError

from .source import Source, describe
from .status import PrunePolicy, SyncStatus, drift_filtered, pruned, status_of
from .watch import WatchEvent, WatchOptions, WatchReport, watch

__all__ = ["GitOps", "desired_digest", "digest"]


class GitOps:
    """Source-driven operations; ``Reconciler`` provides plan, apply and state."""

    state: State | None
    clock: Clock
    _providers: dict[str, Provider[Any]]

    if TYPE_CHECKING:  # provided by Reconciler; declared here for the type checker only

        def plan(self, desired: Iterable[Any]) -> Plan: ...

        def apply(
            self,
            plan: Plan,
            *,
            revision: str | None = None,
            meta: Mapping[str, Any] | None = None,
        ) -> ApplyResult: ...

        def history(self, limit: int | None = None) -> list[Any]: ...

    def status(self, source: Source) -> SyncStatus:
        """``Synced`` or ``OutOfSync`` for the source's current revision, with health."""
        revision = source.revision()
        plan = self.plan(source.load(revision))
        return status_of(plan, self._providers, revision, self.last_applied_revision())

    def plan_sync(
        self,
        source: Source,
        *,
        revision: str | None = None,
        prune: bool | PrunePolicy = False,
    ) -> tuple[Plan, str]:
        """The plan that syncs ``revision`` (default: current); prune is off unless asked."""
        revision = revision or source.revision()
        desired = source.load(revision)
        plan = self.plan(desired)
        wanted = desired_digest(desired, plan.salt)
        plan = attrs.evolve(plan, meta={**plan.meta, "desired_digest": wanted})
        return self.prune_guarded(plan, prune), revision

    def prune_guarded(self, plan: Plan, prune: bool | PrunePolicy) -> Plan:
        """``plan`` under the prune policy: its deletes dropped when off, else guarded."""
        recorded = len(self.state.snapshot().records) if self.state is not None else 0
        return pruned(plan, prune, recorded)

    def sync(
        self,
        source: Source,
        *,
        revision: str | None = None,
        prune: bool | PrunePolicy = False,
    ) -> ApplyResult:
        """Apply a revision of ``source`` and journal where it came from (commit, author)."""
        plan, revision = self.plan_sync(source, revision=revision, prune=prune)
        return self.apply(plan, revision=revision, meta=_journal(source, revision, plan))

    def watch(
        self,
        source: Source,
        options: WatchOptions | None = None,
        *,
        stop: threading.Event | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
    ) -> WatchReport:
        """Poll ``source`` and live state every ``interval``: sync new revisions, heal drift."""
        options = options or WatchOptions()
        return watch(
            source,
            lambda n, rev, new: self._watch_cycle(source, options, n, rev, new),
            options,
            clock=self.clock,
            stop=stop,
            on_event=on_event,
            start_revision=self.last_applied_revision(),
        )

    def _watch_cycle(
        self, source: Source, options: WatchOptions, number: int, revision: str, new: bool
    ) -> WatchEvent:
        if new:
            result = self.sync(source, revision=revision, prune=options.prune)
            error = None if result.ok else f"{len(result.failed)} steps failed"
            after = self.status(source)
            return WatchEvent(
                number, revision, after.sync, after.health, synced=result.ok,
                applied=len(result.applied), error=error,
            )  # fmt: skip
        plan, _ = self.plan_sync(source, revision=revision, prune=options.prune)
        fixing, report = drift_filtered(plan, options.self_heal)
        healed: tuple[str, ...] = ()
        if fixing.changes:
            result = self.apply(fixing, revision=revision, meta=_journal(source, revision, plan))
            healed = tuple(o.address for o in result.applied)
        after = self.status(source)
        drifted = tuple(s.address for s in report)
        return WatchEvent(
            number, revision, after.sync, after.health, healed=len(healed), drifted=drifted,
            applied=len(healed), healed_addresses=healed,
        )  # fmt: skip

    def plan_rollback(self, source: Source, revision: str) -> Plan:
        """The plan back to ``revision``, which must have been applied before (pruning on)."""
        applied = {e.revision for e in self.history() if e.status == "ok"}
        if revision not in applied:
            raise StateError(f"revision {revision} was never applied here; cannot roll back to it")
        plan, _ = self.plan_sync(source, revision=revision, prune=PrunePolicy(allow_prune_all=True))
        return plan

    def rollback(self, source: Source, revision: str) -> ApplyResult:
        """Sync the desired state of an earlier applied revision again."""
        plan = self.plan_rollback(source, revision)
        meta = {**_journal(source, revision, plan), "rollback": True}
        return self.apply(plan, revision=revision, meta=meta)

    def last_applied_revision(self) -> str | None:
        """The revision of the newest successful apply in the journal."""
        if self.state is None:
            return None
        return next((e.revision for e in self.state.history() if e.status == "ok"), None)


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


def digest(data: bytes) -> str:
    """``sha256:`` and the hex digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
