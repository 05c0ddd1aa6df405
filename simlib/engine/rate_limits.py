"""Provider rate limits as token buckets, with 429s, retries and failures (issue 16, item 1).

A provider enforces three buckets per tier (data/prices/rate_limits.csv): requests, input
tokens and output tokens per minute. Each bucket holds at most ``burst`` units (default:
one minute's worth) and refills continuously at ``limit / 60`` units per second:

    level(t) = min(burst, level(t0) + (t - t0) x limit / 60)

A request is admitted when every bucket holds what it needs (1 request, its counted input
tokens, its output tokens; Anthropic estimates output from ``max_tokens`` at request start),
and the three amounts are taken at once. Counted input tokens are the uncached ones where
the provider exempts cache reads (Anthropic, current models), else all input tokens.

Otherwise the provider answers 429 with ``retry-after`` = the time until every bucket would
hold the amounts. The client retries after

    wait_n = max(retry_after, min(cap_s, base_s x 2^n) x (1 + jitter_share x u)),  u ~ U[0, 1)

and after ``max_retries`` retries the request fails (counted, never dropped silently).

Sustained throughput under steady overload (closed form checked by the tests):

    requests/min = min(RPM, ITPM / counted input per request, OTPM / output per request)

Wired into the serving path (simlib/engine/serving.py) through :class:`RateLimiter`, from
the scenario's ``rate_limits`` group (:func:`limiter_for`); :func:`simulate_rate_limited`
replays one stream of requests through the same limiter (the closed-form tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True)
class RateLimits:
    """One tier's limits; ``burst_minutes`` sets each bucket's size in minutes of refill."""

    requests_per_minute: float
    input_tokens_per_minute: float
    output_tokens_per_minute: float
    cache_reads_exempt: bool = True
    burst_minutes: float = 1.0

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute", "burst_minutes"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"rate_limits.{name} must be a finite number > 0 (got {value!r})")

    @classmethod
    def from_tier(cls, provider: str, tier: str, model_class: str, burst_minutes: float = 1.0) -> "RateLimits":
        """Limits of a tier on file in data/prices/rate_limits.csv."""
        from simlib.prices import rate_limit_tier

        row = rate_limit_tier(provider, tier, model_class)
        return cls(row.requests_per_minute, row.input_tokens_per_minute, row.output_tokens_per_minute,
                   row.cache_reads_exempt, burst_minutes)

    def per_minute(self) -> np.ndarray:
        return np.array([self.requests_per_minute, self.input_tokens_per_minute, self.output_tokens_per_minute])


@dataclass(frozen=True)
class RetryPolicy:
    """Client retry policy after a 429: exponential backoff with jitter, honouring retry-after."""

    max_retries: int = 3
    base_s: float = 1.0
    cap_s: float = 60.0
    jitter_share: float = 0.5

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_s < 0 or self.cap_s < 0 or not 0 <= self.jitter_share <= 1:
            raise ValueError("retry policy: max_retries, base_s, cap_s >= 0 and jitter_share in [0, 1]")

    def wait_s(self, retry_index: int, retry_after_s: float, u: float) -> float:
        """wait_n = max(retry_after, min(cap, base x 2^n) x (1 + jitter_share x u))."""
        backoff = min(self.cap_s, self.base_s * 2.0 ** retry_index) * (1.0 + self.jitter_share * u)
        return max(retry_after_s, backoff)


def counted_input_tokens(input_tokens, cached_read_tokens, cache_reads_exempt: bool):
    """Input tokens that count toward the input-token limit: uncached only where cache reads are exempt."""
    return np.subtract(input_tokens, cached_read_tokens) if cache_reads_exempt else np.asarray(input_tokens)


def sustained_requests_per_minute(limits: RateLimits, counted_input_per_request: float,
                                  output_per_request: float) -> float:
    """Closed form: min(RPM, ITPM / counted input per request, OTPM / output per request)."""
    candidates = [limits.requests_per_minute]
    if counted_input_per_request > 0:
        candidates.append(limits.input_tokens_per_minute / counted_input_per_request)
    if output_per_request > 0:
        candidates.append(limits.output_tokens_per_minute / output_per_request)
    return min(candidates)


def binding_limit(limits: RateLimits, counted_input_per_request: float, output_per_request: float) -> str:
    """Which bucket binds first: 'requests', 'input_tokens' or 'output_tokens'."""
    options = {"requests": limits.requests_per_minute,
               "input_tokens": limits.input_tokens_per_minute / counted_input_per_request
               if counted_input_per_request > 0 else math.inf,
               "output_tokens": limits.output_tokens_per_minute / output_per_request
               if output_per_request > 0 else math.inf}
    return min(options, key=options.get)


class RateLimiter:
    """The three buckets of one tier and the retry policy: the one implementation both backends call.

    Scalar floats (no numpy per attempt): the simpy engine calls :meth:`attempt` from each
    query's process at its clock time, the array backend calls it in the same time order,
    so both see the same levels, 429s and waits bit for bit. Starts full.
    """

    def __init__(self, limits: RateLimits, policy: RetryPolicy, honour_retry_after: bool = True):
        rpm, itpm, otpm = (float(x) for x in limits.per_minute())
        self.rate = (rpm / SECONDS_PER_MINUTE, itpm / SECONDS_PER_MINUTE, otpm / SECONDS_PER_MINUTE)
        self.burst = (rpm * limits.burst_minutes, itpm * limits.burst_minutes, otpm * limits.burst_minutes)
        self.level = list(self.burst)
        self.at_s = 0.0
        self.policy = policy
        self.honour_retry_after = honour_retry_after

    def attempt(self, now_s: float, input_tokens: float, output_tokens: float) -> float:
        """Take (1 request, input, output) if every bucket holds it: return 0.0.

        Otherwise take nothing and return the retry-after: seconds until every bucket would
        hold it, max over buckets of (need - level) / rate; ``inf`` when a need exceeds a
        bucket's burst and can never be admitted.
        """
        lv, rate, burst = self.level, self.rate, self.burst
        l0, l1, l2 = lv
        if now_s > self.at_s:  # refill: min(burst, level + dt x rate), written out (the hot loop of both backends)
            dt = now_s - self.at_s
            l0, l1, l2 = l0 + dt * rate[0], l1 + dt * rate[1], l2 + dt * rate[2]
            if l0 > burst[0]:
                l0 = burst[0]
            if l1 > burst[1]:
                l1 = burst[1]
            if l2 > burst[2]:
                l2 = burst[2]
            self.at_s = now_s
        s0, s1, s2 = 1.0 - l0, input_tokens - l1, output_tokens - l2
        if s0 <= 1e-9 and s1 <= 1e-9 and s2 <= 1e-9:
            self.level = [l0 - 1.0, l1 - input_tokens, l2 - output_tokens]
            return 0.0
        self.level = [l0, l1, l2]
        if input_tokens > burst[1] + 1e-9 or output_tokens > burst[2] + 1e-9 or burst[0] < 1.0 - 1e-9:
            return math.inf
        w0 = s0 / rate[0] if s0 > 0.0 else 0.0
        w1 = s1 / rate[1] if s1 > 0.0 else 0.0
        w2 = s2 / rate[2] if s2 > 0.0 else 0.0
        return w0 if (w0 >= w1 and w0 >= w2) else (w1 if w1 >= w2 else w2)

    def wait_s(self, retry_index: int, retry_after_s: float, u: float) -> float:
        """The client's wait before retry ``retry_index`` (0-based); retry-after ignored unless honoured."""
        return self.policy.wait_s(retry_index, retry_after_s if self.honour_retry_after else 0.0, u)


@dataclass
class RateLimitOutcome:
    """Per-request outcome of :func:`simulate_rate_limited`."""

    admitted_at_s: np.ndarray  # NaN where the request failed
    retries: np.ndarray  # retries each request made (one per 429 but the last of a failed request)
    throttled: np.ndarray  # 429s each request received
    failed: np.ndarray  # bool: rejected after its last retry (or never admissible)
    metrics: dict = field(default_factory=dict)


def simulate_rate_limited(arrival_at_s, counted_input_tokens_per_request, output_tokens_per_request,
                          limits: RateLimits, policy: RetryPolicy, seed: int = 0, jitter_u=None) -> RateLimitOutcome:
    """Replay arrivals through the buckets in time order (attempts ordered by time, then index).

    Each attempt either takes its tokens or gets a 429; a 429 schedules the next attempt
    after ``policy.wait_s`` or, after ``max_retries`` retries, fails the request.
    ``jitter_u[i, k]``: the jitter draw of request i's retry k (default: drawn from ``seed``).
    Metrics: rate_limited_share (requests that got >= 1 429), retries_mean, failed_share.
    """
    import heapq

    arrival = np.asarray(arrival_at_s, dtype=float)
    n = arrival.size
    need_in = np.broadcast_to(np.asarray(counted_input_tokens_per_request, dtype=float), (n,)).tolist()
    need_out = np.broadcast_to(np.asarray(output_tokens_per_request, dtype=float), (n,)).tolist()
    if jitter_u is None:
        jitter_u = np.random.default_rng(seed).random((n, max(1, policy.max_retries)))
    limiter = RateLimiter(limits, policy)
    admitted = np.full(n, np.nan)
    retries = np.zeros(n, dtype=int)
    throttled = np.zeros(n, dtype=int)
    failed = np.zeros(n, dtype=bool)
    heap = [(float(arrival[i]), i) for i in range(n)]
    heapq.heapify(heap)
    while heap:
        now, i = heapq.heappop(heap)
        retry_after = limiter.attempt(now, need_in[i], need_out[i])
        if retry_after == 0.0:
            admitted[i] = now
            continue
        throttled[i] += 1
        if math.isinf(retry_after) or retries[i] >= policy.max_retries:
            failed[i] = True
        else:
            wait = limiter.wait_s(int(retries[i]), retry_after, float(jitter_u[i, retries[i]]))
            retries[i] += 1
            heapq.heappush(heap, (now + wait, i))
    metrics = {
        "rate_limited_share": float(np.mean(throttled > 0)) if n else 0.0,
        "retries_mean": float(np.mean(retries)) if n else 0.0,
        "failed_share": float(np.mean(failed)) if n else 0.0,
    }
    return RateLimitOutcome(admitted, retries, throttled, failed, metrics)


def stage_capacities(limits: RateLimits, counted_input_per_request: float, output_per_request: float,
                     offered_requests_per_minute: float) -> dict:
    """Capacity of a rate-limited model stage against its offered peak load.

    For the saturation flag (issue 16 item 5, owned by the verdict work): capacity in
    requests/min from the closed form, the binding bucket, and utilisation = offered /
    capacity (>= 1 means the tier cannot carry the peak).
    """
    capacity = sustained_requests_per_minute(limits, counted_input_per_request, output_per_request)
    return {"capacity_requests_per_minute": capacity,
            "binding_limit": binding_limit(limits, counted_input_per_request, output_per_request),
            "offered_requests_per_minute": offered_requests_per_minute,
            "utilisation_share": offered_requests_per_minute / capacity}


def limiter_for(scenario, strategy) -> RateLimiter | None:
    """A fresh limiter for one strategy's serverless endpoint under the scenario's rate_limits, or None.

    Each strategy is its own system (its own account's buckets), as it has its own slots.
    None when no limits are set, the model is on dedicated GPUs, or the strategy is
    fine-tuned and the limits apply to the base model only.
    """
    rl = scenario.rate_limits
    if not rl.enabled or scenario.serving.dedicated(strategy.fine_tuned):
        return None
    if strategy.fine_tuned and rl.applies_to == "base":
        return None
    limits = RateLimits(rl.requests_per_minute, rl.input_tokens_per_minute, rl.output_tokens_per_minute,
                        rl.counts_uncached_only(), rl.burst_s / SECONDS_PER_MINUTE)
    policy = RetryPolicy(rl.retry_limit, rl.backoff_base_s, rl.backoff_cap_s, rl.jitter_share)
    return RateLimiter(limits, policy, rl.honour_retry_after)


def counted_input_per_query(scenario, strategy, prompt_tokens: np.ndarray, cached_prefix_tokens: int) -> np.ndarray:
    """Input tokens each request presents to the input-token bucket at admission.

    prompt - cached prefix where cache reads are exempt and the strategy caches, else the prompt.
    The prefix counts as a read: whether it hits is only known when the request is served,
    after admission, and where limits bind the load is high enough that the prefix stays
    warm (an approximation stated in docs/capacity.md).
    """
    prompt = np.asarray(prompt_tokens, dtype=float)
    if scenario.rate_limits.counts_uncached_only() and strategy.caches(scenario) and cached_prefix_tokens > 0:
        return np.maximum(prompt - cached_prefix_tokens, 0.0)
    return prompt


def rate_limit_utilisation(scenario, strategy, prompt_tokens: np.ndarray, output_tokens_mean: float,
                           offered_requests_per_minute: float) -> float:
    """Offered requests/min over the sustained capacity of the scenario's limits (>= 1: the tier cannot carry it)."""
    from simlib.engine.cache import cached_tokens_on_hit

    rl, rules = scenario.rate_limits, strategy.cache_rules(scenario)
    hit = cached_tokens_on_hit(strategy.cached_prefix_tokens(scenario), rules.mode, rules.min_cacheable_tokens, rules.increment_tokens)
    counted = float(np.mean(counted_input_per_query(scenario, strategy, prompt_tokens, hit)))
    limits = RateLimits(rl.requests_per_minute, rl.input_tokens_per_minute, rl.output_tokens_per_minute,
                        rl.counts_uncached_only(), rl.burst_s / SECONDS_PER_MINUTE)
    return stage_capacities(limits, counted, output_tokens_mean, offered_requests_per_minute)["utilisation_share"]


class ArrayAdmissions:
    """The array backend's rate-limit stage: one :class:`RateLimiter` met in time order, chunk by chunk.

    ``step`` takes the requests reaching the model stage up to ``bound_s`` (sorted by time)
    and returns which were admitted (at what time, after how many retries) and which
    failed; retries due after ``bound_s`` are carried to the next step. Attempts are
    processed in time order, retries due at a request's time first and equal-time retries in
    the order they were scheduled, exactly as the simpy processes meet the limiter (a retry's
    timeout is always scheduled before a new request's process starts), so both backends see
    the same levels and waits.

    Fast path (exact): after an admission from full buckets the levels are burst - need;
    while each next gap refills every bucket to its burst, (burst - need) + dt x rate >=
    burst in the limiter's own float expression, the next request is admitted from full
    too. Such runs are decided with arrays; the first request that may find a bucket short
    goes through the scalar limiter. A run is tried only after STREAK admissions from full in
    a row (light load): under heavier load the scalar limiter alone is faster.
    """

    BLOCK = 4096  # longest vectorised run tried at once; runs start at 8 and double while they hold
    STREAK = 32  # admissions from full in a row before a vectorised run is tried (light load)

    def __init__(self, limiter: RateLimiter, retry_limit: int, counted_input, output, retry_u):
        self.lim, self.retry_limit = limiter, retry_limit
        self.counted_in = np.asarray(counted_input, dtype=float)
        self.output = np.asarray(output, dtype=float)
        self.retry_u = retry_u
        # (due time, scheduling order, query, retries made, payload): equal due times in the order the
        # retries were scheduled, as simpy orders events (retry-after sends many to one refill instant)
        self.heap: list[tuple[float, int, int, int, object]] = []
        self.seq = 0
        self.block = 8

    def _vector_run(self, t: np.ndarray, inp: np.ndarray, out: np.ndarray, j: int, prev_in: float,
                    prev_out: float) -> int:
        """How many requests from j on are admitted from full buckets (0 if the next is not)."""
        lim = self.lim
        b0, b1, b2 = lim.burst
        r0, r1, r2 = lim.rate
        e = min(len(t), j + self.block)
        tt = t[j:e]
        prev_t = np.concatenate(([lim.at_s], tt[:-1]))
        p_in = np.concatenate(([prev_in], inp[j:e - 1]))
        p_out = np.concatenate(([prev_out], out[j:e - 1]))
        dt = tt - prev_t
        ok = ((dt > 0) & ((b0 - 1.0) + dt * r0 >= b0) & ((b1 - p_in) + dt * r1 >= b1) & ((b2 - p_out) + dt * r2 >= b2)
              & (inp[j:e] <= b1 + 1e-9) & (out[j:e] <= b2 + 1e-9) & (b0 >= 1.0 - 1e-9))
        bad = np.flatnonzero(~ok)
        if bad.size:
            self.block = 8
            return int(bad[0])
        self.block = min(self.BLOCK, 2 * self.block)
        return e - j

    def step(self, query: np.ndarray, t: np.ndarray, payload: list, bound_s: float):
        """Attempts up to bound_s. ``payload[j]``: what the caller needs back for request j (any object).

        Returns (admitted: list of (time, query, retries, payload), failed: list of (time, query, retries, payload)),
        admitted in admission order.
        """
        import heapq

        lim, heap, R = self.lim, self.heap, self.retry_limit
        attempt, wait_s = lim.attempt, lim.wait_s
        inp, out = self.counted_in[query], self.output[query]
        inp_l, out_l, t_l, q_l = inp.tolist(), out.tolist(), t.tolist(), query.tolist()
        admitted, failed = [], []

        def one(now: float, i: int, k: int, pay, need_in: float, need_out: float) -> bool:
            """One attempt; True when admitted from full buckets with nothing waiting (the fast path may follow)."""
            ra = attempt(now, need_in, need_out)
            if ra == 0.0:
                admitted.append((now, i, k, pay))
                lv, b = lim.level, lim.burst
                return (not heap and lv[0] == b[0] - 1.0 and lv[1] == b[1] - need_in and lv[2] == b[2] - need_out)
            if ra == math.inf or k >= R:
                failed.append((now, i, k, pay))
            else:
                self.seq += 1
                heapq.heappush(heap, (now + wait_s(k, ra, float(self.retry_u[i, k])), self.seq, i, k + 1, pay))
            return False

        j, m = 0, len(t_l)
        full, streak = False, 0
        while j < m:
            now = t_l[j]
            while heap and heap[0][0] <= now:
                due, _, i, k, pay = heapq.heappop(heap)
                full = one(due, i, k, pay, float(self.counted_in[i]), float(self.output[i]))
            streak = streak + 1 if full else 0
            if streak >= self.STREAK and not heap:
                last = admitted[-1][1]
                run = self._vector_run(t, inp, out, j, float(self.counted_in[last]), float(self.output[last]))
                if not run:
                    streak = 0
                else:
                    e = j + run
                    admitted.extend((t_l[x], q_l[x], 0, payload[x]) for x in range(j, e))
                    lim.level = [lim.burst[0] - 1.0, lim.burst[1] - inp_l[e - 1], lim.burst[2] - out_l[e - 1]]
                    lim.at_s = t_l[e - 1]
                    j = e
                    continue
            full = one(now, q_l[j], 0, payload[j], inp_l[j], out_l[j])
            j += 1
        while heap and heap[0][0] <= bound_s:
            due, _, i, k, pay = heapq.heappop(heap)
            one(due, i, k, pay, float(self.counted_in[i]), float(self.output[i]))
        return admitted, failed
