"""A resource estimate before any run: refuse, with the estimate and a suggestion, what would not fit.

The estimate is linear in the run size, from per-query costs measured on the docs-assistant
preset (2 cores, 2026-12-01; peak RSS above the ~120 MB of imported libraries, wall time):

- simpy engine: ~410 B and ~80 us per query x strategy (events, processes, records);
  1,000 B is used (an assumption: headroom for larger runs, not measured at millions);
- array backend, records 'full': ~92 B and ~4 us per query x strategy (records are kept for
  every replication), plus the 40 B of cost components kept beside each record since
  2026-12-02 (``results.COST_COMPONENTS_DTYPE``: 5 x float64, arithmetic, not measured);
  160 B is used;
- array backend, records 'summary': ~300 MB of samples and sketches, flat in the run size
  (queries are drawn a chunk at a time: peak RSS 368 MB at 1M, 5M and 20M queries,
  benchmarks/bench_summary_memory.py, 2026-12-02; it was 394 / 549 / 1,674 MB while the
  draws were made up front) and ~2.3 us per query x strategy; no per-query bytes.

A rate-limited run draws the whole run up front (its admissions are decided from every
query's tokens, simlib.engine.rate_limits.ArrayAdmissions), so in summary mode it adds
the draws' ~200 B per query and ~81 B per query x strategy of admissions (arithmetic,
not measured). A scenario only the simpy backend runs (sessions, hourly-scaled dedicated replicas) is
estimated as a simpy run even when ``engine="auto"``: ``engine.run`` passes that on.

memory_bytes = per_query_strategy_B x queries x strategies (x replications when full
records are kept) + per_query_B x queries + fixed (summary: 300 MB) + 150 MB of libraries. The limit is
``SIMLIB_MEMORY_LIMIT_GIB`` (an environment setting; default 20 GiB, for a 24 GiB
machine with room for the system), and never more than 85% of this machine's RAM.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from simlib.errors import Problem, ScenarioError

BASE_BYTES = 150 * 1024**2
PER_QUERY_STRATEGY_BYTES = {"simpy": 1000, "full": 160, "summary": 0}
PER_QUERY_BYTES = {"simpy": 200, "full": 200, "summary": 0}
FIXED_BYTES = {"simpy": 0, "full": 0, "summary": 300 * 1024**2}
PER_QUERY_STRATEGY_S = {"simpy": 80e-6, "full": 4e-6, "summary": 2.3e-6}
# counted input + output tokens (2 x 8), the retry heap's 4 columns (4 x 8), the carried
# model-stage fields (req, prompt, chunks, retrieval wait: 4 x 8; truncated: 1)
RATE_LIMITED_PER_QUERY_STRATEGY_BYTES = 81
DEFAULT_LIMIT_GIB = 20.0


def memory_limit_bytes() -> int:
    """The memory a run may use: SIMLIB_MEMORY_LIMIT_GIB (GiB, default 20)."""
    text = os.environ.get("SIMLIB_MEMORY_LIMIT_GIB")
    try:
        gib = float(text) if text else DEFAULT_LIMIT_GIB
    except ValueError:
        raise ScenarioError([Problem("SIMLIB_MEMORY_LIMIT_GIB", f"expected a number of GiB, got {text!r}")]) from None
    limit = int(gib * 1024**3)
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 0
    return min(limit, int(0.85 * ram)) if ram > 0 else limit


@dataclass(frozen=True)
class Estimate:
    memory_bytes: int
    time_s: float
    mode: str  # simpy, full or summary


def estimate(scenario, *, engine: str = "auto", records: str = "auto", replications: int | None = None) -> Estimate:
    """Memory and time of a run (see the module docstring for the figures)."""
    sim = scenario.simulation
    n, s = sim.queries, len(sim.strategies)
    reps = sim.replications if replications is None else replications
    if engine == "simpy":
        mode = "simpy"
    elif records == "full":
        mode = "full"
    elif records == "summary":
        mode = "summary"
    else:  # auto: full records up to 256 MiB, else streaming summaries (engine.array_backend)
        mode = "full" if n * s * PER_QUERY_STRATEGY_BYTES["full"] <= 256 * 1024**2 else "summary"
    kept = reps if mode in ("full", "simpy") else 1
    memory = BASE_BYTES + FIXED_BYTES[mode] + PER_QUERY_STRATEGY_BYTES[mode] * n * s * kept + PER_QUERY_BYTES[mode] * n
    if mode == "summary" and scenario.rate_limits.enabled:  # drawn whole, not a chunk at a time
        memory += PER_QUERY_BYTES["full"] * n + RATE_LIMITED_PER_QUERY_STRATEGY_BYTES * n * s
    return Estimate(memory_bytes=int(memory), time_s=PER_QUERY_STRATEGY_S[mode] * n * s * reps, mode=mode)


def check_fits(scenario, *, engine: str = "auto", records: str = "auto", replications: int | None = None) -> Estimate:
    """The estimate, or a ScenarioError saying what would not fit and what to change."""
    est = estimate(scenario, engine=engine, records=records, replications=replications)
    limit = memory_limit_bytes()
    if est.memory_bytes > limit:
        hint = ("use the fast kernel (--engine fast)" if est.mode == "simpy" else
                "use --records summary (streaming summaries)" if est.mode == "full" else
                "simulate fewer queries (more replications of fewer queries give the same interval)")
        raise ScenarioError([Problem("simulation.queries", (
            f"a run of {scenario.simulation.queries:,} queries x {len(scenario.simulation.strategies)} strategies "
            f"({est.mode}) needs ~{est.memory_bytes / 1024**3:,.1f} GiB and ~{est.time_s / 60:,.0f} min, over the "
            f"{limit / 1024**3:g} GiB limit (SIMLIB_MEMORY_LIMIT_GIB); {hint}"))])
    return est
