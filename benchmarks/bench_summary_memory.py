"""Peak memory of ``--records summary`` runs as they grow (issue 13): is it bounded?

    python benchmarks/bench_summary_memory.py                    # 1M, 5M and 20M queries
    python benchmarks/bench_summary_memory.py --queries 1000000

Each size runs in a fresh process (``python -m simlib run --preset docs-assistant --engine
fast --records summary --queries N --no-flips``, all six strategies; without the verdict's
flip search, which reruns the same size dozens of times, one after the other, at the same
peak); its peak RSS is the child's ``ru_maxrss`` (MB), beside the wall time and the
estimate of simlib.resources. Not part of the test suite (minutes of CPU).

Measured (2 shared cores, 2026-12-02): before the chunked draws 394 / 549 / 1,674 MB at
1M / 5M / 20M queries; after, 368 MB at each (the running maximum of the children: none went above the 1M run).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time


def measure(queries: int) -> tuple[float, float]:
    """(peak RSS MB, wall s) of one summary run of ``queries`` queries in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "simlib", "run", "--preset", "docs-assistant", "--engine", "fast",
                    "--records", "summary", "--queries", str(queries), "--no-progress", "--no-flips"],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(peak, before) / 1024.0, wall  # ru_maxrss of children: the largest so far, in KB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    args = parser.parse_args()
    from simlib.scenario import load_preset
    from simlib.resources import estimate

    print(f"{'queries':>12} {'peak MB':>9} {'wall s':>8} {'estimate MB':>12}")
    for n in sorted(args.queries):  # ascending, so each child's peak is the largest so far
        peak, wall = measure(n)
        est = estimate(load_preset("docs-assistant").with_changes({"simulation.queries": n}), records="summary")
        print(f"{n:>12,} {peak:>9,.0f} {wall:>8.1f} {est.memory_bytes / 1024**2:>12,.0f}", flush=True)


if __name__ == "__main__":
    main()
