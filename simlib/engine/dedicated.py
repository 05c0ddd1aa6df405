"""Dedicated (GPU-hour) serving: a roofline batching curve, speculative decoding, replicas
sized to a p95 target at the busiest hour, and its monthly bill (issue 16, items 2 and 4).

Roofline per replica of ``gpus_per_replica`` GPUs (tensor parallel; data/prices/gpus.csv),
with efficiencies ``bandwidth_efficiency_share`` and ``compute_efficiency_share`` (assumptions
of what real kernels reach, documented in :class:`DedicatedServing`):

    B = gpus x memory bandwidth x bandwidth efficiency        (bytes/s)
    F = gpus x bf16 FLOP/s x compute efficiency                (FLOP/s)
    W = parameters x bytes per parameter                       (weights read every step)
    K = KV-cache bytes per token x context tokens per stream   (read every step, per stream)

    one decode step with b streams in flight: t(b) = max((W + b K) / B, b x 2 P / F)
    per-stream decode speed:                  d(b) = speed-up / t(b)      tokens/s
    per-stream prefill rate:                  p(b) = F / (2 P) / b         tokens/s

so d(b) falls monotonically with b (more streams share the same bytes and FLOPs), and at
b = 1 the speeds are the batch-1 figures B / (W + K) and F / (2 P).

Speculative decoding (Leviathan et al. 2023, "Fast Inference from Transformers via
Speculative Decoding", eq. for the expected improvement in walltime):

    speed-up = (1 - a^(g + 1)) / ((1 - a) (g c + 1))

with acceptance rate a, draft length g and c = cost of one draft step / one target step.
Cursor's Fast Apply (~1,000 tokens/s on a fine-tuned 70B, speculative edits) is this regime:
the draft is the file being edited (c ~ 0) and acceptance is very high.

Monthly cost = replicas x gpus per replica x 730.5 hours per month x price per GPU-hour; per
query it is that over the month's queries (amortised, paid whether or not traffic comes).

Hourly autoscaling (serving.autoscaling 'hourly', :func:`replica_schedule`): hour h of the day
gets r(h) = max(replicas_min_count, the smallest count meeting p95_target_s at that hour's live
rate lambda_h = qpd / 86,400 x w_h / mean(w) x (1 - offline share)), each by :func:`size_replicas`;
the busiest hour's r is the fixed count. A scale-up at a boundary is billed from the boundary
and serves cold_start_s later (engine.serving.ReplicaPool), so the bill is

    monthly cost = sum_h r(h) x gpus per replica x price per GPU-hour x 30.4375 days
                 = monthly cost of mean_h r(h) replicas                 (:func:`schedule_monthly_usd`)

which is the fixed formula exactly when r is the same every hour.

The batch API (item 4): an offline share s of the work billed at discount D costs

    token cost x (1 - s) + token cost x s x (1 - D)

with the provider's completion window (data/prices/batch_discounts.csv) instead of a latency.

Wired into the simpy engine (simlib/engine/serving.py: a dedicated model's slots are
replicas x max_batch streams, each request's speed fixed at admission from the batch it
joins, as :func:`simulate_replicas`) and into costs (hosting = the GPU bill, token prices
0) from the scenario's ``serving`` group (:func:`deployment`, :func:`replicas_for`). The
fixed-replica stage is written once, :func:`_serve_replicas` (compiled with numba, plain
Python without it), behind :class:`ReplicaStage`: sizing (:func:`simulate_replicas`) and the
array backend (chunk by chunk, state carried) run it, with the same records as the simpy
stage; hourly autoscaling (serving.ReplicaPool) runs on the simpy backend only.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from simlib.scenario.schema import DAYS_PER_MONTH

HOURS_PER_MONTH = 24.0 * DAYS_PER_MONTH  # 730.5 h: the month of every monthly figure (365.25 / 12 days)


def speculative_speedup(acceptance_share: float, draft_tokens: int, draft_cost_ratio: float) -> float:
    """Leviathan et al. 2023: (1 - a^(g+1)) / ((1 - a)(g c + 1)); a = 1 gives (g + 1) / (g c + 1)."""
    a, g, c = acceptance_share, draft_tokens, draft_cost_ratio
    if not (0 <= a <= 1 and g >= 0 and c >= 0):
        raise ValueError("speculative decoding: acceptance in [0, 1], draft_tokens >= 0, cost ratio >= 0")
    if a == 1:
        return (g + 1) / (g * c + 1)
    return (1 - a ** (g + 1)) / ((1 - a) * (g * c + 1))


def _serving_default(name: str):
    """The default of the scenario field ``serving.NAME``: the figure is written once, in the schema."""
    from simlib.scenario.schema import Serving

    return Serving.model_fields[name].default


@dataclass(frozen=True)
class DedicatedServing:
    """A dedicated deployment of one model.

    Defaults: the scenario's ``serving`` defaults (``scenario.schema.Serving``, where each is
    stated once with its source or marked an assumption): a 70B dense model in FP8 weights
    (1 byte/parameter) on 4 x H100, bandwidth efficiency 0.7 and compute efficiency 0.5; KV
    bytes per token for Llama-3-70B in FP8 is 2 (K,V) x 80 layers x 8 KV heads x 128 dims x
    1 byte = 163,840. :func:`deployment` builds one from a scenario.
    """

    gpu: str = _serving_default("gpu")
    gpus_per_replica: int = _serving_default("gpus_per_replica_count")
    parameters: float = _serving_default("parameters_count")
    bytes_per_parameter: float = _serving_default("parameter_bytes")
    kv_bytes_per_token: float = _serving_default("kv_token_bytes")
    context_tokens_per_stream: float = _serving_default("stream_context_tokens")
    max_batch: int = _serving_default("batch_streams_limit")
    bandwidth_efficiency_share: float = _serving_default("bandwidth_efficiency_share")
    compute_efficiency_share: float = _serving_default("compute_efficiency_share")
    speculative: bool = _serving_default("speculative")
    acceptance_share: float = _serving_default("acceptance_share")
    draft_tokens: int = _serving_default("draft_tokens")
    draft_cost_ratio: float = _serving_default("draft_cost_multiplier")
    network_rtt_s: float = 0.1

    def _gpu_row(self):
        from simlib.prices import gpu

        return gpu(self.gpu)

    def bandwidth_bytes_per_s(self) -> float:
        row = self._gpu_row()
        return self.gpus_per_replica * row.memory_bandwidth_gb_per_s * 1e9 * self.bandwidth_efficiency_share

    def flops_per_s(self) -> float:
        row = self._gpu_row()
        return self.gpus_per_replica * row.bf16_tflops * 1e12 * self.compute_efficiency_share

    def speedup(self) -> float:
        return speculative_speedup(self.acceptance_share, self.draft_tokens, self.draft_cost_ratio) \
            if self.speculative else 1.0

    def decode_tokens_per_s(self, in_flight) -> np.ndarray:
        """d(b) = speed-up / max((W + b K) / B, b x 2 P / F), per stream."""
        b = np.maximum(np.asarray(in_flight, dtype=float), 1.0)
        weights = self.parameters * self.bytes_per_parameter
        kv = self.kv_bytes_per_token * self.context_tokens_per_stream
        step_s = np.maximum((weights + b * kv) / self.bandwidth_bytes_per_s(),
                            b * 2.0 * self.parameters / self.flops_per_s())
        return self.speedup() / step_s

    def prefill_tokens_per_s(self, in_flight) -> np.ndarray:
        """p(b) = F / (2 P) / b, per stream."""
        b = np.maximum(np.asarray(in_flight, dtype=float), 1.0)
        return self.flops_per_s() / (2.0 * self.parameters) / b

    def usd_per_hour(self, replicas: int) -> float:
        """replicas x gpus per replica x price per GPU-hour."""
        return replicas * self.gpus_per_replica * self._gpu_row().usd_per_gpu_hour

    def monthly_usd(self, replicas: int) -> float:
        """replicas x gpus per replica x 730.5 h x price per GPU-hour (the run's hosting cost, engine.costs)."""
        return replicas * self.gpus_per_replica * HOURS_PER_MONTH * self._gpu_row().usd_per_gpu_hour

    def usd_per_query(self, replicas: int, queries_per_day: float) -> float:
        return self.monthly_usd(replicas) / (queries_per_day * HOURS_PER_MONTH / 24.0)


def _serve_replicas(req, prompt, output, scale, m, prefill_at, decode_at, max_batch, load, heap_t, heap_r, counters,
                    clock, start, streams, service):
    """The fixed-replica dedicated stage, request by request: FIFO over replicas x max_batch stream slots.

    Requests ``req[:m]`` in FIFO order (their times non-decreasing), each served as the simpy
    stage serves it (engine/serving.py ServingPath.query):

        start   = max(request, the previous start, the earliest end when every slot is busy)
        streams that end at or before the start leave their replica first (simpy processes an
                  end at t, scheduled when its stream started, before a start at t that it or another
                  end triggers; equal ends all leave before any start)
        replica = the one with the fewest streams (lowest index on a tie: load.index(min(load));
                  replicas are interchangeable, so which of equally loaded ones is chosen changes no record)
        b       = its streams with this one
        service = prompt / p(b) x scale + output / d(b) x scale     (fixed at admission)

    ``prefill_at[b]``, ``decode_at[b]``: p(b), d(b) per stream, index b (0 unused). State carried
    across calls: ``load`` (streams per replica), the in-flight ends as a binary min-heap
    ``heap_t``/``heap_r`` (end time, replica) of ``counters[0]`` entries (at most replicas x
    max_batch: the heap holds exactly the streams in flight), and ``clock[0]`` = the last start
    (FIFO: no later request starts before it). Writes ``start``, ``streams`` (b) and ``service``.

    One function for the kernel (array_backend, chunk by chunk) and for sizing
    (:func:`simulate_replicas`, :func:`size_replicas`), compiled with numba (``njit(cache=True)``,
    no fastmath, so the simpy engine's IEEE operations in its order: :func:`_kernel`); without
    numba it runs as plain Python on lists, the same results.
    """
    replicas = len(load)
    slots = replicas * max_batch
    size = counters[0]
    free_s = clock[0]
    for i in range(m):
        now = req[i]
        if free_s > now:
            now = free_s
        if size == slots and heap_t[0] > now:  # every slot busy: wait for the earliest end
            now = heap_t[0]
        while size > 0 and heap_t[0] <= now:  # streams ended by now leave their replica
            load[heap_r[0]] -= 1
            size -= 1
            if size > 0:  # pop the root: sift the last entry down
                lt, lr = heap_t[size], heap_r[size]
                pos = 0
                c = 1
                while c < size:
                    if c + 1 < size and heap_t[c + 1] < heap_t[c]:
                        c += 1
                    if heap_t[c] < lt:
                        heap_t[pos], heap_r[pos] = heap_t[c], heap_r[c]
                        pos = c
                        c = 2 * pos + 1
                    else:
                        break
                heap_t[pos], heap_r[pos] = lt, lr
        r = 0
        fewest = load[0]
        for j in range(1, replicas):
            if load[j] < fewest:
                fewest = load[j]
                r = j
        b = fewest + 1
        load[r] = b
        s = prompt[i] / prefill_at[b] * scale[i] + output[i] / decode_at[b] * scale[i]
        end = now + s
        pos = size  # push (end, r), sifting up
        size += 1
        while pos > 0:
            parent = (pos - 1) >> 1
            if end < heap_t[parent]:
                heap_t[pos], heap_r[pos] = heap_t[parent], heap_r[parent]
                pos = parent
            else:
                break
        heap_t[pos], heap_r[pos] = end, r
        free_s = now
        start[i], streams[i], service[i] = now, b, s
    counters[0] = size
    clock[0] = free_s
    return m


@functools.cache
def _kernel():
    """(the per-request loop, compiled?): numba's ``njit(cache=True)`` of :func:`_serve_replicas`, else the function.

    As rate_limits._kernel: numba is imported on first use (sizing or a dedicated array run),
    its machine code loaded from numba's on-disk cache (compiled on a machine's first run).
    """
    from simlib.engine.compiled import compile_loop

    return compile_loop(_serve_replicas)


class ReplicaStage:
    """Fixed dedicated replicas as a FIFO stage whose state is carried from call to call (:func:`_serve_replicas`).

    ``serve(req, prompt, output, scale)`` takes the next requests in FIFO order and returns
    (start, streams b, service) for each: the array backend calls it chunk by chunk,
    :func:`simulate_replicas` once over the sizing arrivals.
    """

    def __init__(self, serving: "DedicatedServing", replicas: int, compiled: bool | None = None):
        """``compiled``: None = numba when importable; False = the plain-Python loop (the fallback's tests)."""
        kernel, can_compile = _kernel()
        self.compiled = can_compile if compiled is None else (compiled and can_compile)
        self.kernel = kernel if self.compiled else _serve_replicas
        self._box = ((lambda a, dtype: np.ascontiguousarray(a, dtype)) if self.compiled
                     else (lambda a, dtype: np.asarray(a, dtype).tolist()))
        box = self._box
        self.replicas, self.max_batch = int(replicas), int(serving.max_batch)
        batches = np.arange(1, self.max_batch + 1)
        self.prefill_at = box([0.0] + serving.prefill_tokens_per_s(batches).tolist(), np.float64)  # index b
        self.decode_at = box([0.0] + serving.decode_tokens_per_s(batches).tolist(), np.float64)
        slots = self.replicas * self.max_batch
        self.load = box(np.zeros(self.replicas), np.int64)
        self.heap_t, self.heap_r = box(np.zeros(slots), np.float64), box(np.zeros(slots), np.int64)
        self.counters = box([0], np.int64)  # [heap size]
        self.clock = box([-math.inf], np.float64)  # [the last start]

    def serve(self, req, prompt, output, scale) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = len(req)
        box = self._box
        start, streams, service = box(np.zeros(m), np.float64), box(np.zeros(m), np.int64), box(np.zeros(m), np.float64)
        self.kernel(box(req, np.float64), box(prompt, np.float64), box(output, np.float64), box(scale, np.float64), m,
                    self.prefill_at, self.decode_at, self.max_batch, self.load, self.heap_t, self.heap_r,
                    self.counters, self.clock, start, streams, service)
        return np.asarray(start, float), np.asarray(streams, np.int64), np.asarray(service, float)


def simulate_replicas(serving: DedicatedServing, replicas: int, arrival_at_s, prompt_tokens,
                      output_tokens, compiled: bool | None = None, service_scale=1.0) -> np.ndarray:
    """Latency of each request on ``replicas`` replicas of up to ``max_batch`` streams each.

    FIFO: a request joins the replica with the fewest streams when one has a free slot, else
    waits. Its service time is fixed at admission from the batch b it joins (a simplification:
    later joins do not slow it): prompt / p(b) + output / d(b). latency = wait + rtt + service.
    The stage is :class:`ReplicaStage` (:func:`_serve_replicas`), the very loop the array
    backend runs (with each query's service scale; 1 here).
    """
    arrival = np.asarray(arrival_at_s, dtype=float)
    n = arrival.size
    order = np.argsort(arrival, kind="stable")
    prompt = np.broadcast_to(np.asarray(prompt_tokens, dtype=float), (n,))[order]
    out = np.broadcast_to(np.asarray(output_tokens, dtype=float), (n,))[order]
    scale = np.broadcast_to(np.asarray(service_scale, dtype=float), (n,))[order]
    start, _, service = ReplicaStage(serving, replicas, compiled).serve(arrival[order], prompt, out, scale)
    latency = np.empty(n)
    latency[order] = start - arrival[order] + serving.network_rtt_s + service
    return latency


def peak_hour_arrivals(peak_requests_per_s: float, count: int, seed: int = 0) -> np.ndarray:
    """Poisson arrivals at the busiest hour's rate (the sizing load)."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.exponential(1.0 / peak_requests_per_s, size=count))


SIZING_HOUR_S = 3_600.0  # the sizing load: one whole hour at the rate, from empty replicas
SIZING_ARRIVALS_MIN, SIZING_ARRIVALS_MAX = 4_000, 400_000  # ~1 s of simulate_replicas per count tried at the cap


def sizing_arrivals_count(requests_per_s: float) -> int:
    """Arrivals in one hour at ``requests_per_s`` (at least 4,000, at most 400,000).

    A shorter sample undersizes: near saturation the queue needs time to build. Measured on
    code-apply at a 22 requests/s peak: 5 replicas gave p95 7.5 s over 4,000 arrivals (180 s)
    but 16.3 s over 30,000, against a 10 s target.
    """
    return int(min(SIZING_ARRIVALS_MAX, max(SIZING_ARRIVALS_MIN, math.ceil(requests_per_s * SIZING_HOUR_S))))


def replicas_lower_bound(serving: DedicatedServing, requests_per_s: float, prompt_tokens: float,
                         output_tokens: float) -> int:
    """Fewest replicas whose throughput at a full batch exceeds the offered rate (utilisation < 1).

    A replica at b = max_batch streams serves b / (prompt / p(b) + output / d(b)) requests/s,
    its most; below ceil(rate / that) replicas the queue grows without bound.
    """
    service_s = stage_capacities(serving, 1, prompt_tokens, output_tokens)["service_s_at_full_batch"]
    return max(1, math.floor(requests_per_s * service_s / serving.max_batch) + 1)


def size_replicas(serving: DedicatedServing, peak_requests_per_s: float, prompt_tokens,
                  output_tokens, p95_target_s: float, *, max_replicas: int = 256,
                  count: int | None = None, seed: int = 0, service_scale=1.0) -> int:
    """Smallest replica count that keeps up with the peak rate and whose simulated p95 latency meets the target.

    Keeps up: utilisation at a full batch below 1 (``replicas_lower_bound``; with fewer the
    queue grows without bound, even where a finite sample's p95 still passes). The load is a
    whole hour of Poisson arrivals at the rate (``sizing_arrivals_count``, or ``count``) from
    empty replicas; the search gallops up from the bound, then bisects, up to ``max_replicas``. Raises ValueError when even
    ``max_replicas`` fails (e.g. the target is below batch-1 latency).

    ``prompt_tokens``, ``output_tokens`` and ``service_scale`` are per request (arrays as long as
    the load, :func:`sizing_load`) or one value for all: the run's p95 comes from its long
    requests, so sizing on the means alone undersizes (code-apply's rag_fine_tune, token CV 0.5:
    4 replicas for a 5 s p95 on the means, p95 6.0 s in the run).
    """
    arrivals = peak_hour_arrivals(peak_requests_per_s, count or sizing_arrivals_count(peak_requests_per_s), seed)

    def meets(c: int) -> bool:
        lat = simulate_replicas(serving, c, arrivals, prompt_tokens, output_tokens, service_scale=service_scale)
        return float(np.quantile(lat, 0.95)) <= p95_target_s

    mean_scale = float(np.mean(service_scale))
    lo = min(max_replicas, replicas_lower_bound(serving, peak_requests_per_s, float(np.mean(prompt_tokens)) * mean_scale,
                                                float(np.mean(output_tokens)) * mean_scale))
    hi = lo  # gallop up from the bound (usually the answer is within a few of it), then bisect
    while not meets(hi):
        if hi >= max_replicas:
            raise ValueError(_unmet_target_reason(serving, prompt_tokens, output_tokens, service_scale, p95_target_s,
                                                  max_replicas))
        lo, hi = hi + 1, min(max_replicas, 2 * hi)
    while lo < hi:  # invariant: hi meets, every count below lo fails
        mid = (lo + hi) // 2
        if meets(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _unmet_target_reason(serving: DedicatedServing, prompt_tokens, output_tokens, service_scale, p95_target_s: float,
                         max_replicas: int) -> str:
    """Why sizing failed: the p95 of each request served alone (batch 1, no queue) already misses the target,
    or (else) even ``max_replicas`` replicas queue too long."""
    p1, d1 = float(serving.prefill_tokens_per_s(1)), float(serving.decode_tokens_per_s(1))
    alone = serving.network_rtt_s + (np.asarray(prompt_tokens, float) / p1 + np.asarray(output_tokens, float) / d1) \
        * np.asarray(service_scale, float)
    floor_s = float(np.quantile(np.atleast_1d(alone), 0.95))
    if floor_s > p95_target_s:
        return (f"no replica count meets p95 <= {p95_target_s:g} s: served alone (batch 1, {d1:,.0f} tok/s decode), "
                f"the p95 request already takes {floor_s:.1f} s; raise the target, or decode faster "
                "(serving.speculative, another serving.gpu, more serving.gpus_per_replica_count)")
    return f"no replica count up to {max_replicas} meets p95 <= {p95_target_s:g} s (serving.replicas_count_limit)"


def batch_api_token_cost_usd(token_cost_usd: float, offline_share: float, discount_share: float) -> float:
    """token cost x (1 - s) + token cost x s x (1 - D): the offline share s at the batch discount D."""
    if not (0 <= offline_share <= 1 and 0 <= discount_share < 1):
        raise ValueError("batch API: offline_share in [0, 1] and discount_share in [0, 1)")
    return token_cost_usd * (1 - offline_share) + token_cost_usd * offline_share * (1 - discount_share)


def stage_capacities(serving: DedicatedServing, replicas: int, prompt_tokens: float, output_tokens: float) -> dict:
    """Capacity of a dedicated stage in requests/s at full batch (for the saturation flag).

    Each replica completes max_batch requests every prompt / p(max_batch) + output / d(max_batch) s.
    """
    b = serving.max_batch
    service_s = prompt_tokens / float(serving.prefill_tokens_per_s(b)) + output_tokens / float(serving.decode_tokens_per_s(b))
    return {"capacity_requests_per_s": replicas * b / service_s, "replicas": replicas,
            "service_s_at_full_batch": service_s}


def deployment(scenario, fine_tuned: bool) -> DedicatedServing:
    """The dedicated deployment of the scenario's base or fine-tuned model (its ``serving`` group)."""
    sv = scenario.serving
    rtt = scenario.fine_tuning.network_rtt_s if fine_tuned else scenario.model.network_rtt_s
    return DedicatedServing(
        gpu=sv.gpu, gpus_per_replica=sv.gpus_per_replica_count, parameters=sv.parameters_count,
        bytes_per_parameter=sv.parameter_bytes, kv_bytes_per_token=sv.kv_token_bytes,
        context_tokens_per_stream=sv.stream_context_tokens, max_batch=sv.batch_streams_limit,
        bandwidth_efficiency_share=sv.bandwidth_efficiency_share, compute_efficiency_share=sv.compute_efficiency_share,
        speculative=sv.speculative, acceptance_share=sv.acceptance_share, draft_tokens=sv.draft_tokens,
        draft_cost_ratio=sv.draft_cost_multiplier, network_rtt_s=rtt)


def hourly_rates_per_s(scenario) -> np.ndarray:
    """Live arrival rate of each hour of the day: qpd / 86,400 x w_h / mean(w) on the daily profile, x (1 - offline share).

    Poisson and trace arrivals: the mean rate every hour (a flat schedule, as the peak sizing reads
    them). The largest element is :func:`peak_rate_per_s` to the last bit.
    """
    w = scenario.workload
    rate = w.queries_per_day / 86_400.0
    if w.arrival_process == "daily_profile":
        weights = np.asarray(w.hourly_weights, float)
        rates = rate * (weights / weights.mean())
    else:
        rates = np.full(24, rate)
    return rates * (1.0 - w.offline_share)


def peak_rate_per_s(scenario) -> float:
    """Busiest-hour live arrival rate: qpd / 86,400 x max(w) / mean(w) on the daily profile (the mean otherwise), x (1 - offline share)."""
    w = scenario.workload
    rate = w.queries_per_day / 86_400.0
    if w.arrival_process == "daily_profile":
        weights = np.asarray(w.hourly_weights, float)
        rate *= float(weights.max() / weights.mean())
    return rate * (1.0 - w.offline_share)


def sizing_tokens(scenario, strategy) -> tuple[float, float]:
    """Mean prompt and output tokens the replicas are sized for: the strategy's prompt at the mean query length."""
    from simlib.engine.budget import token_budget

    probe = np.array([int(round(scenario.workload.query_tokens_mean))])
    prompt = float(token_budget(strategy, scenario, probe).prompt_tokens[0])
    output = float(min(scenario.workload.output_tokens_mean, scenario.model.max_output_tokens))
    return prompt, output


def sizing_load(scenario, strategy, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-request prompt tokens, output tokens and service scale of ``count`` sizing requests, drawn as the
    run draws them (engine/draws.py): query and output tokens lognormal with the workload's means and
    token_length_cv (rounded, at least 1; output at most model.max_output_tokens), the prompt the
    strategy builds around the query (budget.token_budget), and the service scale Exp(1) when
    model.service_time_distribution is exponential (else 1). Its own random stream (seed, 1).
    """
    from simlib.engine.budget import token_budget
    from simlib.engine.distributions import lognormal

    w = scenario.workload
    rng = np.random.default_rng([seed, 1])
    query = np.maximum(1, np.rint(lognormal(rng, w.query_tokens_mean, w.token_length_cv, count))).astype(np.int64)
    output = np.maximum(1, np.rint(lognormal(rng, w.output_tokens_mean, w.token_length_cv, count)))
    output = np.minimum(output, scenario.model.max_output_tokens)
    prompt = token_budget(strategy, scenario, query).prompt_tokens.astype(float)
    scale = rng.exponential(1.0, count) if scenario.model.service_time_distribution == "exponential" else np.ones(count)
    return prompt, output, scale


def replicas_for(scenario, strategy) -> int:
    """The strategy's dedicated replicas at the busiest hour: serving.replicas_count, or the smallest meeting
    serving.p95_target_s at the peak (at least serving.replicas_min_count).

    Sizing simulates :func:`simulate_replicas` at the busiest hour's rate with per-request
    prompts, outputs and service scales drawn as the run draws them (:func:`sizing_load`), seeded by the scenario's seed; the same
    count serves every replication (all day unless serving.autoscaling is 'hourly':
    :func:`replica_schedule`). A target no count up to serving.replicas_count_limit meets is a
    ScenarioError at serving.p95_target_s.
    """
    sv = scenario.serving
    if sv.replicas_count is not None:
        return sv.replicas_count
    return max(sv.replicas_min_count, _sized(scenario, strategy), offline_work_replicas(scenario, strategy))


def offline_work_replicas(scenario, strategy) -> int:
    """Replicas that carry the whole day's work (live and offline) at a full batch, spread evenly over 24 hours.

    A dedicated model has no provider batch API: its offline share (workload.offline_share) is
    served by its own replicas in their spare capacity. A replica completes at most b requests
    per full-batch service time S (stage_capacities, at the mean tokens), so a day of Q queries
    needs Q x S / b replica-seconds:

        replicas >= ceil(Q x S / (b x 86,400))

    in every hour (so the day's sum covers the work whatever the live profile). 0 without an
    offline share (live sizing covers the live work).
    """
    if scenario.workload.offline_share <= 0:
        return 0
    serving = deployment(scenario, strategy.fine_tuned)
    service_s = stage_capacities(serving, 1, *sizing_tokens(scenario, strategy))["service_s_at_full_batch"]
    return math.ceil(scenario.workload.queries_per_day * service_s / (serving.max_batch * 86_400.0))


def replica_schedule(scenario, strategy) -> tuple[int, ...]:
    """Replicas in each of the 24 hours of the day (hour 0 from midnight, as the arrivals).

    autoscaling 'off': :func:`replicas_for` every hour. 'hourly': hour h gets
    max(replicas_min_count, :func:`offline_work_replicas`, the smallest count whose simulated p95 at lambda_h meets
    p95_target_s) (:func:`hourly_rates_per_s`, :func:`size_replicas`); an hour at the peak
    rate gets the fixed count itself, the others are searched below it (sizing is cached by
    its inputs, so equal rates size once).
    """
    peak = replicas_for(scenario, strategy)
    sv = scenario.serving
    if sv.autoscaling == "off":
        return (peak,) * 24
    top = peak_rate_per_s(scenario)
    floor = max(sv.replicas_min_count, offline_work_replicas(scenario, strategy))
    return tuple(peak if rate == top else max(floor, _sized(scenario, strategy, rate, within=peak))
                 for rate in hourly_rates_per_s(scenario).tolist())


def schedule_monthly_usd(serving: DedicatedServing, schedule) -> float:
    """Monthly GPU bill of an hourly schedule: sum_h r(h) x gpus x price x DAYS_PER_MONTH = monthly_usd(mean_h r(h)).

    Every replica is billed for its whole hour (a scale-up from the boundary, cold start included).
    A constant schedule r gives monthly_usd(r), the fixed formula, exactly (24 r / 24 = r in floats).
    """
    return serving.monthly_usd(sum(schedule) / len(schedule))


def hosting_monthly_usd(scenario, strategy) -> float:
    """The strategy's dedicated GPU bill per month (engine.costs' hosting, `simlib capacity`'s bill)."""
    return schedule_monthly_usd(deployment(scenario, strategy.fine_tuned), replica_schedule(scenario, strategy))


def mean_replicas(schedule, start_s: float, end_s: float) -> float:
    """Time-average of the billed replicas r(hour of t) over [start_s, end_s] (the hour's count at start_s if empty)."""
    r = np.asarray(schedule, float)
    if not end_s > start_s:
        return float(r[int(start_s // 3_600.0) % 24])
    k = np.arange(int(start_s // 3_600.0), int(np.ceil(end_s / 3_600.0)))
    overlap = np.minimum(end_s, (k + 1) * 3_600.0) - np.maximum(start_s, k * 3_600.0)
    return float((r[k % 24] * overlap).sum() / (end_s - start_s))


def dedicated_plan(scenario, strategy) -> dict:
    """The strategy's dedicated deployment as `simlib capacity` and `simlib run` report it (one computation).

    {autoscaling, replicas_per_hour (24), replicas_min, replicas_max, replica_hours_per_day,
    gpu_hours_per_day, cold_start_s, monthly_usd (the run's hosting cost), peak_replicas,
    fixed_at_peak_monthly_usd (peak_replicas all day)}.
    """
    sv = scenario.serving
    serving = deployment(scenario, strategy.fine_tuned)
    schedule = replica_schedule(scenario, strategy)
    peak = replicas_for(scenario, strategy)
    return {"autoscaling": sv.autoscaling, "replicas_per_hour": list(schedule), "replicas_min": min(schedule),
            "replicas_max": max(schedule), "replica_hours_per_day": sum(schedule),
            "gpu_hours_per_day": sum(schedule) * sv.gpus_per_replica_count,
            "cold_start_s": sv.cold_start_s if sv.autoscaling == "hourly" else None,
            "monthly_usd": schedule_monthly_usd(serving, schedule), "peak_replicas": peak,
            "fixed_at_peak_monthly_usd": serving.monthly_usd(peak)}


_SIZED: dict[tuple, int] = {}  # size_replicas' inputs -> replicas: a run sizes each rate once


def _sized(scenario, strategy, rate: float | None = None, within: int | None = None) -> int:
    """size_replicas at ``rate`` (None: the busiest hour's) on the strategy's sizing load (:func:`sizing_load`),
    searching up to ``within`` replicas first (a lower hour's count is at most the peak's) and up to
    serving.replicas_count_limit if that fails."""
    from simlib.errors import Problem, ScenarioError

    sv = scenario.serving
    rate = peak_rate_per_s(scenario) if rate is None else rate
    if rate <= 0:
        return 1  # no live query (all offline, or an empty hour): one replica (the batch API serves the rest)
    serving = deployment(scenario, strategy.fine_tuned)
    seed = scenario.simulation.seed
    count = sizing_arrivals_count(rate)
    prompt, output, scale = sizing_load(scenario, strategy, count, seed)
    load_key = (count, float(prompt.sum()), float(np.square(prompt).sum()), float(output.sum()),
                float(np.square(output).sum()), float(scale.sum()))  # the load's identity, cheaply
    for limit in ((within,) if within is not None else ()) + (sv.replicas_count_limit,):
        key = (serving, rate, load_key, sv.p95_target_s, limit, seed)
        if key in _SIZED:
            return _SIZED[key]
        if len(_SIZED) > 1024:
            _SIZED.clear()
        try:
            replicas = size_replicas(serving, rate, prompt, output, sv.p95_target_s, max_replicas=limit, count=count,
                                     seed=seed, service_scale=scale)
        except ValueError as exc:
            if limit == within:
                continue  # the peak's count misses at this rate (sampling noise): search the whole range
            raise ScenarioError([Problem("serving.p95_target_s", str(exc))]) from None
        _SIZED[key] = replicas
        return replicas
    raise AssertionError("unreachable")  # the last limit either returns or raises
