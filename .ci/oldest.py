"""Print the oldest versions pyproject.toml allows, one ``name==version`` per line.

Read from the ``>=`` lower bounds of the runtime dependencies, of the
``testing`` extra, and of the ``dev`` packages named as arguments (test-only
needs such as jsonpatch, or distributed for the ``dask`` extra), so CI can
install exactly them and prove the bounds.

    python .ci/oldest.py [DEV_PACKAGE ...]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_BOUND = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)>=([0-9][0-9A-Za-z.]*)$")


def oldest(pyproject: Path, dev: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [r for r in extras["dev"] if re.split(r"[>=\[ ]", r, maxsplit=1)[0] in dev]
    if len(wanted) != len(dev):
        raise SystemExit(f"{pyproject}: the dev extra does not list all of {dev}")
    pins = []
    for requirement in [*project["dependencies"], *extras["testing"], *wanted]:
        found = _BOUND.match(requirement.replace(" ", ""))
        if found is None:
            raise SystemExit(f"{pyproject}: {requirement!r} has no plain '>=' lower bound")
        pins.append(f"{found[1]}=={found[2]}")
    return pins


if __name__ == "__main__":
    print("\n".join(oldest(Path("pyproject.toml"), sys.argv[1:])))
