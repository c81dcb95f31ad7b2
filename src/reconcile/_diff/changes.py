"""The generic diff: field-level changes between desired and actual, and JSON Patch.

Sits on the model: for resources it compares only managed fields (not keys,
``ignore`` or ``ignore_changes`` fields, and computed fields left unset), after
``normalize``; a sensitive field becomes one ``replace`` of two digests. Plain
documents are compared whole. A strict equality check runs first, so equal
values never reach deepdiff. Sets in resource fields are compared as sorted
lists and a changed set is replaced whole (a set has no positions to patch).
"""

from __future__ import annotations

import copy
import json
import operator
import typing
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from reconcile._model.resource import FieldSpec, is_resource, spec_of
from reconcile._model.secrets import MASK, Redacted, redact
from reconcile._model.serialize import unstructure_value
from reconcile._model.switches import COMPARATORS
from reconcile._util.errors import DefinitionError
from reconcile._util.vocabulary import ChangeKind, DriftCause

from .structural import structural_changes

__all__ = [
    "EMPTY_DIFF",
    "Change",
    "Diff",
    "diff",
    "diff_resources",
    "pointer",
    "same_managed",
    "strict_equal",
]

Path = tuple[str | int, ...]
Op = ChangeKind
Cause = DriftCause


@attrs.frozen
class Change:
    """One change at ``path``; ``old`` is None for ``add``, ``new`` is None for ``remove``.

    ``cause``, known when recorded state holds the last applied spec, says whether
    the desired state changed (``config``), the live system drifted (``drift``), or both.
    """

    path: Path
    op: Op
    old: Any = None
    new: Any = None
    cause: Cause | None = None

    @property
    def sensitive(self) -> bool:
        return isinstance(self.old, Redacted) or isinstance(self.new, Redacted)

    @property
    def pointer(self) -> str:
        """The path as an RFC 6901 JSON Pointer."""
        return pointer(self.path)


@attrs.frozen
class Diff:
    """An immutable sequence of changes; falsy when empty."""

    changes: tuple[Change, ...] = ()
    replace_paths: tuple[Path, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    @property
    def requires_replace(self) -> bool:
        """True when a field flagged ``replace`` changed."""
        return bool(self.replace_paths)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(c.path for c in self.changes)

    def to_json_patch(self) -> list[dict[str, Any]]:
        """RFC 6902 operations turning actual into desired; secrets appear as a mask."""
        patch: list[dict[str, Any]] = []
        for change in self.changes:
            op: dict[str, Any] = {"op": change.op, "path": change.pointer}
            if change.op != ChangeKind.REMOVE:
                new = change.new
                op["value"] = MASK if isinstance(new, Redacted) else copy.deepcopy(new)
            patch.append(op)
        return patch


EMPTY_DIFF = Diff()
"""The one empty diff: immutable, so every in-sync step can share it."""


def pointer(path: Path) -> str:
    """Encode a path as an RFC 6901 JSON Pointer (``~`` as ``~0``, ``/`` as ``~1``)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


_SCALARS = (str, int, float, bool, type(None))
_LEAVES = frozenset(_SCALARS)


def _equality(leaf: Callable[[type, Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """A type-strict recursive equality over dicts, lists and tuples; ``leaf`` ends the walk."""

    def equal(a: Any, b: Any) -> bool:
        if a is b:
            return True
        kind = type(a)
        if kind is not type(b):
            return False
        if kind is dict:
            return a.keys() == b.keys() and all(equal(v, b[k]) for k, v in a.items())
        if kind is list or kind is tuple:
            return len(a) == len(b) and all(map(equal, a, b))
        return leaf(kind, a, b)

    return equal


strict_equal = _equality(lambda _, a, b: bool(a == b))
"""Equality that, unlike ``==``, tells ``True`` from ``1`` and ``1`` from ``1.0``."""

_plainly_equal = _equality(lambda kind, a, b: kind in _LEAVES and bool(a == b))
"""Strictly equal JSON-like values; False when unsure (sets, objects): they take the full diff."""


@attrs.frozen
class _Comparator:
    """A resource class's managed fields, split once: plain ones compare as one tuple.

    ``loose`` are the positions in that tuple whose type is not exactly ``str``:
    only there can ``==`` confuse ``True`` with ``1`` or ``1`` with ``1.0``.
    """

    plain: Callable[[Any], tuple[Any, ...]]
    loose: tuple[int, ...]
    normalized: tuple[tuple[str, Callable[[Any], Any]], ...]
    computed: tuple[FieldSpec, ...]


_COMPARATORS: dict[type, _Comparator] = COMPARATORS  # process-wide (``_model.switches``)
_NESTED = (dict, list, tuple, set, frozenset)


def _comparator(cls: type) -> _Comparator:
    found = _COMPARATORS.get(cls)
    if found is None:
        compared = spec_of(cls).compared
        plain = [f.name for f in compared if not f.flags.computed and f.flags.normalize is None]
        exact = _str_fields(cls)
        found = _Comparator(
            operator.attrgetter(*plain) if len(plain) > 1 else _single(plain),
            tuple(i for i, name in enumerate(plain) if name not in exact),
            tuple(
                (f.name, f.flags.normalize)
                for f in compared
                if f.flags.normalize is not None and not f.flags.computed
            ),
            tuple(f for f in compared if f.flags.computed),
        )
        _COMPARATORS[cls] = found
    return found


def _str_fields(cls: type) -> set[str]:
    """Fields annotated exactly ``str``: ``==`` on them is already type-strict."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: treat every field as loose
        return set()
    return {name for name, hint in hints.items() if hint is str}


def _single(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    if not names:
        return lambda _: ()
    getter = operator.attrgetter(names[0])
    return lambda res: (getter(res),)


def same_managed(desired: Any, actual: Any) -> bool:
    """Fast: True only when the generic diff of the two is certainly empty.

    One C-level tuple comparison of the managed fields, confirmed type-strict
    where it matters: same types, and for containers the same ``repr`` (``True``
    and ``1`` are ``==`` but print apart), unless they are the very same object;
    anything else (order-only differences, ignore_changes per resource,
    set fields) returns False and takes the full diff. Justified by the rows
    ``plan (observe+diff+order)`` and ``no-op converge`` (``benchmarks/bench_plan.py``);
    its getters are cached process-wide (``_model.switches.COMPARATORS``).
    """
    cls = type(desired)
    if type(actual) is not cls or desired.lifecycle is not None:
        return False
    cmp = _COMPARATORS.get(cls) or _comparator(cls)
    want, have = cmp.plain(desired), cmp.plain(actual)
    if want != have:
        return False
    if not all(map(operator.is_, want, have)):  # the very same objects are strictly equal
        for i in cmp.loose:
            a, b = want[i], have[i]
            if a is not b and (
                type(a) is not type(b) or (type(a) in _NESTED and repr(a) != repr(b))
            ):
                return False
    for name, normalize in cmp.normalized:
        a, b = normalize(getattr(desired, name)), normalize(getattr(actual, name))
        if a != b or repr(a) != repr(b):
            return False
    for f in cmp.computed:
        value = getattr(desired, f.name)
        if not f.is_unset(value) and not strict_equal(value, getattr(actual, f.name)):
            return False
    return True


def diff(desired: Any, actual: Any) -> Diff:
    """Diff two resources of one kind, or two plain JSON-like documents."""
    if is_resource(desired) or is_resource(actual):
        return diff_resources(desired, actual)
    return Diff(_document_changes(desired, actual, ()))


def diff_resources(desired: Any, actual: Any, salt: str | None = None) -> Diff:
    """Changes to the managed fields of ``actual`` that make it match ``desired``."""
    spec = spec_of(desired)
    if type(actual) is not spec.cls:
        raise DefinitionError(
            f"cannot diff {spec.kind} with {type(actual).__qualname__}: kinds differ"
        )
    changes: list[Change] = []
    replace: list[Path] = []
    ignored = desired.lifecycle.ignore_changes if desired.lifecycle is not None else ()
    for f in spec.compared:
        if f.name in ignored:
            continue
        found = _field_changes(f, getattr(desired, f.name), getattr(actual, f.name), salt)
        if found:
            changes.extend(found)
            if f.flags.replace:
                replace.append((f.name,))
    return Diff(tuple(changes), tuple(replace)) if changes else EMPTY_DIFF


def _field_changes(f: FieldSpec, want: Any, have: Any, salt: str | None) -> tuple[Change, ...]:
    flags = f.flags
    if flags.computed and f.is_unset(want):
        return ()
    if flags.normalize is not None:
        want, have = flags.normalize(want), flags.normalize(have)
    if _plainly_equal(want, have):
        return ()  # most fields of a changed resource did not change: skip unstructuring them
    sets: set[Path] = set()
    want = _plain(unstructure_value(want), (f.name,), sets)
    have = _plain(unstructure_value(have), (f.name,), sets)
    if strict_equal(want, have):
        return ()
    if flags.sensitive:
        return (Change((f.name,), ChangeKind.REPLACE, redact(have, salt), redact(want, salt)),)
    if type(want) in _SCALARS and type(have) in _SCALARS:
        return (Change((f.name,), ChangeKind.REPLACE, have, want),)  # no structure to walk
    changes = _document_changes(want, have, (f.name,))
    return _whole_sets(changes, sets, want, have) if sets else changes


def _plain(value: Any, path: Path, sets: set[Path]) -> Any:
    """``value`` as JSON-like data: tuples as lists, sets as sorted lists (noted in ``sets``)."""
    if isinstance(value, set | frozenset):
        sets.add(path)
        items = [_plain(v, path, set()) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=repr))
    if isinstance(value, dict):
        return {k: _plain(v, (*path, k), sets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, (*path, i), sets) for i, v in enumerate(value)]
    return value


def _whole_sets(
    changes: tuple[Change, ...], sets: set[Path], want: Any, have: Any
) -> tuple[Change, ...]:
    """Fold the changes inside a set (positions of its sorted form) into one replace."""
    out: list[Change] = []
    folded: set[Path] = set()
    for change in changes:
        inside = [s for s in sets if len(s) < len(change.path) and change.path[: len(s)] == s]
        if not inside:
            out.append(change)
            continue
        where = min(inside, key=len)
        if where not in folded:
            folded.add(where)
            out.append(Change(where, ChangeKind.REPLACE, _at(have, where), _at(want, where)))
    return tuple(_patch_order(out))


def _at(field_value: Any, path: Path) -> Any:
    """The value at ``path`` (whose first step names the field) inside ``field_value``."""
    for step in path[1:]:
        field_value = field_value[step]
    return field_value


def _document_changes(desired: Any, actual: Any, prefix: Path) -> tuple[Change, ...]:
    if strict_equal(desired, actual):
        return ()
    found: list[Change] = []
    _narrowed(desired, actual, prefix, found)
    return tuple(_patch_order(found))


def _narrowed(want: Any, have: Any, path: Path, found: list[Change]) -> None:
    """Descend while both sides have the same shape, so deepdiff sees only shape changes.

    Most drift changes a value and keeps the shape (the same keys, the same list
    length); deepdiff's fixed cost per call is a few hundred microseconds, so it
    gets only the smallest subtree where keys or lengths differ, or a type it
    alone knows how to walk. ``test_narrowed_diff_equals_deepdiff`` proves the
    result is what one deepdiff call over the whole documents gives.
    """
    kind = type(want)
    if kind is not type(have):
        if kind in _LEAVES or type(have) in _LEAVES or {kind, type(have)} == {dict, list}:
            found.append(Change(path, ChangeKind.REPLACE, have, want))
            return
    elif kind in _LEAVES:
        found.append(Change(path, ChangeKind.REPLACE, have, want))
        return
    elif kind is dict and want.keys() == have.keys():
        for key, value in want.items():
            if not strict_equal(value, have[key]):
                _narrowed(value, have[key], (*path, key), found)
        return
    elif kind is list and len(want) == len(have):
        for index, (value, old) in enumerate(zip(want, have, strict=True)):
            if not strict_equal(value, old):
                _narrowed(value, old, (*path, index), found)
        return
    found.extend(
        Change(path + sub, op, old, new) for op, sub, old, new in structural_changes(want, have)
    )


def _patch_order(changes: list[Change]) -> list[Change]:
    """Replaces, then removes from the highest index down, then adds upward: always applicable."""
    replaces = sorted((c for c in changes if c.op == ChangeKind.REPLACE), key=_path_key)
    removes = sorted((c for c in changes if c.op == ChangeKind.REMOVE), key=_path_key, reverse=True)
    adds = sorted((c for c in changes if c.op == ChangeKind.ADD), key=_path_key)
    return replaces + removes + adds


def _path_key(change: Change) -> tuple[tuple[int, str | int], ...]:
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in change.path)
