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

import functools
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


def _admit_attempts(t, q, m, bound_s, cin, cout, ru, width, backoff, retry_limit, rate, burst, honour, jitter,
                    levels, counters, heap_t, heap_seq, heap_q, heap_k, ev_q, ev_t, ev_k, ev_failed):
    """The array backend's per-attempt loop: fresh requests ``t[:m]`` (queries ``q``, sorted) and retries due by bound_s.

    :meth:`RateLimiter.attempt` and :meth:`RetryPolicy.wait_s` written out on scalars,
    expression for expression (same operands in the same order, so the same IEEE results;
    compiled without fastmath, so no reassociation or FMA contraction):

        level = min(burst, level + dt x rate)  (refill, only when now > the last attempt)
        shortfall = need - level; admitted when every shortfall <= 1e-9 (take all three)
        retry-after = max over buckets of shortfall / rate (0 where a bucket holds enough)
        wait = max(retry-after if honoured else 0, min(cap, base x 2^k) x (1 + jitter_share x u))

    ``backoff[k]`` = min(cap, base x 2^k) per retry index; ``ru[i x width + k]`` = request i's
    jitter draw u for retry k; ``cin``/``cout`` = each query's counted input and output tokens.
    Attempts run in time order, a retry due at a fresh request's time first, equal due times in
    scheduling order: a binary min-heap on (due time, seq) in ``heap_*[:size]`` (capacity one
    entry per query: a query waits on at most one retry). State carried across calls:
    ``levels`` = [request, input, output bucket levels, time of the last attempt],
    ``counters`` = [seq, heap size]. Each admission or failure is written to ``ev_*[n]`` in
    the order it happens (``ev_failed`` tells which); returns n.

    Compiled with numba (``njit(cache=True)``, :func:`_kernel`): about 0.08 us per attempt.
    Without numba (Pyodide) the same function runs as plain Python on lists: about 2.2 us per
    attempt (code-apply at Tier 4, 2026-12-02; the hand-written Python loop before it, 0.7 us).
    """
    r0, r1, r2 = rate[0], rate[1], rate[2]
    b0, b1, b2 = burst[0], burst[1], burst[2]
    top1, top2, never = b1 + 1e-9, b2 + 1e-9, b0 < 1.0 - 1e-9
    l0, l1, l2, at = levels[0], levels[1], levels[2], levels[3]
    seq, size = counters[0], counters[1]
    j = 0
    n = 0
    while True:
        fresh_s = t[j] if j < m else bound_s  # after the last fresh request: retries due by bound_s
        if size > 0 and heap_t[0] <= fresh_s:
            # a retry due first (at equal times before the fresh request): pop the root, sift the last entry down
            now, i, k = heap_t[0], heap_q[0], heap_k[0]
            size -= 1
            if size > 0:
                lt, ls, lq, lk = heap_t[size], heap_seq[size], heap_q[size], heap_k[size]
                pos = 0
                c = 1
                while c < size:
                    if c + 1 < size and (heap_t[c + 1] < heap_t[c] or (heap_t[c + 1] == heap_t[c] and heap_seq[c + 1] < heap_seq[c])):
                        c += 1
                    if heap_t[c] < lt or (heap_t[c] == lt and heap_seq[c] < ls):
                        heap_t[pos], heap_seq[pos], heap_q[pos], heap_k[pos] = heap_t[c], heap_seq[c], heap_q[c], heap_k[c]
                        pos = c
                        c = 2 * pos + 1
                    else:
                        break
                heap_t[pos], heap_seq[pos], heap_q[pos], heap_k[pos] = lt, ls, lq, lk
        elif j < m:
            now, i, k = t[j], q[j], 0
            j += 1
        else:
            break
        need_in, need_out = cin[i], cout[i]
        # RateLimiter.attempt: refill min(burst, level + dt x rate), then take all three or none
        if now > at:
            dt = now - at
            l0, l1, l2 = l0 + dt * r0, l1 + dt * r1, l2 + dt * r2
            if l0 > b0:
                l0 = b0
            if l1 > b1:
                l1 = b1
            if l2 > b2:
                l2 = b2
            at = now
        s0, s1, s2 = 1.0 - l0, need_in - l1, need_out - l2
        if s0 <= 1e-9 and s1 <= 1e-9 and s2 <= 1e-9:
            l0, l1, l2 = l0 - 1.0, l1 - need_in, l2 - need_out
            ev_q[n], ev_t[n], ev_k[n], ev_failed[n] = i, now, k, False
            n += 1
            continue
        if need_in > top1 or need_out > top2 or never or k >= retry_limit:
            ev_q[n], ev_t[n], ev_k[n], ev_failed[n] = i, now, k, True
            n += 1
            continue
        # retry-after = max over buckets of shortfall / rate; RetryPolicy.wait_s:
        # wait = max(retry_after, min(cap, base x 2^k) x (1 + jitter_share x u))
        w0 = s0 / r0 if s0 > 0.0 else 0.0
        w1 = s1 / r1 if s1 > 0.0 else 0.0
        w2 = s2 / r2 if s2 > 0.0 else 0.0
        ra = (w0 if (w0 >= w1 and w0 >= w2) else (w1 if w1 >= w2 else w2)) if honour else 0.0
        wait = backoff[k] * (1.0 + jitter * ru[i * width + k])
        if ra >= wait:
            wait = ra
        seq += 1
        due_s = now + wait
        # push, sifting up: seq only grows, so an equal due time stays below the earlier-scheduled entries
        pos = size
        size += 1
        while pos > 0:
            parent = (pos - 1) >> 1
            if due_s < heap_t[parent]:
                heap_t[pos], heap_seq[pos], heap_q[pos], heap_k[pos] = heap_t[parent], heap_seq[parent], heap_q[parent], heap_k[parent]
                pos = parent
            else:
                break
        heap_t[pos], heap_seq[pos], heap_q[pos], heap_k[pos] = due_s, seq, i, k + 1
    levels[0], levels[1], levels[2], levels[3] = l0, l1, l2, at
    counters[0], counters[1] = seq, size
    return n


@functools.cache
def _kernel():
    """(the per-attempt loop, compiled?): numba's ``njit(cache=True)`` of :func:`_admit_attempts`, else the function.

    numba is imported here, on the first rate-limited array run, not with simlib. CPU cost per
    process (measured 2026-12-02, 2 shared cores): import ~0.2-0.4 s, then the first call
    ~0.6-0.8 s to load the machine code from numba's on-disk cache (most of it numba setting up
    its compiler, which imports scipy.linalg to look for BLAS); on a machine's very first run
    it compiles instead, ~2-2.5 s, and writes that cache (__pycache__ beside this file, or a
    user cache directory where that is not writable).
    """
    from simlib.engine.compiled import compile_loop

    return compile_loop(_admit_attempts)


class ArrayAdmissions:
    """The array backend's rate-limit stage: one :class:`RateLimiter`'s buckets met in time order, chunk by chunk.

    ``step`` takes the requests reaching the model stage up to ``bound_s`` (sorted by time)
    and returns which were admitted (at what time, after how many retries) and which
    failed; retries due after ``bound_s`` are carried to the next step. Attempts are
    processed in time order, retries due at a request's time first and equal-time retries in
    the order they were scheduled, exactly as the simpy processes meet the limiter (a retry's
    timeout is always scheduled before a new request's process starts), so both backends see
    the same levels and waits.

    The per-attempt loop is :func:`_admit_attempts`, compiled with numba: the limiter's
    ``attempt`` and the retry wait written out expression for expression. The
    record-for-record tests against simpy (tests/test_rate_limits.py, presets and
    hypothesis) are what hold the two forms together; the limiter's state is written back
    after each step.
    """

    def __init__(self, limiter: RateLimiter, retry_limit: int, counted_input, output, retry_u, compiled: bool | None = None):
        """``compiled``: None = numba when importable; False = the plain-Python loop (the fallback's tests)."""
        kernel, can_compile = _kernel()
        self.compiled = can_compile if compiled is None else (compiled and can_compile)
        self.kernel = kernel if self.compiled else _admit_attempts
        # the kernel's containers: contiguous arrays compiled, Python lists (fast scalar indexing) otherwise
        self._box = (lambda a, dtype: np.ascontiguousarray(a, dtype)) if self.compiled else (lambda a, dtype: np.asarray(a, dtype).tolist())
        self.lim, self.retry_limit = limiter, retry_limit
        box = self._box
        n = len(counted_input)
        self.cin, self.cout = box(counted_input, np.float64), box(output, np.float64)
        self.ru = box(np.ravel(retry_u) if retry_u is not None else np.zeros(0), np.float64)  # flat: [i x width + k]
        self.width = int(retry_u.shape[1]) if retry_u is not None else 1
        p = limiter.policy
        # RetryPolicy.wait_s's backoff before the jitter factor, min(cap, base x 2^k), one per retry index
        self.backoff_s = box([min(p.cap_s, p.base_s * 2.0 ** k) for k in range(retry_limit)], np.float64)
        self.rate, self.burst = box(limiter.rate, np.float64), box(limiter.burst, np.float64)
        # retries waiting: (due time, scheduling order, query, retries made), a heap of at most one entry per query
        self.heap = (box(np.zeros(n), np.float64), box(np.zeros(n), np.int64), box(np.zeros(n), np.int64), box(np.zeros(n), np.int64))
        self.counters = box([0, 0], np.int64)  # [seq, heap size]

    def step(self, query: np.ndarray, t: np.ndarray, bound_s: float):
        """Attempts of requests ``query`` (reaching the model stage at ``t``, sorted) and of retries due by bound_s.

        Returns (admitted query, admission time, retries) in admission order and
        (failed query, failure time, retries), as arrays.
        """
        lim, box = self.lim, self._box
        m = len(t)
        cap = m + int(self.counters[1])  # each fresh request and each waiting retry ends at most once
        ev = (box(np.zeros(cap), np.int64), box(np.zeros(cap), np.float64), box(np.zeros(cap), np.int64),
              box(np.zeros(cap), np.bool_))
        levels = box([*lim.level, lim.at_s], np.float64)
        n = self.kernel(box(t, np.float64), box(query, np.int64), m, float(bound_s), self.cin, self.cout, self.ru,
                        self.width, self.backoff_s, int(self.retry_limit), self.rate, self.burst,
                        bool(lim.honour_retry_after), float(lim.policy.jitter_share), levels, self.counters,
                        *self.heap, *ev)
        lim.level, lim.at_s = [float(levels[0]), float(levels[1]), float(levels[2])], float(levels[3])
        e_q, e_t, e_k = np.asarray(ev[0][:n], np.int64), np.asarray(ev[1][:n], float), np.asarray(ev[2][:n], np.int64)
        bad = np.asarray(ev[3][:n], bool)
        ok = ~bad
        return (e_q[ok], e_t[ok], e_k[ok]), (e_q[bad], e_t[bad], e_k[bad])
