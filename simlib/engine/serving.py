"""A strategy's serving path: the query process (docs/model.md, A query's life).

    arrival -> [retrieval: embed, search, rerank; FIFO behind retrieval.concurrency_limit]
            -> [rate limits: a 429 waits the retry policy's backoff, the last one fails the query]
            -> wait for a model slot (FIFO, model.concurrency_limit; replicas x max_batch on dedicated GPUs)
            -> prefill (uncached tokens / prefill rate + cached tokens / cached rate)
            -> decode (output tokens / decode rate) -> done (+ network round trip)

    time to first token = waits + retrieval + network round trip + prefill
    latency             = time to first token + decode

The model slot is held for prefill + decode (the service time S). With
``service_time_distribution: exponential`` S is scaled by an Exp(1) draw per query (same
mean), which makes the model stage an M/M/c queue for the tests.

Rate limits (simlib.engine.rate_limits.RateLimiter, from the scenario's rate_limits group):
the request is tried against the buckets when it reaches the model stage; a 429 waits
max(retry-after, backoff x (1 + jitter u)) and tries again, and after max_retries retries
it fails (counted, never served). The wait counts as queue wait.

Dedicated serving (simlib.engine.dedicated, serving group): the model stage has replicas x
max_batch slots; a request joins the replica with the fewest streams, b = its streams with
it, and is served in prompt / p(b) + output / d(b) (the roofline batching curve, fixed at
admission; the cached-prefill rates do not apply on our GPUs). With hourly autoscaling
(serving.autoscaling 'hourly') the slots are a :class:`ReplicaPool` whose replicas follow the
day's schedule (engine.dedicated.replica_schedule), a scale-up serving cold_start_s after
its hour starts.

Offline queries (workload.offline_share) go through the batch API: no live stage at all;
their knowledge is read at arrival and they are answered within the completion window.

Each strategy has its own serving path (its own retrieval workers, model slots and
prompt cache) inside the one simpy environment shared with the knowledge world.

Trace replay with prefix block hashes (docs/traces.md): a cache strategy's prompt is laid
out as [P: its cached prefix, p tokens][the trace's user-side prompt, x tokens in blocks
of B = 512][retrieved chunks], so the user-side prompt can be cached behind P. With k
leading blocks still alive behind a live P (``PrefixBlockCache``):

    cached read = c(p + min(B k, x))         (0 if P itself missed)
    cache write = c(p + x) - cached read      (the rest is written for the next turn)
    prefill     = (prompt - read) / prefill rate + read / cached prefill rate

where c(.) applies the provider's minimum cacheable length and increments
(``cached_tokens_on_hit``). A request is a hit when it reads any cached tokens.
Without block hashes nothing changes: a hit reads P, a miss writes P.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import simpy

from simlib.engine.budget import Budget, recall_at_k
from simlib.engine.cache import PrefixBlockCache, PromptCacheState, cached_tokens_on_hit, chain_read_tokens, spilled_requests
from simlib.engine.draws import QueryDraws
from simlib.engine.knowledge import KnowledgeWorld
from simlib.engine.sessions import History, session_turns
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


class ReplicaRequest(simpy.Event):
    """A request for a stream slot of a :class:`ReplicaPool`; ``with`` releases it, as a simpy Request."""

    def __init__(self, pool: "ReplicaPool"):
        super().__init__(pool.env)
        self.pool = pool
        self.replica: int | None = None  # the replica it joined (set when granted)
        self.streams = 0  # b: that replica's streams with it, at admission

    def __enter__(self) -> "ReplicaRequest":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.release(self)


class ReplicaPool:
    """Stream slots on dedicated replicas whose count follows an hourly schedule (serving.autoscaling 'hourly').

    FIFO, as the fixed stage's simpy.Resource: a request is granted when a serving replica has
    a free slot (of max_batch) and no earlier request waits, and joins the serving replica with
    the fewest streams (the first in start order on a tie); b = its streams with it. At each
    hour boundary t = k x 3,600 s the count becomes schedule[k mod 24]:

    - scale-up: the new replicas serve from t + cold_start_s (billed from t, engine.dedicated);
    - scale-down: replicas still starting are cancelled first (the latest first), then the
      serving ones with the fewest streams stop admitting; their in-flight streams finish
      there (the drain, at most one service time, is not billed).

    The run starts at t = 0 (midnight, as the arrivals) with schedule[0] replicas serving.
    """

    def __init__(self, env: simpy.Environment, schedule, max_batch: int, cold_start_s: float):
        self.env, self.schedule = env, tuple(int(r) for r in schedule)
        self.max_batch, self.cold_start_s = max_batch, cold_start_s
        self.streams: list[int] = []   # streams in flight, per replica ever started
        self.serving: list[int] = []   # replicas admitting, in start order
        self.starting: list[int] = []  # replicas requested at a boundary, not serving yet
        self.waiting: deque[ReplicaRequest] = deque()
        self.serving = [self._new() for _ in range(self.schedule[0])]
        env.process(self._scale())

    def _new(self) -> int:
        self.streams.append(0)
        return len(self.streams) - 1

    def request(self) -> ReplicaRequest:
        req = ReplicaRequest(self)
        self.waiting.append(req)
        self._dispatch()
        return req

    def release(self, req: ReplicaRequest) -> None:
        if req.replica is None:  # never granted (its process ended while it waited)
            if req in self.waiting:
                self.waiting.remove(req)
            return
        self.streams[req.replica] -= 1
        req.replica = None
        self._dispatch()

    def _dispatch(self) -> None:
        """Grant waiting requests in order while a serving replica has a free slot."""
        streams, cap = self.streams, self.max_batch
        while self.waiting:
            free = [r for r in self.serving if streams[r] < cap]
            if not free:
                return
            r = min(free, key=streams.__getitem__)
            req = self.waiting.popleft()
            streams[r] += 1
            req.replica, req.streams = r, streams[r]
            req.succeed()

    def _scale(self):
        """Process: at each hour boundary, move the replica count to that hour's."""
        env, k = self.env, 0
        while True:
            k += 1
            yield env.timeout(k * 3_600.0 - env.now)
            target = self.schedule[k % 24]
            have = len(self.serving) + len(self.starting)
            if target > have:
                for _ in range(target - have):
                    r = self._new()
                    if self.cold_start_s > 0:
                        self.starting.append(r)
                        env.process(self._start(r))
                    else:
                        self.serving.append(r)
                self._dispatch()
            for _ in range(have - target):  # scale-down (nothing when target >= have)
                if self.starting:
                    self.starting.pop()
                else:
                    r = min(reversed(self.serving), key=self.streams.__getitem__)  # fewest streams, latest on a tie
                    self.serving.remove(r)

    def _start(self, r: int):
        """Process: replica r serves cold_start_s after it was requested (unless cancelled meanwhile)."""
        yield self.env.timeout(self.cold_start_s)
        if r in self.starting:
            self.starting.remove(r)
            self.serving.append(r)
            self._dispatch()


class ServingPath:
    """One strategy's retrieval workers, model slots, prompt cache and per-query outputs."""

    def __init__(self, env: simpy.Environment, world: KnowledgeWorld, strategy: Strategy, scenario: Scenario,
                 draws: QueryDraws, budget: Budget, finish: Finish, history: History | None = None):
        self.env, self.world, self.strategy, self.finish = env, world, strategy, finish
        n = draws.n
        m, ft, pc = scenario.model, scenario.fine_tuning, scenario.prompt_cache
        self.retrieval = simpy.Resource(env, scenario.retrieval.concurrency_limit) if strategy.uses_retrieval else None
        slots = ft.concurrency_limit if strategy.fine_tuned else m.concurrency_limit
        self.replica_streams = None  # dedicated: streams in flight per replica
        self.pool = None  # dedicated with hourly autoscaling: the replicas follow the day's schedule
        if scenario.serving.dedicated(strategy.fine_tuned):
            from simlib.engine.dedicated import deployment, mean_replicas, replica_schedule, replicas_for

            dep = deployment(scenario, strategy.fine_tuned)
            if scenario.serving.autoscaling == "hourly":
                schedule = replica_schedule(scenario, strategy)
                self.pool = ReplicaPool(env, schedule, dep.max_batch, scenario.serving.cold_start_s)
                # utilisation's capacity: the time-average of the billed slots over the drawn arrivals' span
                span = (float(draws.arrival_at_s[0]), float(draws.arrival_at_s[-1])) if n else (0.0, 0.0)
                slots = mean_replicas(schedule, *span) * dep.max_batch
            else:
                replicas = replicas_for(scenario, strategy)
                slots = replicas * dep.max_batch
                self.replica_streams = [0] * replicas
            batches = np.arange(1, dep.max_batch + 1)
            self.prefill_at = [0.0] + dep.prefill_tokens_per_s(batches).tolist()  # index: streams b
            self.decode_at = [0.0] + dep.decode_tokens_per_s(batches).tolist()
            self.prompt_f = budget.prompt_tokens.astype(float).tolist()
            self.output_f = draws.output_tokens.astype(float).tolist()
            self.scale_f = draws.service_scale.tolist()
        self.slots = self.pool if self.pool is not None else simpy.Resource(env, slots)
        self.capacity = slots
        prefill = ft.prefill_tokens_per_s if strategy.fine_tuned else m.prefill_tokens_per_s
        decode = ft.decode_tokens_per_s if strategy.fine_tuned else m.decode_tokens_per_s
        self.rtt_s = ft.network_rtt_s if strategy.fine_tuned else m.network_rtt_s

        self.budget = budget
        self.retrieved = draws.retrieval_u < recall_at_k(scenario, budget.chunks_used)
        if history is not None and not history.retrieves.all():
            # retrieval once per session: every turn is grounded by what the first turn retrieved
            first = np.zeros(draws.sessions.sessions_count, np.int64)
            opening = draws.sessions.turn == 0
            first[draws.sessions.session[opening]] = np.flatnonzero(opening)
            self.retrieved = self.retrieved[first[draws.sessions.session]]
        rules = strategy.cache_rules(scenario)
        self.cache_rules = (rules.mode, rules.min_cacheable_tokens, rules.increment_tokens)
        levels = strategy.cache_levels(scenario)
        prefix = strategy.cached_prefix_tokens(scenario)
        self.chain_read = chain_read_tokens(levels, *self.cache_rules)  # read tokens when d levels hit, d = 0 .. L
        self.hit_tokens = self.chain_read[-1]  # the whole chain
        # trace replay with prefix block hashes: per-query cached tokens (see the module docstring)
        self.hashes = draws.prefix_hashes if strategy.uses_cache else None
        self.blocks = PrefixBlockCache(rules.ttl_s) if self.hashes is not None else None
        caching = strategy.caches(scenario) and (self.hit_tokens > 0 or self.blocks is not None
                                                 or (history is not None and draws.sessions is not None))
        # the chain's levels, each an entry of its own on its own clock (engine/cache.py)
        self.chain = [PromptCacheState(rules.ttl_s) for _ in levels] if caching else None
        self.level_tokens = [lv.tokens for lv in levels]
        self.prefix_tokens = prefix
        tenant = draws.tenant(scenario.workload.tenants_count).tolist()
        zeros = [0] * n
        self.level_keys = [tenant if lv.per_tenant_key else zeros for lv in levels]
        self.level_versioned = [lv.scope == "tenant" and strategy.knowledge_source == "prefix" for lv in levels]
        spilled = spilled_requests(strategy, scenario, draws.arrival_at_s, draws.fact, draws.routing_u) if caching else None
        self.spilled = spilled.tolist() if spilled is not None else None
        # sessions: the history is the session level of the cached prefix, behind the static prefix (engine/sessions.py)
        self.history = history
        self.session_cache = None
        if history is not None:
            self.retrieves = history.retrieves.tolist()
            if caching:
                self.session_cache = PromptCacheState(rules.ttl_s)
                self.session_ids = draws.sessions.session.tolist()
                self.session_args = (history.version.tolist(), history.readable_tokens.tolist(), history.breakpoint_tokens.tolist())
        self.prompt_list = budget.prompt_tokens.tolist()
        self.scale_list = draws.service_scale.tolist()
        self.prefill_rates = (prefill, m.cached_prefill_tokens_per_s, m.cache_overhead_s)
        prompt = budget.prompt_tokens.astype(float)
        self.prefill_miss_s = (prompt / prefill * draws.service_scale).tolist()
        # affine cached prefill: overhead + H / cached rate + (P - H) / prefill rate (data/prices/latency.csv),
        # one list per depth d of the chain read (H = chain_read[d]; nothing read: the miss prefill)
        self.prefill_depth_s = [self.prefill_miss_s] + [
            ((m.cache_overhead_s + (prompt - h) / prefill + h / m.cached_prefill_tokens_per_s) * draws.service_scale).tolist()
            if h > 0 else self.prefill_miss_s for h in self.chain_read[1:]]
        self.decode_s = (draws.output_tokens / decode * draws.service_scale).tolist()
        self.retrieval_s = draws.retrieval_s.tolist()
        self.fact = draws.fact.tolist()
        self.on_change = pc.rebuild_policy == "on_change"
        self.rejected = budget.rejected.tolist()
        self.retrieved_list = self.retrieved.tolist()
        self.offline = draws.offline.tolist() if draws.offline is not None else None
        from simlib.engine.rate_limits import counted_input_per_query, limiter_for

        self.limiter = limiter_for(scenario, strategy)
        if self.limiter is not None:
            self.max_retries = scenario.rate_limits.retry_limit
            self.counted_in = counted_input_per_query(scenario, strategy, budget.prompt_tokens, self.hit_tokens).tolist()
            self.output_f = draws.output_tokens.astype(float).tolist()
            self.retry_u = draws.retry_u.tolist()
        if self.blocks is not None:
            from simlib.traces import BLOCK_TOKENS

            self.block_tokens, self.user_tokens = BLOCK_TOKENS, draws.query_tokens.tolist()

        # per-query outputs
        self.queue_wait_s = np.full(n, np.nan)
        self.ttft_s = np.full(n, np.nan)
        self.latency_s = np.full(n, np.nan)
        self.staleness_age_s = np.full(n, np.nan)
        self.cache_hit = np.zeros(n, bool)
        self.cache_miss = np.zeros(n, bool)  # a cacheable request that wrote the entry
        # per-query cache tokens (the chain's levels read and written); with prefix block hashes the
        # trace's user-side tokens read from the cache
        blocks = self.blocks is not None
        self.cache_read_tokens = np.zeros(n, np.int64)
        self.cache_write_tokens = np.zeros(n, np.int64)
        self.prefix_hit_tokens = np.zeros(n, np.int64) if blocks else None
        self.history_read_tokens = np.zeros(n, np.int64) if self.session_cache is not None else None
        self.completed = np.zeros(n, bool)
        self.arrival_at_s = draws.arrival_at_s.copy()  # sessions: later turns arrive when the chain sends them
        self.failed = np.zeros(n, bool)  # failed after the last retry
        self.retries = np.zeros(n, np.int64)
        self.busy_s = 0.0  # model-slot seconds (for utilisation)

    def query(self, i: int):
        """Process: one query through retrieval and the model stage."""
        env, world, src = self.env, self.world, self.strategy.knowledge_source
        arrival = env.now
        if self.history is not None:  # a later turn arrives when its session sends it (else the drawn time stays)
            self.arrival_at_s[i] = arrival
        if self.rejected[i]:
            self.finish.done()
            return
        if self.offline is not None and self.offline[i]:
            self.batch_api(i)
            return
        wait = 0.0
        if self.retrieval is not None and (self.history is None or self.retrieves[i]):
            with self.retrieval.request() as req:
                yield req
                wait = env.now - arrival
                yield env.timeout(self.retrieval_s[i])
        fact = self.fact[i]
        age = math.nan
        if src == "index" or (src == "index_then_weights" and self.retrieved_list[i]):
            age = world.staleness_age_s(fact, world.index_snapshot_at_s())
        requested = env.now
        if self.limiter is not None:
            k = 0
            while True:
                retry_after = self.limiter.attempt(env.now, self.counted_in[i], self.output_f[i])
                if retry_after == 0.0:
                    break
                if retry_after == math.inf or k >= self.max_retries:
                    self.failed[i] = True
                    self.retries[i] = k
                    self.finish.done()
                    return
                yield env.timeout(self.limiter.wait_s(k, retry_after, self.retry_u[i][k]))
                k += 1
            self.retries[i] = k
        with self.slots.request() as req:
            yield req
            start = env.now
            wait += start - requested
            if src == "weights" or (src == "index_then_weights" and not self.retrieved_list[i]):
                age = world.staleness_age_s(fact, world.snapshot_at_s["retrain"])
            elif src == "prefix" and not self.on_change:
                age = world.staleness_age_s(fact, world.snapshot_at_s["cache_rebuild"])
            prefill = self.prefill_miss_s[i]
            if self.chain is not None:
                prefill, hit = self.use_cache(i, start)
                if hit:
                    self.cache_hit[i] = True
                else:
                    self.cache_miss[i] = True
            service = prefill + self.decode_s[i]
            if self.replica_streams is not None or self.pool is not None:  # dedicated: the batching curve at b
                if self.pool is not None:
                    b = req.streams  # the pool chose the replica at admission
                else:
                    load = self.replica_streams
                    r = load.index(min(load))
                    load[r] += 1
                    b = load[r]
                prefill = self.prompt_f[i] / self.prefill_at[b] * self.scale_f[i]
                service = prefill + self.output_f[i] / self.decode_at[b] * self.scale_f[i]
            self.busy_s += service
            yield env.timeout(service)
            if self.replica_streams is not None:
                self.replica_streams[r] -= 1
        self.queue_wait_s[i] = wait
        self.ttft_s[i] = start - arrival + self.rtt_s + prefill
        self.latency_s[i] = start - arrival + self.rtt_s + service
        self.staleness_age_s[i] = age
        self.completed[i] = True
        self.finish.done()

    def batch_api(self, i: int) -> None:
        """An offline query: answered by the batch API from the knowledge at its arrival, no live stage, no cache."""
        world, src = self.world, self.strategy.knowledge_source
        fact = self.fact[i]
        age = math.nan
        if src == "index" or (src == "index_then_weights" and self.retrieved_list[i]):
            age = world.staleness_age_s(fact, world.index_snapshot_at_s())
        elif src == "weights" or src == "index_then_weights":
            age = world.staleness_age_s(fact, world.snapshot_at_s["retrain"])
        elif src == "prefix" and not self.on_change:
            age = world.staleness_age_s(fact, world.snapshot_at_s["cache_rebuild"])
        self.staleness_age_s[i] = age
        self.completed[i] = True
        self.finish.done()

    def use_cache(self, i: int, now_s: float) -> tuple[float, bool]:
        """Query i uses its chain of cache levels at its start: (prefill_s, hit = it read any tokens).

        Each level's entry is used on its own clock (``PromptCacheState``); the request reads the
        longest chain of hits from the outermost level, d levels (read = c(t_1 + .. + t_d)), and
        writes the rest; a new entry is written at this request's first token (its prefill with the
        d levels read). A request spilled by best-effort routing reads nothing and touches no entry.
        """
        world = self.world
        depth, key, version = 0, 0, 0
        spilled = self.spilled is not None and self.spilled[i]
        if not spilled:
            chain = True
            for j, state in enumerate(self.chain):
                key = self.level_keys[j][i]
                version = 0
                if self.level_versioned[j]:
                    version = world.tenant_changes[key] if self.on_change else world.cache_rebuilds
                hit = state.access(key, version, now_s, self.prefill_depth_s[depth][i])
                if chain and hit:
                    depth = j + 1
                else:
                    chain = False
        full = depth == len(self.chain) and not spilled
        if self.blocks is not None:
            return self.prefix_blocks(i, key, version, now_s, depth, full, spilled)
        if self.session_cache is not None:
            return self.session_turn(i, now_s, depth, full, spilled)
        read = self.chain_read[depth]
        self.cache_read_tokens[i] = read
        self.cache_write_tokens[i] = self.hit_tokens - read
        return self.prefill_depth_s[depth][i], read > 0

    def prefix_blocks(self, i: int, key: int, version: int, now_s: float, depth: int, full: bool,
                      spilled: bool) -> tuple[float, bool]:
        """Read the longest live prefix of query i's trace blocks behind a fully read chain, write the rest;
        (prefill_s, hit). Entries are kept per (key, version) of the chain's deepest level."""
        x = self.user_tokens[i]
        k = self.blocks.access(key, version, self.hashes[i], now_s) if not spilled else 0
        reused = min(self.block_tokens * k, x) if full else 0
        read = cached_tokens_on_hit(self.prefix_tokens + reused, *self.cache_rules) if full else self.chain_read[depth]
        write = cached_tokens_on_hit(self.prefix_tokens + x, *self.cache_rules) - read
        self.cache_read_tokens[i] = read
        self.cache_write_tokens[i] = max(0, write)
        self.prefix_hit_tokens[i] = min(reused, max(0, read - self.prefix_tokens))  # of the trace's own tokens
        return self.cached_prefill_s(i, read), read > 0


    def cached_prefill_s(self, i: int, read: int) -> float:
        """Prefill of query i with ``read`` of its prompt tokens from the cache (the affine rule of model.md)."""
        fresh_rate, cached_rate, overhead_s = self.prefill_rates
        return ((overhead_s if read > 0 else 0.0) + (self.prompt_list[i] - read) / fresh_rate + read / cached_rate) * self.scale_list[i]

    def session_turn(self, i: int, now_s: float, depth: int, full: bool, spilled: bool) -> tuple[float, bool]:
        """Read the longest live chain [static prefix P][history R], write up to the turn's breakpoint; (prefill_s, hit).

        read = c(P + R) on a wholly read P (R: the readable history if the session entry is alive,
        else 0), the static levels read otherwise; write = c(P + H + q) - read (engine/sessions.py).
        """
        versions, readable, breakpoint = self.session_args
        alive = self.session_cache.access(self.session_ids[i], versions[i], now_s) if not spilled else False
        history = readable[i] if alive else 0
        read = cached_tokens_on_hit(self.prefix_tokens + history, *self.cache_rules) if full else self.chain_read[depth]
        write = cached_tokens_on_hit(self.prefix_tokens + breakpoint[i], *self.cache_rules) - read
        self.cache_read_tokens[i] = read
        self.cache_write_tokens[i] = max(0, write)
        self.history_read_tokens[i] = min(history, max(0, read - self.prefix_tokens))
        return self.cached_prefill_s(i, read), read > 0


def source(env: simpy.Environment, arrival_at_s: list[float], paths: list[ServingPath]):
    """Process: queries arrive at their drawn times; each strategy serves its own copy."""
    for i, t in enumerate(arrival_at_s):
        if t > env.now:
            yield env.timeout(t - env.now)
        for path in paths:
            env.process(path.query(i))


def session_source(env: simpy.Environment, draws: QueryDraws, paths: list[ServingPath]):
    """Process: sessions start at their drawn times; each strategy runs its own copy of each (``conversation``)."""
    think = draws.sessions.think_s.tolist()
    for turns in session_turns(draws.sessions):  # in start order: a session's first turn is its earliest query
        t = float(draws.arrival_at_s[turns[0]])
        if t > env.now:
            yield env.timeout(t - env.now)
        for path in paths:
            env.process(conversation(env, path, turns, think))


def conversation(env: simpy.Environment, path: ServingPath, turns: list[int], think_s: list[float]):
    """Process: one session's turns, each sent a think time after the previous answer arrived (its latency)."""
    for j, i in enumerate(turns):
        if j:
            yield env.timeout(path.rtt_s + think_s[i])  # the answer reaches the user a round trip after the model's end
        yield env.process(path.query(i))
