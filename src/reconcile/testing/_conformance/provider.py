"""``ProviderConformance``: the contract every provider must keep, as pytest properties.

A provider author subclasses it as ``TestMyProvider``, says how to make a fresh
world (``make_provider``) and what to put in it (``resources``); pytest then runs
every ``test_*`` property below under Hypothesis against their provider. Each
subclass gets its own Hypothesis-wrapped copy of each property (see
``__init_subclass__``), so two subclasses never share one test function.
"""

from __future__ import annotations

import abc
import functools
import tempfile
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile._diff.changes import diff
from reconcile._model.resource import address_of, replace_fields, spec_of
from reconcile._plan.steps import Action
from reconcile._provider.contract import Provider
from reconcile._reconciler import Reconciler
from reconcile.testing._assertions import assert_idempotent
from reconcile.testing._counting import CountingProvider
from reconcile.testing._leaks import captured_logs, leak_surfaces
from reconcile.testing.strategies import desired_states, secret_strings

__all__ = ["ProviderConformance"]

_CHECK = "_reconcile_conformance_check"
Check = Callable[[Any, st.DataObject], None]


def _property(check: Check) -> Check:
    """Mark a method as a conformance property, to be wrapped per subclass."""
    setattr(check, _CHECK, check)
    return check


class ProviderConformance(abc.ABC):
    """Subclass as ``Test...``; define ``make_provider`` and ``resources``; pytest runs the rest.

    Override ``changed`` for update targets and ``secrets`` for sensitive values
    your provider accepts; set ``conformance_settings`` to tune Hypothesis (by
    default the active profile without a deadline: providers do I/O); set a
    property to ``None`` to leave it out.
    """

    conformance_settings: ClassVar[settings | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        chosen = cls.conformance_settings or settings(deadline=None)
        for name in dir(cls):
            check = getattr(getattr(cls, name, None), _CHECK, None)
            if name.startswith("test_") and check is not None:
                setattr(cls, name, _as_test(check, chosen))

    @pytest.fixture(autouse=True)
    def _conformance_directory(self, tmp_path: Path) -> None:
        """Remember pytest's ``tmp_path`` for :meth:`fresh_directory`."""
        self._tmp_path = tmp_path

    # -- what a provider author supplies ---------------------------------------

    @abc.abstractmethod
    def make_provider(self) -> Provider[Any]:
        """A provider over a fresh, isolated, empty world; called once per example."""

    @abc.abstractmethod
    def resources(self) -> st.SearchStrategy[Any]:
        """Resources the provider can create, computed fields left unset."""

    def changed(self, res: Any) -> st.SearchStrategy[Any]:
        """Update targets for ``res`` (keys are kept); by default other draws of ``resources``.

        Must be able to change every ``replace`` field, or the replace property
        cannot find an example.
        """
        return self.resources()

    def secrets(self) -> st.SearchStrategy[str]:
        """Values for ``str`` sensitive fields: distinctive, so a leak is found by search."""
        return secret_strings()

    def fresh_directory(self) -> Path:
        """A new empty directory under pytest's ``tmp_path``, for worlds kept on disk."""
        return Path(tempfile.mkdtemp(dir=getattr(self, "_tmp_path", None)))

    # -- the properties --------------------------------------------------------

    @_property
    def test_create_then_read_returns_what_was_created(self, data: st.DataObject) -> None:
        provider = self.make_provider()
        want = data.draw(self.resources(), label="want")
        _check_kind(provider, want)
        _assert_absent(provider, want)
        _assert_matches(want, provider.create(want), "create() returned")
        _assert_matches(want, provider.read(want), "read() after create() returned")
        # Another new world must not see it either: a shared one then fails on the
        # first example, the same way every time it is run again.
        _assert_absent(self.make_provider(), want)

    @_property
    def test_update_converges(self, data: st.DataObject) -> None:
        provider = self.make_provider()
        want = data.draw(self.resources(), label="created")
        provider.create(want)
        target = _updatable(data.draw(self.changed(want), label="target"), want)
        have = _read(provider, want)
        changes = provider.diff(target, have)
        if changes:
            _assert_matches(target, provider.update(have, target, changes), "update() returned")
        _assert_matches(target, provider.read(target), "read() after update() returned")
        _assert_plan_empty(provider, [target], "after update()")

    @_property
    def test_delete_then_read_returns_none(self, data: st.DataObject) -> None:
        provider = self.make_provider()
        want = data.draw(self.resources(), label="created")
        provider.create(want)
        have = _read(provider, want)
        provider.delete(have)
        assert provider.read(want) is None, f"{address_of(want)}: read() found it after delete()"
        provider.delete(have)  # the contract: deleting what is already gone does nothing
        assert provider.read(want) is None, f"{address_of(want)}: a second delete() revived it"

    @_property
    def test_converge_twice_makes_no_writes(self, data: st.DataObject) -> None:
        provider = CountingProvider(self.make_provider())
        desired = data.draw(desired_states([self.resources()], max_size=4), label="desired")
        assert_idempotent(desired, [provider])

    @_property
    def test_replace_field_change_plans_replace_and_converges(self, data: st.DataObject) -> None:
        provider = self.make_provider()
        _skip_unless(_flagged(provider.resource, "replace"), provider, "no replace field")
        want = data.draw(self.resources(), label="created")
        provider.create(want)
        have = _read(provider, want)
        forced = functools.partial(_forces_replace, have)
        target = data.draw(self.changed(want).map(_keys_of(want)).filter(forced), label="target")
        reconciler = Reconciler([provider])
        plan = reconciler.plan([target])
        step = plan.step(address_of(target))
        assert step.action is Action.REPLACE, f"expected a replace:\n{plan.render()}"
        result = reconciler.apply(plan)
        assert result.ok, f"the replace failed: {result.failed}\n{plan.render()}"
        _assert_plan_empty(provider, [target], "after the replace")

    @_property
    def test_sensitive_values_never_leak(self, data: st.DataObject) -> None:
        provider = self.make_provider()
        fields = _secret_fields(provider.resource)
        _skip_unless(fields, provider, "no sensitive field of type str")
        planted = data.draw(st.lists(self.secrets(), min_size=2, max_size=2, unique=True))
        want = _planted(data.draw(self.resources(), label="created"), fields, planted[0])
        changed = _same_identity(data.draw(self.changed(want), label="target"), want)
        target = _planted(changed, fields, planted[1])
        with captured_logs() as logs:
            surfaces = leak_surfaces(provider, want, target)
        for where, text in surfaces + logs:
            for secret in planted:
                assert secret not in text, f"a sensitive value shows in {where}:\n{text}"

    @_property
    def test_list_reports_what_was_created(self, data: st.DataObject) -> None:
        provider = self.make_provider()
        _skip_unless(provider.can_list, provider, "no list()")
        made = data.draw(st.lists(self.resources(), max_size=5, unique_by=address_of))
        for res in made:
            provider.create(res)
        gone = data.draw(st.sets(st.sampled_from(range(len(made))))) if made else set()
        for i in gone:
            provider.delete(_read(provider, made[i]))
        expected = {address_of(r): r for i, r in enumerate(made) if i not in gone}
        listed = {address_of(r): r for r in provider.list()}
        assert listed.keys() == expected.keys(), (
            f"list() reported {sorted(listed)}; created and not deleted: {sorted(expected)}"
        )
        for address, res in expected.items():
            _assert_matches(res, listed[address], "list() reported")


def _as_test(check: Check, chosen: settings) -> Callable[..., None]:
    """A fresh Hypothesis test around ``check`` for one subclass."""
    test: Callable[..., None] = chosen(given(data=st.data())(check))
    setattr(test, _CHECK, check)
    return test


# -- helpers -------------------------------------------------------------------


def _assert_absent(provider: Provider[Any], want: Any) -> None:
    assert provider.read(want) is None, (
        f"{address_of(want)} exists before it was created: "
        "make_provider() must return an empty, isolated world each time"
    )


def _check_kind(provider: Provider[Any], res: Any) -> None:
    kind = spec_of(res).kind
    assert kind == provider.kind, (
        f"resources() draws kind {kind!r} but make_provider() handles {provider.kind!r}"
    )


def _skip_unless(condition: object, provider: Provider[Any], why: str) -> None:
    if not condition:
        pytest.skip(f"kind {provider.kind!r} has {why}")


def _read(provider: Provider[Any], res: Any) -> Any:
    found = provider.read(res)
    assert found is not None, f"{address_of(res)}: read() found nothing after create()"
    return found


def _assert_matches(want: Any, got: Any, what: str) -> None:
    """``got`` is ``want``'s thing with equal managed fields (secrets compared by digest).

    ``write_only`` fields are left out: the provider is not expected to return them.
    """
    address = address_of(want)
    assert got is not None, f"{address}: {what} None"
    assert address_of(got) == address, f"{address}: {what} {address_of(got)}"
    unread = {f.name: getattr(want, f.name) for f in spec_of(want).write_only_fields}
    changes = diff(want, replace_fields(got, unread) if unread else got)
    assert not changes, (
        f"{address}: {what} a state whose managed fields differ; "
        f"JSON Patch from it to what was asked: {changes.to_json_patch()}"
    )


def _assert_plan_empty(provider: Provider[Any], desired: list[Any], when: str) -> None:
    plan = Reconciler([provider]).plan(desired)
    assert plan.is_empty, f"{when}, planning again still finds work:\n{plan.render()}"


def _flagged(cls: type[Any], flag: str) -> tuple[str, ...]:
    return tuple(f.name for f in spec_of(cls).fields if getattr(f.flags, flag))


def _secret_fields(cls: type[Any]) -> tuple[str, ...]:
    """Sensitive fields that accept a ``str``: where a planted secret can go."""
    hints = typing.get_type_hints(cls)
    return tuple(
        name
        for name in _flagged(cls, "sensitive")
        if hints[name] is str or str in typing.get_args(hints[name])
    )


def _keys_of(res: Any) -> Callable[[Any], Any]:
    return functools.partial(_same_identity, source=res)


def _same_identity(target: Any, source: Any) -> Any:
    """``target`` with ``source``'s keys: the same thing, to be changed."""
    keys = {name: getattr(source, name) for name in spec_of(source).keys}
    return attrs.evolve(target, **keys)


def _updatable(target: Any, source: Any) -> Any:
    """``target`` with ``source``'s keys and replace fields: reachable by ``update``."""
    kept = {name: getattr(source, name) for name in _flagged(type(source), "replace")}
    return attrs.evolve(_same_identity(target, source), **kept)


def _forces_replace(have: Any, target: Any) -> bool:
    """A ``replace`` field differs, by the resource class's flags (not the provider's diff)."""
    return diff(target, have).requires_replace


def _planted(res: Any, fields: tuple[str, ...], secret: str) -> Any:
    return attrs.evolve(res, **dict.fromkeys(fields, secret))
