"""The simpy backend, the engine of record: one replication in one simpy environment.

For a replication: draw every random input (common random numbers), build the knowledge
world and one serving path per feasible strategy, run the simpy environment until every
query is done, then turn each path's outcomes into records (``engine.records``). The
processes are named after the actors (``knowledge_changes``, ``periodic_snapshots``,
``source``, the query process in ``serving.py``). ``engine.run.run`` calls this once per
replication; ``engine.array_backend`` computes the same records from arrays.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import simpy

from simlib.engine.budget import token_budget
from simlib.engine.costs import monthly_components
from simlib.engine.draws import ChangeStream, draw_phases, draw_queries, streams
from simlib.engine.knowledge import KnowledgeWorld, history_start_s, periodic_processes
from simlib.engine.records import record_columns
from simlib.engine.serving import Finish, ServingPath, session_source, source
from simlib.engine.sessions import History, session_history
from simlib.engine.strategies import STRATEGIES
from simlib.results import RECORD_DTYPE, WARMUP, Replication, StrategyReplication
from simlib.scenario import DAYS_PER_MONTH, Scenario


def run_replication(scenario: Scenario, replication: int, feasible: dict[str, str | None],
                    progress: Callable[[int], None] | None = None) -> Replication:
    """One replication of every feasible strategy; ``progress(queries arrived)`` about 50 times."""
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
    for periodic in periodic_processes(scenario, names):
        env.process(world.periodic_snapshots(periodic))
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
    results = {name: _strategy_replication(scenario, path, draws, warmup_n, span) for name, path in paths.items()}
    timeline = {k: np.asarray(v) for k, v in world.timeline.items()}
    return Replication(index=replication, strategies=results, timeline=timeline, span_s=span)


def _strategy_replication(scenario: Scenario, path: ServingPath, draws, warmup_n: int,
                          span_s: float) -> StrategyReplication:
    """A serving path's outcomes as records (engine.records), with its monthly costs."""
    hit = path.cache_hit
    read, write = path.cache_read_tokens, path.cache_write_tokens  # per query: the chain's levels read and written
    built = record_columns(
        path.strategy, scenario, arrival_at_s=path.arrival_at_s, query_tokens=draws.query_tokens,
        output_tokens=draws.output_tokens, budget=path.budget, queue_wait_s=path.queue_wait_s, ttft_s=path.ttft_s,
        latency_s=path.latency_s, staleness_age_s=path.staleness_age_s, completed=path.completed,
        retrieved=path.retrieved, cache_hit=hit, cache_read_tokens=read, cache_write_tokens=write,
        retries=path.retries, failed=path.failed, offline=draws.offline,
        retrieves=None if path.history is None else path.history.retrieves,
    )
    rec = np.empty(draws.n, RECORD_DTYPE)
    for f in RECORD_DTYPE.names:
        rec[f] = built.columns[f]
    rec["flags"][:warmup_n] |= WARMUP
    cache_hours_month = 0.0
    if path.chain and span_s > 0 and path.prefix_tokens > 0:
        end = float(draws.arrival_at_s[-1])
        # each level's entry-seconds weighted by its share of the prefix (storage is priced per token-hour)
        alive_s = sum(state.close(end) * tokens / path.prefix_tokens for state, tokens in zip(path.chain, path.level_tokens))
        cache_hours_month = alive_s / 3600.0 * (DAYS_PER_MONTH * 86_400.0 / span_s)
    monthly = monthly_components(path.strategy, scenario, cache_entry_hours_per_month=cache_hours_month)
    return StrategyReplication(records=rec, monthly_components_usd=monthly, busy_s=path.busy_s, capacity=path.capacity,
                               prefix_hit_tokens=path.prefix_hit_tokens, cost_components_usd=built.cost_components(),
                               quality_factors=built.quality_factors(),
                               sessions=draws.sessions, history_tokens=None if path.history is None else path.history.tokens,
                               history_read_tokens=path.history_read_tokens)


def strategy_history(scenario: Scenario, strategy, draws) -> History | None:
    """The history each prompt of this strategy carries (None without sessions): its own, as chunks kept once
    per session (sessions.retrieval: per_session) are part of a retrieval strategy's history only."""
    if draws.sessions is None:
        return None
    chunks = scenario.retrieval.top_k * scenario.retrieval.chunk_tokens if strategy.uses_retrieval else 0
    return session_history(scenario, draws.sessions, draws.query_tokens, draws.output_tokens, chunks)
