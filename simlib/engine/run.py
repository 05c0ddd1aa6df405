"""Run a scenario: every strategy, every replication, on one of two backends.

    result = simlib.run(scenario)                  # or simlib.run(scenario, replications=5)
    result = simlib.run(scenario, engine="simpy")  # pin a backend: "simpy", "fast" or "auto"
    result.summary_table()                         # tidy metrics with 95% intervals
    result.records("rag")                          # per-query numpy records

The two backends compute the same per-query records from the same draws
(``tests/test_kernel.py``): ``engine.simpy_backend`` (the engine of record, one simpy
environment a replication) and ``engine.array_backend`` (arrays and a heap recursion,
28-84x faster, with streaming summaries for long runs). This module does what is not
time-ordered, once for both: feasibility, the replication loop, progress, notes, and the
fall-back from the array backend to simpy where it cannot follow.
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence

import numpy as np

from simlib.engine import array_backend, simpy_backend
from simlib.engine.budget import token_budget
from simlib.engine.strategies import STRATEGIES
from simlib.results import Replication, RunResult, StreamedRunResult
from simlib.scenario import SECONDS_PER_DAY, Scenario

Engine = Literal["auto", "simpy", "fast"]
ENGINES = ("auto", "simpy", "fast")
RecordsMode = Literal["auto", "full", "summary"]
RECORDS_MODES = ("auto", "full", "summary")


def feasibility(scenario: Scenario) -> dict[str, str | None]:
    """strategy -> None if it can run under the scenario, else the reason it cannot."""
    probe = np.array([int(round(scenario.workload.query_tokens_mean))])
    return {name: token_budget(STRATEGIES[name], scenario, probe).reason for name in scenario.simulation.strategies}


def run(scenario: Scenario, *, replications: int | None = None, progress: Callable[[int, int], None] | None = None,
        engine: Engine = "auto", records: RecordsMode = "auto",
        chunk_queries: int = array_backend.CHUNK_QUERIES) -> RunResult:
    """Simulate every strategy of the scenario.

    ``progress(done, total)``, if given, is called as queries arrive (counted over all
    replications), about fifty times a replication.

    ``engine`` names the backend: 'simpy' (``engine.simpy_backend``, the engine of
    record), 'fast' (``engine.array_backend``: the same per-query results from arrays and
    a heap recursion, tested equal on every preset and on random scenarios; it falls back
    to simpy, with a note, where it cannot follow), or 'auto' (the default: the array
    backend wherever it follows simpy, else simpy). ``result.engine`` says which ran.

    ``records`` applies to the array backend: 'full' keeps every per-query record;
    'summary' folds them into streaming aggregates (no per-query records kept but a
    sample; queries are drawn a chunk at a time, so memory does not grow with the run); 'auto' keeps full
    records up to 256 MiB. ``chunk_queries``: queries per chunk of the array backend.
    """
    reps = scenario.simulation.replications if replications is None else replications
    return run_replications(scenario, range(reps), progress=progress, engine=engine, records=records,
                            chunk_queries=chunk_queries)


def run_replications(scenario: Scenario, indices: Sequence[int], *, progress: Callable[[int, int], None] | None = None,
                     engine: Engine = "auto", records: RecordsMode = "auto",
                     chunk_queries: int = array_backend.CHUNK_QUERIES) -> RunResult:
    """``run`` for the replications numbered ``indices`` only (each is independent of the others:
    its random streams come from (seed, index)), e.g. one replication of a sweep or a search."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be 'auto', 'simpy' or 'fast', got {engine!r}")
    if records not in RECORDS_MODES:
        raise ValueError(f"records must be 'auto', 'full' or 'summary', got {records!r}")
    from simlib.resources import check_fits

    indices = list(indices)
    gap = array_backend.kernel_gap(scenario) if engine != "simpy" else None
    # refuse before allocating (a scenario the array backend hands over is sized as the simpy run it becomes)
    check_fits(scenario, engine="simpy" if gap is not None else engine, records=records, replications=len(indices))
    if engine != "simpy":
        if gap is None:
            result = _run_array(scenario, indices, progress, records, chunk_queries)
            if not isinstance(result, str):
                return result
            gap = result
        return _fall_back(scenario, indices, progress, gap)
    return _run_simpy(scenario, indices, progress)


def simpy_only_reason(scenario: Scenario) -> str | None:
    """Why ``engine="auto"`` would run ``scenario`` on the simpy backend (e.g. sessions, dedicated
    serving), or None when the array backend follows it. Front ends size their runs by it: the
    simpy backend is ~20-50x slower per query."""
    return array_backend.kernel_gap(scenario)


def _steps(indices: list[int], n: int, progress: Callable[[int, int], None] | None):
    """Per replication, its progress callback (queries done so far in it) or None."""
    total = len(indices) * n
    for k, r in enumerate(indices):
        yield r, (None if progress is None else (lambda done, k=k: progress(k * n + done, total)))


def _run_simpy(scenario: Scenario, indices: list[int], progress) -> RunResult:
    feasible = feasibility(scenario)
    n = scenario.simulation.queries
    out = [simpy_backend.run_replication(scenario, r, feasible, step) for r, step in _steps(indices, n, progress)]
    if progress is not None:
        progress(len(indices) * n, len(indices) * n)
    return RunResult(scenario=scenario, replications=out, feasibility=feasible, engine="simpy",
                     notes=_notes(scenario, out, feasible))


def _run_array(scenario: Scenario, indices: list[int], progress, records: RecordsMode,
               chunk_queries: int) -> RunResult | str:
    """The array backend's run, or the reason it cannot follow the draws (a str)."""
    mode = array_backend.records_mode(scenario, records, len(indices))
    feasible = feasibility(scenario)
    n = scenario.simulation.queries
    out, metrics, batches, extra = [], [], {}, []
    for k, (r, step) in enumerate(_steps(indices, n, progress)):
        rep = array_backend.run_replication(scenario, r, feasible, progress=step, records=mode,
                                            chunk_queries=chunk_queries)
        if isinstance(rep, str):  # the array backend cannot follow: the engine of record runs it all
            return rep
        replication, rep_metrics, rep_batches, rep_notes = rep
        out.append(replication)
        metrics.append(rep_metrics)
        if k == 0:
            batches, extra = rep_batches, rep_notes
    if progress is not None:
        progress(len(indices) * n, len(indices) * n)
    notes = _notes(scenario, out, feasible) + extra
    if mode == "full":
        return RunResult(scenario=scenario, replications=out, feasibility=feasible, engine="fast", notes=notes)
    return StreamedRunResult(scenario=scenario, replications=out, feasibility=feasible, engine="fast", notes=notes,
                             _metrics=metrics, batches=batches)


def _fall_back(scenario: Scenario, indices: list[int], progress, reason: str) -> RunResult:
    from simlib.resources import check_fits

    check_fits(scenario, engine="simpy", replications=len(indices))
    result = _run_simpy(scenario, indices, progress)
    result.notes.append(f"engine: simpy (the fast kernel cannot follow this scenario: {reason})")
    return result


def _notes(scenario: Scenario, reps: list[Replication], feasible: dict[str, str | None]) -> list[str]:
    """Warnings a user should see beside the numbers."""
    notes = []
    for name, reason in feasible.items():
        if reason:
            notes.append(f"{name} is infeasible: {reason}")
    if scenario.workload.arrival_process == "trace":
        from simlib.traces import rate_note

        note = rate_note(scenario)
        if note:
            notes.append(note)
    from simlib.engine.injection import shared_model_lacks_tenant_facts

    tuned = [n for n in scenario.simulation.strategies if STRATEGIES[n].fine_tuned and not feasible.get(n)]
    if tuned and shared_model_lacks_tenant_facts(scenario):
        notes.append(
            f"{', '.join(tuned)}: tenants' knowledge is private, so one shared fine-tuned model cannot hold their facts "
            "(it would answer one tenant with another's data); its knowledge on tenant facts is the base model's prior. "
            "Set fine_tuning.adapters: per_tenant for one adapter per tenant."
        )
    from simlib.engine.cache import warm_share

    overflow = scenario.prompt_cache.overflow_requests_per_minute
    key_rate_per_s = scenario.workload.queries_per_day / SECONDS_PER_DAY  # the one global routing key, daily mean
    spill_share = 1.0 - float(warm_share(overflow, key_rate_per_s))
    if spill_share > 0:
        notes.append(
            f"best-effort cache (OpenAI): {key_rate_per_s * 60:,.1f} requests/min share one prefix key, above the "
            f"{overflow:g}/min one machine takes, so about {spill_share:.0%} of requests spill "
            "to other machines and are counted as misses (a pessimistic bound: spill machines warming up are not "
            "modelled; prompt_cache.overflow_requests_per_minute: null gives the other bound, no spill)"
        )
    if tuned and scenario.fine_tuning.synthetic_data_share > 0 and not scenario.fine_tuning.training_work_via_batch_api:
        notes.append("fine-tuning data preparation and evaluation are priced at full per-token prices, not the batch API's "
                     "(fine_tuning.training_work_via_batch_api: false)")
    notes += input_notes(scenario, reps)
    notes += autoscaling_notes(scenario, reps)
    from simlib.engine.quality import measured_quality_notes

    notes += measured_quality_notes(scenario, [n for n in scenario.simulation.strategies if not feasible.get(n)])
    from simlib.results import saturation

    for name in reps[0].strategies:
        sat = saturation(scenario, name, reps)
        if sat["saturated"]:
            stage = sat["saturated_stage"]
            util = sat["peak_hour_utilisation"][stage]
            if stage == "rate_limits":
                notes.append(
                    f"{name}: the rate limits cannot carry the busiest hour (offered / sustained capacity {util:.2f}, "
                    "min(RPM, ITPM / counted input, OTPM / output)); requests get 429s and fail after their last retry "
                    "(failed_share), so its costs count only what was served, and it cannot be the verdict"
                )
                continue
            if stage == "dedicated_replicas":
                sv = scenario.serving
                # full-batch capacity scales with the replicas: r x util replicas carry the peak at utilisation 1
                if sv.replicas_count is not None:
                    fix = (f"; raise serving.replicas_count ({sv.replicas_count}) above "
                           f"{sv.replicas_count * util:,.1f} (its count x the utilisation), or unset it to size "
                           "the replicas to serving.p95_target_s")
                else:  # sized, yet saturated: the sizing's load (budget.token_budget's prompt) is lighter than the run's
                    from simlib.engine.dedicated import replicas_for
                    from simlib.engine.strategies import STRATEGIES as _STRATEGIES

                    r = replicas_for(scenario, _STRATEGIES[name])
                    fix = (f"; the {r} replica(s) sized to serving.p95_target_s were sized on a lighter load than "
                           "the run's (the strategy's prompt at the mean query length, without session history); "
                           f"set serving.replicas_count above {r * util:,.1f}")
                notes.append(
                    f"{name}: the dedicated replicas are saturated at the busiest hour (peak-hour utilisation "
                    f"{util:.2f}); their queue grows while the peak lasts, so its latency figures are not "
                    f"steady-state, and it cannot be the verdict{fix}")
                continue
            notes.append(
                f"{name}: the {stage} stage is saturated at the busiest hour (peak-hour "
                f"utilisation {util:.2f}); its queue grows while the peak lasts, so its latency figures are "
                "not steady-state, and it cannot be the verdict"
            )
    return notes


def autoscaling_notes(scenario: Scenario, reps: list[Replication]) -> list[str]:
    """With hourly autoscaling, which hours of the day the run's arrivals cover (when less than a day).

    The bill is the whole day's schedule; the latencies come from the hours the arrivals reach
    (a short run from midnight sees only the night's replicas and none of the day's scale-ups).
    """
    from simlib.engine.strategies import STRATEGIES

    sv = scenario.serving
    if sv.autoscaling != "hourly" or not reps:
        return []
    dedicated = [n for n in reps[0].strategies if sv.dedicated(STRATEGIES[n].fine_tuned)]
    if not dedicated or reps[0].strategies[dedicated[0]].records.size == 0:
        return []
    t = reps[0].strategies[dedicated[0]].records["arrival_at_s"].astype(float)
    first, last = float(t.min()), float(t.max())
    if last - first >= 86_400.0:
        return []
    return [f"hourly autoscaling: the run's arrivals cover hours {int(first // 3_600) % 24}-{int(last // 3_600) % 24} "
            f"of the day ({(last - first) / 3_600:.1f} h of arrivals from midnight), so the dedicated latencies and "
            "utilisation are those hours' replicas and scale-ups; the GPU bill is the whole day's schedule "
            "(more simulation.queries reach the busy hours)"]


MIN_MEASURED_QUERIES = 100  # fewer measured queries per replication: percentiles and shares are noise


def input_notes(scenario: Scenario, reps: list[Replication]) -> list[str]:
    """Notes on inputs that would otherwise give a silently misleading number (issue 13)."""
    notes = []
    sim, k, r = scenario.simulation, scenario.knowledge, scenario.retrieval
    measured = sim.queries - int(sim.warmup_share * sim.queries)
    if measured < MIN_MEASURED_QUERIES:
        notes.append(
            f"too few queries: {measured} measured per replication (simulation.queries {sim.queries:,} x "
            f"(1 - warmup_share {sim.warmup_share:g})); percentiles and shares from fewer than "
            f"{MIN_MEASURED_QUERIES} queries are not meaningful"
        )
    chunks = k.facts_count * k.chunks_per_fact // max(1, scenario.workload.tenants_count)
    uses_retrieval = any(n in sim.strategies for n in ("rag", "rag_fine_tune", "rag_prompt_cache"))
    if uses_retrieval and r.top_k > chunks:
        notes.append(
            f"retrieval.top_k ({r.top_k}) is more than the {chunks:,} chunk(s) a tenant's knowledge base holds "
            "(facts_count x chunks_per_fact / tenants_count); the prompt is billed for top_k chunks"
        )
    return notes
