"""Run a scenario: every strategy, every replication, in one simpy environment each.

    result = simlib.run(scenario)            # or simlib.run(scenario, replications=5)
    result.summary_table()                   # tidy metrics with 95% intervals
    result.records("rag")                    # per-query numpy records

For each replication: draw every random input (common random numbers), build the
knowledge world and one serving path per feasible strategy, run the simpy environment
until every query is done, then turn each path's outputs into compact records.
"""

from __future__ import annotations

from typing import Callable, Literal

import numpy as np
import simpy

from simlib.engine.budget import token_budget
from simlib.engine.costs import monthly_components, per_query_costs
from simlib.engine.draws import ChangeStream, QueryDraws, draw_phases, draw_queries, streams
from simlib.engine.knowledge import KnowledgeWorld, history_start_s
from simlib.engine.quality import quality_factors
from simlib.engine.serving import Finish, ServingPath, session_source, source
from simlib.engine.sessions import History, session_history
from simlib.engine.strategies import STRATEGIES
from simlib.results import (
    CACHE_HIT, CITABLE, COMPLETED, FRESH, RECORD_DTYPE, REJECTED, RETRIEVED, TRUNCATED, WARMUP,
    Replication, RunResult, StrategyReplication,
)
from simlib.scenario import DAYS_PER_MONTH, Scenario


def feasibility(scenario: Scenario) -> dict[str, str | None]:
    """strategy -> None if it can run under the scenario, else the reason it cannot."""
    probe = np.array([int(round(scenario.workload.query_tokens_mean))])
    return {name: token_budget(STRATEGIES[name], scenario, probe).reason for name in scenario.simulation.strategies}


def run(scenario: Scenario, *, replications: int | None = None, progress: Callable[[int, int], None] | None = None,
        engine: Literal["auto", "simpy", "fast"] = "auto", records: Literal["auto", "full", "summary"] = "auto") -> RunResult:
    """Simulate every strategy of the scenario.

    ``progress(done, total)``, if given, is called as queries arrive (counted over all
    replications), about fifty times a replication.

    ``engine``: 'simpy' (this module, the engine of record), 'fast' (``simlib.kernel``: the
    same per-query results from arrays and a heap recursion, tested equal on every preset
    and on random scenarios; it falls back to simpy, with a note, where it cannot follow),
    or 'auto' (the default: the fast kernel wherever it follows simpy, else simpy).
    ``records`` applies to the fast
    kernel: 'full' per-query records, 'summary' streaming aggregates (no per-query records kept; the replication's draws, ~80 B per query, still are)
    (with a sample of records), 'auto' full up to 256 MiB of records.
    """
    if engine not in ("auto", "simpy", "fast"):
        raise ValueError(f"engine must be 'auto', 'simpy' or 'fast', got {engine!r}")
    if records not in ("auto", "full", "summary"):
        raise ValueError(f"records must be 'auto', 'full' or 'summary', got {records!r}")
    from simlib.resources import check_fits

    check_fits(scenario, engine=engine, records=records, replications=replications)  # refuse before allocating
    if engine != "simpy":
        from simlib.kernel import run_fast

        return run_fast(scenario, replications=replications, progress=progress, records=records)
    reps = scenario.simulation.replications if replications is None else replications
    feasible = feasibility(scenario)
    n = scenario.simulation.queries
    out = []
    for r in range(reps):
        step = None if progress is None else (lambda done, r=r: progress(r * n + done, reps * n))
        out.append(run_replication(scenario, r, feasible, step))
    if progress is not None:
        progress(reps * n, reps * n)
    notes = _notes(scenario, out, feasible)
    return RunResult(scenario=scenario, replications=out, feasibility=feasible, engine="simpy", notes=notes)


def run_replication(scenario: Scenario, replication: int, feasible: dict[str, str | None],
                    progress: Callable[[int], None] | None = None) -> Replication:
    rng = streams(scenario.simulation.seed, replication)
    draws = draw_queries(scenario, rng)
    phases = draw_phases(scenario, rng["phases"])
    changes = ChangeStream(scenario, rng["changes"], history_start_s(scenario, phases))
    env = simpy.Environment()
    world = KnowledgeWorld(env, scenario, changes, phases)
    names = [n for n in scenario.simulation.strategies if feasible[n] is None]
    finish = Finish(env, draws.n * len(names))
    paths = {}
    for name in names:
        strategy = STRATEGIES[name]
        history = strategy_history(scenario, strategy, draws)
        budget = token_budget(strategy, scenario, draws.query_tokens,
                              *((history.tokens, history.retrieves) if history is not None else ()))
        paths[name] = ServingPath(env, world, strategy, scenario, draws, budget, finish, history)
    if scenario.knowledge.changes_per_day > 0:
        env.process(world.knowledge_changes())
    _start_periodic(env, world, scenario, names)
    if draws.sessions is not None:
        env.process(session_source(env, draws, list(paths.values())))
    else:
        env.process(source(env, draws.arrival_at_s.tolist(), list(paths.values())))
    if progress is not None:
        # run in steps of arrivals so a long run reports how far it got
        for i in np.linspace(0, draws.n - 1, 51).astype(int)[1:]:
            if draws.arrival_at_s[i] > env.now:
                env.run(until=float(draws.arrival_at_s[i]))
            progress(int(i))
    env.run(until=finish.event)
    span = float(draws.arrival_at_s[-1] - draws.arrival_at_s[0]) if draws.n > 1 else 0.0
    warmup_n = int(scenario.simulation.warmup_share * draws.n)
    results = {name: _records(scenario, path, draws, warmup_n, span) for name, path in paths.items()}
    timeline = {k: np.asarray(v) for k, v in world.timeline.items()}
    return Replication(index=replication, strategies=results, timeline=timeline, span_s=span)


def strategy_history(scenario: Scenario, strategy, draws: QueryDraws) -> History | None:
    """The history each prompt of this strategy carries (None without sessions): its own, as chunks kept once
    per session (sessions.retrieval: per_session) are part of a retrieval strategy's history only."""
    if draws.sessions is None:
        return None
    chunks = scenario.retrieval.top_k * scenario.retrieval.chunk_tokens if strategy.uses_retrieval else 0
    return session_history(scenario, draws.sessions, draws.query_tokens, draws.output_tokens, chunks)


def _start_periodic(env: simpy.Environment, world: KnowledgeWorld, scenario: Scenario, names: list[str]) -> None:
    strategies = [STRATEGIES[n] for n in names]
    if scenario.knowledge.index_refresh == "batch" and any(s.uses_retrieval for s in strategies):
        env.process(world.periodic_snapshots("reindex"))
    if any(s.fine_tuned for s in strategies):
        env.process(world.periodic_snapshots("retrain"))
    if scenario.prompt_cache.rebuild_policy == "periodic" and any(s.cached_prefix == "knowledge" for s in strategies):
        env.process(world.periodic_snapshots("cache_rebuild"))


def _records(scenario: Scenario, path: ServingPath, draws: QueryDraws, warmup_n: int, span_s: float) -> StrategyReplication:
    """Turn a serving path's outputs into compact records, with costs and quality."""
    strategy, budget = path.strategy, path.budget
    n = draws.n
    rec = np.zeros(n, RECORD_DTYPE)
    done = path.completed
    hit, miss = path.cache_hit, path.cache_miss
    read = np.where(hit, path.hit_tokens, 0)
    write = np.where(miss, path.hit_tokens, 0)
    if path.cache_read_tokens is not None:  # trace prefix blocks: tokens vary per query (serving.py)
        read, write = path.cache_read_tokens, path.cache_write_tokens
    fresh = done & np.isnan(path.staleness_age_s) & (strategy.knowledge_source != "none")
    retrieved = path.retrieved & done
    comps = per_query_costs(
        strategy, scenario, prompt_tokens=budget.prompt_tokens, cache_read_tokens=read, cache_write_tokens=write,
        output_tokens=draws.output_tokens, query_tokens=draws.query_tokens, sent=done,
        retrieves=None if path.history is None else path.history.retrieves,
    )
    q = quality_factors(strategy, scenario, fresh=fresh, retrieved=retrieved, chunks=budget.chunks_used)
    rec["arrival_at_s"] = path.arrival_at_s
    rec["queue_wait_s"] = path.queue_wait_s
    rec["ttft_s"] = path.ttft_s
    rec["latency_s"] = path.latency_s
    rec["cost_usd"] = sum(comps.values())
    rec["staleness_age_s"] = path.staleness_age_s
    rec["quality"] = np.where(done, q["knowledge"] * q["use"] * q["behaviour"], np.nan)
    rec["prompt_tokens"] = budget.prompt_tokens
    rec["cache_read_tokens"] = read
    rec["cache_write_tokens"] = write
    rec["query_tokens"] = draws.query_tokens
    rec["output_tokens"] = np.where(done, draws.output_tokens, 0)
    rec["chunks_used"] = np.minimum(budget.chunks_used, 255)
    flags = np.zeros(n, np.uint8)
    flags |= np.where(done, COMPLETED, 0).astype(np.uint8)
    flags |= np.where(budget.rejected, REJECTED, 0).astype(np.uint8)
    flags |= np.where(fresh, FRESH, 0).astype(np.uint8)
    flags |= np.where(retrieved, RETRIEVED, 0).astype(np.uint8)
    flags |= np.where(budget.truncated, TRUNCATED, 0).astype(np.uint8)
    flags |= np.where(hit, CACHE_HIT, 0).astype(np.uint8)
    flags |= np.where(q["citable"] & done, CITABLE, 0).astype(np.uint8)
    flags[:warmup_n] |= WARMUP
    rec["flags"] = flags
    cache_hours_month = 0.0
    if path.cache is not None and span_s > 0:
        end = float(draws.arrival_at_s[-1])
        cache_hours_month = path.cache.close(end) / 3600.0 * (DAYS_PER_MONTH * 86_400.0 / span_s)
    monthly = monthly_components(strategy, scenario, cache_entry_hours_per_month=cache_hours_month)
    return StrategyReplication(records=rec, monthly_components_usd=monthly, busy_s=path.busy_s, capacity=path.capacity,
                               prefix_hit_tokens=path.prefix_hit_tokens, sessions=draws.sessions,
                               history_tokens=None if path.history is None else path.history.tokens,
                               history_read_tokens=path.history_read_tokens)


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
    if tuned and scenario.fine_tuning.synthetic_data_share > 0:
        notes.append("fine-tuning data preparation is priced at the base model's full per-token prices (no batch price is modelled)")
    notes += input_notes(scenario, reps)
    from simlib.engine.quality import measured_quality_notes

    notes += measured_quality_notes(scenario, [n for n in scenario.simulation.strategies if not feasible.get(n)])
    from simlib.results import saturation

    for name in reps[0].strategies:
        sat = saturation(scenario, name, reps)
        if sat["saturated"]:
            util = sat["peak_hour_utilisation"][sat["saturated_stage"]]
            notes.append(
                f"{name}: the {sat['saturated_stage']} stage is saturated at the busiest hour (peak-hour "
                f"utilisation {util:.2f}); its queue grows while the peak lasts, so its latency figures are "
                "not steady-state, and it cannot be the verdict"
            )
    return notes


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
