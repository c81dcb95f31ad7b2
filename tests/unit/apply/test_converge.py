"""Converge stories: it stops when done, and names what keeps coming back."""

from __future__ import annotations

import attrs
import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider


@rc.resource("converge_setting")
class Setting:
    name: str = rc.field(key=True)
    value: str = ""
    mode: int = 1


class Stubborn(MemoryProvider[Setting]):
    """Never accepts ``value``: an API that silently keeps its own."""

    def update(self, have: Setting, want: Setting, diff: rc.Diff) -> Setting:
        return super().update(have, attrs.evolve(want, value=have.value), diff)


def test_converge_stops_at_the_first_empty_plan():
    settings = MemoryProvider(Setting)
    report = rc.Reconciler([settings]).converge([Setting("a", "x")])
    assert report.converged
    assert len(report.rounds) == 2
    assert report.rounds[0].result is not None
    assert report.rounds[0].result.ok
    assert report.final_plan.is_empty
    assert report.rounds[-1].result is None


def test_an_oscillating_provider_is_reported_not_looped():
    settings = Stubborn(Setting)
    settings.put(Setting("a", value="theirs", mode=1))
    report = rc.Reconciler([settings]).converge([Setting("a", value="ours", mode=2)], max_rounds=10)
    assert not report.converged
    assert report.stuck
    assert len(report.rounds) == 3
    assert report.oscillating == (("converge_setting[a]", ("value",)),)
    assert settings.calls["update"] == 2


def test_converge_respects_the_bound():
    settings = MemoryProvider(Setting)
    settings.fail("create", times=100)
    report = rc.Reconciler([settings]).converge([Setting("a")], max_rounds=1)
    assert not report.converged
    assert len(report.rounds) == 1
    with pytest.raises(ValueError, match="max_rounds"):
        rc.Reconciler([settings]).converge([], max_rounds=0)


def test_a_repeated_failure_stops_early_without_claiming_oscillation():
    settings = MemoryProvider(Setting)
    settings.fail("create", times=100)
    report = rc.Reconciler([settings]).converge([Setting("a")])
    assert not report.converged
    assert report.stuck
    assert report.oscillating == ()
    assert settings.calls["create"] == 1
