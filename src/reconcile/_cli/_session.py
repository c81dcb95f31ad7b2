"""One command's world: configuration, providers, state, the reconciler, desired state.

Built from the command's PATHs (or from a saved plan's record of them) so
every command sees the same manifests, providers and state the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import attrs
from click import UsageError

from reconcile._events import EventSink
from reconcile._gitops import desired_digest
from reconcile._plan import Plan
from reconcile._reconciler import Reconciler
from reconcile._source import describe
from reconcile._sqlite import SQLiteState
from reconcile._sync import PrunePolicy
from reconcile.sources import GitSource, ManifestSource, parse_git_spec

from ._config import Config, ConfigError, load_config
from ._kube import NO_PROVIDER, KubeFolders, git_source
from ._registry import build_providers

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
        state_path = Path(state).resolve() if state else None
        return cls(found, parallelism, state_path, git=git, source_format=source_format)

    @property
    def format(self) -> str:
        """What the source's files hold: ``reconcile`` manifests or ``kube`` documents."""
        return self.source_format or self.config.source_format

    @property
    def source(self) -> ManifestSource | GitSource | KubeFolders:
        """The manifests named by PATHs or reconcile.toml, or a Git revision with ``--git``."""
        if self.git is not None:
            repo, ref, path = parse_git_spec(self.git)
            return git_source(repo, ref, path, self.format, self.config.namespace)
        if self.format == "kube":
            return KubeFolders(self.config.manifests, self.config.namespace)
        return ManifestSource(*self.config.manifests)

    @property
    def reconciler(self) -> Reconciler:
        if self._reconciler is None:
            path = self.state_path or self.config.state
            state = SQLiteState(path, synchronous=self.config.synchronous)
            self._reconciler = Reconciler(
                build_providers(self.config),
                state,
                parallelism=self.parallelism,
                on_event=lambda event: self.on_event(event) if self.on_event else None,
            )
            if self.format == "kube" and "k8s" not in self._reconciler.kinds:
                raise ConfigError(NO_PROVIDER)
        return self._reconciler

    def desired(self) -> tuple[list[Any], str]:
        """The source's resources and their revision (a commit, or a digest of the files)."""
        source = self.source
        revision = source.revision()
        return source.load(revision), revision

    def plan(
        self,
        include: Collection[str] | None = None,
        exclude: Collection[str] | None = None,
        *,
        prune: PrunePolicy | None = None,
    ) -> tuple[Plan, list[Any], str]:
        """The plan; from Git, under the prune policy of ``sync`` (no deletes unless ``prune``)."""
        desired, revision = self.desired()
        plan = self.reconciler.plan(desired, include=include, exclude=exclude)
        if self.git is not None:
            plan = self.reconciler.prune_guarded(plan, prune or False)
        elif prune is not None:
            raise UsageError(
                "--prune is for --git sources; a manifest folder is always pruned "
                "(what it no longer declares is deleted, as Terraform does)"
            )
        meta = {
            "source": {
                "paths": [str(p) for p in self.config.manifests],
                "git": self.git,
                "format": self.format,
                "revision": revision,
                "config": str(self.config.file) if self.config.file else None,
                "state": str(self.state_path or self.config.state),
            }
        }
        return attrs.evolve(plan, meta=meta), desired, revision

    def journal_meta(self, revision: str, desired: list[Any] | None = None) -> dict[str, Any]:
        """What the journal records of where desired state came from (commit, author...)."""
        meta = dict(describe(self.source, revision))
        if desired is not None:
            meta["desired_digest"] = desired_digest(desired)
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
