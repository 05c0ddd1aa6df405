"""Results: compact per-query records, per-strategy metrics, 95% intervals, tidy tables.

Records are numpy structured arrays (``RECORD_DTYPE``, 56 bytes a query a strategy).
Metrics are computed per replication; the summary gives their mean over replications and
a 95% interval: Student's t over replications when there are at least two (common random
numbers: every strategy saw the same draws), else batch means over 10 consecutive batches
of the single replication (an approximation that ignores correlation between batches).
Every metric is defined once, in ``METRICS``, with its unit and formula; a metric that does
not apply to a strategy (fresh share of ``prompt_only``) is None, never a made-up number.
"""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from simlib.engine.costs import MONTHLY_COMPONENTS as _BASE_MONTHLY, OWNERSHIP_COMPONENTS, PER_QUERY_COMPONENTS
from simlib.scenario import DAYS_PER_MONTH, Scenario

MONTHLY_COMPONENTS = _BASE_MONTHLY + OWNERSHIP_COMPONENTS  # every monthly line: running costs, then ownership

RECORD_DTYPE = np.dtype(
    [
        ("arrival_at_s", "f8"),
        ("queue_wait_s", "f4"),
        ("ttft_s", "f4"),
        ("latency_s", "f4"),
        ("cost_usd", "f4"),
        ("staleness_age_s", "f4"),
        ("quality", "f4"),
        ("prompt_tokens", "u4"),
        ("cache_read_tokens", "u4"),
        ("cache_write_tokens", "u4"),
        ("query_tokens", "u4"),
        ("output_tokens", "u4"),
        ("chunks_used", "u1"),
        ("retries", "u1"),  # rate-limit retries the query made (<= rate_limits.retry_limit <= 20)
        ("flags", "u2"),
    ]
)

# Per-query cost components (USD), kept beside the records by both backends (engine.records):
# results read them, never recompute them. float64, as the engine computes them.
COST_COMPONENTS_DTYPE = np.dtype([(c, "f8") for c in PER_QUERY_COMPONENTS])

# Per-query quality factors (engine.quality.quality_factors), kept beside the records by both
# backends like the cost components: the quality_* metrics are their means, never re-derived
# from the flags (a record's chunks_used is capped at 255; the factors saw every chunk).
QUALITY_FACTORS = ("knowledge", "use", "distraction", "long_context", "hallucination")
QUALITY_FACTORS_DTYPE = np.dtype([(f, "f8") for f in QUALITY_FACTORS])

# bits of the ``flags`` field (16 bits: 11 used)
(COMPLETED, REJECTED, FRESH, RETRIEVED, TRUNCATED, CACHE_HIT, WARMUP, CITABLE,
 RATE_LIMITED, FAILED, OFFLINE) = (1 << b for b in range(11))
FLAG_NAMES = {
    "completed": COMPLETED, "rejected": REJECTED, "fresh": FRESH, "retrieved": RETRIEVED,
    "truncated": TRUNCATED, "cache_hit": CACHE_HIT, "warmup": WARMUP, "citable": CITABLE,
    "rate_limited": RATE_LIMITED, "failed": FAILED, "offline": OFFLINE,
}


@dataclass(frozen=True)
class MetricSpec:
    unit: str
    description: str


METRICS: dict[str, MetricSpec] = {
    "cost_per_query_usd": MetricSpec("USD", "monthly_cost_usd / queries per month: per-query costs plus training, re-indexing and fixed costs amortised"),
    "monthly_cost_usd": MetricSpec("USD/month", "mean per-query cost x queries_per_day x 30.4375 + every monthly component (re-indexing, training, storage, hosting, cache storage, and the ownership costs: data preparation, evaluation, engineering, index build, vector-store minimum, adapters)"),
    "variable_cost_per_query_usd": MetricSpec("USD", "mean per-query cost (tokens, cache, retrieval) over queries that arrived; rejected queries cost 0"),
    "latency_p50_s": MetricSpec("s", "median of done - arrival over completed live queries (offline batch-API queries have a completion window, not a latency)"),
    "latency_p95_s": MetricSpec("s", "95th percentile of latency"),
    "latency_p99_s": MetricSpec("s", "99th percentile of latency"),
    "latency_mean_s": MetricSpec("s", "mean latency"),
    "ttft_p50_s": MetricSpec("s", "median time to first token: waits + retrieval + network round trip + prefill"),
    "ttft_p95_s": MetricSpec("s", "95th percentile of time to first token"),
    "ttft_p99_s": MetricSpec("s", "99th percentile of time to first token"),
    "queue_wait_mean_s": MetricSpec("s", "mean time waiting for retrieval workers, rate-limit retries and model slots"),
    "queue_share": MetricSpec("share", "total queue wait / total latency"),
    "model_utilisation": MetricSpec("share", "model-slot busy time / (slots x simulated span); >= 1 means the queue grows without bound"),
    "fresh_share": MetricSpec("share", "completed answers whose knowledge held the fact's latest version (None for prompt_only: ungrounded)"),
    "staleness_age_mean_s": MetricSpec("s", "mean over stale answers of now - first change the answer missed (None if no answer was stale)"),
    "staleness_age_p95_s": MetricSpec("s", "95th percentile of staleness age over stale answers"),
    "cache_hit_rate": MetricSpec("share", "cache hits / cacheable requests (None where the provider does not cache the strategy, or no prompt reaches its minimum; automatic providers cache every strategy)"),
    "cache_hit_token_share": MetricSpec("share", "prompt tokens read from the cache / prompt tokens, over completed queries (None without a prompt cache)"),
    "prefix_hit_token_share": MetricSpec("share", "trace replay with prefix blocks: sum of the trace's own prompt tokens read from the cache / sum of its input tokens, over completed queries (None without block hashes or a prompt cache; docs/traces.md)"),
    "prefix_hit_request_mean_share": MetricSpec("share", "trace replay with prefix blocks: mean over completed queries of (trace prompt tokens read from the cache / trace input tokens)"),
    "prefix_hit_request_share": MetricSpec("share", "trace replay with prefix blocks: completed queries that read at least one trace block from the cache / completed queries"),
    "quality_proxy": MetricSpec("share", "mean over completed queries of K x U x B (see docs/metrics.md)"),
    "quality_knowledge": MetricSpec("share", "mean K: the needed fact reached the model in its latest version"),
    "quality_use": MetricSpec("share", "mean U: the model uses knowledge given in its context"),
    "quality_behaviour": MetricSpec("share", "B: the answer has the required behaviour (style, format, conventions)"),
    "quality_prior": MetricSpec("share", "the base model's prior on the facts asked, decayed by the facts changed since its cut-off: sum_f P(f) (1 - c_f) q_prior"),
    "quality_weights_recall": MetricSpec("share", "K_w: P(the fine-tuned weights answer a fresh fact right), from the injection curve (None without fine-tuning; the prior for a shared model over private tenants)"),
    "quality_distraction": MetricSpec("share", "mean (1 - d)^(chunks - 1) over completed answers grounded in retrieved chunks (None without retrieval)"),
    "quality_long_context": MetricSpec("share", "exp(-T / long_context_decay_tokens) for the T knowledge tokens of the cached prefix (None without one)"),
    "hallucination_share": MetricSpec("share", "mean over completed queries of (1 - K) x unlearned_hallucination_share on answers given from fine-tuned weights: confidently wrong, not refused (None without fine-tuning)"),
    "citable_share": MetricSpec("share", "completed answers backed by a retrieved chunk or the cached source"),
    "truncated_share": MetricSpec("share", "queries that lost retrieved chunks to the context window"),
    "retrieval_miss_share": MetricSpec("share", "queries whose needed chunk was not retrieved (None without retrieval)"),
    "queries_completed": MetricSpec("queries", "queries completed in the measured window (after warm-up)"),
    "queries_rejected": MetricSpec("queries", "queries too long for the context window even without chunks"),
    "queries_failed": MetricSpec("queries", "queries that failed after their last rate-limit retry (completed + failed + rejected = arrivals)"),
    "rate_limited_share": MetricSpec("share", "arrivals that received at least one 429 from the rate limits / arrivals"),
    "retries_mean": MetricSpec("retries", "mean rate-limit retries per arrival"),
    "failed_share": MetricSpec("share", "queries_failed / arrivals: failed after rate_limits.retry_limit retries (never sent, cost 0)"),
    "offline_share": MetricSpec("share", "arrivals sent through the batch API (billed at its discount, answered within its completion window)"),
}
for _c in PER_QUERY_COMPONENTS:
    METRICS[f"cost_{_c}_per_query_usd"] = MetricSpec("USD", f"mean per-query cost component '{_c}'")
for _c in MONTHLY_COMPONENTS:
    METRICS[f"cost_{_c}_monthly_usd"] = MetricSpec("USD/month", f"monthly cost component '{_c}'")

SESSION_METRICS: dict[str, MetricSpec] = {
    "sessions_completed": MetricSpec("sessions", "sessions (conversations, agent tasks) with every turn completed in the measured window; the metrics below average over them (None without sessions)"),
    "turns_per_session_mean": MetricSpec("turns", "mean turns (calls) per completed session"),
    "tokens_per_session_mean": MetricSpec("tokens", "mean prompt + output tokens per completed session"),
    "cost_per_session_usd": MetricSpec("USD", "mean per-query cost summed over a completed session's turns (cost per task for agent tasks; monthly fixed costs not included)"),
    "session_latency_mean_s": MetricSpec("s", "mean over completed sessions of the sum of their turns' latencies (an agent task's latency)"),
    "history_tokens_per_turn_mean": MetricSpec("tokens", "mean history tokens carried in a completed turn's prompt"),
    "history_cache_read_share": MetricSpec("share", "history tokens read from the prompt cache / history tokens carried, over completed turns (None where the provider does not cache the strategy)"),
    "history_cached_turn_share": MetricSpec("share", "turns after a session's first that read any history from the cache / those turns (None where the strategy does not cache)"),
}
METRICS.update(SESSION_METRICS)

METRICS["cost_per_correct_answer_usd"] = MetricSpec(
    "USD", "cost_per_query_usd / quality_proxy: what one correct answer costs (None when quality_proxy is 0)")

COST_COMPONENTS = PER_QUERY_COMPONENTS + MONTHLY_COMPONENTS

# A stage is saturated when its offered load at the busiest hour reaches its capacity.
SATURATION_UTILISATION = 1.0
SATURATION_STAGES = ("retrieval", "model", "rate_limits", "dedicated_replicas")


@dataclass
class StrategyReplication:
    """One strategy's records in one replication, and what is not per query."""

    records: np.ndarray  # RECORD_DTYPE
    monthly_components_usd: dict[str, float]
    busy_s: float
    capacity: int
    prefix_hit_tokens: np.ndarray | None = None  # trace prefix blocks: the trace's own tokens read from cache, per query
    cost_components_usd: np.ndarray | None = None  # COST_COMPONENTS_DTYPE, one row per record (engine.records)
    quality_factors: np.ndarray | None = None  # QUALITY_FACTORS_DTYPE, one row per record (engine.records)
    sessions: Any = None  # engine.sessions.SessionDraws: session and turn of each query (None without sessions)
    history_tokens: np.ndarray | None = None  # sessions: history tokens carried in each prompt
    history_read_tokens: np.ndarray | None = None  # sessions: of them, read from the prompt cache


@dataclass
class Replication:
    index: int
    strategies: dict[str, StrategyReplication]
    timeline: dict[str, np.ndarray]  # event kind -> times (s)
    span_s: float  # first to last arrival


@dataclass
class RunResult:
    """Everything a run produced. ``summary_table()`` is the tidy view; ``to_json()`` the CLI's."""

    scenario: Scenario
    replications: list[Replication]
    feasibility: dict[str, str | None]  # strategy -> None if feasible, else the reason
    engine: str = "simpy"
    notes: list[str] = field(default_factory=list)
    _metrics: list[dict[str, dict[str, float | None]]] | None = None
    _summary: dict[str, dict[str, Any]] | None = None

    @property
    def strategies(self) -> list[str]:
        return list(self.scenario.simulation.strategies)

    def records(self, strategy: str, replication: int = 0) -> np.ndarray:
        """Per-query records of one strategy in one replication (empty if infeasible)."""
        if strategy not in self.strategies:
            from simlib.loading import did_you_mean

            raise ValueError(f"no strategy {strategy!r} in this run{did_you_mean(strategy, self.strategies)} "
                             f"(ran: {', '.join(self.strategies)})")
        rep = self.replications[replication].strategies.get(strategy)
        return rep.records if rep is not None else np.empty(0, RECORD_DTYPE)

    def metrics_by_replication(self) -> list[dict[str, dict[str, float | None]]]:
        if self._metrics is None:
            self._metrics = [
                {name: replication_metrics(self.scenario, name, rep.strategies[name], rep.span_s)
                 for name in rep.strategies}
                for rep in self.replications
            ]
        return self._metrics

    def summary(self) -> dict[str, dict[str, Any]]:
        """strategy -> {"feasible", "reason", METRIC: {"mean", "ci95"}}."""
        if self._summary is not None:
            return self._summary
        per_rep = self.metrics_by_replication()
        out: dict[str, dict[str, Any]] = {}
        for name in self.strategies:
            reason = self.feasibility.get(name)
            entry: dict[str, Any] = {"feasible": reason is None, "reason": reason}
            entry.update(saturation(self.scenario, name, self.replications) if reason is None else
                         {"saturated": False, "saturated_stage": None, "peak_hour_utilisation": dict.fromkeys(SATURATION_STAGES)})
            batches = self.batch_metrics(name) if reason is None and len(self.replications) == 1 else None
            for metric in METRICS:
                if reason is not None:
                    entry[metric] = {"mean": None, "ci95": None}
                    continue
                values = [m[name][metric] for m in per_rep]
                if batches is None:
                    entry[metric] = interval(values)
                elif metric in COUNT_METRICS:  # each batch's count scaled to a run total, as the centre is
                    entry[metric] = interval([None if b[metric] is None else b[metric] * len(batches) for b in batches],
                                             centre=values[0])
                else:
                    entry[metric] = interval([b[metric] for b in batches], centre=values[0])
            out[name] = entry
        self._summary = out
        return out

    def batch_metrics(self, strategy: str) -> list[dict[str, float | None]]:
        """Metrics over consecutive batches of the single replication (for its interval)."""
        return batch_metrics(self.scenario, strategy, self.replications[0])

    def summary_table(self) -> "pd.DataFrame":
        """Tidy table: one row per strategy x metric (mean, ci_low, ci_high, unit)."""
        import pandas as pd

        rows = []
        for name, entry in self.summary().items():
            for metric, spec in METRICS.items():
                v = entry[metric]
                ci = v["ci95"] or [None, None]
                rows.append({"strategy": name, "metric": metric, "mean": v["mean"], "ci_low": ci[0],
                             "ci_high": ci[1], "unit": spec.unit, "feasible": entry["feasible"]})
        return pd.DataFrame(rows)

    def summary_wide(self, metrics: list[str] | None = None) -> "pd.DataFrame":
        """One row per strategy, one column per metric mean (for printing)."""
        table = self.summary_table()
        unknown = [m for m in (metrics or []) if m not in METRICS]
        if unknown:
            from simlib.loading import did_you_mean

            raise ValueError(f"unknown metric {unknown[0]!r}{did_you_mean(unknown[0], METRICS)} (see docs/metrics.md)")
        if metrics is not None:
            table = table[table["metric"].isin(metrics)]
        wide = table.pivot(index="strategy", columns="metric", values="mean")
        wide = wide.reindex(index=self.strategies)
        return wide[[m for m in (metrics or list(METRICS)) if m in wide.columns]]

    def cost_breakdown(self) -> "pd.DataFrame":
        """Tidy cost components: strategy, component, usd_per_query, usd_per_month (mean over replications)."""
        import pandas as pd

        q_month = self.scenario.workload.queries_per_day * DAYS_PER_MONTH
        per_rep = self.metrics_by_replication()
        rows = []
        for name in self.strategies:
            if self.feasibility.get(name) is not None:
                continue
            for comp in COST_COMPONENTS:
                key = f"cost_{comp}_per_query_usd" if comp in PER_QUERY_COMPONENTS else f"cost_{comp}_monthly_usd"
                vals = [m[name][key] for m in per_rep]
                mean = float(np.mean(vals))
                per_query = mean if comp in PER_QUERY_COMPONENTS else mean / q_month
                rows.append({"strategy": name, "component": comp, "usd_per_query": per_query,
                             "usd_per_month": per_query * q_month})
        return pd.DataFrame(rows)

    def to_json_dict(self, verdict=None) -> dict[str, Any]:
        """The documented ``--json`` shape (see docs/json.md).

        ``verdict`` is the :class:`simlib.verdict.Verdict` of this result (computed above the
        results layer, so it is passed in); without one the key is null.
        """
        from simlib._version import __version__

        found = verdict
        p = self.scenario.prices
        return {
            "simlib_version": __version__,
            "scenario": self.scenario.to_dict(),
            "prices": {"source": p.source, "as_of": p.as_of, "model": p.model,
                       "fine_tuning": {"source": self.scenario.fine_tuning.source, "as_of": self.scenario.fine_tuning.as_of}},
            "queries": self.scenario.simulation.queries,
            "replications": len(self.replications),
            "seed": self.scenario.simulation.seed,
            "engine": self.engine,
            "notes": list(self.notes),
            "requirements": self.scenario.requirements.model_dump(mode="json"),
            "verdict": _finite_or_null(found.to_json()) if found is not None else None,
            "strategies": _finite_or_null(self.summary()),
            "dedicated_serving": self.dedicated_serving(),
        }

    def dedicated_serving(self) -> dict[str, Any]:
        """strategy -> its dedicated deployment (simlib.engine.dedicated.dedicated_plan: the hourly replicas and the
        bill, as `simlib capacity` reports them), for each feasible strategy whose model is on dedicated GPUs."""
        from simlib.engine.dedicated import dedicated_plan
        from simlib.engine.strategies import STRATEGIES

        s = self.scenario
        return {name: dedicated_plan(s, STRATEGIES[name]) for name in self.strategies
                if s.serving.dedicated(STRATEGIES[name].fine_tuned) and self.feasibility.get(name) is None}


@dataclass
class StreamedRunResult(RunResult):
    """A RunResult whose metrics were folded from the records as they were made (summary mode).

    ``records(strategy)`` holds a systematic sample (every k-th query, k in ``notes``) when
    the run was longer than the sample size; every summary and table is computed from all
    queries.
    """

    batches: dict[str, list[dict[str, float | None]]] = field(default_factory=dict)

    def batch_metrics(self, strategy: str) -> list[dict[str, float | None]]:
        """Folded while streaming (the records kept are only a sample)."""
        return self.batches.get(strategy) or []


def _finite_or_null(value: Any) -> Any:
    """Every float in a JSON tree finite or None (strict JSON has no NaN or inf; docs/json.md)."""
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def interval(values: list[float | None], centre: float | None = None) -> dict[str, Any]:
    """Mean and 95% t-interval of values (None values dropped; None if none are left)."""
    clean = np.array([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], float)
    if centre is not None and (isinstance(centre, float) and math.isnan(centre)):
        centre = None
    if clean.size == 0:
        return {"mean": centre if centre is not None else None, "ci95": None}
    mean = float(np.mean(clean)) if centre is None else float(centre)
    if clean.size < 2:
        return {"mean": mean, "ci95": None}
    half = float(_t975(clean.size - 1) * np.std(clean, ddof=1) / math.sqrt(clean.size))
    return {"mean": mean, "ci95": [mean - half, mean + half]}


@lru_cache(maxsize=None)
def _t975(dof: int) -> float:
    """Student's t 97.5% quantile (scipy.special: a tenth of scipy.stats' import time)."""
    from scipy.special import stdtrit

    return float(stdtrit(dof, 0.975))


def _quantile(x: np.ndarray, q: float) -> float | None:
    return float(np.quantile(x, q)) if x.size else None


def _share(num: np.ndarray) -> float | None:
    return float(np.mean(num)) if num.size else None


def replication_metrics(scenario: Scenario, strategy: str, sr: StrategyReplication, span_s: float,
                        window: slice | None = None) -> dict[str, float | None]:
    """Every metric of METRICS for one strategy in one replication (or a window of it)."""
    from simlib.engine.strategies import STRATEGIES

    st = STRATEGIES[strategy]
    rec = sr.records if window is None else sr.records[window]
    flags = rec["flags"]
    measured = (flags & WARMUP) == 0
    rec, flags = rec[measured], flags[measured]
    done = (flags & COMPLETED) != 0
    offline = (flags & OFFLINE) != 0
    live = done & ~offline  # offline (batch API) answers have a completion window, not a latency
    lat = rec["latency_s"][live].astype(float)
    ttft = rec["ttft_s"][live].astype(float)
    wait = rec["queue_wait_s"][live].astype(float)
    q_month = scenario.workload.queries_per_day * DAYS_PER_MONTH
    m: dict[str, float | None] = {}
    var_cost = float(np.mean(rec["cost_usd"].astype(float))) if rec.size else 0.0
    monthly_fixed = sum(sr.monthly_components_usd.values())
    m["variable_cost_per_query_usd"] = var_cost
    m["monthly_cost_usd"] = var_cost * q_month + monthly_fixed
    m["cost_per_query_usd"] = m["monthly_cost_usd"] / q_month
    m["latency_p50_s"], m["latency_p95_s"], m["latency_p99_s"] = (_quantile(lat, q) for q in (0.5, 0.95, 0.99))
    m["latency_mean_s"] = float(lat.mean()) if lat.size else None
    m["ttft_p50_s"], m["ttft_p95_s"], m["ttft_p99_s"] = (_quantile(ttft, q) for q in (0.5, 0.95, 0.99))
    m["queue_wait_mean_s"] = float(wait.mean()) if wait.size else None
    m["queue_share"] = float(wait.sum() / lat.sum()) if lat.size and lat.sum() > 0 else None
    m["model_utilisation"] = sr.busy_s / (sr.capacity * span_s) if span_s > 0 else None
    grounded = st.knowledge_source != "none"
    fresh = (flags[done] & FRESH) != 0
    m["fresh_share"] = _share(fresh) if grounded else None
    ages = rec["staleness_age_s"][done][~fresh].astype(float) if grounded else np.empty(0)
    m["staleness_age_mean_s"] = float(ages.mean()) if ages.size else None
    m["staleness_age_p95_s"] = _quantile(ages, 0.95)
    if st.caches(scenario):
        cacheable = (rec["cache_read_tokens"] > 0) | (rec["cache_write_tokens"] > 0)
        hits = (flags & CACHE_HIT) != 0
        # None when no request could cache (the prefix is below the provider's minimum)
        m["cache_hit_rate"] = float(hits[done].sum() / cacheable[done].sum()) if cacheable[done].any() else None
    else:
        m["cache_hit_rate"] = None
    prompt_sum = float(rec["prompt_tokens"][done].sum())
    m["cache_hit_token_share"] = (float(rec["cache_read_tokens"][done].sum()) / prompt_sum
                                  if st.caches(scenario) and prompt_sum > 0 else None)
    m["prefix_hit_token_share"] = m["prefix_hit_request_mean_share"] = m["prefix_hit_request_share"] = None
    if sr.prefix_hit_tokens is not None and done.any():
        reused = (sr.prefix_hit_tokens if window is None else sr.prefix_hit_tokens[window])[measured][done].astype(float)
        x = rec["query_tokens"][done].astype(float)  # the trace's input tokens (>= 1)
        m["prefix_hit_token_share"] = float(reused.sum() / x.sum())
        m["prefix_hit_request_mean_share"] = float(np.mean(reused / x))
        m["prefix_hit_request_share"] = float(np.mean(reused > 0))
    quality = rec["quality"][done].astype(float)
    m["quality_proxy"] = _share(quality)
    from simlib.engine.quality import behaviour_share

    if sr.quality_factors is None:
        raise ValueError(f"{strategy}: records without their quality factors (StrategyReplication.quality_factors)")
    factors = (sr.quality_factors if window is None else sr.quality_factors[window])[measured][done]
    parts = _quality_parts(factors, (flags[done] & CITABLE) != 0)
    m["quality_knowledge"], m["quality_use"] = parts["knowledge"], parts["use"]
    m["quality_distraction"] = parts["distraction"] if st.uses_retrieval else None
    m["quality_long_context"] = parts["long_context"] if st.cached_prefix == "knowledge" else None
    m["hallucination_share"] = parts["hallucination"] if st.fine_tuned else None
    from simlib.engine.injection import decayed_prior_share, weights_knowledge_share

    m["quality_prior"] = decayed_prior_share(scenario)
    m["quality_weights_recall"] = weights_knowledge_share(scenario) if st.fine_tuned else None
    m["quality_behaviour"] = behaviour_share(st, scenario) if done.any() else None
    m["citable_share"] = _share((flags[done] & CITABLE) != 0)
    m["truncated_share"] = _share((flags & TRUNCATED) != 0)
    m["retrieval_miss_share"] = _share((flags[done] & RETRIEVED) == 0) if st.uses_retrieval else None
    m["queries_completed"] = float(done.sum())
    m["queries_rejected"] = float(((flags & REJECTED) != 0).sum())
    m["queries_failed"] = float(((flags & FAILED) != 0).sum())
    m["rate_limited_share"] = _share((flags & RATE_LIMITED) != 0)
    m["retries_mean"] = float(rec["retries"].astype(float).mean()) if rec.size else None
    m["failed_share"] = _share((flags & FAILED) != 0)
    m["offline_share"] = _share(offline)
    m["cost_per_correct_answer_usd"] = cost_per_correct_answer(m["cost_per_query_usd"], m["quality_proxy"])
    m.update(session_metrics(sr, window, measured))
    if sr.cost_components_usd is None:
        raise ValueError(f"{strategy}: records without their cost components (StrategyReplication.cost_components_usd)")
    comps = (sr.cost_components_usd if window is None else sr.cost_components_usd[window])[measured]
    for c in PER_QUERY_COMPONENTS:
        m[f"cost_{c}_per_query_usd"] = float(comps[c].mean()) if rec.size else 0.0
    for c in MONTHLY_COMPONENTS:
        m[f"cost_{c}_monthly_usd"] = float(sr.monthly_components_usd.get(c, 0.0))
    return m


def session_metrics(sr: StrategyReplication | None, window: slice | None = None,
                    measured: np.ndarray | None = None) -> dict[str, float | None]:
    """SESSION_METRICS for one strategy (every one None without sessions).

    A session counts when all its turns are in the run (not cut by the query count), none is
    in the warm-up, and all completed; per-session sums are over its turns.
    """
    m: dict[str, float | None] = dict.fromkeys(SESSION_METRICS)
    if sr is None or sr.sessions is None:
        return m
    sd = sr.sessions
    sl = slice(None) if window is None else window
    rec = sr.records[sl]
    sid, turn, complete = sd.session[sl], sd.turn[sl], sd.complete[sl]
    hist = sr.history_tokens[sl].astype(float)
    flags = rec["flags"]
    ok = ((flags & COMPLETED) != 0) & ((flags & WARMUP) == 0) & complete
    # a session counts only if every one of its turns in this window is ok
    ids, inv = np.unique(sid, return_inverse=True)
    bad = np.bincount(inv, weights=~ok, minlength=len(ids)) > 0
    keep = ~bad[inv]
    m["sessions_completed"] = float((~bad).sum())
    if not keep.any():
        return m
    k_inv = np.unique(inv[keep], return_inverse=True)[1]
    count = np.bincount(k_inv)

    def per_session(x: np.ndarray) -> float:
        return float(np.bincount(k_inv, weights=x[keep].astype(float)).mean())

    m["turns_per_session_mean"] = float(count.mean())
    m["tokens_per_session_mean"] = per_session(rec["prompt_tokens"].astype(float) + rec["output_tokens"])
    m["cost_per_session_usd"] = per_session(rec["cost_usd"])
    m["session_latency_mean_s"] = per_session(rec["latency_s"])
    m["history_tokens_per_turn_mean"] = float(hist[keep].mean())
    if sr.history_read_tokens is not None:
        read = sr.history_read_tokens[sl].astype(float)
        m["history_cache_read_share"] = float(read[keep].sum() / hist[keep].sum()) if hist[keep].sum() > 0 else None
        later = keep & (turn > 0)
        m["history_cached_turn_share"] = float((read[later] > 0).mean()) if later.any() else None
    return m


def cost_per_correct_answer(cost_per_query_usd: float | None, quality: float | None) -> float | None:
    """cost per correct answer = cost per query / quality proxy (None when quality is 0 or unknown)."""
    if cost_per_query_usd is None or quality is None or not quality > 0:
        return None
    return float(cost_per_query_usd) / float(quality)


def peak_arrival_rate_per_s(scenario: Scenario, rep: "Replication") -> float:
    """Arrival rate in the busiest hour of the arrival profile.

    poisson: queries_per_day / 86,400; daily_profile: that x max(w) / mean(w) over the 24
    hourly weights; trace: the most arrivals in any clock hour of the replayed arrivals
    (the whole span when it is shorter than an hour), scaled for sampled records.
    """
    w = scenario.workload
    mean_rate = w.queries_per_day / 86_400.0
    if w.arrival_process == "daily_profile":
        weights = np.asarray(w.hourly_weights, float)
        return mean_rate * float(weights.max() / weights.mean())
    if w.arrival_process == "trace":
        for sr in rep.strategies.values():
            t = sr.records["arrival_at_s"].astype(float)
            if t.size < 2:
                break
            scale = scenario.simulation.queries / t.size  # summary mode keeps a 1-in-k sample
            if rep.span_s < 3_600.0:
                return scenario.simulation.queries / rep.span_s if rep.span_s > 0 else mean_rate
            hours = np.floor((t - t[0]) / 3_600.0).astype(np.int64)
            return float(np.bincount(hours).max()) * scale / 3_600.0
    return mean_rate


def peak_hour_utilisation(scenario: Scenario, strategy: str, rep: "Replication") -> dict[str, float | None]:
    """Offered load / capacity of each stage at the busiest hour.

    {"retrieval", "model", "rate_limits", "dedicated_replicas"}: rho or None where the stage is absent.

    model: rho_peak = (busy_s / (slots x span_s)) x lambda_peak / lambda_span, i.e. the
    measured mean service time x the peak-hour rate / slots (lambda_span = (n - 1) / span_s); with
    hourly autoscaling the slots are the busiest hour's.
    retrieval: rho_peak = lambda_peak x (embed + search [+ rerank] mean latency) / workers.
    rate_limits: live peak requests/min / min(RPM, ITPM / counted input, OTPM / output), the
    token means over the live queries sent (simlib.engine.rate_limits, closed form).
    dedicated_replicas: live peak requests/s x service time at full batch / (replicas x max_batch)
    (simlib.engine.dedicated.stage_capacities). Live = not offline (workload.offline_share).
    """
    from simlib.engine.strategies import STRATEGIES

    st = STRATEGIES[strategy]
    sr = rep.strategies.get(strategy)
    peak = peak_arrival_rate_per_s(scenario, rep)
    out: dict[str, float | None] = dict.fromkeys(SATURATION_STAGES)
    n = scenario.simulation.queries
    if sr is not None and rep.span_s > 0 and n > 1:
        span_rate = (n - 1) / rep.span_s
        slots = sr.capacity
        if scenario.serving.dedicated(st.fine_tuned) and scenario.serving.autoscaling == "hourly":
            from simlib.engine.dedicated import replicas_for

            # the slots vary by hour (capacity is their mean over the span): the busiest hour's slots carry its load
            slots = replicas_for(scenario, st) * scenario.serving.batch_streams_limit
        out["model"] = sr.busy_s / (slots * rep.span_s) * peak / span_rate
    if st.uses_retrieval:
        r = scenario.retrieval
        service_s = r.embed_latency_s + r.search_latency_s + (r.rerank_latency_s if r.rerank else 0.0)
        out["retrieval"] = peak * service_s / r.concurrency_limit
    if sr is None or sr.records.size == 0:
        return out
    flags = sr.records["flags"]
    sent = (flags & (REJECTED | OFFLINE)) == 0
    if not sent.any():
        return out
    live_peak = peak * (1.0 - scenario.workload.offline_share)
    prompt = sr.records["prompt_tokens"][sent].astype(float)
    output = float(sr.records["output_tokens"][sent & ((flags & COMPLETED) != 0)].astype(float).mean()) \
        if (sent & ((flags & COMPLETED) != 0)).any() else scenario.workload.output_tokens_mean
    from simlib.engine.rate_limits import limiter_for, rate_limit_utilisation

    if limiter_for(scenario, st) is not None:
        out["rate_limits"] = rate_limit_utilisation(scenario, st, prompt, output, live_peak * 60.0)
    if scenario.serving.dedicated(st.fine_tuned):
        from simlib.engine.dedicated import deployment, replicas_for, stage_capacities

        cap = stage_capacities(deployment(scenario, st.fine_tuned), replicas_for(scenario, st), float(prompt.mean()), output)
        out["dedicated_replicas"] = live_peak / cap["capacity_requests_per_s"]
    return out


def saturation(scenario: Scenario, strategy: str, reps: list["Replication"]) -> dict[str, Any]:
    """{"saturated", "saturated_stage", "peak_hour_utilisation": {stage: mean over replications}}.

    A stage is saturated when its peak-hour utilisation reaches SATURATION_UTILISATION; the
    stage reported is the most loaded one.
    """
    per = [peak_hour_utilisation(scenario, strategy, rep) for rep in reps]
    util: dict[str, float | None] = {}
    for stage in SATURATION_STAGES:
        vals = [p[stage] for p in per if p[stage] is not None]
        util[stage] = float(np.mean(vals)) if vals else None
    over = {k: v for k, v in util.items() if v is not None and v >= SATURATION_UTILISATION}
    stage = max(over, key=over.get) if over else None
    return {"saturated": stage is not None, "saturated_stage": stage, "peak_hour_utilisation": util}


def _quality_parts(factors: np.ndarray, citable: np.ndarray) -> dict[str, float | None]:
    """Means over completed queries of K, U, long-context use and hallucination (``factors``, their
    QUALITY_FACTORS_DTYPE rows); distraction over the answers grounded in context (``citable``)."""
    if factors.size == 0:
        return dict.fromkeys(QUALITY_FACTORS)
    out: dict[str, float | None] = {key: float(factors[key].mean()) for key in ("knowledge", "use", "long_context",
                                                                                "hallucination")}
    out["distraction"] = float(factors["distraction"][citable].mean()) if citable.any() else None
    return out


def batch_edges(n: int, warmup_n: int, batches: int = 10) -> np.ndarray | None:
    """Boundaries of ``batches`` equal batches of the measured queries warmup_n..n (None if too few).

    The warm-up queries are in no batch: a batch of warm-up alone would count as a $0,
    zero-latency batch and widen (and bias) the interval.
    """
    if n - warmup_n < 2 * batches:
        return None
    return np.linspace(warmup_n, n, batches + 1).astype(int)


# counts over the whole run: a batch's count times the number of batches estimates the run's
COUNT_METRICS = ("queries_completed", "queries_rejected", "queries_failed")


def batch_metrics(scenario: Scenario, strategy: str, rep: Replication, batches: int = 10) -> list[dict[str, float | None]]:
    """Every metric over ``batches`` consecutive batches of the measured queries of one replication (batch means)."""
    sr = rep.strategies[strategy]
    n = len(sr.records)
    warmup_n = int(np.count_nonzero((sr.records["flags"] & WARMUP) != 0)) if n else 0  # the first queries
    edges = batch_edges(n, warmup_n, batches)
    if edges is None:
        return []
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        span = float(sr.records["arrival_at_s"][b - 1] - sr.records["arrival_at_s"][a])
        # a batch's utilisation is not measured (busy time is kept per replication)
        metrics = replication_metrics(scenario, strategy, sr, span, window=slice(a, b))
        metrics["model_utilisation"] = None
        out.append(metrics)
    return out


def capacity_status(result: RunResult) -> list[str]:
    """One line per strategy behind rate limits or on dedicated GPUs: the tier or replicas, the peak-hour load and the bill.

    What the CLI prints as ``capacity:`` lines and the dashboard shows under its results
    (issue 16: "which tier or how many GPUs at our peak, and the bill").
    """
    from simlib.engine.rate_limits import limiter_for
    from simlib.engine.strategies import STRATEGIES

    s = result.scenario
    rl, sv = s.rate_limits, s.serving
    summary = result.summary()
    lines = []
    for name, entry in summary.items():
        if not entry["feasible"]:
            continue
        st = STRATEGIES[name]
        util = entry["peak_hour_utilisation"]
        if limiter_for(s, st) is not None:
            tier = f" ({rl.tier if '/' in (rl.tier or '') else f'tier {rl.tier}'})" if rl.tier else ""
            limited, failed = entry["rate_limited_share"]["mean"] or 0.0, entry["failed_share"]["mean"] or 0.0
            carry = (f"carry {util['rate_limits']:.2f}x their sustained capacity at the busiest hour"
                     if util["rate_limits"] is not None else "carry no live load (every query offline)")
            # a request whose tokens exceed a bucket's burst can never be admitted: the limiter fails it
            # at once (retry-after infinite), before any retry, so "after N retries" would be untrue for it
            recs = [rep.strategies[name].records for rep in result.replications if name in rep.strategies]
            never = sum(int((((r["flags"] & FAILED) != 0) & (r["retries"] < rl.retry_limit)).sum()) for r in recs)
            total = sum(r.size for r in recs)
            retried = failed - never / total if total else failed
            never_text = (f"{never / total:.1%} could never fit a bucket (a request's input or output tokens exceed "
                          f"{rl.burst_s:g} s of input_tokens_per_minute or output_tokens_per_minute), "
                          if never else "")
            lines.append(
                f"{name}: rate limits{tier} {rl.requests_per_minute:,.0f} RPM / {rl.input_tokens_per_minute:,.0f} ITPM / "
                f"{rl.output_tokens_per_minute:,.0f} OTPM {carry}; {limited:.1%} of requests got a 429, {never_text}"
                f"{max(retried, 0.0):.1%} failed after {rl.retry_limit} retries"
                + ("  << a higher tier or custom limits needed"
                   if (util["rate_limits"] or 0.0) >= SATURATION_UTILISATION else ""))
        load = (f"busiest-hour load {util['dedicated_replicas']:.2f} of full-batch capacity"
                if util.get("dedicated_replicas") is not None else "no live load (every query offline)")
        if s.serving.dedicated(st.fine_tuned) and sv.autoscaling == "hourly":
            from simlib.engine.dedicated import dedicated_plan

            plan = dedicated_plan(s, st)
            hosting = entry["cost_hosting_monthly_usd"]["mean"]
            lines.append(
                f"{name}: dedicated, hourly autoscaling {plan['replicas_min']}-{plan['replicas_max']} replica(s) x "
                f"{sv.gpus_per_replica_count} {sv.gpu} ({plan['gpu_hours_per_day']:,} GPU-hours/day, each hour sized to "
                f"p95 <= {sv.p95_target_s:g} s, scale-ups serve {sv.cold_start_s:g} s after the hour starts)"
                f"{' with speculative decoding' if sv.speculative else ''}: ${hosting:,.0f}/month "
                f"(fixed at the peak's {plan['peak_replicas']}: ${plan['fixed_at_peak_monthly_usd']:,.0f}/month); {load}")
        elif s.serving.dedicated(st.fine_tuned):
            from simlib.engine.dedicated import replicas_for

            replicas = replicas_for(s, st)
            how = (f"sized to p95 <= {sv.p95_target_s:g} s at the busiest hour" if sv.replicas_count is None
                   else "fixed")
            if sv.replicas_count is None and s.workload.offline_share > 0:
                from simlib.engine.dedicated import offline_work_replicas

                how += f", at least {offline_work_replicas(s, st)} to carry the day's work with its offline share"
            hosting = entry["cost_hosting_monthly_usd"]["mean"]
            lines.append(
                f"{name}: dedicated {replicas} replica(s) x {sv.gpus_per_replica_count} {sv.gpu} = "
                f"{replicas * sv.gpus_per_replica_count} GPUs ({how}){' with speculative decoding' if sv.speculative else ''}: "
                f"${hosting:,.0f}/month; {load}")
    return lines
