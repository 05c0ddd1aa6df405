"""Dedicated serving and the batch API on the array backend, against the simpy backend (issue 16's benchmark).

    python benchmarks/bench_capacity_kernel.py            # from the repository root, in the venv
    python benchmarks/bench_capacity_kernel.py --quick    # smaller sizes (a smoke run)

Three scenarios, measured in this run at 20,000 and 200,000 queries (``--quick``: 3,000 and
20,000):

- ``code-apply`` as shipped (its fine-tuned model dedicated with speculative edits, sized to its 5 s p95;
  docs/capacity.md): the fine-tuned strategies on sized dedicated replicas, the others serverless;
- ``docs-assistant`` with ``serving.base_model: dedicated``: every base-model strategy on sized
  replicas (caching ones still use the prompt cache for its flags and tokens);
- ``docs-assistant`` with ``workload.offline_share: 0.3``: 30% of the work through the batch API.

Both backends size the replicas (``replicas_for``: ``size_replicas`` over an hour of arrivals
at the busiest rate, one simulation per count tried); its cache is cleared before every timed
run, so each run pays it, as a fresh process would. First a warm-up: one small dedicated run
on each backend, untimed in the ratios (its time is printed): the replica stage
(``engine.dedicated._serve_replicas``) is compiled with numba and loaded from its on-disk
cache on first use in a process.

Prints, per scenario and size (CPU seconds of this process, so a busy shared machine does not
skew the ratios): simpy seconds, array seconds (full records, checked equal to simpy's first),
the speed-up, and the array backend's query-strategies per second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simlib  # noqa: E402
from benchmarks.bench_kernel import same_records  # noqa: E402
from benchmarks.bench_rate_limits import timed as cpu_timed  # noqa: E402
from simlib.engine import dedicated  # noqa: E402

CASES = {
    "code-apply, fine-tuned dedicated": ("code-apply", {"serving.fine_tuned_model": "dedicated"}),
    "docs-assistant, base dedicated": ("docs-assistant", {"serving.base_model": "dedicated"}),
    "docs-assistant, offline share 0.3": ("docs-assistant", {"workload.offline_share": 0.3}),
}


def timed(fn):
    """CPU seconds of this process (bench_rate_limits.timed), every run sizing its replicas as in a fresh process."""
    dedicated._SIZED.clear()
    return cpu_timed(fn)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    sizes = (3_000, 20_000) if args.quick else (20_000, 200_000)
    warm = simlib.load_preset("code-apply").with_changes({"simulation.queries": 300,
                                                          "serving.fine_tuned_model": "dedicated"})
    warm_s, _ = timed(lambda: simlib.run(warm, engine="fast"))
    simlib.run(warm, engine="simpy")
    print(f"warm-up: first dedicated array run (300 queries, loads the compiled stage) {warm_s:.2f} s")
    for label, (preset, changes) in CASES.items():
        print(label)
        for n in sizes:
            s = simlib.load_preset(preset).with_changes({"simulation.queries": n, **changes})
            simpy_s, a = timed(lambda: simlib.run(s, engine="simpy"))
            fast_s, b = timed(lambda: simlib.run(s, engine="fast", records="full"))
            assert a.engine == "simpy" and b.engine == "fast", b.notes
            assert same_records(a, b), f"{label}, {n:,} queries: the backends' records differ"
            k = len(b.replications[0].strategies)
            print(f"  {n:,} queries x {k}: simpy {simpy_s:.2f} s, array {fast_s:.3f} s -> {simpy_s / fast_s:.1f}x "
                  f"(records equal); array {n * k / fast_s / 1e6:.2f}M query-strategies/s")


if __name__ == "__main__":
    main()
