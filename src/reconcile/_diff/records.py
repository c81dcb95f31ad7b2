"""Resources to recorded state and back, and what a last applied spec tells the planner.

Used by the planner (outputs into reads, three-way merge, drift-or-config causes)
and by apply (records after each step). Sensitive values are kept only as
keyed digests: ``{"$sensitive": digest}`` in a stored spec. The old object of a
create-before-destroy replace is recorded as deposed, at an address of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from reconcile._model.resource import (
    Lifecycle,
    address_of,
    lifecycle_of,
    registered_kind,
    replace_fields,
    spec_of,
)
from reconcile._model.secrets import Redacted, redact, upgraded
from reconcile._model.serialize import holds_ref, structure_reported, unstructure, unstructure_value
from reconcile._model.values import UNKNOWN, refs_exist
from reconcile._state.contract import Record, now
from reconcile._util.errors import StateError
from reconcile._util.vocabulary import ChangeKind, DriftCause

from .changes import Cause, Change, strict_equal

__all__ = [
    "cause_of",
    "copied_secrets",
    "deposed",
    "deposed_address",
    "deposed_from",
    "document",
    "load_spec",
    "normalized_document",
    "outputs_of",
    "preserve_foreign",
    "propagated_secrets",
    "rebuild",
    "record_for",
    "record_outdated",
    "recorded_copies",
    "stored_spec",
    "with_keys_of",
    "with_outputs",
    "write_only_changes",
    "written_as_desired",
]

Path = tuple[str | int, ...]
_SENSITIVE = "$sensitive"
_DEPOSED = "~deposed-"
_MISSING = object()


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
    return {
        k: {_SENSITIVE: v.digest} if isinstance(v, Redacted) else v
        for k, v in document(res, salt, copied).items()
    }


def copied_secrets(
    references: Iterable[tuple[Path, str, str]], tainted: Collection[tuple[str, str]] = ()
) -> frozenset[str]:
    """Top-level fields whose value a reference copies from a sensitive field, or from a
    field of ``tainted`` (``(address, field)`` pairs a secret was copied into): they are
    sensitive too (Terraform's sensitivity propagation); an unknown kind counts as one."""
    names = set()
    for path, address, name in references:
        if (address, name) in tainted:
            names.add(str(path[0]))
            continue
        target = registered_kind(address.split("[", 1)[0])
        if target is None or any(f.name == name for f in spec_of(target).sensitive_fields):
            names.add(str(path[0]))
    return frozenset(names)


def propagated_secrets(
    references: Mapping[str, Iterable[tuple[Path, str, str]]], order: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Each address's ``copied_secrets`` over any number of hops: worked out once, in
    dependency ``order``, so a field that got a copy of a secret makes every field copied
    from it sensitive too. Addresses without any are left out."""
    tainted: set[tuple[str, str]] = set()
    found: dict[str, frozenset[str]] = {}
    for address in order:
        refs = references.get(address)
        names = copied_secrets(refs, tainted) if refs else None
        if names:
            found[address] = names
            tainted.update((address, name) for name in names)
    return found


def recorded_copies(kind: str, spec: Mapping[str, Any]) -> frozenset[str]:
    """The fields a record keeps as digests that its kind does not declare sensitive: a
    reference copied a secret into them when it was applied (for a step without one)."""
    cls = registered_kind(kind)
    declared = () if cls is None else {f.name for f in spec_of(cls).sensitive_fields}
    return frozenset(
        k
        for k, v in spec.items()
        if isinstance(v, dict) and set(v) == {_SENSITIVE} and k not in declared
    )


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
    return {
        k: Redacted(v[_SENSITIVE]) if isinstance(v, dict) and set(v) == {_SENSITIVE} else v
        for k, v in spec.items()
    }


def outputs_of(res: Any) -> dict[str, Any]:
    """The provider-set (computed) field values of an actual resource."""
    return {
        f.name: unstructure_value(getattr(res, f.name))
        for f in spec_of(res).computed_fields
        if not f.flags.sensitive
    }


def record_for(
    declared: Any,
    result: Any,
    revision: str | None,
    *,
    tainted: bool = False,
    depends_on: tuple[str, ...] | None = None,
    stored: Mapping[str, Any] | None = None,
    copied: Collection[str] = (),
) -> Record:
    """The record after a successful step: what was declared, what the provider returned.

    ``stored`` is ``stored_spec(declared)`` when the caller has it already (the intent's).
    """
    spec = spec_of(declared)
    address = address_of(declared)
    if refs_exist():
        _refuse_refs(address, declared)
    lifecycle = lifecycle_of(declared)
    stamp = now()
    return Record(
        address=address,
        kind=spec.kind,
        spec=stored_spec(declared, copied=copied) if stored is None else stored,
        outputs=outputs_of(result) if result is not None else {},
        depends_on=tuple(declared.depends_on) if depends_on is None else depends_on,
        revision=revision,
        tainted=tainted,
        protected=lifecycle.prevent_destroy,
        retain=lifecycle.retain,
        created_at=stamp,
        updated_at=stamp,
    )


def _refuse_refs(address: str, declared: Any) -> None:
    """A record keeps values: a reference still unresolved would be unreadable later."""
    for f in spec_of(declared).fields:
        if holds_ref(getattr(declared, f.name)):
            raise StateError(
                f"{address}: {f.name} is still an unresolved reference; "
                "a record keeps values, so it was not recorded"
            )


def deposed(record: Record | None, old: Any, new: Any) -> Record | None:
    """The record of the object a create-before-destroy replace left behind, to destroy.

    It lives at its own address (``kind[key]~deposed-<digest of its outputs>``), which
    no desired state has, so the next plan destroys it. None when the old object's
    outputs cannot tell it from the new one (a thing read by its key): destroying
    it would destroy the replacement.
    """
    outputs = outputs_of(old)
    if not outputs or outputs == outputs_of(new):
        return None
    base = record if record is not None else record_for(old, old, None)
    return attrs.evolve(
        base,
        address=deposed_address(base.address, outputs),
        outputs=outputs,
        tainted=False,
        protected=False,
        retain=False,
        updated_at=now(),
    )


def deposed_address(address: str, outputs: Mapping[str, Any]) -> str:
    """Where the old object at ``address`` with these outputs is recorded while deposed."""
    text = json.dumps(outputs, sort_keys=True, default=str).encode()
    return f"{address}{_DEPOSED}{hashlib.sha256(text).hexdigest()[:8]}"


def deposed_from(address: str) -> str | None:
    """The address a deposed record's old object was replaced at; None for any other."""
    owner, mark, _ = address.rpartition(_DEPOSED)
    return owner if mark else None


def record_outdated(
    record: Record | None,
    have: Any,
    depends_on: tuple[str, ...],
    lifecycle: Lifecycle,
    computed: tuple[str, ...],
) -> bool:
    """Whether an unchanged resource's record misses its lifecycle, edges or outputs.

    ``lifecycle`` is the resource's merged lifecycle and ``computed`` its kind's
    output fields, both worked out once per kind by the planner. The spec is not
    compared (that would cost a document per resource per plan); it is brought up
    to date by the next apply that changes the resource.
    """
    return (
        record is None
        or record.protected != lifecycle.prevent_destroy
        or record.retain != lifecycle.retain
        or record.depends_on != depends_on
        or (have is not None and not _same_outputs(record.outputs, have, computed))
    )


def _same_outputs(recorded: Mapping[str, Any], have: Any, fields: tuple[str, ...]) -> bool:
    """Recorded outputs equal ``have``'s computed fields (raw values first: the common case)."""
    if len(recorded) == len(fields):
        for name in fields:
            if name not in recorded or recorded[name] != getattr(have, name):
                break
        else:
            return True
    return dict(recorded) == outputs_of(have)


def with_outputs(want: Any, outputs: Mapping[str, Any]) -> Any:
    """``want`` with computed fields it leaves unset taken from recorded outputs (ids)."""
    if not outputs:
        return want
    changes = {
        f.name: outputs[f.name]
        for f in spec_of(want).computed_fields
        if f.name in outputs and f.is_unset(getattr(want, f.name))
    }
    return replace_fields(want, changes) if changes else want


def rebuild(
    cls: type[Any],
    spec: Mapping[str, Any],
    outputs: Mapping[str, Any],
    *,
    address: str | None = None,
) -> Any:
    """A resource from a recorded spec and outputs; secrets (kept as digests) get defaults.

    A record that does not fit ``cls`` (written by an older version, or edited by
    hand) raises ``StateError`` naming its address (``address``, else its kind and
    recorded key) and each field at fault. ``address`` also gives the key fields:
    a record ``moved`` to it keeps the old key in its spec until it is rewritten.
    """
    doc = dict(spec)
    for f in spec_of(cls).sensitive_fields:
        doc.pop(f.name, None)
    doc.update(outputs)
    if address is not None:
        doc.update(_keys_in(cls, address, doc))
    rebuilt, problems = structure_reported(doc, cls)
    if problems:
        found = "; ".join(_problem_text(doc, p.path, p.message) for p in problems)
        where = address or _recorded_address(cls, doc)
        raise StateError(
            f"{where}: its recorded state cannot be read ({found}); declare it again "
            "and apply to rewrite the record, or restore the state from a backup"
        )
    return rebuilt


def _keys_in(cls: type[Any], address: str, doc: Mapping[str, Any]) -> dict[str, str]:
    """The key values ``address`` names where ``doc`` holds others (a moved record's)."""
    spec = spec_of(cls)
    prefix = f"{spec.kind}["
    if not address.startswith(prefix) or not address.endswith("]"):
        return {}
    inner = address[len(prefix) : -1]
    values = [inner] if len(spec.keys) == 1 else inner.split(",")
    if len(values) != len(spec.keys):
        return {}  # a comma inside a key value: the address cannot say which is which
    return {k: v for k, v in zip(spec.keys, values, strict=True) if str(doc.get(k)) != v}


def _recorded_address(cls: type[Any], doc: Mapping[str, Any]) -> str:
    """``kind[key]`` from a recorded document's key values, as ``address_of`` writes it."""
    spec = spec_of(cls)
    return f"{spec.kind}[{','.join(str(doc.get(k)) for k in spec.keys)}]"


def _problem_text(doc: Mapping[str, Any], path: tuple[str | int, ...], message: str) -> str:
    """One unreadable field by path; a reference recorded unresolved is named as such."""
    where = ".".join(map(str, path)) or "the record"
    value = _at(doc, path)
    if isinstance(value, dict) and set(value) == {"address", "field"}:
        return f"{where} holds an unresolved reference to {value['address']}.{value['field']}"
    return f"{where}: {message}"


def preserve_foreign(want: Any, have: Any, last: Mapping[str, Any] | None) -> Any:
    """Keep mapping keys the live object has that we never set (kubectl apply's three-way merge).

    A key present in ``have`` but neither in ``want`` nor in the last applied spec
    belongs to someone else and is left alone; one we set before is removed.
    """
    if last is None:
        return want
    changes: dict[str, Any] = {}
    for f in spec_of(want).compared:
        mine, theirs = getattr(want, f.name), getattr(have, f.name)
        if isinstance(mine, dict) and isinstance(theirs, dict):
            merged = _merge(mine, theirs, last.get(f.name))
            if not strict_equal(merged, mine):
                changes[f.name] = merged
    return attrs.evolve(want, **changes) if changes else want


def written_as_desired(want: Any, have: Any) -> Any:
    """``have`` with its write-only fields taken from ``want``: a read cannot show them,
    so the diff never compares them (:func:`write_only_changes` does, with the last applied)."""
    changes = {
        f.name: value
        for f in spec_of(want).write_only_fields
        if (value := getattr(want, f.name)) is not UNKNOWN
    }
    return replace_fields(have, changes) if changes else have


def write_only_changes(
    want: Any, have: Any, last: Mapping[str, Any] | None, *, recorded: bool
) -> tuple[Change, ...]:
    """Write-only fields whose desired value differs from the last applied one (by digest).

    Without a last applied value for the field, but with recorded state (a thing
    adopted, or recorded before the field existed), the read stands in for it, so
    the value is written once. Without recorded state nothing is known: no change.
    """
    spec = spec_of(want)
    if not spec.write_only_fields or not recorded:
        return ()
    ignored = lifecycle_of(want).ignore_changes
    cls = spec.cls
    plain = unstructure(want)
    wanted = normalized_document(cls, document(want))
    seen = normalized_document(cls, document(have))
    changes = []
    for f in spec.write_only_fields:
        if f.name in ignored or getattr(want, f.name) is UNKNOWN:
            continue
        before = last.get(f.name, _MISSING) if last is not None else _MISSING
        if before is _MISSING:
            before = seen[f.name]
        elif f.flags.sensitive and not isinstance(before, Redacted):
            before = redact(before)  # recorded in clear before the field was sensitive
        elif isinstance(before, Redacted):
            before = upgraded(before, plain[f.name])  # an old salted digest, checked the old way
        if not strict_equal(before, wanted[f.name]):
            changes.append(Change((f.name,), ChangeKind.REPLACE, before, wanted[f.name]))
    return tuple(changes)


def with_keys_of(before: Any, written: Any) -> Any:
    """``before`` with every mapping key ``written`` has and it lacks, at any depth: the
    keys a write that may have happened could have added, claimed as ours."""
    if isinstance(before, dict) and isinstance(written, dict):
        return _merge(before, written, None)
    return before


def _merge(mine: dict[Any, Any], theirs: dict[Any, Any], last: Any) -> dict[Any, Any]:
    last = last if isinstance(last, dict) else {}
    merged = dict(mine)
    for key, value in theirs.items():
        if key not in mine and key not in last:
            merged[key] = value
        elif isinstance(mine.get(key), dict) and isinstance(value, dict):
            merged[key] = _merge(mine[key], value, last.get(key))
    return merged


def cause_of(change: Change, last: Mapping[str, Any] | None) -> Cause | None:
    """Whether the desired state moved (config), the live system did (drift), or both."""
    if last is None:
        return None
    before = _at(last, change.path)
    wanted = _MISSING if change.op == ChangeKind.REMOVE else change.new
    live = _MISSING if change.op == ChangeKind.ADD else change.old
    if _same(before, wanted):
        return DriftCause.DRIFT
    if _same(before, live):
        return DriftCause.CONFIG
    return DriftCause.BOTH


def _at(doc: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        found = isinstance(doc, dict) and part in doc
        indexed = isinstance(doc, list) and isinstance(part, int) and 0 <= part < len(doc)
        if not (found or indexed):
            return _MISSING
        doc = doc[part]
    return doc


def _same(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    if isinstance(a, Redacted) and not isinstance(b, Redacted):
        b = redact(b)  # recorded as a digest (a secret a reference copied): compare digests
    return strict_equal(a, b)
