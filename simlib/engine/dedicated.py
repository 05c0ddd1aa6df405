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

The batch API (item 4): an offline share s of the work billed at discount D costs

    token cost x (1 - s) + token cost x s x (1 - D)

with the provider's completion window (data/prices/batch_discounts.csv) instead of a latency.

Wired into the simpy engine (simlib/engine/serving.py: a dedicated model's slots are
replicas x max_batch streams, each request's speed fixed at admission from the batch it
joins, as :func:`simulate_replicas`) and into costs (hosting = the GPU bill, token prices
0) from the scenario's ``serving`` group (:func:`deployment`, :func:`replicas_for`); the
array backend falls back to simpy for dedicated scenarios.
"""

from __future__ import annotations

import heapq
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


def simulate_replicas(serving: DedicatedServing, replicas: int, arrival_at_s, prompt_tokens,
                      output_tokens) -> np.ndarray:
    """Latency of each request on ``replicas`` replicas of up to ``max_batch`` streams each.

    FIFO: a request joins the replica with the fewest streams when one has a free slot, else
    waits. Its service time is fixed at admission from the batch b it joins (a simplification:
    later joins do not slow it): prompt / p(b) + output / d(b). latency = wait + rtt + service.
    """
    arrival = np.asarray(arrival_at_s, dtype=float)
    n = arrival.size
    prompt = np.broadcast_to(np.asarray(prompt_tokens, dtype=float), (n,))
    out = np.broadcast_to(np.asarray(output_tokens, dtype=float), (n,))
    batches = np.arange(1, serving.max_batch + 1)
    prefill_at = [0.0] + serving.prefill_tokens_per_s(batches).tolist()  # index b = batch size
    decode_at = [0.0] + serving.decode_tokens_per_s(batches).tolist()
    in_flight = [0] * replicas
    ends: list[tuple[float, int]] = []  # (end time, replica)
    latency = np.empty(n)
    free_at = 0.0
    for i in np.argsort(arrival, kind="stable"):
        now = max(arrival[i], free_at)
        while ends and ends[0][0] <= now:  # streams finished by now leave their replica
            _, r = heapq.heappop(ends)
            in_flight[r] -= 1
        while min(in_flight) >= serving.max_batch:  # every slot busy: wait for the next end
            end, r = heapq.heappop(ends)
            in_flight[r] -= 1
            now = max(now, end)
        r = in_flight.index(min(in_flight))
        in_flight[r] += 1
        b = in_flight[r]
        service = prompt[i] / prefill_at[b] + out[i] / decode_at[b]
        heapq.heappush(ends, (now + service, r))
        free_at = now  # FIFO: no later request starts before this one
        latency[i] = now - arrival[i] + serving.network_rtt_s + service
    return latency


def peak_hour_arrivals(peak_requests_per_s: float, count: int, seed: int = 0) -> np.ndarray:
    """Poisson arrivals at the busiest hour's rate (the sizing load)."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.exponential(1.0 / peak_requests_per_s, size=count))


def size_replicas(serving: DedicatedServing, peak_requests_per_s: float, prompt_tokens: float,
                  output_tokens: float, p95_target_s: float, *, max_replicas: int = 256,
                  count: int = 4_000, seed: int = 0) -> int:
    """Smallest replica count whose simulated p95 latency at the peak rate meets the target.

    Raises ValueError when even ``max_replicas`` fails (e.g. the target is below batch-1 latency).
    """
    arrivals = peak_hour_arrivals(peak_requests_per_s, count, seed)

    def meets(c: int) -> bool:
        lat = simulate_replicas(serving, c, arrivals, prompt_tokens, output_tokens)
        return float(np.quantile(lat, 0.95)) <= p95_target_s

    if not meets(max_replicas):
        raise ValueError(f"no replica count up to {max_replicas} meets p95 <= {p95_target_s} s")
    lo, hi = 1, max_replicas  # invariant: hi meets
    while lo < hi:
        mid = (lo + hi) // 2
        if meets(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


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


def replicas_for(scenario, strategy) -> int:
    """The strategy's dedicated replicas: serving.replicas_count, or the smallest meeting serving.p95_target_s at the peak.

    Sizing simulates :func:`simulate_replicas` at the busiest hour's rate with the strategy's
    mean prompt and output (:func:`sizing_tokens`), seeded by the scenario's seed; the same
    count serves every replication. A target no count up to serving.replicas_count_limit meets is a
    ScenarioError at serving.p95_target_s.
    """
    sv = scenario.serving
    if sv.replicas_count is not None:
        return sv.replicas_count
    return _sized(scenario, strategy.fine_tuned, *sizing_tokens(scenario, strategy))


_SIZED: dict[tuple, int] = {}  # (scenario JSON, fine-tuned, prompt, output) -> replicas: a run sizes once


def _sized(scenario, fine_tuned: bool, prompt: float, output: float) -> int:
    from simlib.errors import Problem, ScenarioError

    sv = scenario.serving
    rate = peak_rate_per_s(scenario)
    if rate <= 0:
        return 1  # every query offline: one replica (the batch API serves the rest)
    key = (scenario.model_dump_json(), fine_tuned, prompt, output)
    if key in _SIZED:
        return _SIZED[key]
    if len(_SIZED) > 256:
        _SIZED.clear()
    try:
        replicas = size_replicas(deployment(scenario, fine_tuned), rate, prompt, output, sv.p95_target_s,
                                 max_replicas=sv.replicas_count_limit, seed=scenario.simulation.seed)
    except ValueError as exc:
        raise ScenarioError([Problem("serving.p95_target_s", str(exc))]) from None
    _SIZED[key] = replicas
    return replicas
