"""Resources as plain documents, and the JSON-safe specs a record keeps of them.

The one place a secret becomes a digest on its way to a plan or a record
(``{"$sensitive": digest}`` in a stored spec) and back (``load_spec``). Used by the
planner (documents shown in steps), apply (stored specs) and the rest of ``_diff``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from reconcile._model.resource import spec_of
from reconcile._model.secrets import Redacted, redact
from reconcile._model.serialize import unstructure, unstructure_value
from reconcile._model.values import UNKNOWN

__all__ = [
    "MISSING",
    "SENSITIVE",
    "as_stored",
    "at_path",
    "document",
    "is_digest",
    "load_spec",
    "normalized_document",
    "outputs_of",
    "stored_spec",
]

SENSITIVE = "$sensitive"
MISSING: Any = object()  # no value at a path (distinct from a value of None)


def document(res: Any, salt: str | None = None, copied: Collection[str] = ()) -> dict[str, Any]:
    """A resource as a plain document with its sensitive fields, and the fields a
    reference ``copied`` a secret into, redacted."""
    doc = unstructure(res)
    for name in {f.name for f in spec_of(res).sensitive_fields} | set(copied):
        if doc.get(name) is not None and doc[name] is not UNKNOWN:
            doc[name] = redact(doc[name], salt)
    return doc


def stored_spec(res: Any, salt: str | None = None, copied: Collection[str] = ()) -> dict[str, Any]:
    """The JSON-safe spec to record: the document with digests in place of secrets."""
    return as_stored(document(res, salt, copied))


def as_stored(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A document as a record keeps it: each redacted secret as ``{"$sensitive": digest}``.

    The planner turns a step's ``after`` into its record's spec with it, so a created
    resource is encoded once per plan and apply, not twice (row ``apply overhead, zero
    latency``, ``benchmarks/bench_apply.py``)."""
    return {k: {SENSITIVE: v.digest} if isinstance(v, Redacted) else v for k, v in doc.items()}


def normalized_document(cls: type[Any] | None, doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """``doc`` with each field's ``normalize`` applied: the form diffs compare and plans show.

    A value ``normalize`` cannot take (recorded by an older version, a secret's
    digest, a value known only after apply) is left as it is.
    """
    fields = [] if cls is None else spec_of(cls).fields
    out: dict[str, Any] | None = None
    for f in fields:
        value = doc.get(f.name, UNKNOWN)
        if f.flags.normalize is None or value is UNKNOWN or isinstance(value, Redacted):
            continue
        try:
            shown = unstructure_value(f.flags.normalize(value))
        except Exception:
            continue
        out = dict(doc) if out is None else out
        out[f.name] = shown
    return doc if out is None else out


def load_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded spec as a document: digests become ``Redacted`` again."""
    return {k: Redacted(v[SENSITIVE]) if is_digest(v) else v for k, v in spec.items()}


def outputs_of(res: Any) -> dict[str, Any]:
    """The provider-set (computed) field values of an actual resource."""
    return {
        f.name: unstructure_value(getattr(res, f.name))
        for f in spec_of(res).computed_fields
        if not f.flags.sensitive
    }


def is_digest(value: Any) -> bool:
    """Whether a stored spec's value is a secret kept as its digest."""
    return isinstance(value, dict) and set(value) == {SENSITIVE}


def at_path(doc: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in a document, or ``MISSING``."""
    for part in path:
        found = isinstance(doc, dict) and part in doc
        indexed = isinstance(doc, list) and isinstance(part, int) and 0 <= part < len(doc)
        if not (found or indexed):
            return MISSING
        doc = doc[part]
    return doc
