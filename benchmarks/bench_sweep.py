"""Sweep throughput: in-process against local processes against a Dask LocalCluster.

    python benchmarks/bench_sweep.py            # from the repository root, in the venv
    python benchmarks/bench_sweep.py --quick

One sweep (a grid over queries per day x knowledge changes per day, 2,000 queries a
point, one replication, every metric) run on each backend; prints points per second and
the ratio to in-process, measured in this run, with pool / cluster start-up both included
and left out (from the first finished point), and checks the tables are equal.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

import simlib  # noqa: E402
from simlib.sweep import build_sweep, run_sweep  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    nx, ny = (4, 3) if args.quick else (8, 6)
    base = simlib.load_preset("docs-assistant").with_changes({"simulation.queries": 2_000})
    spec = build_sweep(base, grid={"workload.queries_per_day": {"log_range": [300, 3e6], "points": nx},
                                   "knowledge.changes_per_day": {"log_range": [0.3, 3e4], "points": ny}})
    print(f"{len(spec)} points x 2,000 queries x 6 strategies; {args.workers} workers; {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'backend':<11} {'wall s':>7} {'points/s':>9} {'ratio':>6}   {'after start-up':>15} {'ratio':>6}  same table")
    baseline = None
    for backend in ("inprocess", "processes", "dask"):
        first = []

        def mark(point, rows, first=first):
            if not first:
                first.append(time.perf_counter())

        t0 = time.perf_counter()
        r = run_sweep(spec, backend=backend, workers=args.workers, progress=False, on_point=mark)
        wall = time.perf_counter() - t0
        steady = (len(spec) - 1) / (time.perf_counter() - first[0]) if first and len(spec) > 1 else float("nan")
        if baseline is None:
            baseline = (r.points_per_s(), steady, r.table)
        same = r.table.equals(baseline[2]) if backend != "inprocess" else True
        if backend != "inprocess" and not same:
            pd.testing.assert_frame_equal(r.table, baseline[2])
        print(f"{backend:<11} {wall:>7.2f} {r.points_per_s():>9.1f} {r.points_per_s() / baseline[0]:>5.2f}x   "
              f"{steady:>15.1f} {steady / baseline[1]:>5.2f}x  {same}")


if __name__ == "__main__":
    main()
