"""Value types that stand in desired state: ``Ref`` (another resource's field),
``UNKNOWN`` (known only after apply) and ``Moved`` (a rename).

Just above the model: the planner resolves refs, apply fills them in, and
``refs_exist`` lets every layer skip reference walks when no ``Ref`` is alive.
"""

from __future__ import annotations

from typing import Any

import attrs

from reconcile._util.errors import DefinitionError

from .placeholders import Placeholder
from .resource import address_of, spec_of
from .switches import LIVE_REFS, refs_exist

__all__ = ["UNKNOWN", "Moved", "Ref", "moved", "ref", "refs_exist"]


@attrs.frozen(repr=False, weakref_slot=True)
class Ref(Placeholder):
    """A field value taken from another resource's field once that resource exists."""

    address: str
    field: str

    def __attrs_post_init__(self) -> None:
        LIVE_REFS[id(self)] = self

    def __repr__(self) -> str:
        return f"ref({self.address}.{self.field})"


@attrs.frozen(repr=False)
class _Unknown(Placeholder):
    """A value only known after apply (a reference to something not created yet)."""

    def __repr__(self) -> str:
        return "(known after apply)"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@attrs.frozen
class Moved:
    """A rename declared with the desired state: the thing recorded at ``old`` is now ``new``.

    As Terraform's ``moved`` block: the plan rebinds the record instead of
    deleting one resource and creating another.
    """

    old: str
    new: str


def moved(old: object, new: object) -> Moved:
    """Declare that the resource recorded at ``old`` (address or resource) is now ``new``."""
    return Moved(*(x if isinstance(x, str) else address_of(x) for x in (old, new)))


def ref(target: object, field: str) -> Any:
    """Use ``target``'s ``field`` as a value; makes the holder depend on ``target``.

    ``target`` is a resource or an address string. Typed ``Any`` so it can stand in
    for a value of any field type.
    """
    if isinstance(target, str):
        return Ref(target, field)
    spec = spec_of(target)
    if field not in {f.name for f in spec.fields}:
        raise DefinitionError(
            f"ref({address_of(target)}, {field!r}): {spec.kind} has no such field"
        )
    return Ref(address_of(target), field)
