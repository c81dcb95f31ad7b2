"""One command's world: configuration, providers, state, the reconciler, desired state.

Built from the command's PATHs (or from a saved plan's record of them) so
every command sees the same manifests, providers and state the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
from click import UsageError

from reconcile._gitops.guard import PrunePolicy
from reconcile._gitops.operations import desired_digest
from reconcile._gitops.source import describe
from reconcile._model.resource import is_resource, spec_of
from reconcile._plan.plan import Plan
from reconcile._provider.events import EventSink
from reconcile._reconciler import Reconciler
from reconcile._state.contract import State
from reconcile._state.memory import MemoryState
from reconcile._state.sqlite import SQLiteState
from reconcile._util.errors import ReconcileError, StateError
from reconcile.sources import GitSource, ManifestSource, parse_git_spec

from ._config import Config, ConfigError, load_config
from ._kube import NO_PROVIDER, KubeFolders, git_source
from ._registry import build_providers, installed

__all__ = ["Session"]


@attrs.define
class Session:
    """Configuration, the manifest source and the reconciler for one command."""

    config: Config
    parallelism: int = 10
    state_path: Path | None = None
    on_event: EventSink | None = None
    git: str | None = None
    source_format: str | None = None  # --source-format; else reconcile.toml's [source] format
    _reconciler: Reconciler | None = None
    _loaded: tuple[list[Any], str] | None = None
    _source: ManifestSource | GitSource | KubeFolders | None = None

    @classmethod
    def open(
        cls,
        paths: Sequence[str],
        *,
        config: str | None = None,
        state: str | None = None,
        parallelism: int = 10,
        git: str | None = None,
        source_format: str | None = None,
    ) -> Session:
        found = load_config(paths, config)
        installed()  # imports provider packages: their kinds are known before manifests are read
        state_path = Path(state).resolve() if state else None
        return cls(found, parallelism, state_path, git=git, source_format=source_format)

    @property
    def format(self) -> str:
        """What the source's files hold: ``reconcile`` manifests or ``kube`` documents."""
        return self.source_format or self.config.source_format

    @property
    def source(self) -> ManifestSource | GitSource | KubeFolders:
        """The manifests named by PATHs or reconcile.toml, or a Git revision with ``--git``."""
        if self._source is None:
            self._source = self._open_source()
        return self._source

    def _open_source(self) -> ManifestSource | GitSource | KubeFolders:
        if self.git is not None:
            repo, ref, path = parse_git_spec(self.git)
            return git_source(repo, ref, path, self.format, self.config.namespace)
        if self.format == "kube":
            return KubeFolders(self.config.manifests, self.config.namespace)
        return ManifestSource(*self.config.manifests)

    @property
    def state_file(self) -> Path:
        return self.state_path or self.config.state

    @property
    def reconciler(self) -> Reconciler:
        """The reconciler with providers for the kinds of the source and of recorded state."""
        return self.reconciler_for(self._desired_if_readable())

    @property
    def observer(self) -> Reconciler:
        """Like ``reconciler``, for commands that only look: no state database is created."""
        return self.reconciler_for(self._desired_if_readable(), create_state=False)

    def _desired_if_readable(self) -> list[Any]:
        if self._reconciler is not None:
            return []
        try:
            return self.desired()[0]
        except ReconcileError:
            return []  # the command reports it when it reads the source itself

    def reconciler_for(self, desired: Iterable[Any], *, create_state: bool = True) -> Reconciler:
        """The reconciler with providers for these resources' kinds and the recorded ones.

        Only the factories of kinds in use are called, so a package that needs a
        setting breaks only the projects that use it.
        """
        if self._reconciler is None:
            found = self._open_state() if self.state_file.exists() else None
            kinds = {spec_of(r).kind for r in desired if is_resource(r)}
            kinds |= {record.kind for record in found.records().values()} if found else set()
            providers = build_providers(self.config, kinds)  # before a new database is made
            state: State = found or (self._open_state() if create_state else MemoryState())
            self._reconciler = Reconciler(
                providers,
                state,
                parallelism=self.parallelism,
                on_event=lambda event: self.on_event(event) if self.on_event else None,
            )
            if "k8s" in kinds and "k8s" not in self._reconciler.kinds:
                raise ConfigError(NO_PROVIDER)
        return self._reconciler

    def _open_state(self) -> SQLiteState:
        return SQLiteState(self.state_file, synchronous=self.config.synchronous)

    @property
    def journal(self) -> Reconciler:
        """Recorded state only, no providers, for reading the journal; never creates it."""
        if not self.state_file.exists():
            raise StateError(f"no state yet at {self.state_file}: nothing was applied here")
        return Reconciler([], self._open_state(), parallelism=self.parallelism)

    def desired(self) -> tuple[list[Any], str]:
        """The source's resources and their revision (a commit, or a digest of the files)."""
        if self._loaded is None:
            source = self.source
            revision = source.revision()
            self._loaded = source.load(revision), revision
        return self._loaded

    def plan(
        self,
        include: Collection[str] | None = None,
        exclude: Collection[str] | None = None,
        *,
        prune: PrunePolicy | None = None,
    ) -> tuple[Plan, list[Any], str]:
        """The plan; from Git, under the prune policy of ``sync`` (no deletes unless ``prune``)."""
        desired, revision = self.desired()
        reconciler = self.reconciler_for(desired)
        plan = reconciler.plan(desired, include=include, exclude=exclude)
        if self.git is not None:
            plan = reconciler.prune_guarded(plan, prune or False)
        elif prune is not None:
            raise UsageError(
                "--prune is for --git sources; a manifest folder is always pruned "
                "(what it no longer declares is deleted, as Terraform does)"
            )
        meta: dict[str, Any] = {
            "source": {
                "paths": [str(p) for p in self.config.manifests],
                "git": self.git,
                "format": self.format,
                "revision": revision,
                "config": str(self.config.file) if self.config.file else None,
                "state": str(self.state_path or self.config.state),
            }
        }
        if plan.excluded:  # what targeting left out is not read: Terraform's -target too
            flags = [f for f, given in (("--include", include), ("--exclude", exclude)) if given]
            meta["targeting"] = {"flags": flags, "left_out": len(plan.excluded)}
        return attrs.evolve(plan, meta=meta), desired, revision

    def journal_meta(self, revision: str, desired: list[Any] | None, salt: str) -> dict[str, Any]:
        """What the journal records of where desired state came from (commit, author...).

        ``salt`` is the plan's (the state's, keyed): the desired digest is stable with it.
        """
        meta = dict(describe(self.source, revision))
        if desired is not None:
            meta["desired_digest"] = desired_digest(desired, salt)
        return meta

    @classmethod
    def for_saved(cls, plan: Plan, parallelism: int) -> Session:
        """The session a saved plan was made in, from the source it records."""
        source = plan.meta.get("source") or {}
        paths = source.get("paths") or ["."]
        session = cls.open(
            paths,
            config=source.get("config"),
            parallelism=parallelism,
            git=source.get("git"),
            source_format=source.get("format"),
        )
        state = source.get("state")
        return attrs.evolve(session, state_path=Path(state) if state else None)
