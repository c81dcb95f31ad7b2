"""The providers a command can use: built-in ones and third-party entry points.

A third-party package registers, under the entry-point group
``reconcile.providers``, a callable ``factory(settings, base) -> Iterable[Provider]``;
``settings`` is its ``[providers.NAME]`` table from ``reconcile.toml`` (NAME is
the entry point's name) and ``base`` the configuration's folder.

Loading an entry point imports its module, which registers the package's kinds,
so :func:`installed` runs before any manifest is read. A factory is called only
when a command uses one of its kinds: the ones it declares as ``factory.kinds``,
else those whose ``@resource`` class lives in the entry point's package. So a
package that needs a setting cannot break a project that never names its kinds.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import attrs

from reconcile._model.resource import registered_kind, registered_kinds, spec_of
from reconcile._provider.contract import Provider
from reconcile._util.errors import ReconcileError
from reconcile.providers import Directory, File, Symlink, local_providers

from ._config import Config, ConfigError
from ._kube import kube_providers

__all__ = ["GROUP", "Available", "Installed", "available", "build_providers", "installed"]

GROUP = "reconcile.providers"

Factory = Callable[[Mapping[str, Any], Path], Iterable[Provider[Any]]]


class ProviderPackageError(ConfigError):
    """A provider package cannot be imported, or its factory refused its settings."""


def _files(settings: Mapping[str, Any], base: Path) -> list[Provider[Any]]:
    unknown = sorted(set(settings) - {"durable", "root"})
    if unknown:
        raise ConfigError(
            f"[providers.files]: unknown settings {unknown} (known: ['durable', 'root'])"
        )
    durable = settings.get("durable", True)
    if not isinstance(durable, bool):
        raise ConfigError(f"[providers.files]: durable must be true or false, not {durable!r}")
    root = str(settings.get("root", "."))
    if "\0" in root:
        raise ConfigError("[providers.files]: root holds a NUL character")
    return list(local_providers((base / root).resolve(), durable=durable))


_files.kinds = (File, Directory, Symlink)  # type: ignore[attr-defined]
BUILTIN: dict[str, Factory] = {"files": _files, "kube": kube_providers}


@attrs.frozen
class Installed:
    """One provider factory, imported: its settings section, its package and its kinds."""

    name: str
    origin: str
    factory: Factory | None
    kinds: tuple[str, ...]
    error: str | None = None  # why the package could not be imported

    @property
    def label(self) -> str:
        if self.origin == "built-in":
            return f"built-in provider {self.name!r}"
        return f"provider package {self.origin!r} (entry point {self.name!r})"


@attrs.frozen
class Available:
    """One provider factory: its settings section, where it comes from, and its kinds."""

    name: str
    origin: str
    kinds: tuple[str, ...]


def installed() -> tuple[Installed, ...]:
    """Every factory, built-in first; importing each entry point registers its kinds."""
    found = {n: Installed(n, "built-in", f, _declared(f) or ()) for n, f in BUILTIN.items()}
    for item in _packages():
        found.setdefault(item.name, item)
    return tuple(found.values())


@functools.cache
def _packages() -> tuple[Installed, ...]:
    """The entry points of installed packages, each imported once per process."""
    return tuple(_load(ep) for ep in entry_points(group=GROUP))


def _load(ep: EntryPoint) -> Installed:
    origin = ep.dist.name if ep.dist is not None else ep.value
    before = set(registered_kinds())
    try:
        factory = ep.load()
    except Exception as err:  # a broken package must not stop projects that never use it
        why = f"cannot be imported: {type(err).__name__}: {err}"
        label = f"provider package {origin!r} (entry point {ep.name!r})"
        print(f"warning: {label} {why}", file=sys.stderr)
        return Installed(ep.name, origin, None, (), why)
    kinds = _declared(factory)
    if kinds is None:
        new = set(registered_kinds()) - before
        kinds = tuple(sorted(new | _kinds_in_package(ep.module)))
    return Installed(ep.name, origin, factory, kinds)


def _declared(factory: Any) -> tuple[str, ...] | None:
    """The kinds a factory declares as ``factory.kinds`` (names or resource classes)."""
    declared = getattr(factory, "kinds", None)
    if declared is None:
        return None
    return tuple(k if isinstance(k, str) else spec_of(k).kind for k in declared)


def _kinds_in_package(module: str) -> set[str]:
    """Kinds whose class is defined in the entry point module's package."""
    package = module.rpartition(".")[0] or module
    found = set()
    for kind in registered_kinds():
        cls = registered_kind(kind)
        where = getattr(cls, "__module__", "")
        if where == package or where.startswith(package + "."):
            found.add(kind)
    return found


def build_providers(config: Config, kinds: Collection[str] | None = None) -> list[Provider[Any]]:
    """Providers for ``kinds`` (every factory's when None), configured from ``reconcile.toml``.

    A factory whose kinds are unknown (it declares none, and none was found in
    its package) is called only when a wanted kind has no other factory.
    """
    chosen = _chosen(installed(), kinds)
    providers: list[Provider[Any]] = []
    for item in chosen:
        providers.extend(_call(item, config))
    return providers


def _chosen(items: Iterable[Installed], kinds: Collection[str] | None) -> list[Installed]:
    items = list(items)
    if kinds is None:
        return [i for i in items if i.factory is not None]
    wanted = set(kinds)
    chosen = [i for i in items if i.factory is not None and wanted & set(i.kinds)]
    unclaimed = wanted - {k for i in items for k in i.kinds}
    if unclaimed:
        chosen += [i for i in items if i.factory is not None and not i.kinds]
    return chosen


def _call(item: Installed, config: Config) -> list[Provider[Any]]:
    """The factory's providers; its failure names the package, the setting and the file."""
    assert item.factory is not None
    settings = config.settings(item.name)
    try:
        return list(item.factory(settings, config.base))
    except ReconcileError as err:
        if item.origin == "built-in":
            raise
        raise ProviderPackageError(_failure(item, config, _masked(str(err), settings))) from None
    except KeyError as err:
        name = err.args[0] if err.args else None
        if not isinstance(name, str) or name in settings:
            raise ProviderPackageError(_failure(item, config, f"KeyError: {name!r}")) from None
        missing = f"missing setting {name!r} in {_where(item, config)}"
        raise ProviderPackageError(f"{item.label}: {missing}") from None
    except Exception as err:  # any failure of third-party code becomes one clear error
        why = f"{type(err).__name__}: {_masked(str(err), settings)}"
        raise ProviderPackageError(_failure(item, config, why)) from None


def _failure(item: Installed, config: Config, why: str) -> str:
    return f"{item.label}: its factory failed with the settings in {_where(item, config)}: {why}"


def _where(item: Installed, config: Config) -> str:
    return f"[providers.{item.name}] of {config.file or 'reconcile.toml (none was found)'}"


def _masked(message: str, settings: Mapping[str, Any]) -> str:
    """``message`` with every string setting hidden: settings may hold tokens."""
    for value in settings.values():
        if isinstance(value, str) and len(value) >= 4:
            message = message.replace(value, "***")
    return message


def _called_for_kinds(item: Installed, config: Config) -> tuple[str, ...]:
    """The kinds of a factory that declares none, from its providers, or why it failed."""
    try:
        return tuple(p.kind for p in _call(item, config))
    except ProviderPackageError as err:
        return (f"(kinds unknown: {err})",)


def available(config: Config) -> list[Available]:
    """What ``reconcile providers`` lists; a factory is called only if its kinds are unknown."""
    listed = []
    for item in sorted(installed(), key=lambda i: i.name):
        kinds = item.kinds
        if item.error is not None:
            kinds = (f"({item.error})",)
        elif not kinds:
            kinds = _called_for_kinds(item, config)
        listed.append(Available(item.name, item.origin, kinds))
    return listed
