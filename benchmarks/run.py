"""Run every benchmark and print a table; ``--quick`` for small sizes, ``--json`` to save.

    python -m benchmarks.run [--quick] [--json results.json] [--only NAME]
                             [--compare earlier.json]

Every row compares our median time with a baseline measured in the same run,
so the ratio means the same on any machine. No assertion fails a run: the
targets are printed beside the numbers. ``--compare`` prints, after the table,
each row's ratio against the same row of an earlier run saved with ``--json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from pathlib import Path

from benchmarks.compare import compare, keyed, load
from benchmarks.harness import Row

WORKLOADS = ["bench_apply", "bench_files", "bench_plan", "bench_json_state"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (CI)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--only", action="append", help="run only these workload modules")
    parser.add_argument(
        "--compare", type=Path, help="compare the ratios with an earlier run's --json file"
    )
    args = parser.parse_args(argv)
    before = load(args.compare) if args.compare else None  # a bad file fails before the run
    rows = []
    for name in args.only or WORKLOADS:
        module = importlib.import_module(f"benchmarks.{name}")
        rows.extend(module.run(args.quick))
    print(_table(rows))
    results = [r.as_dict() for r in rows]
    if before is not None:
        print(f"\nratios against {args.compare}:")
        print(compare(before, keyed(results)))
    if args.json:
        meta = {
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "quick": args.quick,
        }
        args.json.write_text(json.dumps({"meta": meta, "rows": results}, indent=2))
    return 0


def _table(rows: list[Row]) -> str:
    head = (
        f"{'workload':<46} {'size':>7} {'ours':>10} {'baseline':>10} {'ratio':>8} "
        f"{'peak MB':>8}  target / baseline"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        extra = " ".join(f"{k}={v}" for k, v in r.extra.items())
        lines.append(
            f"{r.workload:<46} {r.size:>7} {r.ours.seconds:>9.4f}s {r.baseline.seconds:>9.4f}s "
            f"{r.ratio:>7.2f}x {r.ours.peak_bytes / 2**20:>8.1f}  "
            f"{r.target} vs {r.baseline_name} {extra}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
