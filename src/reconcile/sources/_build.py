"""One manifest document to one resource: kind, spec, references, depends_on, lifecycle.

Called by ``_manifests`` for every document a reader produced. Every problem is
collected (none stops the others) and located by its path in the document;
checks that need all documents at once live in ``_checks``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from reconcile._model.resource import (
    Lifecycle,
    address_of,
    registered_kind,
    registered_kinds,
    spec_of,
)
from reconcile._model.serialize import FieldProblem, structure_checked
from reconcile._model.values import Ref
from reconcile._util.errors import ManifestProblem, did_you_mean

from ._documents import Path, RawDoc
from ._validators import failing_field

__all__ = ["KEYS", "Built", "KindTable", "build"]

KEYS = ("kind", "spec", "depends_on", "lifecycle")
REF, FIELD, ESCAPED_REF = "$ref", "field", "$$ref"
Depends = tuple[tuple[Path, str], ...]  # each depends_on address with where it was written


class KindTable:
    """Kinds a source may read: the given classes, or every registered ``@resource``."""

    def __init__(self, classes: Iterable[type[Any]] | None = None) -> None:
        given = None if classes is None else {spec_of(c).kind: c for c in classes}
        self._given: dict[str, type[Any]] | None = given

    def find(self, kind: str) -> type[Any] | None:
        return registered_kind(kind) if self._given is None else self._given.get(kind)

    def unknown(self, kind: str) -> str:
        """Why ``kind`` is not readable, with a hint."""
        if self._given is None:
            return (
                f"unknown kind {kind!r}: no @reconcile.resource class declares it (is the "
                f"module that defines it imported?){did_you_mean(kind, registered_kinds())}"
            )
        hint = did_you_mean(kind, self._given)
        return f"unknown kind {kind!r} (kinds read here: {', '.join(sorted(self._given))}){hint}"


@attrs.frozen
class Built:
    """What one document declares; ``resource`` is None when the document has problems."""

    doc: RawDoc
    address: str | None
    resource: Any = None
    depends: Depends = ()
    refs: tuple[tuple[Path, Ref], ...] = ()
    kind: type[Any] | None = None  # the class its kind names, known even when it has problems


def build(doc: RawDoc, kinds: KindTable) -> tuple[Built | None, list[ManifestProblem]]:
    """The resource ``doc`` declares, and every problem found in it."""
    found = [_located(doc, mark.line, mark.column, message) for mark, message in doc.issues]
    if not isinstance(doc.data, dict):
        got = type(doc.data).__name__
        found.append(doc.problem((), f"a document is a mapping with kind and spec, not {got}"))
        return None, found
    builder = _Builder(doc, kinds)
    built = builder.build()
    return built, found + builder.problems


def _located(doc: RawDoc, line: int, column: int, message: str) -> ManifestProblem:
    return ManifestProblem(doc.file, message, line, column, doc.index)


class _Builder:
    """The steps of reading one mapping document; each adds to ``problems``."""

    def __init__(self, doc: RawDoc, kinds: KindTable) -> None:
        self.doc = doc
        self.data: dict[Any, Any] = doc.data
        self.kinds = kinds
        self.problems: list[ManifestProblem] = []
        self.address: str | None = None
        self.refs: list[tuple[Path, Ref]] = []

    def fail(self, path: Path, message: str) -> None:
        self.problems.append(self.doc.problem(path, message, self.address))

    def build(self) -> Built:
        cls, spec = self._kind(), self._spec()
        self.address = _address_guess(cls, spec)
        for key in self.data:
            if key not in KEYS:
                self.fail((key,), f"unknown key {key!r} (a document has {', '.join(KEYS)})")
        depends = self._depends()
        lifecycle = self._lifecycle(cls)
        spec = self._with_refs(spec, ("spec",)) if spec is not None else None
        made = self._resource(cls, spec) if cls is not None and spec is not None else None
        if made is not None and not self.problems:
            made = self._finish(made, depends, lifecycle)
        return Built(self.doc, self.address, made, depends, tuple(self.refs), cls)

    def _kind(self) -> type[Any] | None:
        kind = self.data.get("kind")
        if kind is None:
            self.fail((), "missing key 'kind' (the resource kind, as in @reconcile.resource)")
        elif not isinstance(kind, str):
            self.fail(("kind",), f"expected a kind name (str), got {type(kind).__name__}")
        else:
            cls = self.kinds.find(kind)
            if cls is None:
                self.fail(("kind",), self.kinds.unknown(kind))
            return cls
        return None

    def _spec(self) -> dict[Any, Any] | None:
        spec = self.data.get("spec")
        if spec is None:
            return {}
        if not isinstance(spec, dict):
            self.fail(("spec",), f"expected a mapping of fields, got {type(spec).__name__}")
            return None
        return spec

    def _depends(self) -> Depends:
        raw = self.data.get("depends_on")
        if raw is None:
            return ()
        if isinstance(raw, str):
            return ((("depends_on",), raw),)
        if not isinstance(raw, list):
            self.fail(("depends_on",), "expected a list of addresses such as kind[key]")
            return ()
        found: list[tuple[Path, str]] = []
        for i, item in enumerate(raw):
            if isinstance(item, str):
                found.append((("depends_on", i), item))
            else:
                got = type(item).__name__
                self.fail(("depends_on", i), f"expected an address (str), got {got}")
        return tuple(found)

    def _lifecycle(self, cls: type[Any] | None) -> Lifecycle | None:
        raw = self.data.get("lifecycle")
        if raw is None:
            return None
        made, problems = structure_checked(raw, Lifecycle)
        for p in problems:
            self.fail(("lifecycle", *_where(p, Lifecycle, raw)), p.message)
        if made is not None and cls is not None:
            unknown = made.ignore_changes - {f.name for f in spec_of(cls).fields}
            if unknown:
                names = ", ".join(sorted(unknown))
                self.fail(("lifecycle", "ignore_changes"), f"names no field of this kind: {names}")
        return made

    def _with_refs(self, value: Any, path: Path) -> Any:
        """Reference mappings become :class:`Ref`; ``$$ref`` keys become literal ``$ref``."""
        if isinstance(value, list):
            return [self._with_refs(item, (*path, i)) for i, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if REF in value:
            return self._ref(value, path)
        return {
            (REF if k == ESCAPED_REF else k): self._with_refs(v, (*path, k))
            for k, v in value.items()
        }

    def _ref(self, value: dict[Any, Any], path: Path) -> Ref:
        """A reference; a malformed one is reported and stands in as a blank ``Ref``."""
        if set(value) != {REF, FIELD}:
            keys = ", ".join(sorted(map(str, value)))
            self.fail(path, f"a reference has exactly the keys $ref and field (found: {keys})")
            return Ref("", "")
        if not isinstance(value[REF], str) or not isinstance(value[FIELD], str):
            self.fail(path, "a reference's $ref (an address) and field must both be strings")
            return Ref("", "")
        made = Ref(value[REF], value[FIELD])
        self.refs.append((path, made))
        return made

    def _resource(self, cls: type[Any], spec: dict[Any, Any]) -> Any:
        made, problems = structure_checked(spec, cls)
        for p in problems:
            where = _where(p, cls, spec, spec_of(cls).keys)
            self.fail(("spec", *where), _hiding_secrets(p.message, cls, spec, where))
        return made

    def _finish(self, made: Any, depends: Depends, lc: Lifecycle | None) -> Any:
        try:
            made = attrs.evolve(made, depends_on=tuple(d for _, d in depends), lifecycle=lc)
        except (ValueError, TypeError) as err:
            self.fail(("spec",), str(err))
            return None
        self.address = address_of(made)
        return made


def _where(problem: FieldProblem, cls: type[Any], values: Any, keys: tuple[str, ...] = ()) -> Path:
    """Where a problem is: its field path, or the one field whose validator refused the values.

    Every field was read when the path is empty, so the class itself refused them:
    a validator (run inside ``__init__``), and when it concerns one field, that field.
    """
    if problem.path or not isinstance(values, dict):
        return problem.path
    name = failing_field(cls, values, problem.message, keys)
    return () if name is None else (name,)


def _hiding_secrets(message: str, cls: type[Any], values: dict[Any, Any], where: Path) -> str:
    """``message``, unless it concerns a sensitive field or may quote one's value.

    Validators are free to quote the value they refused (attrs' own do), and a
    sensitive value never appears in an error.
    """
    sensitive = [f.name for f in spec_of(cls).sensitive_fields]
    if not sensitive:
        return message
    if where and where[0] in sensitive:
        return "refused by the field's validator (its message is hidden: the field is sensitive)"
    for name in sensitive:
        value = values.get(name)
        if value is not None and any(t and t in message for t in (str(value), repr(value))):
            return "refused by a validator (its message is hidden: it may quote a sensitive value)"
    return message


def _address_guess(cls: type[Any] | None, spec: dict[Any, Any] | None) -> str | None:
    """The address, when the kind is known and its key fields are plain values."""
    if cls is None or spec is None:
        return None
    resource_spec = spec_of(cls)
    values = [spec.get(k) for k in resource_spec.keys]
    if all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        return f"{resource_spec.kind}[{','.join(str(v) for v in values)}]"
    return None
