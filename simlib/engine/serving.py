"""A strategy's serving path: the query process (MODEL.md, A query's life).

    arrival -> [retrieval: embed, search, rerank; FIFO behind retrieval.concurrency_limit]
            -> wait for a model slot (FIFO, model.concurrency_limit)
            -> prefill (uncached tokens / prefill rate + cached tokens / cached rate)
            -> decode (output tokens / decode rate) -> done (+ network round trip)

    time to first token = waits + retrieval + network round trip + prefill
    latency             = time to first token + decode

The model slot is held for prefill + decode (the service time S). With
``service_time_distribution: exponential`` S is scaled by an Exp(1) draw per query (same
mean), which makes the model stage an M/M/c queue for the tests.

Each strategy has its own serving path (its own retrieval workers, model slots and
prompt cache) inside the one simpy environment shared with the knowledge world.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from simlib.engine.budget import Budget, recall_at_k
from simlib.engine.cache import PromptCacheState, cached_tokens_on_hit
from simlib.engine.draws import QueryDraws
from simlib.engine.knowledge import KnowledgeWorld
from simlib.engine.strategies import Strategy
from simlib.scenario import Scenario


class Finish:
    """Counts finished queries; its event fires when every one is done."""

    def __init__(self, env: simpy.Environment, total: int):
        self.remaining = total
        self.event = env.event()
        if total == 0:
            self.event.succeed()

    def done(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.event.succeed()


class ServingPath:
    """One strategy's retrieval workers, model slots, prompt cache and per-query outputs."""

    def __init__(self, env: simpy.Environment, world: KnowledgeWorld, strategy: Strategy, scenario: Scenario,
                 draws: QueryDraws, budget: Budget, finish: Finish):
        self.env, self.world, self.strategy, self.finish = env, world, strategy, finish
        n = draws.n
        m, ft, pc = scenario.model, scenario.fine_tuning, scenario.prompt_cache
        self.retrieval = simpy.Resource(env, scenario.retrieval.concurrency_limit) if strategy.uses_retrieval else None
        slots = ft.concurrency_limit if strategy.fine_tuned else m.concurrency_limit
        self.slots = simpy.Resource(env, slots)
        self.capacity = slots
        prefill = ft.prefill_tokens_per_s if strategy.fine_tuned else m.prefill_tokens_per_s
        decode = ft.decode_tokens_per_s if strategy.fine_tuned else m.decode_tokens_per_s
        self.rtt_s = ft.network_rtt_s if strategy.fine_tuned else m.network_rtt_s

        self.budget = budget
        self.retrieved = draws.retrieval_u < recall_at_k(scenario, budget.chunks_used)
        prefix = strategy.cached_prefix_tokens(scenario)
        self.hit_tokens = cached_tokens_on_hit(prefix, pc.mode, pc.min_cacheable_tokens, pc.increment_tokens)
        self.cache = PromptCacheState(pc.ttl_s) if (strategy.uses_cache and self.hit_tokens > 0) else None
        prompt = budget.prompt_tokens.astype(float)
        self.prefill_miss_s = (prompt / prefill * draws.service_scale).tolist()
        self.prefill_hit_s = (((prompt - self.hit_tokens) / prefill + self.hit_tokens / m.cached_prefill_tokens_per_s)
                              * draws.service_scale).tolist()
        self.decode_s = (draws.output_tokens / decode * draws.service_scale).tolist()
        self.retrieval_s = draws.retrieval_s.tolist()
        self.fact = draws.fact.tolist()
        tenant = draws.tenant(scenario.workload.tenants_count)
        if strategy.cached_prefix == "instructions" and pc.prefix_scope == "global":
            tenant = np.zeros(n, np.int64)
        self.cache_key = tenant.tolist()
        self.on_change = pc.rebuild_policy == "on_change"
        self.rejected = budget.rejected.tolist()
        self.retrieved_list = self.retrieved.tolist()

        # per-query outputs
        self.queue_wait_s = np.full(n, np.nan)
        self.ttft_s = np.full(n, np.nan)
        self.latency_s = np.full(n, np.nan)
        self.staleness_age_s = np.full(n, np.nan)
        self.cache_hit = np.zeros(n, bool)
        self.cache_miss = np.zeros(n, bool)  # a cacheable request that wrote the entry
        self.completed = np.zeros(n, bool)
        self.busy_s = 0.0  # model-slot seconds (for utilisation)

    def query(self, i: int):
        """Process: one query through retrieval and the model stage."""
        env, world, src = self.env, self.world, self.strategy.knowledge_source
        arrival = env.now
        if self.rejected[i]:
            self.finish.done()
            return
        wait = 0.0
        if self.retrieval is not None:
            with self.retrieval.request() as req:
                yield req
                wait = env.now - arrival
                yield env.timeout(self.retrieval_s[i])
        fact = self.fact[i]
        age = math.nan
        if src == "index" or (src == "index_then_weights" and self.retrieved_list[i]):
            age = world.staleness_age_s(fact, world.index_snapshot_at_s())
        requested = env.now
        with self.slots.request() as req:
            yield req
            start = env.now
            wait += start - requested
            if src == "weights" or (src == "index_then_weights" and not self.retrieved_list[i]):
                age = world.staleness_age_s(fact, world.snapshot_at_s["retrain"])
            elif src == "prefix" and not self.on_change:
                age = world.staleness_age_s(fact, world.snapshot_at_s["cache_rebuild"])
            prefill = self.prefill_miss_s[i]
            if self.cache is not None:
                key = self.cache_key[i]
                if src == "prefix":
                    version = world.tenant_changes[key] if self.on_change else world.cache_rebuilds
                else:
                    version = 0
                if self.cache.access(key, version, start):
                    self.cache_hit[i] = True
                    prefill = self.prefill_hit_s[i]
                else:
                    self.cache_miss[i] = True
            service = prefill + self.decode_s[i]
            self.busy_s += service
            yield env.timeout(service)
        self.queue_wait_s[i] = wait
        self.ttft_s[i] = start - arrival + self.rtt_s + prefill
        self.latency_s[i] = start - arrival + self.rtt_s + service
        self.staleness_age_s[i] = age
        self.completed[i] = True
        self.finish.done()


def source(env: simpy.Environment, arrival_at_s: list[float], paths: list[ServingPath]):
    """Process: queries arrive at their drawn times; each strategy serves its own copy."""
    for i, t in enumerate(arrival_at_s):
        if t > env.now:
            yield env.timeout(t - env.now)
        for path in paths:
            env.process(path.query(i))
