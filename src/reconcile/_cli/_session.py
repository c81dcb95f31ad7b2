"""One command's world: configuration, providers, state, the reconciler, desired state.

Built from the command's PATHs (or from a saved plan's record of them) so
every command sees the same manifests, providers and state the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import attrs

from reconcile._events import EventSink
from reconcile._plan import Plan
from reconcile._reconciler import Reconciler
from reconcile._sqlite import SQLiteState
from reconcile.sources import ManifestSource

from ._config import Config, load_config
from ._registry import build_providers

__all__ = ["Session"]


@attrs.define
class Session:
    """Configuration, the manifest source and the reconciler for one command."""

    config: Config
    parallelism: int = 10
    state_path: Path | None = None
    on_event: EventSink | None = None
    _reconciler: Reconciler | None = None

    @classmethod
    def open(
        cls,
        paths: Sequence[str],
        *,
        config: str | None = None,
        state: str | None = None,
        parallelism: int = 10,
    ) -> Session:
        found = load_config(paths, config)
        return cls(found, parallelism, Path(state).resolve() if state else None)

    @property
    def source(self) -> ManifestSource:
        return ManifestSource(*self.config.manifests)

    @property
    def reconciler(self) -> Reconciler:
        if self._reconciler is None:
            state = SQLiteState(self.state_path or self.config.state)
            self._reconciler = Reconciler(
                build_providers(self.config),
                state,
                parallelism=self.parallelism,
                on_event=lambda event: self.on_event(event) if self.on_event else None,
            )
        return self._reconciler

    def desired(self) -> tuple[list[Any], str]:
        """The manifests' resources and their revision (a digest of the files)."""
        source = self.source
        return source.load(), source.revision()

    def plan(
        self, include: Collection[str] | None = None, exclude: Collection[str] | None = None
    ) -> tuple[Plan, list[Any], str]:
        desired, revision = self.desired()
        plan = self.reconciler.plan(desired, include=include, exclude=exclude)
        meta = {
            "source": {
                "paths": [str(p) for p in self.config.manifests],
                "revision": revision,
                "config": str(self.config.file) if self.config.file else None,
                "state": str(self.state_path or self.config.state),
            }
        }
        return attrs.evolve(plan, meta=meta), desired, revision

    @classmethod
    def for_saved(cls, plan: Plan, parallelism: int) -> Session:
        """The session a saved plan was made in, from the source it records."""
        source = plan.meta.get("source") or {}
        paths = source.get("paths") or ["."]
        session = cls.open(paths, config=source.get("config"), parallelism=parallelism)
        state = source.get("state")
        return attrs.evolve(session, state_path=Path(state) if state else None)
