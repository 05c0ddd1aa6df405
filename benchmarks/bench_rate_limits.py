"""Rate limits on the array backend: query-strategies per second with limits on vs off, and vs simpy.

    python benchmarks/bench_rate_limits.py            # from the repository root, in the venv
    python benchmarks/bench_rate_limits.py --quick    # smaller sizes (a smoke run)

For two scenarios, measured in this run (issue 16's benchmark):

- ``code-apply`` + Anthropic Tier 4: far above the limits (most requests get 429s, about 3
  attempts per request through the limiter, half fail);
- ``docs-assistant`` + hand-set limits its busiest hours reach: mostly admitted from
  refilled buckets, 429s at the peaks.

First a warm-up: one small rate-limited run on each backend, untimed in the ratios (its
time is printed): the array backend's per-attempt loop is compiled with numba
(simlib.engine.rate_limits._kernel), and the first rate-limited array run of a process loads
it (about 1 s of CPU with numba's on-disk cache warm, a few seconds the first time on a
machine, when it compiles). The figures below are for a process that has paid that.

Prints, per scenario (CPU seconds of this process, so a busy shared machine does not skew
the ratios): array backend seconds and query-strategies/s without and with the
limits, the simpy backend's seconds with them, and the array backend's speed-up over simpy
on the same (rate-limited) scenario, whose records are checked equal first. Dedicated
serving and the batch API share are measured in bench_capacity_kernel.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simlib  # noqa: E402
from benchmarks.bench_kernel import same_records  # noqa: E402

CASES = {
    "code-apply": {"rate_limits.tier": "4"},
    "docs-assistant": {"rate_limits.requests_per_minute": 30, "rate_limits.input_tokens_per_minute": 400_000,
                       "rate_limits.output_tokens_per_minute": 80_000},
}


def timed(fn):
    """CPU seconds of this process (the machine is shared: wall time would measure the neighbours)."""
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_compare = 3_000 if args.quick else 20_000
    n_fast = 20_000 if args.quick else 200_000
    warm = simlib.load_preset("code-apply").with_changes({"simulation.queries": 300, **CASES["code-apply"]})
    warm_s, _ = timed(lambda: simlib.run(warm, engine="fast"))
    simlib.run(warm, engine="simpy")
    print(f"warm-up: first rate-limited array run (300 queries, loads the compiled kernel) {warm_s:.2f} s")
    for preset, limits in CASES.items():
        base = simlib.load_preset(preset).with_changes({"simulation.queries": n_compare})
        limited = base.with_changes(limits)
        simpy_s, a = timed(lambda: simlib.run(limited, engine="simpy"))
        fast_s, b = timed(lambda: simlib.run(limited, engine="fast", records="full"))
        assert a.engine == "simpy" and b.engine == "fast"
        assert same_records(a, b), f"{preset}: the backends' records differ"
        k = len(b.replications[0].strategies)
        big_off = base.with_changes({"simulation.queries": n_fast})
        big_on = big_off.with_changes(limits)
        off_s, r_off = timed(lambda: simlib.run(big_off, engine="fast"))
        on_s, r_on = timed(lambda: simlib.run(big_on, engine="fast"))
        assert r_off.engine == r_on.engine == "fast"
        throttled = max(e["rate_limited_share"]["mean"] or 0 for e in r_on.summary().values())
        print(f"{preset} + {limits}")
        print(f"  {n_compare:,} queries x {k}: simpy {simpy_s:.2f} s, array {fast_s:.2f} s -> "
              f"{simpy_s / fast_s:.1f}x (records equal)")
        print(f"  {n_fast:,} queries x {k}, array backend: limits off {off_s:.2f} s "
              f"({n_fast * k / off_s / 1e6:.2f}M query-strategies/s), on {on_s:.2f} s "
              f"({n_fast * k / on_s / 1e6:.2f}M/s); most throttled strategy: {throttled:.0%} got a 429")


if __name__ == "__main__":
    main()
