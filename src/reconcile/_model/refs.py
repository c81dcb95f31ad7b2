"""References between resources: their edges, plan-time values, and apply-time resolution.

The planner asks what a ``Ref`` is known to be (a value, or ``UNKNOWN`` while
its target is still to be created); apply resolves every ``Ref`` against the
live objects of steps that already ran.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs

from reconcile._util.errors import InvalidStateError

from .resource import address_of, registered_kind, spec_of
from .serialize import error_text
from .values import UNKNOWN, Ref, refs_exist

__all__ = [
    "dependencies",
    "ref_paths",
    "resolve",
    "unknown_fields",
    "without_refs",
]

Path = tuple[str | int, ...]


def ref_paths(res: Any) -> tuple[tuple[Path, Ref], ...]:
    """Every ``Ref`` in a resource's fields with the path where it stands."""
    if not refs_exist():
        return ()
    found: list[tuple[Path, Ref]] = []
    for f in spec_of(res).fields:
        _walk(getattr(res, f.name), (f.name,), found)
    return tuple(found)


def _walk(value: Any, path: Path, found: list[tuple[Path, Ref]]) -> None:
    if isinstance(value, Ref):
        found.append((path, value))
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, (*path, key), found)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, (*path, index), found)


def dependencies(res: Any) -> tuple[str, ...]:
    """``depends_on`` and every referenced address: one graph, in a stable order."""
    if not refs_exist():
        return tuple(res.depends_on)
    deps = dict.fromkeys(res.depends_on)
    for _, r in ref_paths(res):
        deps.setdefault(r.address)
    return tuple(deps)


def resolve(res: Any, value_of: Callable[[Ref], Any], copied: Collection[str] = ()) -> Any:
    """``res`` with every ``Ref`` replaced by ``value_of(ref)``; unchanged if it has none.

    ``copied`` names the fields a secret is copied into (``propagated_secrets``): a
    validator's message about them is hidden, as about a sensitive field."""
    if not refs_exist():
        return res
    changes = {}
    for f in spec_of(res).fields:
        old = getattr(res, f.name)
        new = _replace(old, value_of)
        if new is not old:
            changes[f.name] = new
    if not changes:
        return res
    try:
        return attrs.evolve(res, **changes)  # the fields' validators see the real values
    except Exception as err:
        refs = [(path, r) for path, r in ref_paths(res) if path[0] in changes]
        where = ", ".join(f"{'.'.join(map(str, path))} = {r!r}" for path, r in refs)
        spec = spec_of(res)
        # The validator's own message (and the error it chains) may quote a secret.
        secret = any(spec.field(n).flags.sensitive or n in copied for n in changes) or any(
            _is_sensitive(r) for _, r in refs
        )
        why = "(its message is hidden: the value is sensitive)" if secret else error_text(err)
        raise InvalidStateError(f"{address_of(res)}: {where}: refused: {why}") from (
            None if secret else err
        )


def _is_sensitive(r: Ref) -> bool:
    """Whether the referenced field is sensitive (an unknown kind counts as sensitive)."""
    target = registered_kind(r.address.split("[", 1)[0])
    if target is None:
        return True
    return any(f.name == r.field for f in spec_of(target).sensitive_fields)


def _replace(value: Any, value_of: Callable[[Ref], Any]) -> Any:
    if isinstance(value, Ref):
        return value_of(value)
    if isinstance(value, dict):
        items = {k: _replace(v, value_of) for k, v in value.items()}
        return items if any(items[k] is not value[k] for k in value) else value
    if isinstance(value, list | tuple):
        seq = [_replace(v, value_of) for v in value]
        changed = any(a is not b for a, b in zip(seq, value, strict=True))
        return type(value)(seq) if changed else value
    return value


def unknown_fields(res: Any) -> tuple[str, ...]:
    """Top-level fields holding ``UNKNOWN`` anywhere inside them."""
    if not refs_exist():
        return ()
    return tuple(f.name for f in spec_of(res).fields if _contains_unknown(getattr(res, f.name)))


def _contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_contains_unknown(v) for v in value)
    return False


def without_refs(res: Any, fallback: Mapping[str, Any] | None = None) -> Any:
    """For reads: unresolved refs replaced by ``fallback`` values or the field default."""
    if not refs_exist():
        return res
    fallback = fallback or {}
    spec = spec_of(res)
    changes = {
        f.name: fallback.get(f.name, f.default)
        for f in spec.fields
        if _has_ref(getattr(res, f.name))
    }
    return attrs.evolve(res, **changes) if changes else res


def _has_ref(value: Any) -> bool:
    if isinstance(value, Ref):
        return True
    if isinstance(value, dict):
        return any(_has_ref(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_ref(v) for v in value)
    return False
