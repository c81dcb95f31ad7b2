"""The providers a command can use: built-in ones and third-party entry points.

A third-party package registers, under the entry-point group
``reconcile.providers``, a callable ``factory(settings, base) -> Iterable[Provider]``;
``settings`` is its ``[providers.NAME]`` table from ``reconcile.toml`` (NAME is
the entry point's name) and ``base`` the configuration's folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import attrs

from reconcile._provider import Provider
from reconcile.providers import local_providers

from ._config import Config, ConfigError
from ._kube import kube_providers

__all__ = ["GROUP", "Available", "available", "build_providers"]

GROUP = "reconcile.providers"

Factory = Callable[[Mapping[str, Any], Path], Iterable[Provider[Any]]]


def _files(settings: Mapping[str, Any], base: Path) -> list[Provider[Any]]:
    unknown = sorted(set(settings) - {"durable", "root"})
    if unknown:
        raise ConfigError(
            f"[providers.files]: unknown settings {unknown} (known: ['durable', 'root'])"
        )
    durable = settings.get("durable", True)
    if not isinstance(durable, bool):
        raise ConfigError(f"[providers.files]: durable must be true or false, not {durable!r}")
    root = (base / str(settings.get("root", "."))).resolve()
    return list(local_providers(root, durable=durable))


BUILTIN: dict[str, Factory] = {"files": _files, "kube": kube_providers}


@attrs.frozen
class Available:
    """One provider factory: its settings section, where it comes from, and its kinds."""

    name: str
    origin: str
    kinds: tuple[str, ...]


def _factories() -> dict[str, tuple[str, Factory]]:
    found: dict[str, tuple[str, Factory]] = {n: ("built-in", f) for n, f in BUILTIN.items()}
    for ep in entry_points(group=GROUP):
        origin = ep.dist.name if ep.dist is not None else ep.value
        found.setdefault(ep.name, (origin, ep.load()))
    return found


def build_providers(config: Config) -> list[Provider[Any]]:
    """One provider per kind from every factory, configured from ``reconcile.toml``."""
    providers: list[Provider[Any]] = []
    for name, (_, factory) in _factories().items():
        providers.extend(factory(config.settings(name), config.base))
    return providers


def available(config: Config) -> list[Available]:
    """What ``reconcile providers`` lists."""
    return [
        Available(name, origin, tuple(p.kind for p in factory(config.settings(name), config.base)))
        for name, (origin, factory) in sorted(_factories().items())
    ]
