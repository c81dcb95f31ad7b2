"""Compare two saved benchmark runs (``run --json``) row by row, by their ratios.

    python -m benchmarks.compare BEFORE.json AFTER.json [--threshold 1.2]

Seconds move with the machine; a ratio to a baseline timed in the same run
does not, so two commits are compared by ratio. A change beyond the threshold
either way is named; rows only one run has are listed apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["compare", "keyed", "load", "main"]

Key = tuple[str, int]


def load(path: Path) -> dict[Key, Mapping[str, Any]]:
    """The rows of a ``run --json`` file, by workload and size."""
    try:
        return keyed(json.loads(path.read_text())["rows"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"{path}: not a benchmarks.run --json file ({err})") from err


def keyed(rows: Sequence[Mapping[str, Any]]) -> dict[Key, Mapping[str, Any]]:
    """Rows as ``Row.as_dict`` gives them, by workload and size."""
    return {(r["workload"], int(r["size"])): r for r in rows}


def compare(
    before: Mapping[Key, Mapping[str, Any]],
    after: Mapping[Key, Mapping[str, Any]],
    threshold: float = 1.2,
) -> str:
    """A table of each shared row's ratio before and after, and the change between them."""
    head = f"{'workload':<46} {'size':>7} {'before':>8} {'after':>8} {'change':>8}"
    lines = [head, "-" * len(head)]
    for key in [k for k in after if k in before]:
        old, new = before[key]["ratio"], after[key]["ratio"]
        change = new / old if old else float("inf")
        verdict = ""
        if change > threshold:
            verdict = "  slower"
        elif change < 1 / threshold:
            verdict = "  faster"
        lines.append(f"{key[0]:<46} {key[1]:>7} {old:>7.2f}x {new:>7.2f}x {change:>7.2f}x{verdict}")
    for label, only in (
        ("only before", [k for k in before if k not in after]),
        ("only after", [k for k in after if k not in before]),
    ):
        lines += [f"{label}: {workload} ({size})" for workload, size in only]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the earlier run's --json file")
    parser.add_argument("after", type=Path, help="the later run's --json file")
    parser.add_argument(
        "--threshold",
        type=float,
        default=1.2,
        help="name a change of ratio beyond this factor either way (default 1.2)",
    )
    args = parser.parse_args(argv)
    if args.threshold < 1:
        parser.error("--threshold is a factor of at least 1")
    print(compare(load(args.before), load(args.after), args.threshold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
