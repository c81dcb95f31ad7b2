"""``reconcile.toml``: where the manifests, the state and each provider's settings are.

Found beside the manifests (the first PATH if it is a folder, else the folder of
the first file), or named with ``--config``. When the only PATH is the folder
holding it (or there is none), its ``manifests`` are read; PATHs given otherwise
are the manifests, and the file only configures state and providers. Every key
has a default:

    manifests = ["."]                  # relative to this file's folder
    [state]
    path = ".reconcile/state.db"       # relative to this file's folder
    synchronous = "NORMAL"             # or "FULL": each recorded step survives power loss
    [source]
    format = "reconcile"               # or "kube": the files are plain Kubernetes YAML
    namespace = ""                     # kube: the namespace of objects that name none
    [providers.files]                  # settings of the built-in file providers
    root = "."                         # the managed tree; paths may not leave it
    durable = true                     # fsync every write; false: atomic, not fsynced
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from reconcile._util.errors import ReconcileError

__all__ = ["CONFIG_NAME", "FORMATS", "Config", "ConfigError", "load_config"]

CONFIG_NAME = "reconcile.toml"
_KNOWN = {"manifests", "state", "providers", "source"}
_STATE_KEYS = {"path", "synchronous"}
_SYNCHRONOUS = ("NORMAL", "FULL")
_SOURCE_KEYS = {"format", "namespace"}
#: What the files of a source hold: reconcile manifests, or plain Kubernetes documents.
FORMATS = ("reconcile", "kube")


class ConfigError(ReconcileError, ValueError):
    """``reconcile.toml`` cannot be read or holds an unknown or mistyped key."""


@attrs.frozen
class Config:
    """The resolved configuration: absolute paths, provider settings by section."""

    base: Path
    manifests: tuple[Path, ...]
    state: Path
    providers: Mapping[str, Mapping[str, Any]]
    file: Path | None = None
    synchronous: str = "NORMAL"
    source_format: str = "reconcile"
    namespace: str = ""

    def settings(self, section: str) -> Mapping[str, Any]:
        return self.providers.get(section, {})


def load_config(paths: Sequence[str | Path], explicit: str | Path | None = None) -> Config:
    """The configuration for these manifest paths (defaults when there is no file)."""
    given = [Path(p) for p in paths]
    file = Path(explicit) if explicit is not None else _find(given)
    if file is None:
        base = given[0] if given and given[0].is_dir() else Path.cwd()
        return _resolve(base.resolve(), {}, None, given)
    data, text = _read(file)
    return _resolve(file.resolve().parent, data, file.resolve(), given, text)


def _find(given: Sequence[Path]) -> Path | None:
    if not given:
        candidate = Path.cwd() / CONFIG_NAME
    else:
        first = given[0]
        candidate = (first if first.is_dir() else first.parent) / CONFIG_NAME
    return candidate if candidate.is_file() else None


def _read(file: Path) -> tuple[dict[str, Any], str]:
    """The file's tables and its text (to find a key's line: tomllib gives no positions)."""
    try:
        raw = file.read_bytes()
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except OSError as err:
        raise ConfigError(f"{file}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ConfigError(f"{file}:{line}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file}: {err}") from None
    except RecursionError:
        raise ConfigError(f"{file}: nested too deeply to read") from None
    except ValueError as err:  # int() refuses a number of more than 4300 digits
        raise ConfigError(f"{file}: {str(err).split('; use sys.', 1)[0]}") from None
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise ConfigError(f"{file}: unknown keys {unknown} (known: {sorted(_KNOWN)})")
    return data, text


_PART_TEXT = r"[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'"  # a bare or quoted name
_PART = re.compile(_PART_TEXT)
_HEADER = re.compile(r"\s*\[\[?([^\]]*)\]\]?\s*(?:#.*)?\Z")  # [table] or [[array]]
_KEY = re.compile(rf"\s*((?:{_PART_TEXT})(?:\s*\.\s*(?:{_PART_TEXT}))*)\s*=")


def _dotted(name: str) -> tuple[str, ...]:
    """The parts of a dotted TOML key or table name, quotes removed (escapes are not read)."""
    return tuple(p.strip("\"'") for p in _PART.findall(name))


def key_line(text: str, *key: str) -> int | None:
    """The line where ``key`` (a table's names, then the key) is set in TOML ``text``.

    tomllib keeps no positions, so the text is scanned: ``[table]`` headers and
    ``key =`` lines, dotted keys included. Multi-line strings may confuse it;
    then None (or a wrong line) is the worst outcome, never a failure.
    """
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = _dotted(header.group(1))
            continue
        found = _KEY.match(line)
        if found and (*table, *_dotted(found.group(1))) == key:
            return number
    return None


def _resolve(
    base: Path, data: Mapping[str, Any], file: Path | None, given: list[Path], text: str = ""
) -> Config:
    where = str(file or base)

    def at(*key: str) -> str:
        """The file and the line that sets ``key``, for a message about its value."""
        line = key_line(text, *key)
        return f"{where}, line {line}" if line is not None else where

    manifests = data.get("manifests", ["."])
    if not isinstance(manifests, list) or not all(isinstance(m, str) for m in manifests):
        raise ConfigError(f"{where}: manifests must be a list of paths")
    if any("\0" in m for m in manifests):
        raise ConfigError(f"{at('manifests')}: manifests: a path holds a NUL character")
    state, synchronous = _state(where, data.get("state", {}))
    if "\0" in state:
        raise ConfigError(f"{at('state', 'path')}: [state] path holds a NUL character")
    providers = data.get("providers", {})
    if not isinstance(providers, dict) or not all(isinstance(v, dict) for v in providers.values()):
        raise ConfigError(f"{where}: [providers.NAME] sections must be tables")
    root = providers.get("files", {}).get("root", "")
    if isinstance(root, str) and "\0" in root:  # checked here, where the file and line are known
        raise ConfigError(
            f"{at('providers', 'files', 'root')}: [providers.files] root holds a NUL character"
        )
    config_folder = file is not None and [p.resolve() for p in given] in ([], [base])
    chosen = tuple(base / m for m in manifests) if config_folder else tuple(given)
    source_format, namespace = _source(where, data.get("source", {}))
    return Config(
        base,
        tuple(p.resolve() for p in chosen),
        (base / state).resolve(),
        providers,
        file,
        synchronous,
        source_format,
        namespace,
    )


def _check_table(where: str, name: str, table: Any, known: set[str]) -> None:
    """A ``[name]`` table holding only ``known`` keys, or a ConfigError saying what is not."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: [{name}] has unknown keys {unknown} (known: {sorted(known)})")


def _state(where: str, table: Any) -> tuple[str, str]:
    """The ``[state]`` table: the database's path and its ``synchronous`` level."""
    _check_table(where, "state", table, _STATE_KEYS)
    synchronous = table.get("synchronous", "NORMAL")
    if synchronous not in _SYNCHRONOUS:
        raise ConfigError(f"{where}: [state] synchronous must be one of {list(_SYNCHRONOUS)}")
    return str(table.get("path", ".reconcile/state.db")), synchronous


def _source(where: str, table: Any) -> tuple[str, str]:
    """The ``[source]`` table: what the files hold, and kube's default namespace."""
    _check_table(where, "source", table, _SOURCE_KEYS)
    fmt = table.get("format", "reconcile")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: [source] format must be one of {list(FORMATS)}, not {fmt!r}")
    namespace = table.get("namespace", "")
    if not isinstance(namespace, str):
        raise ConfigError(f"{where}: [source] namespace must be a string")
    return fmt, namespace
