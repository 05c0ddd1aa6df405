"""The array backend against the simpy backend, and a million queries in bounded memory.

Every run pins its backend: ``simlib.run(..., engine="fast")`` is the array backend
(``simlib/engine/array_backend.py``), ``engine="simpy"`` the engine of record; each result's
``engine`` is checked to be the one asked for (a fall-back would measure the other one).

    python benchmarks/bench_kernel.py            # from the repository root, in the venv
    python benchmarks/bench_kernel.py --quick    # smaller sizes (a smoke run)

Prints, measured in this run (ratios need no outside baseline):

1. the same scenario under both engines (full per-query records from each, checked equal):
   simpy seconds, kernel seconds, and the speed-up;
2. kernel throughput in query-strategies per second (queries x feasible strategies /
   seconds), one process, one core (numpy here is single-threaded);
3. a 1,000,000-query run of a preset whose six strategies are all feasible, in a fresh
   process: wall time of the run (summary mode: streaming aggregates) and the process's
   peak resident memory, plus the same through the CLI (`simlib run --queries 1000000`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simlib  # noqa: E402
from simlib.results import RECORD_DTYPE  # noqa: E402


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def same_records(a, b) -> bool:
    for ra, rb in zip(a.replications, b.replications):
        for name, sa in ra.strategies.items():
            x, y = sa.records, rb.strategies[name].records
            for f in RECORD_DTYPE.names:
                u, v = x[f], y[f]
                if not (((u == v) | (np.isnan(u) & np.isnan(v))) if u.dtype.kind == "f" else (u == v)).all():
                    return False
    return True


def query_strategies(scenario, result) -> int:
    return scenario.simulation.queries * len(result.replications) * len(result.replications[0].strategies)


CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
import simlib
s = simlib.load_preset(sys.argv[1]).with_changes({"simulation.queries": int(sys.argv[2])})
t1 = time.perf_counter()
result = simlib.run(s, engine="fast", records="summary")
assert result.engine == "fast", result.engine
t2 = time.perf_counter()
summary = result.summary()
t3 = time.perf_counter()
n = len(result.replications[0].strategies)
print(json.dumps({"run_s": t2 - t1, "summary_s": t3 - t2, "process_s": t3 - t0, "strategies": n,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rag_latency_p99_s": summary["rag"]["latency_p99_s"]["mean"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    args = ap.parse_args()
    n_same = 3_000 if args.quick else 20_000
    n_fast = 50_000 if args.quick else 300_000
    n_long = 100_000 if args.quick else 1_000_000
    print(f"simlib {simlib.__version__}, numpy {np.__version__}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}")

    print(f"\n1. Same scenario, both engines ({n_same:,} queries, full per-query records from each)")
    print(f"{'preset':<16} {'strategies':>10} {'simpy s':>9} {'kernel s':>9} {'speed-up':>9}  records equal")
    ratios = []
    # the presets the array backend runs: coaching-app, codebase-agent and language-tutor have sessions,
    # which only the simpy backend simulates (engine="fast" falls back, and the check below would stop the run)
    for preset in ("docs-assistant", "shared-manual", "code-apply"):
        s = simlib.load_preset(preset).with_changes({"simulation.queries": n_same})
        t_simpy, a = timed(lambda: simlib.run(s, engine="simpy"))
        t_fast, b = timed(lambda: simlib.run(s, engine="fast", records="full"), repeat=3)
        assert (a.engine, b.engine) == ("simpy", "fast"), (a.engine, b.engine)
        ratios.append(t_simpy / t_fast)
        print(f"{preset:<16} {len(a.replications[0].strategies):>10} {t_simpy:>9.2f} {t_fast:>9.3f} "
              f"{t_simpy / t_fast:>8.1f}x  {same_records(a, b)}")
    print(f"speed-up: min {min(ratios):.1f}x, geometric mean {np.exp(np.mean(np.log(ratios))):.1f}x (target >= 20x)")

    print(f"\n2. Kernel throughput, one core ({n_fast:,} queries)")
    print(f"{'preset':<16} {'records':<8} {'seconds':>8} {'query-strategies/s':>19}")
    for preset in ("shared-manual", "docs-assistant", "code-apply"):
        s = simlib.load_preset(preset).with_changes({"simulation.queries": n_fast})
        for mode in ("summary", "full"):
            t, r = timed(lambda: simlib.run(s, engine="fast", records=mode))
            assert r.engine == "fast", r.engine
            print(f"{preset:<16} {mode:<8} {t:>8.2f} {query_strategies(s, r) / t:>19,.0f}")
    print("(target >= 1,000,000 query-strategies/s)")

    print(f"\n3. {n_long:,} queries x 6 strategies (shared-manual), in a fresh process")
    done = subprocess.run([sys.executable, "-c", CHILD, "shared-manual", str(n_long)], capture_output=True,
                          text=True, cwd=ROOT, check=True)
    m = json.loads(done.stdout)
    print(f"run {m['run_s']:.2f} s + summary {m['summary_s']:.2f} s ({m['strategies']} strategies, "
          f"{n_long * m['strategies'] / m['run_s']:,.0f} query-strategies/s); whole process {m['process_s']:.2f} s; "
          f"peak RSS {m['peak_rss_mb']:,.0f} MB   (targets: < 10 s, < 1,024 MB)")
    t = time.perf_counter()
    cli = subprocess.run([sys.executable, "-c", "import resource, sys; from simlib.cli import main; rc = main(sys.argv[1:]); "
                          "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr); sys.exit(rc)",
                          "run", "--preset", "shared-manual", "--queries", str(n_long), "--no-progress"],
                         capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    rss = float(cli.stderr.strip().splitlines()[-1]) if cli.returncode == 0 else float("nan")
    print(f"CLI `simlib run --preset shared-manual --queries {n_long}`: {wall:.2f} s wall (start-up included), "
          f"peak RSS {rss:,.0f} MB, exit {cli.returncode}")


if __name__ == "__main__":
    main()
