"""reconcile.testing's surface: ``__all__`` sorted, complete, importable."""

from __future__ import annotations

import types

import reconcile.testing as kit


def test_all_is_sorted_and_every_name_resolves():
    assert kit.__all__ == sorted(kit.__all__)
    for name in kit.__all__:
        assert getattr(kit, name) is not None, name


def test_every_public_name_is_exported():
    public = {
        name
        for name, value in vars(kit).items()
        if name.isidentifier()
        and not name.startswith("_")
        and not isinstance(value, types.ModuleType)
    }
    assert public <= set(kit.__all__), public - set(kit.__all__)


def test_an_unknown_name_is_an_attribute_error():
    assert not hasattr(kit, "NoSuchThing")
