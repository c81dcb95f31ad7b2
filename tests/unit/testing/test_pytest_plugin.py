"""The pytest plugin: registered by entry point, its fixtures work in a user's project
with no conftest, and it loads where Hypothesis is not installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

pytest_plugins = ["pytester"]

USER_TESTS = """
import reconcile as rc


@rc.resource("plugin_user_box")
class Box:
    name: str = rc.field(key=True)
    size: int = 0


def test_the_fixtures_build_a_world_on_a_simulated_clock(
    reconcile_memory, reconciler_factory, simulated_clock
):
    boxes = reconcile_memory(Box)
    boxes.delay("create", 30)
    reconciler = reconciler_factory(boxes, parallelism=1)
    assert reconciler.converge([Box("a", 1), Box("b", 2)]).converged
    assert boxes.clock is simulated_clock and reconciler.clock is simulated_clock
    assert simulated_clock.monotonic() == 60
    assert [c.at for c in boxes.history if c.method == "create"] == [0, 30]
"""

USER_CONFORMANCE = """
from hypothesis import strategies as st

from reconcile.testing import MemoryProvider, ProviderConformance
from reconcile.testing.strategies import resources
from test_user import Box


class TestBoxes(ProviderConformance):
    def make_provider(self):
        return MemoryProvider(Box)

    def resources(self):
        return resources(Box, name=st.text("ab", min_size=1, max_size=2))
"""


def test_fixtures_and_the_conformance_suite_work_without_a_conftest(pytester):
    pytester.makepyfile(test_user=USER_TESTS, test_user_conformance=USER_CONFORMANCE)
    result = pytester.runpytest_subprocess("-W", "error", "--strict-markers", "-rs")
    # Box has no replace and no sensitive field: those two properties skip, with reasons
    result.assert_outcomes(passed=6, skipped=2)
    result.stdout.fnmatch_lines(["*has no replace field*", "*has no sensitive field*"])


BLOCKED_RUN = """
import sys


class NoHypothesis:  # as if the testing extra were not installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "hypothesis":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, NoHypothesis())
import pytest
import reconcile.testing as kit
assert kit.MemoryProvider and kit.assert_converges and kit.SimulatedClock
try:
    kit.ProviderConformance
except ImportError as err:
    assert "reconcile[testing]" in str(err), err
else:
    raise AssertionError("ProviderConformance imported without hypothesis")
sys.exit(pytest.main(["-q", "-p", "no:hypothesispytest", "-p", "no:cacheprovider", "test_user.py"]))
"""


def test_the_plugin_loads_without_hypothesis(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BLOCKED_RUN)],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
