"""Declaring resources: flags, keys, addresses, depends_on, and declaration errors."""

from __future__ import annotations

import attrs
import pytest

import reconcile as rc


@rc.resource("model_record", prevent_destroy=True, ignore_changes=("ttl",))
class Record:
    zone: str = rc.field(key=True)
    name: str = rc.field(key=True)
    value: str = ""
    ttl: int = 300
    token: str = rc.field(default="", sensitive=True)


def test_resource_is_frozen_slotted_attrs():
    rec = Record("example.org", "www")
    assert attrs.has(Record)
    assert "__slots__" in Record.__dict__
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        rec.value = "x"  # type: ignore[misc]


def test_address_joins_several_keys():
    assert rc.address_of(Record("example.org", "www")) == "model_record[example.org,www]"


def test_depends_on_is_keyword_only_takes_resources_or_addresses_and_is_not_compared():
    base = Record("example.org", "a")
    rec = Record("example.org", "b", depends_on=[base, "model_record[x,y]"])
    assert rec.depends_on == ("model_record[example.org,a]", "model_record[x,y]")
    assert rec == Record("example.org", "b")
    with pytest.raises(TypeError):
        Record("example.org", "b", "", 300, "", ())  # type: ignore[call-arg]


def test_sensitive_value_is_masked_in_repr():
    rec = Record("example.org", "www", token="hunter2")
    assert "hunter2" not in repr(rec)
    assert "(sensitive)" in repr(rec)


def test_a_resource_needs_a_key():
    with pytest.raises(rc.DefinitionError, match="key=True"):

        @rc.resource("model_keyless")
        class Keyless:
            value: str = ""


def test_the_same_kind_twice_is_an_error():
    with pytest.raises(rc.DuplicateKindError, match="model_record"):

        @rc.resource("model_record")
        class Other:
            name: str = rc.field(key=True)


def test_depends_on_is_reserved():
    with pytest.raises(rc.DefinitionError, match="depends_on"):

        @rc.resource("model_reserved")
        class Reserved:
            name: str = rc.field(key=True)
            depends_on: str = ""


def test_key_cannot_be_sensitive():
    with pytest.raises(rc.DefinitionError, match="key field"):

        @rc.resource("model_secret_key")
        class SecretKey:
            name: str = rc.field(key=True, sensitive=True)


def test_ignore_changes_must_name_fields():
    with pytest.raises(rc.DefinitionError, match="unknown fields"):

        @rc.resource("model_bad_ignore", ignore_changes=("nope",))
        class BadIgnore:
            name: str = rc.field(key=True)


def test_attrs_options_pass_through():
    @rc.resource("model_passthrough")
    class Passthrough:
        name: str = rc.field(key=True, converter=str.strip)
        port: int = rc.field(default=80, validator=attrs.validators.ge(1))
        tags: list[str] = rc.field(factory=list)

    assert Passthrough("  a ").name == "a"
    assert Passthrough("a").tags == []
    with pytest.raises(ValueError, match="port"):
        Passthrough("a", port=0)


def test_ignore_changes_and_ignore_fields_are_not_diffed():
    assert not rc.diff(Record("z", "n", ttl=1), Record("z", "n", ttl=2))
    assert rc.diff(Record("z", "n", value="a"), Record("z", "n", value="b"))
