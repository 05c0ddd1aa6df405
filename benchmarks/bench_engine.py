"""Engine speed and memory against a bare simpy M/M/c loop, measured in the same run.

    python benchmarks/bench_engine.py            # or: scripts/bench

Prints:
Each line names the backend it measures (``simlib.run(..., engine=...)``; the default
``engine="auto"`` picks the array backend (engine="fast") wherever it follows simpy, so it must be pinned):
- query-strategies simulated per second by the simpy engine (engine="simpy"), against customers per second
  of the plainest simpy M/M/c loop (arrive, request, hold, release) on this machine, now
  (target: ratio >= 0.5);
- the wall time of a default dashboard-sized run (5,000 queries x 6 strategies, one
  replication, summary included; target < 1 s), with the dashboard's engine="auto" and
  the backend it resolved to, and with engine="simpy" pinned;
- bytes of per-query records per query per strategy (target <= 64).
"""

from __future__ import annotations

import random
import time

import simpy

import simlib
from simlib.results import RECORD_DTYPE


def bare_mmc(customers: int, servers: int = 32, rate_per_s: float = 10.0, service_s: float = 2.0) -> float:
    """Customers per second of a minimal simpy M/M/c model (the baseline)."""
    rng = random.Random(1)
    env = simpy.Environment()
    counter = simpy.Resource(env, servers)

    def customer(env):
        with counter.request() as req:
            yield req
            yield env.timeout(rng.expovariate(1.0 / service_s))

    def source(env):
        for _ in range(customers):
            yield env.timeout(rng.expovariate(rate_per_s))
            env.process(customer(env))

    env.process(source(env))
    start = time.perf_counter()
    env.run()
    return customers / (time.perf_counter() - start)


def engine_rate(scenario, engine: str) -> tuple[float, float, str]:
    """(query-strategies per second of the simulation alone, seconds for run + summary,
    the backend that ran) with ``simlib.run(scenario, engine=engine)``."""
    start = time.perf_counter()
    result = simlib.run(scenario, engine=engine)
    simulated = time.perf_counter() - start
    result.summary()
    total = time.perf_counter() - start
    feasible = sum(1 for r in result.feasibility.values() if r is None)
    return scenario.simulation.queries * feasible / simulated, total, result.engine


def best_of(fn, repeat: int = 3):
    return max((fn() for _ in range(repeat)), key=lambda x: x if isinstance(x, float) else x[0])


def main() -> None:
    # shared-manual: all six strategies feasible, retrieval and caches all in play
    scenario = simlib.load_preset("shared-manual").with_changes({"simulation.queries": 5_000})
    for engine in ("simpy", "auto"):  # warm imports and caches of both backends
        simlib.run(scenario.with_changes({"simulation.queries": 200}), engine=engine)
    baseline = best_of(lambda: bare_mmc(30_000))
    rate, _, ran = best_of(lambda: engine_rate(scenario.with_changes({"simulation.queries": 20_000}), "simpy"))
    assert ran == "simpy", ran
    print(f"bare simpy M/M/c loop        : {baseline:12,.0f} customers/s")
    print(f"simlib simpy engine          : {rate:12,.0f} query-strategies/s   (engine='simpy')")
    print(f"ratio engine / bare loop     : {rate / baseline:12.2f}   (target >= 0.5)")
    for engine in ("auto", "simpy"):
        runs = sorted(engine_rate(scenario, engine)[1:] for _ in range(3))
        t, ran = runs[1]
        print(f"dashboard-sized run (5k x 6) : {t:12.3f} s median of 3, summary included (target < 1 s); "
              f"engine={engine!r} ran {ran!r}")
    print(f"record size                  : {RECORD_DTYPE.itemsize:12d} bytes per query per strategy (target <= 64)")


if __name__ == "__main__":
    main()
