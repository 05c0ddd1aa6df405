"""The array backend ("fast"): the simpy backend's model computed with arrays and a heap recursion.

    result = simlib.run(scenario, engine="fast")                     # or engine="auto" (the default)
    result = simlib.run(scenario, engine="fast", records="summary")  # streaming aggregates, memory flat in the run size

``engine.run`` drives it (replications, progress, notes, fall-back); this module holds
only what is time-ordered, :func:`run_replication`, plus the streaming aggregates of
summary mode. Records are built by ``engine.records``, as for the simpy backend.

Same scenario, same random draws (``simlib.engine.draws``: the very same functions, called
in the same order on the same streams), same per-query results as the simpy engine of
record. Why a kernel can reproduce an event loop exactly:

- FIFO c-server queue (retrieval workers, model slots). With requests r_1 <= r_2 <= ...
  in request order and service times s_i, the heap recursion

      start_i = max(r_i, m_i),  m_i = the c-th largest departure d_j (j < i), -inf if none
      d_i     = start_i + s_i

  is what simpy's ``Resource`` computes: a free slot serves at once, else the earliest
  release serves the head of the queue. The heap always holds the c largest departures
  so far (popping the least and pushing d_i >= it keeps that true), so its state can be
  handed between a vectorised pass and a sequential one at any index. Starts are
  non-decreasing in request order, so cache checks in request order are in start order.
- No-wait fast path. With d_j = r_j + s_j, request i finds a free slot when fewer than c
  earlier departures are later than r_i: #{carried d > r_i} + #{j < i: d_j >= r_i} < c
  (counting d_j = r_i as busy, a conservative test). Where that holds for every request
  of a window, start = r exactly, and the cache decisions made assuming it are exact by
  induction; the first request that may wait hands over to the sequential recursion,
  which runs a block and hands back.
- Retrieval completions reorder queries before the model stage: requests sorted by
  completion time, ties in query order (simpy's event order: the timeouts were scheduled
  in start order, which is query order).
- Floating point: simpy's clock at an arrival is now + (t - now), which may differ from
  the drawn t by one ulp; ``simpy_clock`` reproduces it. Departures, waits, time to first
  token and latency are computed with the engine's own expressions in its order, so the
  per-query records are bit for bit the simpy engine's (``tests/test_kernel.py``).
- Knowledge: an answer read at time t from a snapshot taken at s is stale when its fact
  changed in (s, t]; age = t - the first such change. Per-fact lookups use composite keys
  fact x (M + 1) + position in time order over the M changes drawn so far. Periodic
  snapshots (batch re-index, retraining, cache rebuild) are served at the times simpy's
  process reaches (now + (serve_at - now)), with the start accumulated by repeated
  addition as there. The prefix version of a tenant is its count of changes up to t.

- Dedicated serving with fixed replicas: the start of a request depends on the loads of
  the replicas (it joins the one with the fewest streams, and its service is fixed by the b
  streams it joins), so the stage is a sequential loop, ``engine.dedicated.ReplicaStage``
  (numba-compiled, shared with replica sizing), with the loads, the in-flight ends and the
  last start carried from chunk to chunk. Every end at or before a start leaves first (simpy
  reads the loads when the grant is processed, after the ends scheduled earlier). The
  prompt cache is then used at the known starts in one vectorised pass (its hit flags and
  tokens; the dedicated speed does not depend on it).
- The batch API share: offline queries are answered at their arrival clock with no live
  stage (``ServingPath.batch_api``), left out of the live latency sums in summary mode.

Where the kernel cannot follow the simpy model (trace replay with prefix block hashes,
whose per-block cache belongs to ``simlib.engine.cache.PrefixBlockCache``; sessions;
dedicated replicas scaled hourly, ``serving.ReplicaPool``), the run falls back to simpy and
says so in ``RunResult.notes``.

Memory. Queries are drawn and processed in chunks (``chunk_queries``): the draws of about
two chunks are alive (``_DrawWindow``: this chunk, the next one's first arrival, and the
queries still in retrieval from earlier ones), plus the carried queue, cache, knowledge
and pending-request state; the pieces are the very values of one draw of the run
(``engine.draws.QueryDrawer``). Records take 56 bytes a query a strategy when kept in full
(``records="full"``). With ``records="summary"`` each chunk's records are folded into
per-batch running sums and quantile series (exact values up to ``EXACT_QUANTILE_VALUES``
per series, then a relative-error sketch), and a systematic sample of at most
``SAMPLE_RECORDS`` records a strategy is kept for charts.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from heapq import heapify, heapreplace
from typing import Callable, Literal

import numpy as np

from simlib.engine.budget import Budget, recall_at_k, token_budget
from simlib.engine.cache import chain_read_tokens, spilled_requests
from simlib.engine.costs import PER_QUERY_COMPONENTS, monthly_components
from simlib.engine.injection import decayed_prior_share, weights_knowledge_share
from simlib.engine.draws import ChangeStream, QueryDrawer, QueryDraws, draw_phases, streams
from simlib.engine.knowledge import history_start_s, periodic_processes, schedules
from simlib.engine.quality import behaviour_share
from simlib.engine.records import RecordColumns, record_columns
from simlib.engine.strategies import STRATEGIES
from simlib.results import (
    MONTHLY_COMPONENTS,
    CACHE_HIT, CITABLE, COMPLETED, COST_COMPONENTS_DTYPE, FAILED, FRESH, METRICS, OFFLINE, QUALITY_FACTORS_DTYPE, RATE_LIMITED,
    RECORD_DTYPE, REJECTED, RETRIEVED, SESSION_METRICS, TRUNCATED, WARMUP,
    Replication, StrategyReplication, batch_edges, cost_per_correct_answer,
)
from simlib.scenario import DAYS_PER_MONTH, SECONDS_PER_DAY, Scenario

RecordsMode = Literal["auto", "full", "summary"]

CHUNK_QUERIES = 65_536  # queries per chunk (per strategy, only a chunk's arrays are alive)
FULL_RECORDS_MAX_BYTES = 256 * 2**20  # records="auto" keeps full records up to this size
SAMPLE_RECORDS = 100_000  # records kept per strategy in summary mode (a systematic sample)
EXACT_QUANTILE_VALUES = 1_000_000  # per series: exact quantiles up to this many values
SKETCH_RELATIVE_ERROR = 1e-3  # then quantiles within this relative error
BATCHES = 10  # batch means for one replication, as simlib.results.batch_metrics


# --- what the kernel covers -------------------------------------------------------------

def kernel_gap(scenario: Scenario) -> str | None:
    """Why the kernel cannot follow the simpy engine on this scenario, if known before drawing."""
    w = scenario.workload
    if scenario.sessions.kind != "none":
        return SESSIONS_GAP
    gap = capacity_gap(scenario)
    if gap is not None:
        return gap
    if w.arrival_process != "trace" or not any(STRATEGIES[n].uses_cache for n in scenario.simulation.strategies):
        return None
    try:
        from simlib.traces import load_trace

        blocks = bool(getattr(load_trace(w.trace), "has_blocks", False))
    except Exception:  # noqa: BLE001 - the draws will tell (prefix_hash_gap)
        return None
    return PREFIX_HASH_GAP if blocks else None


SESSIONS_GAP = ("sessions (conversations, agent tasks): each turn's history cache level is simulated by the simpy "
                "engine only")


def capacity_gap(scenario: Scenario) -> str | None:
    """The issue-16 mechanism the kernel does not follow: dedicated replicas scaled hourly (ReplicaPool).

    Rate limits, fixed dedicated replicas (engine.dedicated.ReplicaStage) and the batch API
    share it follows record for record.
    """
    if "dedicated" in (scenario.serving.base_model, scenario.serving.fine_tuned_model) \
            and scenario.serving.autoscaling == "hourly":
        return ("dedicated serving (batching curve per replica, hourly autoscaling with cold starts) is simulated "
                "by the simpy engine only")
    return None


PREFIX_HASH_GAP = ("trace replay with prefix block hashes: the per-block prompt cache is simulated by the simpy "
                   "engine only")


def prefix_hash_gap(draws: QueryDraws, names: list[str]) -> str | None:
    """Why the kernel cannot follow these draws (None if it can)."""
    if draws.prefix_hashes is not None and any(STRATEGIES[n].uses_cache for n in names):
        return PREFIX_HASH_GAP
    return None


def simpy_clock(t: np.ndarray, now_s: float = 0.0) -> np.ndarray:
    """simpy's clock at each arrival: now <- now + (t_i - now) when t_i > now, from now = now_s.

    Equal to t wherever the subtraction is exact (Sterbenz: now >= t_i / 2), which is
    almost everywhere; where it is not, the clock runs one ulp off until it meets t again.
    ``now_s`` is the clock at the previous arrival (0 at the start), so a run in chunks
    continues the clock exactly where the last chunk left it.
    """
    t = np.asarray(t, dtype=float)
    n = len(t)
    if n == 0:
        return t.copy()
    prev = np.empty(n)
    prev[0] = now_s
    prev[1:] = t[:-1]
    # the clock at i, assuming the clock at i - 1 equals t[i - 1]
    clock = np.where(t > prev, prev + (t - prev), prev)
    off = np.flatnonzero(clock != t)
    j = -1
    for i in off.tolist():
        if i <= j:
            continue
        c = float(clock[i])
        j = i + 1
        while j < n:  # run on from the off clock until it meets t again
            tj = float(t[j])
            c = c + (tj - c) if tj > c else c
            clock[j] = c
            if c == tj:
                break
            j += 1
    return clock


# --- the draws of the queries still in flight ---------------------------------------------

class _Column:
    """One per-query column of a _DrawWindow, indexed by query number (a slice lo:hi or an index array)."""

    def __init__(self, window: "_DrawWindow", name: str):
        self.window, self.name = window, name

    def __getitem__(self, key):
        arr, base = self.window.arrays[self.name], self.window.base
        if isinstance(key, slice):
            return arr[key.start - base:key.stop - base]
        return arr[np.asarray(key) - base]


class _DrawWindow:
    """The draws (and simpy clock) of queries base .. top, drawn a chunk at a time (QueryDrawer).

    The kernels index it by query number as they indexed the whole run's arrays; queries
    below the oldest one still pending at the retrieval stage are dropped, so memory holds
    about two chunks, not the run. Values are exactly draw_queries' (QueryDrawer).
    """

    FIELDS = ("arrival_at_s", "query_tokens", "output_tokens", "fact", "retrieval_s", "retrieval_u", "service_scale",
              "routing_u", "offline")

    def __init__(self, drawer: QueryDrawer):
        self.drawer = drawer
        self.base = self.top = 0
        self.arrays: dict[str, np.ndarray] = {}  # set by the first draw (keeps each column's dtype)
        self.prefix_hashes: list | None = None
        self.retry_u: np.ndarray | None = None  # rate limits: the whole run's (drawn in one piece)
        self.first_arrival_s = self.last_arrival_s = math.nan
        self._clock_s = 0.0
        for name in (*self.FIELDS, "clock"):
            setattr(self, name, _Column(self, name))

    def draw(self, k: int) -> None:
        """Draw the next k queries (clipped to the run)."""
        d = self.drawer.next(k)
        if not d.n:
            return
        clock = simpy_clock(d.arrival_at_s, self._clock_s)
        self._clock_s = float(clock[-1])
        if self.top == 0:
            self.first_arrival_s = float(d.arrival_at_s[0])
            self.prefix_hashes, self.retry_u = d.prefix_hashes, d.retry_u
        self.last_arrival_s = float(d.arrival_at_s[-1])
        new = {name: getattr(d, name) for name in self.FIELDS if name != "offline"}
        new["offline"] = d.offline if d.offline is not None else np.zeros(d.n, bool)  # the batch API's queries
        new["clock"] = clock
        self.arrays = {name: np.concatenate([self.arrays[name], x]) if self.arrays else x for name, x in new.items()}
        self.top += d.n

    def drop_below(self, base: int) -> None:
        """Forget queries before ``base`` (none of them is needed again)."""
        if base > self.base:
            cut = base - self.base
            self.arrays = {name: arr[cut:].copy() for name, arr in self.arrays.items()}
            self.base = base


# --- knowledge lookups ------------------------------------------------------------------

class _Periodic:
    """Serve times and snapshot starts of one periodic process, as simpy's loop reaches them."""

    def __init__(self, schedule):
        self.period_s, self.lag_s = schedule.period_s, schedule.lag_s
        self.value = float(schedule.serving_snapshot_at(0.0))
        self._start = schedule.first_start_serving_after(0.0)
        self._now = 0.0
        self.times: list[float] = []  # event times (the clock when the snapshot starts serving)
        self.values: list[float] = [self.value]  # snapshot in use before each event, then after

    def extend_to(self, t_s: float) -> None:
        """Generate events until one lies beyond t_s."""
        while not self.times or self.times[-1] <= t_s:
            serve_at = self._start + self.lag_s
            if serve_at > self._now:
                self._now = self._now + (serve_at - self._now)
            self.value = max(self.value, self._start)
            self.times.append(self._now)
            self.values.append(self.value)
            self._start += self.period_s
        self._times_arr = np.asarray(self.times)
        self._values_arr = np.asarray(self.values)

    def snapshot_at(self, t_s: np.ndarray) -> np.ndarray:
        return self._values_arr[np.searchsorted(self._times_arr, t_s, side="right")]

    def count_at(self, t_s) -> np.ndarray:
        return np.searchsorted(self._times_arr, t_s, side="right")


class _World:
    """Change history and periodic snapshots, looked up in bulk (knowledge.py's rules)."""

    def __init__(self, scenario: Scenario, changes: ChangeStream, phases, names: list[str], horizon_s: float):
        k = scenario.knowledge
        self.changes = changes
        self.tenants_count = scenario.workload.tenants_count
        self.streaming = k.index_refresh == "streaming"
        self.index_lag_s = k.index_lag_s
        self.changes_on = k.changes_per_day > 0
        sched = schedules(scenario, phases)
        self.periodic = {name: _Periodic(sched[name]) for name in periodic_processes(scenario, names)}
        self.until_s = -math.inf
        self._lists: tuple[list[float], dict[int, tuple[int, int]]] | None = None
        self.ensure(horizon_s)

    def ensure(self, t_s: float) -> None:
        """Make every lookup valid up to time t_s."""
        for p in self.periodic.values():
            if not p.times or p.times[-1] <= t_s:
                p.extend_to(t_s)
        if t_s <= self.until_s:
            return
        start = self.changes.start_s
        until = t_s if self.until_s == -math.inf else max(t_s, self.until_s + max(SECONDS_PER_DAY, 0.5 * (t_s - start)))
        times, facts = self.changes.arrays(until)
        self.until_s = until
        self.times, self.facts, self.m1 = times, facts, len(times) + 1
        self._by_fact = self._by_tenant = None  # built when first needed
        self._lists = None

    def _sorted_by(self, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Composite keys owner x (M + 1) + position in time order, sorted; and the times."""
        pos = np.arange(len(self.times), dtype=np.int64)
        order = np.argsort(owner, kind="stable")  # times stay sorted within an owner
        return owner[order].astype(np.int64) * self.m1 + pos[order], self.times[order]

    @property
    def fact_keys(self) -> np.ndarray:
        if self._by_fact is None:
            self._by_fact = self._sorted_by(self.facts)
        return self._by_fact[0]

    @property
    def fact_times(self) -> np.ndarray:
        self.fact_keys  # noqa: B018 - builds the index
        return self._by_fact[1]

    @property
    def tenant_keys(self) -> np.ndarray:
        if self._by_tenant is None:
            self._by_tenant = self._sorted_by(self.facts.astype(np.int64) % self.tenants_count)
        return self._by_tenant[0]

    @property
    def tenant_times(self) -> np.ndarray:
        self.tenant_keys  # noqa: B018 - builds the index
        return self._by_tenant[1]

    def staleness_age_s(self, fact: np.ndarray, snapshot_s: np.ndarray, now_s: np.ndarray) -> np.ndarray:
        """NaN where fact did not change in (snapshot, now]; else now - its first such change."""
        m = len(self.times)
        if m == 0:
            return np.full(len(fact), np.nan)
        p = np.searchsorted(self.times, snapshot_s, side="right")  # changes at or before the snapshot
        pos = np.searchsorted(self.fact_keys, fact.astype(np.int64) * self.m1 + p, side="left")
        posc = np.minimum(pos, m - 1)
        same = (pos < m) & (self.fact_keys[posc] < (fact.astype(np.int64) + 1) * self.m1)
        tc = self.fact_times[posc]
        return np.where(same & (tc <= now_s), now_s - tc, np.nan)

    def index_snapshot_s(self, now_s: np.ndarray) -> np.ndarray:
        if self.streaming:
            return now_s - self.index_lag_s
        return self.periodic["reindex"].snapshot_at(now_s)

    def tenant_changes(self, key: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Changes of each tenant at or before t (the on-change prefix version)."""
        p = np.searchsorted(self.times, t_s, side="right")
        base = key.astype(np.int64) * self.m1
        return (np.searchsorted(self.tenant_keys, base + p, side="left")
                - np.searchsorted(self.tenant_keys, base, side="left"))

    def tenant_changes_one(self, key: int, t_s: float) -> int:
        """The same, for one query of the sequential recursion."""
        if self._lists is None:
            self._lists = (self.tenant_times.tolist(), {})
        times, bounds = self._lists
        b = bounds.get(key)
        if b is None:
            lo, hi = np.searchsorted(self.tenant_keys, [key * self.m1, (key + 1) * self.m1], side="left")
            b = bounds[key] = (int(lo), int(hi))
        return bisect_right(times, t_s, b[0], b[1]) - b[0]

    def timeline(self, end_s: float) -> dict[str, np.ndarray]:
        """Events up to the end of the run, as simpy's world records them."""
        out = {"change": np.empty(0), "reindex": np.empty(0), "retrain": np.empty(0), "cache_rebuild": np.empty(0)}
        if not math.isfinite(end_s):
            return out
        self.ensure(end_s)
        if self.changes_on:
            t = self.times
            out["change"] = t[(t > 0.0) & (t <= end_s)]
        for name, p in self.periodic.items():
            times = np.asarray(p.times)
            out[name] = times[times <= end_s]
        return out


# --- queues -----------------------------------------------------------------------------

def _first_wait(dep: np.ndarray, c: int, r: np.ndarray, d: np.ndarray) -> int:
    """Index of the first request of a window that may wait (len(r) if none can).

    busy_i = #{carried departures > r_i} + #{j < i in the window: d_j >= r_i}; a window
    departure j >= i has d_j >= r_j >= r_i, so #{j: d_j < r_i} counts only earlier ones.
    """
    if len(r) == 0:
        return 0
    # Quick sufficient test: with the carried departures sorted first, if the latest of all
    # departures up to c places back is before r_i, at most c - 1 slots can be busy.
    dep = np.sort(dep)
    if np.all(np.maximum.accumulate(np.concatenate([dep, d]))[:len(r)] < r):
        return len(r)
    busy = (c - np.searchsorted(dep, r, side="right")) + (
        np.arange(len(r)) - np.searchsorted(np.sort(d), r, side="left"))
    hit = np.flatnonzero(busy >= c)
    return int(hit[0]) if hit.size else len(r)


def _top(dep: np.ndarray, d: np.ndarray, c: int) -> np.ndarray:
    """The c largest of the carried departures and new ones (the heap's state)."""
    if len(d) == 0:
        return dep
    a = np.concatenate([dep, d])
    return np.partition(a, len(a) - c)[len(a) - c:] if len(a) > c else a


class _Services:
    """Service times of a stage whose service does not depend on the start (no cache)."""

    def __init__(self, service: np.ndarray):
        self.service = service

    def window(self, a: int, b: int, req: np.ndarray) -> np.ndarray:
        return self.service[a:b]

    def commit(self, a: int, k: int) -> None:
        pass

    def loop(self, a: int, e: int, req: np.ndarray, dep: np.ndarray, start: np.ndarray, service: np.ndarray) -> np.ndarray:
        heap = dep.tolist()
        heapify(heap)
        starts = []
        put = starts.append
        for r, s in zip(req[a:e].tolist(), self.service[a:e].tolist()):
            m = heap[0]
            t = r if r >= m else m
            heapreplace(heap, t + s)
            put(t)
        start[a:e] = starts
        service[a:e] = self.service[a:e]
        return np.asarray(heap)


def fifo_stage(dep: np.ndarray, c: int, req: np.ndarray, services) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Starts and service times of requests (in request order) at a FIFO c-server stage.

    ``dep`` is the carried heap state (the c largest departures so far, -inf padded);
    returns (start, service, new dep). Vectorised windows where no request can wait,
    the sequential heap recursion elsewhere (see the module docstring).
    """
    n = len(req)
    start = np.empty(n)
    service = np.empty(n)
    pos, window, block = 0, n, 64
    while pos < n:
        b = min(n, pos + window)
        r = req[pos:b]
        s = services.window(pos, b, req)
        d = r + s
        k = _first_wait(dep, c, r, d)
        if k:
            start[pos:pos + k] = r[:k]
            service[pos:pos + k] = s[:k]
            services.commit(pos, pos + k)
            dep = _top(dep, d[:k], c)
            pos += k
        if k == b - (pos - k):  # the whole window went through without waiting
            window = min(n, 4 * window)
            continue
        e = min(n, pos + block)
        dep = services.loop(pos, e, req, dep, start, service)
        pos = e
        block = min(2 * block, 65_536) if k < 16 else 64  # congested: longer sequential runs
        window = max(1_024, 4 * k)
    return start, service, dep


class _LevelState:
    """The entries of one level of a strategy's cache chain, one slot per cache key:
    (valid, version, expires_at_s, last_use_s, ready_at_s), as ``PromptCacheState``'s dict, plus the
    order of each key's first use (simpy's dict order, for the storage sum) and entry-seconds alive."""

    def __init__(self, keys: int, versioned: bool, tokens: int):
        self.versioned, self.tokens = versioned, tokens
        self.c_valid = np.zeros(keys, bool)
        self.c_ver = np.zeros(keys, np.int64)
        self.c_exp = np.zeros(keys)
        self.c_last = np.zeros(keys)
        self.c_first = np.zeros(keys, np.int64)
        self.c_ready = np.zeros(keys)  # when the entry's current generation was written (its writer's first token)
        self.uses = 0
        self.alive_s = 0.0

    def entry_s(self, end_s: float) -> float:
        """Entry-seconds alive up to end_s (PromptCacheState.close, summed in the same order)."""
        used = np.flatnonzero(self.c_valid)
        if used.size == 0:
            return self.alive_s
        used = used[np.argsort(self.c_first[used], kind="stable")]
        open_s = np.minimum(end_s, self.c_exp[used]) - self.c_last[used]
        return self.alive_s + float(np.cumsum(np.concatenate([[0.0], open_s]))[-1])


class _CachedServices:
    """Model-stage service with a chain of prompt-cache levels (engine/cache.py): the longest chain of
    hits from the outermost level, d levels, is read (prefill ``P[d]``, the affine rule).

    Each level's entries evolve on their own, as ``simlib.engine.cache.PromptCacheState``: a use at
    t finds its key's entry live when it exists, has the current version and t < expires_at, and
    hits when it is also written (t >= ready_at); a use that finds it not live opens a generation
    written at that use's first token (ready_at = t + P[d], d the levels this request reads, known
    from the outer levels). Then the entry expires at t + ttl. Alive time (for cache storage
    prices) grows by min(t, expires_at) - last_use at every use. Levels are computed outermost
    first, so each level's window is vectorised as one level was. Requests spilled by best-effort
    routing read nothing and use no entry.
    """

    def __init__(self, kernel: "_StrategyKernel", keys: list[np.ndarray], P: np.ndarray, dec: np.ndarray,
                 spilled: np.ndarray | None):
        self.k, self.keys, self.P, self.dec = kernel, keys, P, dec
        n = len(dec)
        self.spilled = spilled if spilled is not None else np.zeros(n, bool)
        self.depth = np.zeros(n, np.int64)
        self._w: list | None = None

    def window(self, a: int, b: int, req: np.ndarray) -> np.ndarray:
        k = self.k
        t = req[a:b]
        k.world.ensure(float(t[-1]))
        act = np.flatnonzero(~self.spilled[a:b])  # window positions of the requests that use the entries
        depth = np.zeros(b - a, np.int64)
        chain = np.zeros(b - a, bool)
        chain[act] = True
        cols = np.arange(a, b)
        saved = []
        for j, lv in enumerate(k.levels):
            keys = self.keys[j][a:b][act]
            ta = t[act]
            ver = k.versions(keys, ta) if lv.versioned else np.zeros(len(keys), np.int64)
            o = np.argsort(keys, kind="stable")
            ks, vs, ts = keys[o], ver[o], ta[o]
            first = np.ones(len(ks), bool)
            first[1:] = ks[1:] != ks[:-1]
            prev = np.roll(np.arange(len(ks)), 1)
            c_valid, c_ver, c_exp, c_last = lv.c_valid[ks], lv.c_ver[ks], lv.c_exp[ks], lv.c_last[ks]
            p_valid = np.where(first, c_valid, True)
            p_ver = np.where(first, c_ver, vs[prev])
            p_exp = np.where(first, c_exp, ts[prev] + k.ttl_s)
            p_last = np.where(first, c_last, ts[prev])
            live_s = p_valid & (p_ver == vs) & (ts < p_exp)
            # a use that finds no live entry opens a generation, written at its first token
            # (start + its prefill with the levels it reads); later uses hit only from then on
            written_after = self.P[depth[act], cols[act]][o]
            src = np.where(~live_s, ts + written_after, np.where(first, lv.c_ready[ks], np.nan))
            idx = np.maximum.accumulate(np.where(np.isnan(src), 0, np.arange(len(src))))
            ready = src[idx]
            hit_s = live_s & (ts >= ready)
            inc_s = np.where(p_valid, np.minimum(ts, p_exp) - p_last, 0.0)
            hit = np.zeros(b - a, bool)
            hit[act[o]] = hit_s
            inc = np.empty(len(ks))
            inc[o] = inc_s
            depth += chain & hit
            chain &= hit
            saved.append((o, ks, vs, ts, inc, ready))
        self._w = (a, act, saved)
        self.depth[a:b] = depth
        return self.P[depth, cols] + self.dec[a:b]

    def commit(self, a: int, e: int) -> None:
        """Keep each level's cache state of the accepted uses a..e of the last window."""
        k = self.k
        wa, act, saved = self._w
        n_acc = int(np.searchsorted(act, e - wa))  # accepted requests that used the entries
        for lv, (o, ks, vs, ts, inc, ready) in zip(k.levels, saved):
            lv.alive_s = float(np.cumsum(np.concatenate([[lv.alive_s], inc[:n_acc]]))[-1])  # in use order, as simpy
            acc = o < n_acc
            ks_a, vs_a, ts_a = ks[acc], vs[acc], ts[acc]
            last = np.ones(len(ks_a), bool)
            last[:-1] = ks_a[:-1] != ks_a[1:]
            kk = ks_a[last]
            new = ~lv.c_valid[kk]
            if new.any():
                first = np.ones(len(ks_a), bool)
                first[1:] = ks_a[1:] != ks_a[:-1]
                pos_first = (np.flatnonzero(acc)[first])  # key-sorted positions of each key's first use
                lv.c_first[kk[new]] = lv.uses + o[pos_first][new]
            lv.c_valid[kk] = True
            lv.c_ver[kk] = vs_a[last]
            lv.c_exp[kk] = ts_a[last] + k.ttl_s
            lv.c_last[kk] = ts_a[last]
            lv.c_ready[kk] = ready[acc][last]
            lv.uses += n_acc

    def loop(self, a: int, e: int, req: np.ndarray, dep: np.ndarray, start: np.ndarray, service: np.ndarray) -> np.ndarray:
        k = self.k
        world = k.world
        heap = dep.tolist()
        heapify(heap)
        states = [(lv.versioned, lv.c_valid.tolist(), lv.c_ver.tolist(), lv.c_exp.tolist(), lv.c_last.tolist(),
                   lv.c_first.tolist(), lv.c_ready.tolist(), [lv.alive_s, lv.uses]) for lv in k.levels]
        ttl = k.ttl_s
        kind = k.version_kind
        rebuild = world.periodic.get("cache_rebuild")
        rb_times = rebuild.times if rebuild is not None else None
        P = [row[a:e].tolist() for row in self.P]
        keys = [kj[a:e].tolist() for kj in self.keys]
        starts, services, depths = [], [], []
        for i, (r, sp, dc) in enumerate(zip(req[a:e].tolist(), self.spilled[a:e].tolist(), self.dec[a:e].tolist())):
            m = heap[0]
            t = r if r >= m else m
            d = 0
            if not sp:
                chain = True
                for j, (versioned, valid, ver, exp, last, first, ready, acc) in enumerate(states):
                    key = keys[j][i]
                    v = 0
                    if versioned:
                        if kind == "tenant":
                            if t > world.until_s:
                                world.ensure(t)
                            v = world.tenant_changes_one(key, t)
                        elif kind == "rebuild":
                            if t >= rb_times[-1]:
                                rebuild.extend_to(t)
                            v = bisect_right(rb_times, t)
                    if valid[key]:
                        x = exp[key]
                        h = ver[key] == v and t < x
                        acc[0] += (t if t < x else x) - last[key]
                    else:
                        h = False
                        valid[key] = True
                        first[key] = acc[1]
                    if not h:
                        ready[key] = t + P[d][i]  # a new generation, written at its first token
                    h = h and t >= ready[key]
                    acc[1] += 1
                    ver[key], exp[key], last[key] = v, t + ttl, t
                    if chain and h:
                        d = j + 1
                    else:
                        chain = False
            s = P[d][i] + dc
            heapreplace(heap, t + s)
            starts.append(t)
            services.append(s)
            depths.append(d)
        start[a:e] = starts
        service[a:e] = services
        self.depth[a:e] = depths
        for lv, (_, valid, ver, exp, last, first, ready, acc) in zip(k.levels, states):
            lv.c_valid[:] = valid
            lv.c_ver[:] = ver
            lv.c_exp[:] = exp
            lv.c_last[:] = last
            lv.c_first[:] = first
            lv.c_ready[:] = ready
            lv.alive_s, lv.uses = acc[0], acc[1]
        return np.asarray(heap)


# --- one strategy -----------------------------------------------------------------------

class _StrategyKernel:
    """One strategy's serving path (serving.py's ServingPath), chunk by chunk."""

    def __init__(self, scenario: Scenario, name: str, draws: QueryDraws, clock: np.ndarray, world: _World):
        self.scenario, self.name, self.draws, self.clock, self.world = scenario, name, draws, clock, world
        st = self.strategy = STRATEGIES[name]
        m, ft, pc = scenario.model, scenario.fine_tuning, scenario.prompt_cache
        self.capacity = ft.concurrency_limit if st.fine_tuned else m.concurrency_limit
        self.prefill_per_s = ft.prefill_tokens_per_s if st.fine_tuned else m.prefill_tokens_per_s
        self.decode_per_s = ft.decode_tokens_per_s if st.fine_tuned else m.decode_tokens_per_s
        self.cached_prefill_per_s = m.cached_prefill_tokens_per_s
        self.cache_overhead_s = m.cache_overhead_s
        self.rtt_s = ft.network_rtt_s if st.fine_tuned else m.network_rtt_s
        rules = st.cache_rules(scenario)
        levels = st.cache_levels(scenario)
        self.chain_read = chain_read_tokens(levels, rules.mode, rules.min_cacheable_tokens, rules.increment_tokens)
        self.hit_tokens = self.chain_read[-1]  # the whole chain
        self.cached = st.caches(scenario) and self.hit_tokens > 0
        self.on_change = pc.rebuild_policy == "on_change"
        self.source = st.knowledge_source
        if st.knowledge_source == "prefix":
            self.version_kind = "tenant" if self.on_change else "rebuild"
        else:
            self.version_kind = "none"
        self.ttl_s = rules.ttl_s
        tenant_keys = min(scenario.workload.tenants_count, scenario.knowledge.facts_count)
        self.level_per_tenant = [lv.per_tenant_key for lv in levels]
        self.levels = [_LevelState(tenant_keys if lv.per_tenant_key else 1, lv.scope == "tenant" and st.knowledge_source == "prefix",
                                   lv.tokens) for lv in levels] if self.cached else []
        self.prefix_tokens = st.cached_prefix_tokens(scenario)
        self.busy_s = 0.0
        self.end_s = -math.inf
        # dedicated serving with fixed replicas: the stage shared with sizing (engine.dedicated.ReplicaStage),
        # its replica loads and in-flight ends carried from chunk to chunk; its slots are the capacity
        self.stage = None
        if scenario.serving.dedicated(st.fine_tuned):
            from simlib.engine.dedicated import ReplicaStage, deployment, replicas_for

            dep = deployment(scenario, st.fine_tuned)
            replicas = replicas_for(scenario, st)
            self.stage = ReplicaStage(dep, replicas)
            self.capacity = replicas * dep.max_batch
            self.prefill_at = np.asarray(self.stage.prefill_at, float)  # p(b), index b
        self.model_dep = np.full(self.capacity, -np.inf) if self.stage is None else None
        self.retrieval_c = scenario.retrieval.concurrency_limit
        self.retrieval_dep = np.full(self.retrieval_c, -np.inf) if st.uses_retrieval else None
        # queries whose retrieval is done but may not reach the model yet:
        # (query, completion, retrieval start, prompt tokens, chunks used, truncated)
        self.pending = (np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.int64),
                        np.empty(0, np.int64), np.empty(0, bool))
        # rate limits: the same limiter as serving.py, met in time order (simlib.engine.rate_limits)
        from simlib.engine.rate_limits import ArrayAdmissions, counted_input_per_query, limiter_for

        limiter = limiter_for(scenario, st)
        self.admissions = None
        if limiter is not None:
            # admissions are computed from every query up front: a rate-limited run draws all at once
            assert draws.base == 0 and draws.top == draws.drawer.n, "rate limits need the whole run's draws"
            probe = token_budget(st, scenario, draws.arrays["query_tokens"]).prompt_tokens
            self.admissions = ArrayAdmissions(limiter, scenario.rate_limits.retry_limit,
                                              counted_input_per_query(scenario, st, probe, self.hit_tokens),
                                              draws.arrays["output_tokens"].astype(float), draws.retry_u)
            n = draws.top
            self.rl_fields = {"req": np.zeros(n), "prompt": np.zeros(n, np.int64), "chunks": np.zeros(n, np.int64),
                              "trunc": np.zeros(n, bool), "rw": np.zeros(n)}

    def versions(self, keys: np.ndarray, t: np.ndarray) -> np.ndarray:
        if self.version_kind == "tenant":
            return self.world.tenant_changes(keys, t)
        if self.version_kind == "rebuild":
            return self.world.periodic["cache_rebuild"].count_at(t)
        return np.zeros(len(keys), np.int64)

    def step(self, lo: int, hi: int, bound_s: float) -> tuple[np.ndarray, RecordColumns]:
        """Serve queries lo..hi; returns the queries finished (from any chunk) and their records.

        A query whose retrieval completes after ``bound_s`` (the next chunk's first arrival)
        waits for the next step: a later query may still reach the model stage before it.
        Returns (query indices, their record columns with cost components and quality factors).
        """
        sc, st, d, clock, world = self.scenario, self.strategy, self.draws, self.clock, self.world
        chunk = np.arange(lo, hi)
        b = token_budget(st, sc, d.query_tokens[lo:hi])
        ok = ~b.rejected
        off = d.offline[lo:hi] & ok  # the batch API: answered at arrival, off the live path (ServingPath.batch_api)
        on = ok & ~off
        live, rej, oidx = chunk[on], chunk[b.rejected], chunk[off]
        if len(rej):
            self.end_s = max(self.end_s, float(clock[rej].max()))
        if len(oidx):
            self.end_s = max(self.end_s, float(clock[oidx].max()))
        fields = (b.prompt_tokens[on], b.chunks_used[on], b.truncated[on])
        if st.uses_retrieval:
            r_req = clock[live]
            r_start, _, self.retrieval_dep = fifo_stage(self.retrieval_dep, self.retrieval_c, r_req,
                                                        _Services(d.retrieval_s[live]))
            comp = r_start + d.retrieval_s[live]
            new = (live, comp, r_start) + fields
            cols = [np.concatenate([p, x]) for p, x in zip(self.pending, new)]
            o = np.lexsort((cols[0], cols[1]))  # by completion, ties in query order
            cols = [c[o] for c in cols]
            cut = int(np.searchsorted(cols[1], bound_s, side="right"))
            self.pending = tuple(c[cut:] for c in cols)
            ridx, req, r_start, prompt_t, chunks_t, trunc_t = (c[:cut] for c in cols)
            r_wait = r_start - clock[ridx]
        else:
            ridx, req, r_wait = live, clock[live], None
            prompt_t, chunks_t, trunc_t = fields
        admit = req
        fail_idx = np.empty(0, np.int64)
        retries_req = retries_fail = None
        if self.admissions is not None:  # 429s delay requests by the retry policy; the last one fails them
            (ridx, req, admit, retries_req, prompt_t, chunks_t, trunc_t, r_wait, fail_idx, fail_at, retries_fail,
             fail_fields) = self._rate_limit(ridx, req, prompt_t, chunks_t, trunc_t, r_wait, bound_s)
            if len(fail_idx):
                self.end_s = max(self.end_s, float(fail_at.max()))
        n_req, n_fail, n_off, n_rej = len(ridx), len(fail_idx), len(oidx), len(rej)
        idx = np.concatenate([ridx, fail_idx, oidx, rej])
        n = len(idx)
        f_prompt, f_chunks, f_trunc = fail_fields if n_fail else (np.empty(0, np.int64),) * 2 + (np.empty(0, bool),)
        budget = Budget(
            True, None, np.concatenate([prompt_t, f_prompt, b.prompt_tokens[off], b.prompt_tokens[b.rejected]]),
            np.concatenate([chunks_t, f_chunks, b.chunks_used[off], b.chunks_used[b.rejected]]),
            np.concatenate([trunc_t, f_trunc, b.truncated[off], b.truncated[b.rejected]]),
            np.concatenate([np.zeros(n_req + n_fail + n_off, bool), np.ones(n_rej, bool)]),
        )
        retries = np.zeros(n, np.int64)
        failed = np.zeros(n, bool)
        if retries_req is not None:
            retries[:n_req] = retries_req
            retries[n_req:n_req + n_fail] = retries_fail
            failed[n_req:n_req + n_fail] = True
        wait, ttft, latency, age = (np.full(n, np.nan) for _ in range(4))
        hit, miss, completed = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
        read, write = np.zeros(n, np.int64), np.zeros(n, np.int64)
        retrieved = d.retrieval_u[idx] < recall_at_k(sc, budget.chunks_used)
        if n_req:
            prompt = prompt_t.astype(float)
            scale = d.service_scale[ridx]
            pm = prompt / self.prefill_per_s * scale
            dec = d.output_tokens[ridx] / self.decode_per_s * scale
            world.ensure(float(max(req.max(), admit[-1])))
            if self.cached:
                # prefill when d levels are read, d = 0 .. L (the affine rule; nothing read: the miss prefill)
                P = np.stack([pm] + [(self.cache_overhead_s + (prompt - h) / self.prefill_per_s + h / self.cached_prefill_per_s)
                                     * scale if h > 0 else pm for h in self.chain_read[1:]])
                tenant = d.fact[ridx] % sc.workload.tenants_count
                keys = [tenant if per_tenant else np.zeros(n_req, np.int64) for per_tenant in self.level_per_tenant]
                spilled = spilled_requests(st, sc, d.arrival_at_s[ridx], d.fact[ridx], d.routing_u[ridx])
                services = _CachedServices(self, keys, P, dec, spilled)
            else:
                services = _Services(pm + dec)
            if self.stage is not None:
                # dedicated: the batching curve at the b streams each request joins, fixed at admission;
                # the prompt cache is still used at the starts (hit flags, read and write tokens), its
                # entries written at the provider prefill's first token as in simpy, but not the speed
                start, streams, service = self.stage.serve(admit, prompt, d.output_tokens[ridx].astype(float), scale)
                prefill = prompt / self.prefill_at[streams] * scale
                if self.cached:
                    services.window(0, n_req, start)  # the uses in start order (FIFO starts do not decrease)
                    services.commit(0, n_req)
            else:
                start, service, self.model_dep = fifo_stage(self.model_dep, self.capacity, admit, services)
                prefill = P[services.depth, np.arange(n_req)] if self.cached else pm
            self.busy_s = float(np.cumsum(np.concatenate([[self.busy_s], service]))[-1])  # in start order, as simpy
            self.end_s = max(self.end_s, float((start + service).max()))
            base = (start - clock[ridx]) + self.rtt_s
            ttft[:n_req] = base + prefill
            latency[:n_req] = base + service
            wait[:n_req] = (r_wait + (start - req)) if r_wait is not None else 0.0 + (start - req)
            completed[:n_req] = True
            if self.cached:
                read_req = np.asarray(self.chain_read)[services.depth]
                read[:n_req] = read_req
                write[:n_req] = self.hit_tokens - read_req
                hit[:n_req] = read_req > 0
                miss[:n_req] = read_req == 0
            world.ensure(float(start.max()))
            age[:n_req] = self._staleness(ridx, req, start, retrieved[:n_req])
        offline = None
        if n_off:  # the batch API's answers: completed at arrival, knowledge as it is then, no cache
            at = clock[oidx]
            world.ensure(float(at.max()))
            k = slice(n_req + n_fail, n_req + n_fail + n_off)
            completed[k] = True
            age[k] = self._staleness(oidx, at, at, retrieved[k])
            offline = np.zeros(n, bool)
            offline[k] = True
        return idx, self._columns(idx, budget, retrieved, wait, ttft, latency, age, hit, read, write, completed,
                                  retries, failed, offline)

    def _rate_limit(self, ridx, req, prompt_t, chunks_t, trunc_t, r_wait, bound_s):
        """The requests up to bound_s through the limiter: admitted ones in admission order, failed ones apart.

        Returns the admitted (query, model-stage request time, admission time, retries, prompt, chunks,
        truncated, retrieval wait), then the failed (query, failure time, retries, (prompt, chunks, truncated)).
        A request retried past bound_s is carried to a later step: its fields wait in whole-run
        arrays indexed by query (each query reaches the model stage once).
        """
        f = self.rl_fields
        f["req"][ridx], f["prompt"][ridx], f["chunks"][ridx], f["trunc"][ridx] = req, prompt_t, chunks_t, trunc_t
        if r_wait is not None:
            f["rw"][ridx] = r_wait
        (a_idx, a_at, a_k), (f_idx, f_at, f_k) = self.admissions.step(ridx, req, bound_s)
        a_fields = (f["prompt"][a_idx], f["chunks"][a_idx], f["trunc"][a_idx])
        a_rw = f["rw"][a_idx] if r_wait is not None else None
        f_fields = (f["prompt"][f_idx], f["chunks"][f_idx], f["trunc"][f_idx])
        return (a_idx, f["req"][a_idx], a_at, a_k) + a_fields + (a_rw, f_idx, f_at, f_k, f_fields)

    def _columns(self, idx, budget, retrieved, wait, ttft, latency, age, hit, read, write, done, retries=None, failed=None,
                 offline=None):
        """Record columns of queries idx (engine.records, the builder the simpy backend uses too)."""
        d = self.draws
        built = record_columns(
            self.strategy, self.scenario, arrival_at_s=d.arrival_at_s[idx], query_tokens=d.query_tokens[idx],
            output_tokens=d.output_tokens[idx], budget=budget, queue_wait_s=wait, ttft_s=ttft, latency_s=latency,
            staleness_age_s=age, completed=done, retrieved=retrieved, cache_hit=hit,
            cache_read_tokens=read, cache_write_tokens=write, retries=retries, failed=failed, offline=offline,
        )
        return built

    def _staleness(self, ridx: np.ndarray, comp: np.ndarray, start: np.ndarray, retrieved: np.ndarray) -> np.ndarray:
        """Staleness age of each answer (NaN when fresh), read where the simpy engine reads it:
        the index at retrieval completion, the weights and a periodic prefix at model start."""
        w, src = self.world, self.source
        fact = self.draws.fact[ridx]
        age = np.full(len(ridx), np.nan)
        if src in ("index", "index_then_weights"):
            use = slice(None) if src == "index" else retrieved
            age[use] = w.staleness_age_s(fact[use], w.index_snapshot_s(comp[use]), comp[use])
        if src in ("weights", "index_then_weights"):
            use = slice(None) if src == "weights" else ~retrieved
            age[use] = w.staleness_age_s(fact[use], w.periodic["retrain"].snapshot_at(start[use]), start[use])
        if src == "prefix" and not self.on_change:
            age[:] = w.staleness_age_s(fact, w.periodic["cache_rebuild"].snapshot_at(start), start)
        return age

    def cache_entry_s(self, end_s: float) -> float:
        """Entry-seconds alive up to end_s, each level weighted by its share of the prefix (as the simpy backend)."""
        if not self.cached or self.prefix_tokens <= 0:
            return 0.0
        return sum(lv.entry_s(end_s) * lv.tokens / self.prefix_tokens for lv in self.levels)


# --- streaming aggregates ---------------------------------------------------------------

class QuantileSketch:
    """Quantiles within a relative error a, in bounded memory: the ``ddsketch`` package's DDSketch.

    DDSketch (Masson, Rim, Lee, VLDB 2019) puts x > 0 in bucket i = ceil(log_g x),
    g = (1 + a) / (1 - a), and answers any order statistic with its bucket's representative
    2 g^i / (g + 1), within relative error a of the true value; values ~0 are counted apart.
    Two things are added here: arrays are folded in bulk (numpy computes the buckets and
    keeps their counts until the sketch is read; then each bucket in use is added once, with
    its count: ddsketch's own ``add`` takes one value at a time, ~1 us each), and quantiles
    follow numpy's default rule (linear between the order statistics at ranks floor(h) and
    ceil(h), h = (N - 1) q), each order statistic read from the sketch. Memory: one count
    per bucket in use (~ln(max/min) / 2a).
    """

    def __init__(self, relative_error: float = SKETCH_RELATIVE_ERROR):
        from ddsketch import DDSketch

        self.sketch = DDSketch(relative_accuracy=relative_error)
        mapping = self.sketch._mapping  # the bucket rule, to fold arrays in bulk
        self._min_positive, self._value = mapping.min_possible, mapping.value
        self._log2_multiplier = mapping._multiplier  # key = ceil(log2(x) x multiplier) (offset 0)
        self._keys = np.empty(0, np.int64)  # buckets and counts not yet added to the sketch
        self._counts = np.empty(0, np.int64)
        self._zeros = 0

    @property
    def count(self) -> int:
        return int(round(self.sketch.count)) + self._zeros + int(self._counts.sum())

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, float)
        pos = x > self._min_positive
        self._zeros += int(x.size - np.count_nonzero(pos))
        if pos.any():
            keys = np.ceil(np.log2(x[pos]) * self._log2_multiplier).astype(np.int64)
            self._pend(*np.unique(keys, return_counts=True))

    def _pend(self, keys: np.ndarray, counts: np.ndarray) -> None:
        u, inv = np.unique(np.concatenate([self._keys, keys]), return_inverse=True)
        self._counts = np.bincount(inv, weights=np.concatenate([self._counts, counts]), minlength=len(u)).astype(np.int64)
        self._keys = u

    def _flush(self) -> None:
        if self._zeros:
            self.sketch.add(0.0, float(self._zeros))
        for key, n in zip(self._keys.tolist(), self._counts.tolist()):
            # the bucket's representative lies inside the bucket, so ddsketch files it under key
            self.sketch.add(self._value(key), float(n))
        self._keys, self._counts, self._zeros = self._keys[:0], self._counts[:0], 0

    def merge(self, other: "QuantileSketch") -> None:
        other._flush()
        self.sketch.merge(other.sketch)

    def _at_rank(self, r: int) -> float:
        """The order statistic at rank r (0-based), as the sketch holds it."""
        n = self.count
        # ddsketch reads rank q (N - 1); half a rank up selects order statistic r exactly
        q = 1.0 if r >= n - 1 else (r + 0.5) / (n - 1)
        return float(self.sketch.get_quantile_value(q))

    def quantile(self, q: float) -> float | None:
        self._flush()
        n = self.count
        if n == 0:
            return None
        h = (n - 1) * q
        lo, hi = math.floor(h), math.ceil(h)
        v_lo = self._at_rank(lo)
        return v_lo if hi == lo else v_lo + (h - lo) * (self._at_rank(hi) - v_lo)


def sorted_quantiles(x: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """np.quantile(x, qs) (its default 'linear' rule) of values already sorted, without sorting.

    h = (n - 1) q; between the order statistics a = x[floor h] and b = x[floor h + 1], with
    g = h - floor h: a + (b - a) g, computed as b - (b - a)(1 - g) when g >= 0.5 (numpy's
    _lerp, for monotonicity); the largest value when h >= n - 1. Tested equal to np.quantile.
    """
    n = len(x)
    out = []
    for q in qs:
        h = (n - 1) * q
        if h >= n - 1:
            out.append(float(x[-1]))
            continue
        lo = math.floor(h)
        g = h - lo
        a, b = float(x[lo]), float(x[lo + 1])
        d = b - a
        out.append(b - d * (1 - g) if g >= 0.5 else a + d * g)
    return out


class _Series:
    """Values of one quantity per batch: kept exactly, or sketched past a size."""

    def __init__(self, groups: int, exact_limit: int):
        self.parts: list[list[np.ndarray]] = [[] for _ in range(groups)]
        self.sketches: list[QuantileSketch] | None = None
        self.count = 0
        self.exact_limit = exact_limit
        self._sorted_cache: dict[int | None, np.ndarray] = {}

    def add(self, g: np.ndarray, x: np.ndarray, one: int | None = None) -> None:
        """Add values x of batches g (all of batch ``one`` when given)."""
        if x.size == 0:
            return
        self._sorted_cache.clear()
        self.count += x.size
        if self.sketches is None and self.count > self.exact_limit:
            self.sketches = []
            for parts in self.parts:
                s = QuantileSketch()
                for p in parts:
                    s.add(p.astype(float))
                self.sketches.append(s)
            self.parts = []
        for k in ([one] if one is not None else range(int(g.min()), int(g.max()) + 1)):
            part = x if one is not None else x[g == k]
            if self.sketches is None:
                self.parts[k].append(part)
            else:
                self.sketches[k].add(part.astype(float))

    def quantiles(self, qs: tuple[float, ...], group: int | None) -> list[float | None]:
        """np.quantile of the values (of one batch, or all), or the sketch's estimate."""
        if self.sketches is None:
            x = self._sorted(group)
            return sorted_quantiles(x, qs) if x.size else [None] * len(qs)
        if group is not None:
            return [self.sketches[group].quantile(q) for q in qs]
        total = QuantileSketch()
        for s in self.sketches:
            total.merge(s)
        return [total.quantile(q) for q in qs]

    def _sorted(self, group: int | None) -> np.ndarray:
        """The values of one batch (or all, merged from the sorted batches), sorted once."""
        cache = self._sorted_cache
        if group not in cache:
            if group is None:
                runs = [self._sorted(k) for k in range(len(self.parts))]
                x = np.concatenate(runs) if runs else np.empty(0, np.float32)
                cache[None] = np.sort(x, kind="stable") if len(runs) > 1 else x  # a merge of sorted runs
            else:
                parts = self.parts[group]
                cache[group] = np.sort(np.concatenate(parts)) if parts else np.empty(0, np.float32)
        return cache[group]

    @property
    def sketched(self) -> bool:
        return self.sketches is not None


class _Aggregate:
    """Running sums of one strategy's records, per batch: every metric of replication_metrics.

    The formulas are simlib.results.replication_metrics', term by term, over the measured
    (non-warm-up) queries; batches are the same windows as simlib.results.batch_metrics.
    """

    SUMS = ("measured", "cost", "done", "live", "latency", "wait", "fresh", "age", "stale", "hits", "cacheable",
            "read_tokens", "prompt_tokens", "quality", "knowledge", "use", "citable", "truncated",
            "retrieved", "rejected", "failed", "rate_limited", "retries", "offline", "distraction", "context", "long_context", "hallucination") + tuple(f"c_{c}" for c in PER_QUERY_COMPONENTS)

    def __init__(self, scenario: Scenario, name: str, n: int, exact_limit: int | None = None, warmup_n: int = 0):
        exact_limit = EXACT_QUANTILE_VALUES if exact_limit is None else exact_limit
        self.scenario, self.name, self.strategy = scenario, name, STRATEGIES[name]
        # warm-up queries fall in batch 0 but are masked out of every sum (flags & WARMUP)
        self.edges = batch_edges(n, warmup_n, BATCHES)
        self.groups = BATCHES if self.edges is not None else 1
        self.sums = {k: np.zeros(self.groups) for k in self.SUMS}
        self.series = {k: _Series(self.groups, exact_limit) for k in ("latency", "ttft", "age")}

    def add(self, col: dict[str, np.ndarray], comps: dict[str, np.ndarray], quality: dict[str, np.ndarray],
            idx: np.ndarray) -> None:
        """Fold record columns of queries idx in (with their cost components and quality factors,
        which replication_metrics would recompute from the records)."""
        st = self.strategy
        G = self.groups
        if self.edges is None:
            one = 0
        else:
            lo, hi = np.searchsorted(self.edges[1:-1], [idx.min(), idx.max()], side="right")
            one = int(lo) if lo == hi else None  # one batch: plain sums
        g = (np.searchsorted(self.edges[1:-1], idx, side="right") if one is None
             else np.full(len(idx), one, np.int64))
        flags = col["flags"]
        meas = (flags & WARMUP) == 0
        all_measured = bool(meas.all())
        done = (flags & COMPLETED) != 0
        if not all_measured:
            done &= meas
        fresh = (flags & FRESH) != 0

        def add(key: str, mask: np.ndarray | None, weights: np.ndarray | None = None) -> None:
            """Add the count (or the sum of weights) of the rows in mask, per batch; mask None: all rows."""
            if one is not None:
                if weights is not None:
                    self.sums[key][one] += float(np.sum(weights, dtype=float))
                else:
                    self.sums[key][one] += len(g) if mask is None else np.count_nonzero(mask)
                return
            gm = g if mask is None else g[mask]
            self.sums[key] += np.bincount(gm, weights=None if weights is None else np.asarray(weights, float),
                                          minlength=G)

        sel = None if all_measured else meas
        pick = (lambda a: a) if all_measured else (lambda a: a[meas])
        add("measured", sel)
        add("cost", sel, pick(col["cost_usd"]))
        for c in PER_QUERY_COMPONENTS:
            add(f"c_{c}", sel, pick(comps[c]))
        add("done", done)
        live = done & ((flags & OFFLINE) == 0)  # the batch API's answers have a completion window, not a latency
        lat = col["latency_s"][live]
        gd = g[live]
        add("live", live)
        add("latency", live, lat)
        add("wait", live, col["queue_wait_s"][live])
        self.series["latency"].add(gd, lat, one)
        self.series["ttft"].add(gd, col["ttft_s"][live], one)
        add("fresh", done & fresh)
        if st.knowledge_source != "none":
            stale = done & ~fresh
            ages = col["staleness_age_s"][stale]
            add("stale", stale)
            add("age", stale, ages)
            self.series["age"].add(g[stale], ages, one)
        if st.caches(self.scenario):
            read, write = col["cache_read_tokens"], col["cache_write_tokens"]
            add("hits", done & ((flags & CACHE_HIT) != 0))
            add("cacheable", done & ((read > 0) | (write > 0)))
            add("read_tokens", done, read[done])
            add("prompt_tokens", done, col["prompt_tokens"][done])
        add("quality", done, col["quality"][done])
        add("knowledge", done, quality["knowledge"][done])
        add("use", done, quality["use"][done])
        add("citable", done & ((flags & CITABLE) != 0))
        ctx = done & quality["citable"]
        add("distraction", ctx, quality["distraction"][ctx])
        add("context", ctx)
        add("long_context", done, quality["long_context"][done])
        add("hallucination", done, quality["hallucination"][done])
        add("truncated", meas & ((flags & TRUNCATED) != 0))
        add("retrieved", done & ((flags & RETRIEVED) != 0))
        add("rejected", meas & ((flags & REJECTED) != 0))
        add("failed", meas & ((flags & FAILED) != 0))
        add("rate_limited", meas & ((flags & RATE_LIMITED) != 0))
        add("offline", meas & ((flags & OFFLINE) != 0))
        add("retries", sel, pick(col["retries"]))

    @property
    def sketched(self) -> bool:
        return any(s.sketched for s in self.series.values())

    def metrics(self, group: int | None, monthly: dict[str, float], busy_s: float, capacity: int,
                span_s: float) -> dict[str, float | None]:
        """replication_metrics' dictionary, for one batch or (group None) the replication:
        every metric of results.METRICS by its reducer in STREAMING_REDUCERS."""
        f = _Folded(self, group, monthly, busy_s, capacity, span_s)
        return {name: f.get(name) for name in METRICS}

    def batch_metrics(self, monthly: dict[str, float], busy_s: float, capacity: int) -> list[dict[str, float | None]]:
        if self.edges is None:
            return []
        out = []
        for g in range(self.groups):
            b = self.metrics(g, monthly, busy_s, capacity, 0.0)
            b["model_utilisation"] = None
            out.append(b)
        return out


class _Folded:
    """One batch's (or the replication's) running sums and series, read by the streaming reducers."""

    def __init__(self, agg: _Aggregate, group: int | None, monthly: dict[str, float], busy_s: float,
                 capacity: int, span_s: float):
        self.st, self.sc, self.series, self.group = agg.strategy, agg.scenario, agg.series, group
        self.s = {k: float(v.sum() if group is None else v[group]) for k, v in agg.sums.items()}
        self.n_meas, self.n_done = self.s["measured"], self.s["done"]
        self.q_month = self.sc.workload.queries_per_day * DAYS_PER_MONTH
        self.monthly, self.busy_s, self.capacity, self.span_s = monthly, busy_s, capacity, span_s
        self._memo: dict[str, float | None] = {}
        self._quantiles: dict[str, list[float | None]] = {}

    def get(self, metric: str) -> float | None:
        if metric not in self._memo:
            self._memo[metric] = STREAMING_REDUCERS[metric](self)
        return self._memo[metric]

    def share(self, num: str, den: float) -> float | None:
        return self.s[num] / den if den else None

    def quantile(self, series: str, q: float) -> float | None:
        """Quantile q of a series: p50, p95 and p99 are estimated together (one merge of sketches)."""
        if series not in self._quantiles:
            self._quantiles[series] = self.series[series].quantiles(_QUANTILES, self.group)
        return self._quantiles[series][_QUANTILES.index(q)]


_QUANTILES = (0.5, 0.95, 0.99)


def _reducers() -> dict[str, Callable[[_Folded], float | None]]:
    """metric -> its streaming reducer: replication_metrics' formula over the folded sums, term by term.

    Keys are results.METRICS' (tests/test_kernel.py checks the two sets are equal, so a metric
    added to METRICS without a reducer here fails a test, not a run).
    """
    def grounded(f: _Folded) -> bool:
        return f.st.knowledge_source != "none"

    r: dict[str, Callable[[_Folded], float | None]] = {
        "variable_cost_per_query_usd": lambda f: f.s["cost"] / f.n_meas if f.n_meas else 0.0,
        "monthly_cost_usd": lambda f: f.get("variable_cost_per_query_usd") * f.q_month + sum(f.monthly.values()),
        "cost_per_query_usd": lambda f: f.get("monthly_cost_usd") / f.q_month,
        "latency_p50_s": lambda f: f.quantile("latency", 0.5),
        "latency_p95_s": lambda f: f.quantile("latency", 0.95),
        "latency_p99_s": lambda f: f.quantile("latency", 0.99),
        "latency_mean_s": lambda f: f.share("latency", f.s["live"]),
        "ttft_p50_s": lambda f: f.quantile("ttft", 0.5),
        "ttft_p95_s": lambda f: f.quantile("ttft", 0.95),
        "ttft_p99_s": lambda f: f.quantile("ttft", 0.99),
        "queue_wait_mean_s": lambda f: f.share("wait", f.s["live"]),
        "queue_share": lambda f: f.s["wait"] / f.s["latency"] if f.s["live"] and f.s["latency"] > 0 else None,
        "model_utilisation": lambda f: f.busy_s / (f.capacity * f.span_s) if f.span_s > 0 else None,
        "fresh_share": lambda f: f.share("fresh", f.n_done) if grounded(f) else None,
        "staleness_age_mean_s": lambda f: f.share("age", f.s["stale"]) if grounded(f) else None,
        "staleness_age_p95_s": lambda f: f.quantile("age", 0.95) if grounded(f) else None,
        "cache_hit_rate": lambda f: ((f.s["hits"] / f.s["cacheable"] if f.n_done and f.s["cacheable"] > 0 else None)
                                     if f.st.caches(f.sc) else None),
        "cache_hit_token_share": lambda f: (f.s["read_tokens"] / f.s["prompt_tokens"]
                                            if f.st.caches(f.sc) and f.s["prompt_tokens"] > 0 else None),
        # trace prefix blocks fall back to the simpy backend (PREFIX_HASH_GAP): never here
        "prefix_hit_token_share": lambda f: None,
        "prefix_hit_request_mean_share": lambda f: None,
        "prefix_hit_request_share": lambda f: None,
        "quality_proxy": lambda f: f.share("quality", f.n_done),
        "quality_knowledge": lambda f: f.share("knowledge", f.n_done),
        "quality_use": lambda f: f.share("use", f.n_done),
        "quality_behaviour": lambda f: behaviour_share(f.st, f.sc) if f.n_done else None,
        "quality_prior": lambda f: decayed_prior_share(f.sc),
        "quality_weights_recall": lambda f: weights_knowledge_share(f.sc) if f.st.fine_tuned else None,
        "quality_distraction": lambda f: f.share("distraction", f.s["context"]) if f.st.uses_retrieval else None,
        "quality_long_context": lambda f: (f.share("long_context", f.n_done)
                                           if f.st.cached_prefix == "knowledge" else None),
        "hallucination_share": lambda f: f.share("hallucination", f.n_done) if f.st.fine_tuned else None,
        "citable_share": lambda f: f.share("citable", f.n_done),
        "truncated_share": lambda f: f.share("truncated", f.n_meas),
        "retrieval_miss_share": lambda f: ((f.n_done - f.s["retrieved"]) / f.n_done
                                           if f.st.uses_retrieval and f.n_done else None),
        "queries_completed": lambda f: f.n_done,
        "queries_rejected": lambda f: f.s["rejected"],
        "queries_failed": lambda f: f.s["failed"],
        "rate_limited_share": lambda f: f.share("rate_limited", f.n_meas),
        "retries_mean": lambda f: f.share("retries", f.n_meas),
        "failed_share": lambda f: f.share("failed", f.n_meas),
        # the latency, TTFT and wait sums above are over live queries (not offline), as replication_metrics'
        "offline_share": lambda f: f.share("offline", f.n_meas),
        "cost_per_correct_answer_usd": lambda f: cost_per_correct_answer(f.get("cost_per_query_usd"),
                                                                         f.get("quality_proxy")),
    }
    for name in SESSION_METRICS:  # sessions fall back to the simpy backend (SESSIONS_GAP): never here
        r[name] = lambda f: None
    for c in PER_QUERY_COMPONENTS:
        r[f"cost_{c}_per_query_usd"] = lambda f, c=c: f.s[f"c_{c}"] / f.n_meas if f.n_meas else 0.0
    for c in MONTHLY_COMPONENTS:
        r[f"cost_{c}_monthly_usd"] = lambda f, c=c: float(f.monthly.get(c, 0.0))
    return r


STREAMING_REDUCERS = _reducers()


# --- running ----------------------------------------------------------------------------

def records_mode(scenario: Scenario, records: RecordsMode, replications: int) -> Literal["full", "summary"]:
    """'auto' keeps full records while they fit FULL_RECORDS_MAX_BYTES."""
    if records != "auto":
        return records
    size = scenario.simulation.queries * len(scenario.simulation.strategies) * replications * RECORD_DTYPE.itemsize
    return "full" if size <= FULL_RECORDS_MAX_BYTES else "summary"


def run_replication(scenario: Scenario, replication: int, feasible: dict[str, str | None], *,
                    progress: Callable[[int], None] | None = None, records: Literal["full", "summary"] = "full",
                    chunk_queries: int = CHUNK_QUERIES):
    """One replication: (Replication, metrics, batch metrics, notes), or the reason to fall back (a str).

    Draws exactly what simlib.engine.simpy_backend.run_replication draws, in the same order.
    ``metrics`` and ``batch metrics`` are empty with full records (results computes them from the records).
    """
    rng = streams(scenario.simulation.seed, replication)
    chunk = max(1, int(chunk_queries))
    draws = _DrawWindow(QueryDrawer(scenario, rng))  # draws chunk by chunk: memory ~ two chunks, not the run
    n = draws.drawer.n
    whole = scenario.rate_limits.enabled  # admissions read every query's draws up front (rate_limits.ArrayAdmissions)
    draws.draw(n if whole else chunk)
    phases = draw_phases(scenario, rng["phases"])
    changes = ChangeStream(scenario, rng["changes"], history_start_s(scenario, phases))
    names = [name for name in scenario.simulation.strategies if feasible[name] is None]
    gap = prefix_hash_gap(draws, names)
    if gap is not None:
        return gap
    # the world is extended as the chunks reach later times (ChangeStream's blocks do not depend on how far)
    world = _World(scenario, changes, phases, names, float(draws.arrays["clock"][-1]) + 3_600.0 if n else 0.0)
    kernels = {name: _StrategyKernel(scenario, name, draws, draws.clock, world) for name in names}
    warmup_n = int(scenario.simulation.warmup_share * n)
    full = {name: np.zeros(n, RECORD_DTYPE) for name in names} if records == "full" else None
    full_costs = {name: np.zeros(n, COST_COMPONENTS_DTYPE) for name in names} if records == "full" else None
    full_quality = {name: np.zeros(n, QUALITY_FACTORS_DTYPE) for name in names} if records == "full" else None
    aggs = ({name: _Aggregate(scenario, name, n, warmup_n=warmup_n) for name in names}
            if records == "summary" else None)
    stride = max(1, -(-n // SAMPLE_RECORDS))
    samples: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {name: [] for name in names}
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        if hi < n and draws.top <= hi:
            draws.draw(chunk)  # the next chunk: its first arrival bounds this one
        bound = float(draws.clock[hi:hi + 1][0]) if hi < n else math.inf
        for name, k in kernels.items():
            idx, built = k.step(lo, hi, bound)
            if not len(idx):
                continue
            cols = built.columns
            if lo < warmup_n or (k.strategy.uses_retrieval or k.admissions is not None) and warmup_n:
                # queries of earlier chunks finish here after retrieval or rate-limit retries
                cols["flags"] |= np.where(idx < warmup_n, WARMUP, 0).astype(np.uint16)
            if full is not None:
                target = full[name]
                for field in RECORD_DTYPE.names:
                    target[field][idx] = cols[field]
                for table, values in ((full_costs[name], built.costs_usd), (full_quality[name], built.quality)):
                    for field in table.dtype.names:  # field by field: a structured scatter is slower
                        table[field][idx] = values[field]
            else:
                aggs[name].add(cols, built.costs_usd, built.quality, idx)
                keep = np.flatnonzero(idx % stride == 0)
                rec = np.empty(len(keep), RECORD_DTYPE)
                for field in RECORD_DTYPE.names:
                    rec[field] = cols[field][keep]
                samples[name].append((idx[keep], rec, built.cost_components(keep), built.quality_factors(keep)))
        pending = [int(k.pending[0].min()) for k in kernels.values() if len(k.pending[0])]
        if not whole:
            draws.drop_below(min([hi, *pending]))
        if progress is not None:
            progress(hi)
    span = draws.last_arrival_s - draws.first_arrival_s if n > 1 else 0.0
    end = max([k.end_s for k in kernels.values()], default=-math.inf)
    if not names:
        end = -math.inf
    strategies: dict[str, StrategyReplication] = {}
    metrics: dict[str, dict[str, float | None]] = {}
    batches: dict[str, list] = {}
    notes: list[str] = []
    for name, k in kernels.items():
        hours = 0.0
        if k.cached and span > 0:
            hours = k.cache_entry_s(draws.last_arrival_s) / 3600.0 * (DAYS_PER_MONTH * SECONDS_PER_DAY / span)
        monthly = monthly_components(k.strategy, scenario, cache_entry_hours_per_month=hours)
        if full is not None:
            rec, costs, factors = full[name], full_costs[name], full_quality[name]
        else:
            parts = samples[name]
            sidx = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
            order = np.argsort(sidx, kind="stable")
            rec = (np.concatenate([p[1] for p in parts]) if parts else np.empty(0, RECORD_DTYPE))[order]
            costs = (np.concatenate([p[2] for p in parts]) if parts else np.empty(0, COST_COMPONENTS_DTYPE))[order]
            factors = (np.concatenate([p[3] for p in parts]) if parts else np.empty(0, QUALITY_FACTORS_DTYPE))[order]
            agg = aggs[name]
            metrics[name] = agg.metrics(None, monthly, k.busy_s, k.capacity, span)
            batches[name] = agg.batch_metrics(monthly, k.busy_s, k.capacity)
            if agg.sketched and replication == 0:
                notes.append(f"{name}: latency, TTFT and staleness percentiles from a quantile sketch "
                             f"(relative error below {SKETCH_RELATIVE_ERROR:.1%}) past {EXACT_QUANTILE_VALUES:,} values")
        strategies[name] = StrategyReplication(records=rec, monthly_components_usd=monthly, busy_s=k.busy_s,
                                               capacity=k.capacity, cost_components_usd=costs, quality_factors=factors)
    if records == "summary" and stride > 1 and replication == 0 and names:
        notes.append(f"per-query records hold a 1-in-{stride} sample (summary statistics use every query; "
                     "run with records='full' to keep them all)")
    timeline = world.timeline(end) if names else world.timeline(-math.inf)
    rep = Replication(index=replication, strategies=strategies, timeline=timeline, span_s=span)
    return rep, metrics, batches, notes
