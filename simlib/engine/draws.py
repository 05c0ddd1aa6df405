"""Every random input of one replication, drawn up front from split streams.

Common random numbers: all strategies see the same arrivals, query lengths, facts asked,
retrieval latencies, retrieval outcomes and service-time scales, and the same knowledge
changes. Each purpose has its own ``numpy.random.Generator`` spawned from
``SeedSequence([seed, replication])``, so changing how one stream is used never shifts
another (more chunks do not change the arrivals).

Distributions (each a tiny helper, as in simpy's examples):

- Poisson arrivals at rate lambda: inter-arrival gaps ~ Exp(mean 1/lambda).
- Daily profile: a non-homogeneous Poisson process with a constant rate in each hour,
  lambda_h = queries_per_day * w_h / sum(w) / 3600, drawn exactly by inverting the
  cumulative rate Lambda(t) at the points of a unit-rate Poisson process.
- Lengths and latencies: lognormal with mean m and coefficient of variation c,
  sigma^2 = ln(1 + c^2), mu = ln(m) - sigma^2 / 2 (c = 0 gives the constant m).
- Fact asked: uniform, or Zipf by rank, P(rank r) = r^-s / sum_j j^-s.
- Offline (batch API) queries: u < workload.offline_share, u ~ U(0, 1) per query.
- Cache routing: one U(0, 1) per query (its own stream), the best-effort cache's spill test
  (engine/cache.py ``spilled_requests``: u >= min(1, R / L)).
- Retry jitter: one U(0, 1) per query and retry (rate limits on), so a retry's wait does
  not depend on the order in which an engine meets the 429s.
- Knowledge changes: bursts at rate changes_per_day / burst_mean, each burst of
  Geometric(1 / burst_mean) changes at one instant (burst_mean = 1: plain Poisson), by
  thinning one common Poisson process, so a higher rate gives a superset of a lower
  rate's changes (see ChangeStream).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simlib.scenario import SECONDS_PER_DAY, Scenario
from simlib.engine.distributions import daily_profile_arrivals, lognormal, poisson_arrivals, profile_times
from simlib.engine.injection import retrain_interval_days
from simlib.engine.popularity import popularity_cdf
from simlib.engine.sessions import SessionDraws, draw_sessions, sessions_on

__all__ = ["ChangeStream", "Phases", "QueryDraws", "STREAMS", "SessionDraws", "daily_profile_arrivals", "draw_facts",
           "draw_phases", "draw_queries", "lognormal", "poisson_arrivals", "streams"]

STREAMS = ("arrivals", "tokens", "facts", "retrieval", "service", "changes", "phases", "offline", "retries", "sessions",
           "routing")
# appended streams leave the earlier ones unchanged (SeedSequence.spawn children are positional)


def streams(seed: int, replication: int) -> dict[str, np.random.Generator]:
    """One generator per purpose for replication ``replication`` of root seed ``seed``."""
    children = np.random.SeedSequence([seed, replication]).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


def draw_facts(rng: np.random.Generator, facts_count: int, cdf: np.ndarray | None, size: int) -> np.ndarray:
    if cdf is None:
        return rng.integers(0, facts_count, size)
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), facts_count - 1)


@dataclass(frozen=True)
class QueryDraws:
    """Per-query random inputs shared by all strategies (arrays of length n)."""

    arrival_at_s: np.ndarray  # float64, non-decreasing
    query_tokens: np.ndarray  # int64 >= 1
    output_tokens: np.ndarray  # int64, 1 .. max_output_tokens
    fact: np.ndarray  # int64 in [0, facts_count)
    retrieval_s: np.ndarray  # float64, embed + search (+ rerank) latency
    retrieval_u: np.ndarray  # float64 U(0,1): retrieved iff u < recall(k)
    service_scale: np.ndarray  # float64: 1, or Exp(1) for exponential service
    prefix_hashes: list | None = None  # trace replay: prefix block ids per query
    offline: np.ndarray | None = None  # bool: sent through the batch API (workload.offline_share > 0), else None
    retry_u: np.ndarray | None = None  # (n, max_retries) U(0,1): jitter of each retry (rate limits on), else None
    sessions: "SessionDraws | None" = None  # conversations and agent tasks (engine/sessions.py)
    routing_u: np.ndarray | None = None  # float64 U(0,1): the best-effort cache's routing draw (engine/cache.py)

    @property
    def n(self) -> int:
        return len(self.arrival_at_s)

    def tenant(self, tenants_count: int) -> np.ndarray:
        """Tenant of each query: the owner of its fact (facts are dealt round-robin)."""
        return self.fact % tenants_count


def draw_queries(scenario: Scenario, rng: dict[str, np.random.Generator], n: int | None = None) -> QueryDraws:
    """Draw every per-query input of one replication (QueryDrawer in one piece; sessions: draw_session_queries)."""
    if sessions_on(scenario):
        return draw_session_queries(scenario, rng, n)
    drawer = QueryDrawer(scenario, rng, n)
    return drawer.next(drawer.n)




def draw_session_queries(scenario: Scenario, rng: dict[str, np.random.Generator], n: int | None = None) -> QueryDraws:
    """Every per-query input of one replication of a session workload (conversations, agent tasks), in one piece.

    The per-query draws are QueryDrawer's (same streams, same order); the sessions' own stream
    then gives the turns' arrival times (engine/sessions.py), the opening turns' and tool
    results' lengths, and ties every turn of a session to its user's (tenant's) facts. The
    array backend hands session workloads to simpy, so they are never drawn in chunks.
    """
    import dataclasses

    base = QueryDrawer(scenario, rng, n)
    base = base.next(base.n)
    n = len(base.query_tokens)
    w, s = scenario.workload, scenario.sessions
    sessions = draw_sessions(scenario, rng["sessions"], n)  # (sessions with a trace are refused by build_scenario)
    query_tokens, fact = base.query_tokens, base.fact
    if s.first_turn_tokens_mean is not None:
        opening = np.maximum(1, np.rint(lognormal(rng["sessions"], s.first_turn_tokens_mean, w.token_length_cv, n))).astype(np.int64)
        query_tokens = np.where(sessions.turn == 0, opening, query_tokens)
    if s.kind == "agent_task":  # every call after the first: the new input is the previous call's tool result
        tool = np.maximum(1, np.rint(lognormal(rng["sessions"], s.tool_result_tokens_mean, w.token_length_cv, n))).astype(np.int64)
        query_tokens = np.where(sessions.turn > 0, tool, query_tokens)
    tenants = w.tenants_count
    opening = sessions.turn == 0
    if tenants > 1:  # a session is one tenant's (user's): every turn asks about a fact of its first turn's tenant
        owner = np.zeros(sessions.sessions_count, np.int64)
        owner[sessions.session[opening]] = fact[opening] % tenants
        moved = (fact // tenants) * tenants + owner[sessions.session]
        fact = np.where(moved < scenario.knowledge.facts_count, moved, moved - tenants)
    if s.retrieval == "per_session":  # the session asks about the fact of its first turn
        first = np.zeros(sessions.sessions_count, np.int64)
        first[sessions.session[opening]] = fact[opening]
        fact = first[sessions.session]
    return dataclasses.replace(base, arrival_at_s=sessions.arrival_at_s, query_tokens=query_tokens, fact=fact,
                               sessions=sessions)


class QueryDrawer:
    """The per-query inputs of one replication, drawn in pieces: ``next(k)`` gives the next k queries.

    Pieces hold the very values one draw of all n gives (``draw_queries``, what the simpy
    backend uses), so a run in chunks keeps its memory to a chunk without changing a number.
    A stream serves several purposes in turn (tokens: n query lengths, then n output
    lengths; retrieval: n embed, n search, n rerank latencies, then n uniforms), and numpy's
    generators give the same values drawn in pieces or at once (checked in
    tests/test_kernel.py). So each later purpose starts from a copy of its stream advanced
    past the earlier purposes' n draws (drawn in pieces and discarded: ~4 n lognormals of
    extra work, only when the run is chunked; one piece of all n draws in the original order).
    """

    PIECE = 65_536  # discarded draws are made in pieces of this size (memory, not values)

    def __init__(self, scenario: Scenario, rng: dict[str, np.random.Generator], n: int | None = None):
        self.scenario, self.rng = scenario, rng
        self.n = scenario.simulation.queries if n is None else n
        self.done = 0
        self._after_s = 0.0  # the last arrival (Poisson) or unit-rate point (daily profile) drawn
        self._split: dict[str, np.random.Generator] | None = None  # each purpose's own generator
        w, r = scenario.workload, scenario.retrieval
        self._cdf = popularity_cdf(scenario)
        self._query = lambda g, k: lognormal(g, w.query_tokens_mean, w.token_length_cv, k)
        self._output = lambda g, k: lognormal(g, w.output_tokens_mean, w.token_length_cv, k)
        self._latency = {part: (lambda g, k, m=getattr(r, f"{part}_latency_s"): lognormal(g, m, r.latency_cv, k))
                         for part in ("embed", "search", "rerank")}

    def _splits(self) -> dict[str, np.random.Generator]:
        """Per purpose, its stream advanced past the n draws of the purposes before it on that stream."""
        if self._split is None:
            import copy

            def advanced(g: np.random.Generator, draw) -> np.random.Generator:
                g = copy.deepcopy(g)
                for lo in range(0, self.n, self.PIECE):
                    draw(g, min(self.PIECE, self.n - lo))
                return g

            tok, ret = self.rng["tokens"], self.rng["retrieval"]
            search = advanced(ret, self._latency["embed"])
            rerank = advanced(search, self._latency["search"])
            self._split = {"query": tok, "embed": ret, "search": search, "rerank": rerank,
                           "u": advanced(rerank, self._latency["rerank"])}
            if self.scenario.workload.arrival_process != "trace":  # a replay's lengths come from the trace
                self._split["output"] = advanced(tok, self._query)
        return self._split

    def next(self, k: int) -> QueryDraws:
        """Draws of queries done .. done + k (k clipped to what is left)."""
        sc, w, r = self.scenario, self.scenario.workload, self.scenario.retrieval
        lo, k = self.done, max(0, min(k, self.n - self.done))
        self.done += k
        whole = lo == 0 and k == self.n  # one piece: the purposes of a stream in turn, as drawn at once
        g = self.rng if whole else None
        split = None if whole else self._splits()
        prefix_hashes = None
        if w.arrival_process == "poisson":
            arrivals = poisson_arrivals(self.rng["arrivals"], sc.arrival_rate_per_s, k, self._after_s)
            self._after_s = float(arrivals[-1]) if k else self._after_s
        elif w.arrival_process == "daily_profile":
            unit = poisson_arrivals(self.rng["arrivals"], 1.0, k, self._after_s)
            self._after_s = float(unit[-1]) if k else self._after_s
            arrivals = profile_times(unit, w.queries_per_day, w.hourly_weights)
        else:
            from simlib.traces import replay_arrays  # trace replay (issue: replay real workloads)

            arrivals, in_tok, out_tok, prefix_hashes = replay_arrays(sc, lo + k, start=lo)
        if w.arrival_process == "trace":
            query_tokens, output_tokens = np.maximum(1, in_tok), np.maximum(1, out_tok)
        else:
            q = self._query(g["tokens"] if whole else split["query"], k)
            o = self._output(g["tokens"] if whole else split["output"], k)
            query_tokens = np.maximum(1, np.rint(q)).astype(np.int64)
            output_tokens = np.maximum(1, np.rint(o)).astype(np.int64)
        output_tokens = np.minimum(output_tokens, sc.model.max_output_tokens)
        fact = draw_facts(self.rng["facts"], sc.knowledge.facts_count, self._cdf, k)
        ret = {part: self.rng["retrieval"] for part in ("embed", "search", "rerank", "u")} if whole else split
        retrieval_s = self._latency["embed"](ret["embed"], k) + self._latency["search"](ret["search"], k)
        rerank_s = self._latency["rerank"](ret["rerank"], k)  # drawn always: CRN whether or not reranking
        if r.rerank:
            retrieval_s = retrieval_s + rerank_s
        retrieval_u = ret["u"].random(k)
        if sc.model.service_time_distribution == "exponential":
            service_scale = self.rng["service"].exponential(1.0, k)
        else:
            service_scale = np.ones(k)
        offline = self.rng["offline"].random(k) < w.offline_share if w.offline_share > 0 else None
        rl = sc.rate_limits
        retry_u = self.rng["retries"].random((k, max(1, rl.retry_limit))) if rl.enabled else None
        routing_u = self.rng["routing"].random(k)
        return QueryDraws(arrivals, query_tokens, output_tokens, fact, retrieval_s, retrieval_u, service_scale,
                          prefix_hashes, offline, retry_u, routing_u=routing_u)


class ChangeStream:
    """The knowledge-change stream (times and facts), drawn on demand, nested in the change rate.

    Common random numbers along ``changes_per_day``: a higher rate gives a superset of a
    lower rate's changes (at the same times, on the same facts), by thinning one common
    Poisson process. The bursts are the points (t, u) of a unit-intensity Poisson process
    on time x rate; the bursts at rate lambda (per day) are those with u < lambda. The u
    axis is cut into bands [0, 1), [1, 2), [2, 4), ... per day, each an independent
    Poisson process of its band's width with u uniform in the band, drawn from its own
    generator: the rate takes every band below lambda whole and thins the band holding
    lambda by u. Each band runs forward from 0 and backward from 0 (so how far back the
    history reaches, ``start_s``, shifts nothing). Every burst draws its size and facts
    with it, so the same burst is the same change at any rate.

    Starts at ``start_s`` (before 0, so every snapshot used after time 0 sees its history)
    and extends in blocks as far as asked; blocks are fixed in size, so the stream never
    depends on how far it was asked, and the simpy engine and the fast kernel (which both
    build it from the 'changes' stream) see identical changes.
    """

    BLOCK = 1024

    def __init__(self, scenario: Scenario, rng: np.random.Generator, start_s: float):
        k = scenario.knowledge
        self.facts_count = k.facts_count
        self.burst_mean = k.change_burst_size_mean
        self.burst_rate_per_day = k.changes_per_day / k.change_burst_size_mean
        self.burst_rate_per_s = self.burst_rate_per_day / SECONDS_PER_DAY
        self.cdf = popularity_cdf(scenario) if k.changes_follow_popularity else None
        self.start_s = start_s
        key = int(rng.integers(0, 2**63 - 1))
        self._bands: list[tuple[float, float, int]] = []  # (u_lo, u_hi, band index), per day
        lo, b = 0.0, 0
        while lo < self.burst_rate_per_day:
            hi = 1.0 if b == 0 else 2.0 * lo
            self._bands.append((lo, hi, b))
            lo, b = hi, b + 1
        # per band and direction: generator, drawn (times, facts) blocks, reach |t| drawn so far
        self._runs = [
            {"rng": np.random.default_rng([key, band, direction]), "lo": lo, "hi": hi, "sign": sign,
             "times": [], "facts": [], "reach": 0.0}
            for lo, hi, band in self._bands for direction, sign in ((0, 1.0), (1, -1.0))
        ]
        self.until_s = start_s  # the stream is complete on [start_s, until_s)
        self._joined: tuple[np.ndarray, np.ndarray] | None = None
        for run in self._runs:
            if run["sign"] < 0:
                self._extend(run, -start_s)

    def _extend(self, run: dict, reach_s: float) -> None:
        """Draw a band's bursts in one direction until they reach |t| > reach_s."""
        width_per_s = (run["hi"] - run["lo"]) / SECONDS_PER_DAY
        keep_below = self.burst_rate_per_day
        while run["reach"] <= reach_s:
            g = run["rng"]
            block = self.BLOCK
            dist = run["reach"] + np.cumsum(g.exponential(1.0 / width_per_s, block))
            u = run["lo"] + (run["hi"] - run["lo"]) * g.random(block)
            sizes = g.geometric(1.0 / self.burst_mean, block) if self.burst_mean > 1 else np.ones(block, np.int64)
            facts = draw_facts(g, self.facts_count, self.cdf, int(sizes.sum()))
            kept = np.repeat(u < keep_below, sizes)
            run["times"].append((run["sign"] * np.repeat(dist, sizes))[kept])
            run["facts"].append(facts[kept])
            run["reach"] = float(dist[-1])
            self._joined = None

    def extend_to(self, t_s: float) -> None:
        """Draw changes until the stream covers [start_s, t_s]."""
        if self.burst_rate_per_s <= 0:
            self.until_s = max(self.until_s, t_s)
            return
        if self.until_s > t_s:
            return
        for run in self._runs:
            if run["sign"] > 0:
                self._extend(run, t_s)
        self.until_s = min(run["reach"] for run in self._runs if run["sign"] > 0)

    def arrays(self, until_s: float, after_s: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
        """Changes with after_s < time <= until_s (and time >= start_s), sorted by time (times, facts)."""
        self.extend_to(until_s)
        if self._joined is None:
            times = [t for run in self._runs for t in run["times"]]
            facts = [f for run in self._runs for f in run["facts"]]
            if times:
                t, f = np.concatenate(times), np.concatenate(facts)
                keep = t >= self.start_s
                t, f = t[keep], f[keep]
                order = np.argsort(t, kind="stable")
                self._joined = (t[order], f[order].astype(np.int64, copy=False))
            else:
                self._joined = (np.empty(0), np.empty(0, np.int64))
        times, facts = self._joined
        lo, hi = np.searchsorted(times, [after_s, until_s], side="right")
        return times[lo:hi], facts[lo:hi]


@dataclass(frozen=True)
class Phases:
    """Random phases of the periodic processes, each uniform over its period.

    A simulated horizon is often shorter than a retraining cycle; with a random phase the
    expected fresh share of any window equals the steady-state one, and replications
    average over the cycle instead of always starting right after a retraining.
    """

    retrain_s: float
    reindex_s: float
    rebuild_s: float


def draw_phases(scenario: Scenario, rng: np.random.Generator) -> Phases:
    u = rng.random(3)
    return Phases(
        retrain_s=float(u[0] * retrain_interval_days(scenario) * SECONDS_PER_DAY),
        reindex_s=float(u[1] * scenario.knowledge.reindex_interval_s),
        rebuild_s=float(u[2] * scenario.prompt_cache.rebuild_interval_s),
    )
