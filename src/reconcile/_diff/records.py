"""Records from resources and resources from records.

The record written after each applied step (``record_for``), whether an unchanged
resource's record is out of date, and a resource rebuilt from a record (to read
or destroy what is no longer declared). Used by the planner and by apply.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from reconcile._model.resource import (
    Lifecycle,
    address_of,
    lifecycle_of,
    replace_fields,
    spec_of,
)
from reconcile._model.serialize import holds_ref, structure_reported
from reconcile._model.values import refs_exist
from reconcile._state.values import Record, now
from reconcile._util.errors import StateError

from .documents import at_path, outputs_of, stored_spec

__all__ = ["rebuild", "record_for", "record_outdated", "with_outputs"]


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
    compared (that would cost a document per resource per plan: row ``no-op converge``);
    it is brought up to date by the next apply that changes the resource.
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
    value = at_path(doc, path)
    if isinstance(value, dict) and set(value) == {"address", "field"}:
        return f"{where} holds an unresolved reference to {value['address']}.{value['field']}"
    return f"{where}: {message}"
