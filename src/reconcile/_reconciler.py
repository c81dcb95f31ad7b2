"""The façade users hold: ``Reconciler(providers, state).plan / apply / converge``.

Top of the core: it maps kinds to providers, holds the state's lock around
writes, resolves crash intents before planning, and hands each request to the
planner, the applier and the converge loop; it holds no policy of its own.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

import attrs

from ._apply import converge as _converge
from ._apply import runner as _apply
from ._apply.converge import ConvergeReport
from ._apply.execution import Execution
from ._apply.lock import acquire
from ._apply.outcomes import ApplyResult, Interrupted
from ._apply.recorder import Recorder, journal
from ._apply.recovery import recover
from ._diff.deposed import deposed_address
from ._diff.documents import outputs_of
from ._diff.records import record_for
from ._gitops.guard import PrunePolicy
from ._gitops.operations import GitOps
from ._gitops.source import Source
from ._gitops.status import SyncStatus
from ._gitops.watch import WatchEvent, WatchOptions, WatchReport
from ._model.resource import address_of, spec_of
from ._model.secrets import use_salt
from ._model.values import Moved
from ._plan import planner as _planner
from ._plan.plan import Plan
from ._plan.saved import complete
from ._provider.contract import Provider
from ._provider.events import EventSink
from ._provider.limits import Limiter
from ._provider.policy import RetryPolicy
from ._state.contract import State
from ._state.values import ApplyEntry, LockInfo, Record
from ._util.clock import Clock, SystemClock
from ._util.errors import DefinitionError, ReconcileError, StalePlanError, StateError
from ._util.vocabulary import ApplyStatus

__all__ = ["Reconciler"]

log = logging.getLogger("reconcile")


class Reconciler:
    """Makes live state match desired state through one provider per kind.

    With ``state`` it remembers what it manages: it prunes what is no longer
    desired, fills provider-assigned ids, journals every apply and survives
    crashes. ``lock_timeout`` (seconds) waits for another apply instead of failing.
    """

    def __init__(
        self,
        providers: Iterable[Provider[Any]],
        state: State | None = None,
        *,
        lock_timeout: float | None = None,
        parallelism: int = 10,
        executor: cf.Executor | None = None,
        retry: RetryPolicy | None = None,
        step_timeout: float | None = None,
        clock: Clock | None = None,
        on_event: EventSink | None = None,
        seed: int | None = None,
    ) -> None:
        self._providers: dict[str, Provider[Any]] = {}
        for provider in providers:
            kind = provider.kind
            if kind in self._providers:
                raise DefinitionError(f"two providers given for kind {kind!r}")
            self._providers[kind] = provider
        self.state = state
        self.lock_timeout = lock_timeout
        self.clock: Clock = clock or SystemClock()
        self._holder: LockInfo | None = None
        self._cancel = threading.Event()
        limiters = {
            kind: Limiter(self.clock, p.max_concurrency, p.rate_limit)
            for kind, p in self._providers.items()
            if p.max_concurrency is not None or p.rate_limit is not None
        }
        self._execution = Execution(
            parallelism=parallelism,
            executor=executor,
            retry=retry or RetryPolicy(),
            step_timeout=step_timeout,
            clock=self.clock,
            on_event=on_event,
            limiters=limiters,
            cancel=self._cancel,
            seed=seed,
        )
        self._reads = self._execution.reads()  # a TransientError is retried as in a write

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds this reconciler has providers for."""
        return tuple(self._providers)

    # -- plan / apply / converge ----------------------------------------------

    def plan(
        self,
        desired: Iterable[Any],
        *,
        include: Collection[str] | None = None,
        exclude: Collection[str] | None = None,
    ) -> Plan:
        """Observe and diff ``desired`` (and what state records); changes nothing.

        ``include`` restricts the plan to those addresses and what they depend on;
        ``exclude`` drops those addresses and what depends on them.
        """
        snapshot = None
        if self.state is not None:
            snapshot = self.state.snapshot()
            if snapshot.intents:
                self._recover_if_free()
                snapshot = self.state.snapshot()
        planning = self._execution.planning(include, exclude, self._reads)
        return _planner.plan(desired, self._providers, snapshot, planning)

    def cancel(self) -> None:
        """Stop the running apply: no new step starts; running ones finish and are recorded."""
        self._cancel.set()

    def apply(
        self,
        plan: Plan,
        *,
        desired: Iterable[Any] | None = None,
        revision: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> ApplyResult:
        """Execute ``plan``. A saved plan with sensitive values needs ``desired`` again.

        With state: takes the lock, refuses a stale plan, journals every step.
        """
        self._cancel.clear()  # a cancel ends one operation; this is a new one
        return self._apply_any(plan, desired, revision, meta)

    def _apply_any(
        self,
        plan: Plan,
        desired: Iterable[Any] | None,
        revision: str | None,
        meta: Mapping[str, Any] | None,
    ) -> ApplyResult:
        if self.state is None:
            return _apply.apply(plan, self._providers, desired, None, self._execution)
        with self._locked():
            return self._apply_locked(plan, desired, revision, meta)

    def converge(
        self,
        desired: Iterable[Any],
        *,
        max_rounds: int = 10,
        revision: str | None = None,
    ) -> ConvergeReport:
        """Plan and apply until the plan is empty, a change repeats, or ``max_rounds``."""
        wanted = list(desired)
        self._cancel.clear()  # one converge is one operation: a cancel ends all its rounds
        with self._locked() if self.state is not None else contextlib.nullcontext():
            if self.state is not None:
                self._recover()
            return _converge.converge(
                lambda: self.plan(wanted),
                lambda plan: self._apply_any(plan, None, revision, None),
                max_rounds,
                self._cancel.is_set,
                self.clock.sleep,
            )

    def _apply_locked(
        self,
        plan: Plan,
        desired: Iterable[Any] | None,
        revision: str | None,
        meta: Mapping[str, Any] | None,
    ) -> ApplyResult:
        state = self._required_state()
        snapshot = state.snapshot()
        if plan.serial is not None and plan.serial != snapshot.serial:
            raise StalePlanError(
                f"recorded state changed since the plan was made "
                f"(serial {plan.serial}, now {snapshot.serial}); plan again"
            )
        for old, new in plan.moves:  # renames first: the steps were planned against them
            state.move(old, new)
        if plan.moves:  # the records as moved, without reading the whole state again
            snapshot = attrs.evolve(
                snapshot, records=_planner.rebound(snapshot.records, plan.moves)
            )
        if plan.saved:  # refuse a stale saved plan before anything is journaled
            with use_salt(snapshot.salt):
                steps = complete(plan, self._providers, desired, snapshot.records, self._reads)
            plan = attrs.evolve(plan, steps=steps, saved=False)
        text = plan.to_json()
        apply_id = state.begin_apply(revision, text, journal(text, meta))
        recorder = Recorder(state, apply_id, revision, snapshot.records)
        try:
            with use_salt(snapshot.salt):
                result = _apply.apply(plan, self._providers, desired, recorder, self._execution)
        except Interrupted as stop:
            state.end_apply(apply_id, ApplyStatus.INTERRUPTED.value)
            raise stop from None
        except ReconcileError:
            state.end_apply(
                apply_id, ApplyStatus.REFUSED.value
            )  # e.g. a stale saved plan: nothing ran
            raise
        status = ApplyStatus.OK if result.ok else ApplyStatus.FAILED
        state.end_apply(apply_id, status.value)  # plain str: the stores bind exact types
        return result

    # -- GitOps: a source's revisions (see ``_gitops.operations``) -------------

    @property
    def _gitops(self) -> GitOps:
        """The GitOps operations over this reconciler (made per call: holding it would
        make a reference cycle that keeps a dropped reconciler and its state alive)."""
        return GitOps(self, self._providers)

    def status(self, source: Source) -> SyncStatus:
        """``Synced`` or ``OutOfSync`` for the source's current revision, with health."""
        return self._gitops.status(source)

    def plan_sync(
        self, source: Source, *, revision: str | None = None, prune: bool | PrunePolicy = False
    ) -> tuple[Plan, str]:
        """The plan that syncs ``revision`` (default: current); prune is off unless asked."""
        return self._gitops.plan_sync(source, revision, PrunePolicy.of(prune))

    def prune_guarded(self, plan: Plan, prune: bool | PrunePolicy) -> Plan:
        """``plan`` under the prune policy: its deletes dropped when off, else guarded."""
        return self._gitops.prune_guarded(plan, PrunePolicy.of(prune))

    def sync(
        self, source: Source, *, revision: str | None = None, prune: bool | PrunePolicy = False
    ) -> ApplyResult:
        """Apply a revision of ``source`` and journal where it came from (commit, author)."""
        return self._gitops.sync(source, revision, PrunePolicy.of(prune))

    def watch(
        self,
        source: Source,
        options: WatchOptions | None = None,
        *,
        stop: threading.Event | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
    ) -> WatchReport:
        """Poll ``source`` and live state every ``interval``: sync new revisions, heal drift."""
        return self._gitops.watch(source, options or WatchOptions(), stop, on_event)

    def plan_rollback(self, source: Source, revision: str) -> Plan:
        """The plan back to ``revision``, which must have been applied before (pruning on)."""
        self._required_state()
        return self._gitops.plan_rollback(source, revision)

    def rollback(self, source: Source, revision: str) -> ApplyResult:
        """Sync the desired state of an earlier applied revision again."""
        self._required_state()
        return self._gitops.rollback(source, revision)

    def last_applied_revision(self) -> str | None:
        """The revision of the newest successful apply in the journal."""
        return self._gitops.last_applied_revision()

    # -- state operations ------------------------------------------------------

    def import_(self, resource: Any, *, revision: str | None = "import") -> Any:
        """Adopt an existing thing into recorded state without changing it; returns it."""
        state = self._required_state()
        address = address_of(resource)
        provider = self._provider_for(resource)
        with self._locked():
            if address in state.snapshot().records:
                raise StateError(f"{address}: already managed; nothing to import")
            found = self._reads.call(address, "read", lambda: provider.read(resource), resource)
            if found is None:
                raise StateError(f"{address}: does not exist, so it cannot be imported")
            with use_salt(state.snapshot().salt):
                state.save(record_for(found, found, revision))
        return found

    def orphans(self, desired: Iterable[Any] = ()) -> list[Any]:
        """Existing things of listable kinds that are neither desired nor recorded."""
        wanted = {address_of(r) for r in desired if not isinstance(r, Moved)}
        records = self.state.snapshot().records if self.state is not None else {}
        found = []
        for provider in self._providers.values():
            if provider.can_list:
                listed = self._reads.call(provider.kind, "list", provider.list)
                found += [item for item in listed if _orphan(item, wanted, records)]
        return found

    def moved(self, old_address: str, new_address: str) -> None:
        """Rebind the record at ``old_address`` to ``new_address``: a rename, not a replace."""
        if old_address.split("[", 1)[0] != new_address.split("[", 1)[0]:
            raise StateError(f"cannot move {old_address} to {new_address}: kinds differ")
        state = self._required_state()
        with self._locked():
            state.move(old_address, new_address)

    def unprotect(self, address: str) -> None:
        """Lift ``prevent_destroy`` recorded for ``address``, so it may be destroyed."""
        state = self._required_state()
        with self._locked():
            record = state.snapshot().records.get(address)
            if record is None:
                raise StateError(f"{address}: not recorded")
            state.save(attrs.evolve(record, protected=False))

    def history(self, limit: int | None = None) -> list[ApplyEntry]:
        """Journaled applies, newest first (plans and steps left out)."""
        return self._required_state().history(limit)

    def history_entry(self, apply_id: int) -> ApplyEntry:
        """One journaled apply, whole: its plan JSON and every step outcome."""
        return self._required_state().entry(apply_id)

    def force_unlock(self) -> LockInfo | None:
        """Remove a lock no running process holds that the OS cannot release by itself
        (an older version's row, or files that cannot be locked); returns its holder."""
        holder = self._required_state().force_unlock()
        if holder is not None:
            log.warning("lock held by %s was broken by force_unlock", holder.describe())
        return holder

    # -- internals -------------------------------------------------------------

    def _required_state(self) -> State:
        if self.state is None:
            raise StateError("this needs recorded state: pass state= to Reconciler")
        return self.state

    def _provider_for(self, resource: Any) -> Provider[Any]:
        kind = spec_of(resource).kind
        provider = self._providers.get(kind)
        if provider is None:
            raise DefinitionError(f"{address_of(resource)}: no provider for kind {kind!r}")
        return provider

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the state's apply lock (re-entrant within this reconciler)."""
        if self._holder is not None:
            yield
            return
        state = self._required_state()
        holder = LockInfo.mine()
        acquire(state, holder, self.lock_timeout)
        self._holder = holder
        try:
            yield
        finally:
            self._holder = None
            state.release(holder)

    def _recover(self) -> None:
        for address in recover(self._required_state(), self._providers, self._reads):
            log.warning("%s: recovered from an interrupted apply", address)

    def _recover_if_free(self) -> None:
        state = self._required_state()
        holder = LockInfo.mine()
        if self._holder is None and state.acquire(holder) is not None:
            return  # another apply is running: its intents are not ours to resolve
        try:
            self._recover()
        finally:
            if self._holder is None:
                state.release(holder)


def _orphan(item: Any, wanted: Collection[str], records: Mapping[str, Record]) -> bool:
    """Not desired and not recorded, or a twin: recorded address, other provider ids
    (unless it is the deposed old object of a replace, recorded to be destroyed)."""
    address = address_of(item)
    record = records.get(address)
    if record is not None:
        outputs = outputs_of(item)
        if not record.outputs or dict(record.outputs) == outputs:
            return False
        return deposed_address(address, outputs) not in records
    return address not in wanted
