"""The scenario: one validated, immutable description of a system to simulate.

A scenario is a tree of groups (workload, knowledge, retrieval, model, prompt, prices,
fine_tuning, prompt_cache, quality, simulation). Every numeric field carries its unit in
its name (``_s`` durations, ``_at_s`` instants, ``_usd`` money, ``_tokens``, ``_per_s``,
``_per_day``, ``_share`` fractions in [0, 1]), a constraint, and a description that
states where its default comes from. Validation happens when the scenario is built,
never when it runs: a built :class:`Scenario` is always runnable (a strategy that cannot
fit its context window is reported infeasible by the engine, not rejected here).

Scenarios are loaded from YAML or JSON (``load_scenario``); a file may start from a preset
(``base: docs-assistant``) and override any field. ``Scenario.with_changes`` returns a new,
re-validated scenario with some fields changed.
"""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simlib.errors import Problem, ScenarioError

STRATEGY_NAMES: tuple[str, ...] = (
    "prompt_only",
    "rag",
    "fine_tune",
    "rag_fine_tune",
    "prompt_cache",
    "rag_prompt_cache",
)
StrategyName = Literal[
    "prompt_only", "rag", "fine_tune", "rag_fine_tune", "prompt_cache", "rag_prompt_cache"
]

SECONDS_PER_DAY = 86_400.0
DAYS_PER_MONTH = 30.4375  # 365.25 / 12: the month used for every monthly figure


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _f(default: Any, description: str, **constraints: Any) -> Any:
    """A field with its constraint and the description (which says where the default is from)."""
    return Field(default, description=description, **constraints)


class Workload(_Group):
    """Who asks what, and how often."""

    queries_per_day: float = _f(20_000.0, "Mean queries per day over the whole system. Default: a mid-sized internal assistant.", gt=0)
    arrival_process: Literal["poisson", "daily_profile", "trace"] = _f(
        "poisson",
        "'poisson' (constant rate), 'daily_profile' (non-homogeneous Poisson, one rate per hour of "
        "day from hourly_weights) or 'trace' (replayed arrivals and token counts; see simlib.traces).",
    )
    hourly_weights: tuple[float, ...] = _f(
        (1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 12, 11, 9, 7, 5, 4, 3, 2, 1),
        "Relative arrival rate for each hour of the day (24 non-negative numbers, not all zero), "
        "used when arrival_process is 'daily_profile'. Default: a business-hours shape.",
        min_length=24,
        max_length=24,
    )
    query_tokens_mean: float = _f(60.0, "Mean tokens in the user's query. Default: a one-paragraph question.", ge=1)
    output_tokens_mean: float = _f(350.0, "Mean output tokens per answer (capped at model.max_output_tokens). Default: a few paragraphs.", ge=1)
    token_length_cv: float = _f(0.6, "Coefficient of variation of query and output lengths (lognormal); 0 makes them constant. Default: typical chat spread.", ge=0, le=5)
    fact_popularity: Literal["uniform", "zipf"] = _f("zipf", "How often each fact is asked about: uniform, or Zipf by rank. Default: Zipf, as in most FAQ traffic.")
    zipf_exponent: float = _f(0.9, "Exponent s of the Zipf popularity (P(rank r) ~ r^-s). Default 0.9.", gt=0, le=5)
    tenants_count: int = _f(1, "Tenants or users whose data (and cache prefixes) are separate; facts are split evenly among them. 1 = one shared knowledge base.", ge=1)
    trace: str | None = _f(None, "Trace to replay when arrival_process is 'trace': a shipped trace name or a file path.")
    trace_time_scale: float = _f(1.0, "Trace replay: multiply inter-arrival times by this (0.5 = twice the load).", gt=0)
    trace_start_s: float = _f(0.0, "Trace replay: skip the trace before this many seconds.", ge=0)
    trace_duration_s: float | None = _f(None, "Trace replay: use this many seconds of trace from trace_start_s (None: to the end).", gt=0)
    trace_loop: bool = _f(False, "Trace replay: loop the window until simulation.queries have arrived.")

    @model_validator(mode="after")
    def _weights_usable(self) -> "Workload":
        if any(w < 0 for w in self.hourly_weights) or sum(self.hourly_weights) <= 0:
            raise ValueError("hourly_weights must be 24 non-negative numbers, not all zero")
        return self

    @model_validator(mode="after")
    def _trace_named(self) -> "Workload":
        # the file itself (format, window, queries) is checked in build_scenario (simlib.traces.check_replay)
        if self.arrival_process == "trace" and not self.trace:
            raise ValueError(
                "arrival_process is 'trace', so trace must name a shipped trace (azure-code, azure-conv, "
                "mooncake-conversation, mooncake-synthetic) or a CSV / JSONL file"
            )
        return self


class Knowledge(_Group):
    """The knowledge base, its stream of changes, and how the search index follows it."""

    facts_count: int = _f(2_000, "Facts (documents) in the knowledge base. Default: a product's docs site.", ge=1)
    chunks_per_fact: int = _f(4, "Retrievable chunks per fact (document). Default: a 1,600-token page in 400-token chunks.", ge=1)
    changes_per_day: float = _f(30.0, "Knowledge changes per day (a fact's new version), over the whole base. Default: a docs team's weekly churn.", ge=0)
    changes_follow_popularity: bool = _f(False, "If true, popular facts change more often (changes drawn with query popularity); else uniformly.")
    change_burst_size_mean: float = _f(1.0, "Mean changes per burst (geometric); 1 = plain Poisson changes, larger = bursty releases.", ge=1)
    index_refresh: Literal["streaming", "batch"] = _f("streaming", "How the search index follows changes: streaming (each change indexed after index_lag_s) or batch (re-index every reindex_interval_s).")
    index_lag_s: float = _f(300.0, "Streaming indexing lag: a change is searchable this long after it happens. Default: 5 minutes, a queue-driven embedding job.", ge=0)
    reindex_interval_s: float = _f(86_400.0, "Batch re-index period. Default: nightly.", gt=0)
    reindex_duration_s: float = _f(1_800.0, "Batch re-index duration: a re-index reflects the knowledge at its start and serves from its end.", ge=0)


class Retrieval(_Group):
    """The retrieval round trip (embed the query, vector search, optional rerank) and its recall."""

    top_k: int = _f(5, "Chunks retrieved into the prompt. Default: a common RAG setting.", ge=0, le=1000)
    chunk_tokens: int = _f(400, "Tokens per retrieved chunk. Default: a common chunk size.", ge=1)
    embed_latency_s: float = _f(0.05, "Mean latency of embedding the query (API call). Default: hosted embedding API, small input.", ge=0)
    search_latency_s: float = _f(0.03, "Mean vector search latency. Default: managed vector store, ANN index.", ge=0)
    rerank: bool = _f(False, "Rerank the candidates before keeping top_k (adds rerank_latency_s and rerank price, lowers misses).")
    rerank_latency_s: float = _f(0.2, "Mean rerank latency. Default: hosted cross-encoder reranker.", ge=0)
    latency_cv: float = _f(0.5, "Coefficient of variation of each retrieval step's latency (lognormal); 0 = constant.", ge=0, le=5)
    concurrency_limit: int = _f(64, "Retrieval requests served at once; more wait in FIFO order.", ge=1)
    recall_at_1_share: float = _f(0.55, "P(the needed chunk is the top-1 result). Recall at k is recall_ceiling_share * (1 - (1 - recall_at_1_share)^k).", ge=0, le=1)
    recall_ceiling_share: float = _f(0.95, "Best recall reachable at any k (the needed fact may not be findable at all).", ge=0, le=1)
    rerank_miss_reduction_share: float = _f(0.3, "Share of retrieval misses that reranking recovers.", ge=0, le=1)


class Model(_Group):
    """The base model behind the provider's API: context window, speeds and concurrency."""

    name: str = _f("anthropic/claude-sonnet-4-5", "Model label shown in results (a catalog name when prices.model is set).")
    context_window_tokens: int = _f(200_000, "Context window in tokens (prompt + reserved output); filled from the catalog (genai-prices) for a named prices.model, a hand-set value wins. Default: Claude Sonnet 4.5 standard window.", ge=256)
    max_output_tokens: int = _f(1_024, "Output tokens reserved in the context window; outputs are capped at this.", ge=1)
    prefill_tokens_per_s: float = _f(8_000.0, "Uncached prompt tokens processed per second (prefill) per request.", gt=0)
    cached_prefill_tokens_per_s: float = _f(80_000.0, "Cached prompt tokens processed per second (cache reads are ~10x faster than prefill).", gt=0)
    decode_tokens_per_s: float = _f(60.0, "Output tokens generated per second per request. Default: typical frontier API model.", gt=0)
    network_rtt_s: float = _f(0.3, "Network round trip and API overhead added to time to first token.", ge=0)
    cache_overhead_s: float = _f(0.0, "Fixed time a cache hit adds to prefill (looking up and loading the entry): TTFT on a hit = network_rtt_s + cache_overhead_s + cached tokens / cached_prefill_tokens_per_s + uncached tokens / prefill_tokens_per_s. Filled from data/prices/latency.csv (Anthropic fit: 0.456 s) for catalog models; default 0 (hand-set scenarios keep the plain rate model).", ge=0)
    concurrency_limit: int = _f(32, "Requests the provider serves at once for us (rate limit or slots); more wait in FIFO order.", ge=1)
    latency_source: str = _f("hand-set defaults (typical frontier API model)", "Where the speeds above come from (filled from data/prices/latency.csv for catalog models).")
    service_time_distribution: Literal["deterministic", "exponential"] = _f(
        "deterministic",
        "Service time of the model stage: 'deterministic' (from tokens and rates) or 'exponential' with the same mean (for checks against M/M/c).",
    )


class Prompt(_Group):
    """The fixed parts of the prompt, in tokens (see MODEL.md, Strategies)."""

    system_tokens: int = _f(400, "System prompt tokens.", ge=0)
    instructions_tokens: int = _f(1_200, "Instruction tokens (style guide, format, rules) for prompted strategies.", ge=0)
    few_shot_tokens: int = _f(2_000, "Few-shot example tokens, carried by every prompted strategy alike (0: no few-shot examples); fine-tuned strategies have them internalised.", ge=0)
    short_system_tokens: int = _f(150, "The short system prompt of fine-tuned strategies (instructions internalised).", ge=0)


class Prices(_Group):
    """Token and retrieval prices. Set ``model`` to take token prices from the catalog."""

    model: str | None = _f(None, "Catalog model ('provider/model') whose token prices to use; hand-set fields below override it.")
    input_usd_per_mtok: float = _f(3.0, "Input price, USD per million tokens. Default: Claude Sonnet 4.5 list price (2025-09).", ge=0)
    output_usd_per_mtok: float = _f(15.0, "Output price, USD per million tokens. Default: Claude Sonnet 4.5 list price (2025-09).", ge=0)
    long_context_threshold_tokens: int | None = _f(None, "Prompts above this many tokens are billed entirely at the long-context prices (a cliff). None: no tier.", ge=1)
    long_context_input_usd_per_mtok: float | None = _f(None, "Input price above the long-context threshold.", ge=0)
    long_context_output_usd_per_mtok: float | None = _f(None, "Output price above the long-context threshold.", ge=0)
    embedding_usd_per_mtok: float = _f(0.02, "Embedding price, USD per million tokens (query and re-embedded chunks). Default: OpenAI text-embedding-3-small.", ge=0)
    vector_read_usd_per_query: float = _f(0.0001, "Vector store price per search. Default: managed serverless store, a few read units per query.", ge=0)
    vector_storage_usd_per_gb_month: float = _f(0.33, "Vector storage price per GB-month. Default: managed serverless store.", ge=0)
    embedding_dimensions: int = _f(1_536, "Embedding dimensions (storage size = chunks x dimensions x 4 bytes). Default: text-embedding-3-small.", ge=1)
    rerank_usd_per_query: float = _f(0.002, "Rerank price per query. Default: hosted reranker at $2 per 1,000 searches.", ge=0)
    catalog_date: str | None = _f(None, "Date (ISO) to read catalog prices on; None: today. Pin it to make a saved scenario's prices reproducible.")
    source: str = _f("hand-set scenario prices", "Where these prices come from (filled from the catalog when model is set).")
    as_of: str = _f("2025-11-01", "Date the prices were valid (ISO).")

    @model_validator(mode="after")
    def _tier_complete(self) -> "Prices":
        if self.long_context_threshold_tokens is not None and (
            self.long_context_input_usd_per_mtok is None or self.long_context_output_usd_per_mtok is None
        ):
            raise ValueError(
                "long_context_threshold_tokens is set, so long_context_input_usd_per_mtok and "
                "long_context_output_usd_per_mtok must be set too"
            )
        return self


class FineTuning(_Group):
    """The fine-tuned model: its retraining schedule, training price, and serving."""

    model: str | None = _f(None, "Fine-tuning catalog entry ('provider/model') whose training and inference prices to use.")
    retrain_interval_days: float = _f(30.0, "Days between retrainings (each starts from the knowledge at its start).", gt=0)
    training_duration_s: float = _f(6 * 3600.0, "Time a retraining takes.", ge=0)
    deploy_delay_s: float = _f(2 * 3600.0, "Time from trained to serving (evaluation, rollout).", ge=0)
    training_tokens: float = _f(2_000_000.0, "Tokens in the training set per retraining (before epochs).", gt=0)
    epochs: int = _f(3, "Training epochs per retraining.", ge=1)
    training_usd_per_mtok: float = _f(25.0, "Training price, USD per million training tokens (x epochs). Default: OpenAI gpt-4o fine-tuning (2025).", ge=0)
    input_usd_per_mtok: float = _f(3.75, "Fine-tuned model input price. Default: OpenAI fine-tuned gpt-4o (2025).", ge=0)
    output_usd_per_mtok: float = _f(15.0, "Fine-tuned model output price. Default: OpenAI fine-tuned gpt-4o (2025).", ge=0)
    hosting_usd_per_hour: float = _f(0.0, "Dedicated hosting of the fine-tuned model (0 for serverless per-token pricing).", ge=0)
    prefill_tokens_per_s: float = _f(8_000.0, "Fine-tuned model prefill rate.", gt=0)
    decode_tokens_per_s: float = _f(60.0, "Fine-tuned model decode rate.", gt=0)
    network_rtt_s: float = _f(0.3, "Network round trip to the fine-tuned model's endpoint.", ge=0)
    concurrency_limit: int = _f(32, "Requests the fine-tuned endpoint serves at once.", ge=1)
    latency_source: str = _f("hand-set defaults (typical frontier API model)", "Where the fine-tuned model's speeds come from.")
    source: str = _f("hand-set scenario prices", "Where the fine-tuning prices come from.")
    as_of: str = _f("2025-11-01", "Date the fine-tuning prices were valid (ISO).")


class PromptCache(_Group):
    """The provider's prompt cache (see MODEL.md, Provider prompt cache)."""

    mode: Literal["explicit", "automatic"] = _f("explicit", "'explicit' (write premium, e.g. Anthropic) or 'automatic' (no write premium, cached part counted in increments, e.g. OpenAI).")
    ttl_s: float = _f(300.0, "Entry lifetime after its last use (a hit refreshes it). Default: Anthropic's 5-minute entry.", ge=0)
    write_multiplier: float = _f(1.25, "Cache-write price as a multiple of the input price. Default: Anthropic 5-minute entry (1h entries: 2.0).", ge=0)
    read_multiplier: float = _f(0.1, "Cache-read price as a multiple of the input price. Default: Anthropic (0.1x).", ge=0)
    min_cacheable_tokens: int = _f(1_024, "Prefixes shorter than this never cache. Default: Anthropic Sonnet-class minimum.", ge=0)
    increment_tokens: int = _f(128, "Automatic mode: cached tokens are counted in multiples of this. Default: OpenAI.", ge=1)
    rebuild_policy: Literal["on_change", "periodic"] = _f("on_change", "When the cached knowledge prefix (prompt_cache) is rebuilt: on every change (fresh, more writes) or every rebuild_interval_s (stale in between).")
    rebuild_interval_s: float = _f(86_400.0, "Period of the periodic rebuild policy.", gt=0)
    prefix_scope: Literal["global", "per_tenant"] = _f("global", "Cache key of the rag_prompt_cache prefix: one shared prefix, or one per tenant.")
    storage_usd_per_mtok_hour: float = _f(0.0, "Cache storage price per million tokens per hour (some providers' explicit caches).", ge=0)


class Quality(_Group):
    """The quality proxy's parameters (MODEL.md, Quality proxy). A proxy, not a claim about a model."""

    prior_knowledge_share: float = _f(0.3, "P(the base model already knows the needed domain fact) with no grounding.", ge=0, le=1)
    context_use_share: float = _f(0.95, "P(the model uses knowledge given in its context).", ge=0, le=1)
    wrong_context_penalty_share: float = _f(0.5, "On a retrieval miss, the share of prior knowledge lost to misleading context.", ge=0, le=1)
    fine_tuned_fact_recall_share: float = _f(0.7, "P(a fine-tuned model recalls an internalised fact correctly).", ge=0, le=1)
    forgetting_penalty_share: float = _f(0.05, "Share of answers a fine-tuned model gets wrong from lost general capability (catastrophic forgetting).", ge=0, le=1)
    long_context_degradation_per_100k_tokens: float = _f(0.05, "Loss of in-context recall per 100k tokens of cached context (cache-augmented generation).", ge=0, le=1)
    behaviour_prompted_share: float = _f(0.75, "P(the answer has the required behaviour) under prompting with instructions. 1 = no specialised behaviour.", ge=0, le=1)
    few_shot_uplift_share: float = _f(0.1, "Added to behaviour_prompted_share when few-shot examples are in the prompt (capped at 1).", ge=0, le=1)
    behaviour_fine_tuned_share: float = _f(0.95, "P(the answer has the required behaviour) after fine-tuning. 1 = no specialised behaviour.", ge=0, le=1)


class Simulation(_Group):
    """How much to simulate, and with which random seed."""

    queries: int = _f(5_000, "Queries to simulate per replication (the horizon is queries / rate).", ge=1, le=50_000_000)
    replications: int = _f(1, "Independent replications (for 95% intervals across them).", ge=1, le=1000)
    seed: int = _f(0, "Root random seed; every stream is derived from it.", ge=0)
    warmup_share: float = _f(0.0, "Share of each replication's first queries simulated but left out of the summary (queue warm-up).", ge=0, lt=1)
    strategies: tuple[StrategyName, ...] = _f(STRATEGY_NAMES, "Strategies to simulate (default all six).", min_length=1)


class Scenario(_Group):
    """A whole scenario. Build with ``Scenario(**data)``, ``load_scenario(path)`` or a preset."""

    name: str = _f("custom", "Short name shown on charts and exports.")
    story: str = _f("", "One line saying what system this scenario describes.")
    sources: dict[str, str] = _f({}, "Where the scenario's numbers come from (field path -> source).")
    catalog_filled: tuple[str, ...] = _f((), "Fields whose values came from the price catalog (set when the scenario is built).")
    workload: Workload = Workload()
    knowledge: Knowledge = Knowledge()
    retrieval: Retrieval = Retrieval()
    model: Model = Model()
    prompt: Prompt = Prompt()
    prices: Prices = Prices()
    fine_tuning: FineTuning = FineTuning()
    prompt_cache: PromptCache = PromptCache()
    quality: Quality = Quality()
    simulation: Simulation = Simulation()

    @model_validator(mode="before")
    @classmethod
    def _fill_from_catalog(cls, data: Any) -> Any:
        """Fill prices from the catalog for named models; hand-set fields win."""
        if not isinstance(data, dict) or not _names_catalog_model(data):
            return data
        return _resolve_catalog(data)

    # -- derived quantities used by the engine --------------------------------------
    @property
    def arrival_rate_per_s(self) -> float:
        """Mean arrival rate, queries per second."""
        return self.workload.queries_per_day / SECONDS_PER_DAY

    def with_changes(self, changes: dict[str, Any] | None = None, /, **groups: Any) -> "Scenario":
        """A new, re-validated scenario with some fields changed.

        ``changes`` maps dotted paths to values (``{"workload.queries_per_day": 1e5}``);
        keyword arguments take whole or partial groups (``retrieval={"top_k": 8}``).
        """
        # Only what was set by hand travels: defaults stay defaults, and catalog values are
        # looked up again (for a new model, or the same one).
        data = self.model_dump(mode="python", exclude_unset=True)
        for path in data.pop("catalog_filled", ()):
            _del_path(data, path)
        for path, value in (changes or {}).items():
            _set_path(data, path, value)
        for group, value in groups.items():
            if isinstance(value, dict) and isinstance(data.get(group), dict):
                data[group] = _deep_merge(data[group], value)
            else:
                data[group] = value
        return build_scenario(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field (what ``--json`` embeds)."""
        return self.model_dump(mode="json")


# --- building and loading -------------------------------------------------------------

def _resolve_catalog(data: dict[str, Any]) -> dict[str, Any]:
    """Fill prices, the provider's cache rules and the context window from the catalog for named models.

    Only fields the user did not set are filled, so a hand-set price always wins. The
    catalog is read as of ``prices.catalog_date`` (default: today), since it holds
    scheduled price changes.
    """
    from datetime import date

    prices = data.get("prices")
    ft = data.get("fine_tuning")
    marks: list[str] = []
    if isinstance(prices, dict) and prices.get("model"):
        from simlib import prices as catalog

        on = prices.get("catalog_date")
        on = date.fromisoformat(str(on)) if on else None
        looked_up = catalog.effective_token_prices(prices["model"], on=on)
        filled = dict(prices)
        for key in _CATALOG_KEYS["prices"]:
            if key not in filled and looked_up.get(key) is not None:
                filled[key] = looked_up[key]
                marks.append(f"prices.{key}")
        data = {**data, "prices": filled}
        cache = dict(data.get("prompt_cache") or {})
        rules = looked_up.get("cache_rules") or {}
        inp = looked_up.get("input_usd_per_mtok") or 0.0
        before = set(cache)
        mode = cache.setdefault("mode", rules.get("mode", "explicit"))
        for key in ("min_cacheable_tokens", "increment_tokens", "storage_usd_per_mtok_hour"):
            if key not in cache and rules.get(key) is not None:
                cache[key] = rules[key]
        if inp > 0:
            ttl = float(cache.get("ttl_s", PromptCache.model_fields["ttl_s"].default))
            if "read_multiplier" not in cache and looked_up.get("cache_read_usd_per_mtok") is not None:
                cache["read_multiplier"] = round(looked_up["cache_read_usd_per_mtok"] / inp, 6)
            if "write_multiplier" not in cache:
                if mode == "automatic":
                    cache["write_multiplier"] = 1.0
                else:
                    one_hour = looked_up.get("cache_write_1h_usd_per_mtok")
                    write = one_hour if (ttl > 300 and one_hour is not None) else looked_up.get("cache_write_usd_per_mtok")
                    if write is not None:
                        cache["write_multiplier"] = round(write / inp, 6)
        marks += [f"prompt_cache.{k}" for k in set(cache) - before]
        data = {**data, "prompt_cache": cache}
        model = dict(data.get("model") or {})
        if "name" not in model:
            model["name"] = prices["model"]
            marks.append("model.name")
        if "context_window_tokens" not in model:
            window = catalog.model_context_window_tokens(prices["model"])
            if window:
                model["context_window_tokens"] = int(window)
                marks.append("model.context_window_tokens")
        marks += _fill_latency(model, prices["model"], "model", _MODEL_SPEED_KEYS)
        data = {**data, "model": model}
    if isinstance(ft, dict) and ft.get("model"):
        from simlib import prices as catalog

        looked_up = catalog.fine_tune_prices(ft["model"])
        filled = dict(ft)
        for key in _CATALOG_KEYS["fine_tuning"]:
            if key not in filled and looked_up.get(key) is not None:
                filled[key] = looked_up[key]
                marks.append(f"fine_tuning.{key}")
        marks += _fill_latency(filled, ft["model"], "fine_tuning", _FT_SPEED_KEYS)
        data = {**data, "fine_tuning": filled}
    if marks:
        data = {**data, "catalog_filled": tuple(sorted(set(data.get("catalog_filled", ())) | set(marks)))}
    return data


_CATALOG_KEYS = {
    "prices": {
        "input_usd_per_mtok", "output_usd_per_mtok", "long_context_threshold_tokens",
        "long_context_input_usd_per_mtok", "long_context_output_usd_per_mtok", "source", "as_of",
    },
    "fine_tuning": {"training_usd_per_mtok", "input_usd_per_mtok", "output_usd_per_mtok", "hosting_usd_per_hour", "source", "as_of"},
}


_MODEL_SPEED_KEYS = ("prefill_tokens_per_s", "cached_prefill_tokens_per_s", "cache_overhead_s", "decode_tokens_per_s", "network_rtt_s")
_FT_SPEED_KEYS = ("prefill_tokens_per_s", "decode_tokens_per_s", "network_rtt_s")


def _fill_latency(group: dict[str, Any], model: str, prefix: str, keys: tuple[str, ...]) -> list[str]:
    """Fill a group's speeds from data/prices/latency.csv (typical figures for the model's class)."""
    from simlib import prices as catalog

    try:
        figures = catalog.latency_figures(model)
    except catalog.UnknownModelError:
        return []  # no latency class for this model: the documented defaults stay
    marks = []
    for key in keys:
        if key not in group and figures.get(key) is not None:
            group[key] = figures[key]
            marks.append(f"{prefix}.{key}")
    if "latency_source" not in group:
        group["latency_source"] = f"{figures.get('latency_class')}: {figures.get('source')} (as of {figures.get('as_of')})"
        marks.append(f"{prefix}.latency_source")
    return marks


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError([Problem(path, f"'{part}' is not a group of the scenario")])
        node = child
    node[parts[-1]] = value


def _del_path(data: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "sources":
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _valid_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at ``loc`` (the parent of a bad key), for 'did you mean'."""
    current: Any = model
    for part in loc:
        field = current.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        current = field.annotation
    return list(current.model_fields)


def _explain(err: dict[str, Any]) -> Problem:
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        names = _valid_names(Scenario, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), names, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else (
            f"; valid names here: {', '.join(names)}" if names else ""
        )
        return Problem(path, f"unknown field{hint}")
    got = err.get("input")
    shown = repr(got) if not isinstance(got, dict) else "a mapping"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return Problem(path or "scenario", f"{msg} (got {shown})")


def build_scenario(data: dict[str, Any], *, source: str | None = None) -> Scenario:
    """Validate ``data`` into a :class:`Scenario`, or raise ScenarioError listing every problem."""
    if not isinstance(data, dict):
        raise ScenarioError([Problem("", f"a scenario must be a mapping of groups, got {type(data).__name__}")], source=source)
    if _names_catalog_model(data):
        from simlib.prices import UnknownModelError

        try:
            data = _resolve_catalog(data)
        except UnknownModelError as exc:
            raise ScenarioError([Problem(_catalog_field(data, exc), str(exc))], source=source) from None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError([_explain(e) for e in exc.errors()], source=source) from None
    if scenario.workload.arrival_process == "trace":
        from simlib.traces import check_replay  # the trace file, its window and the query count

        try:
            check_replay(scenario)
        except ScenarioError as exc:
            raise ScenarioError(exc.problems, source=source) from None
    return scenario


def _names_catalog_model(data: dict[str, Any]) -> bool:
    return any(isinstance(data.get(g), dict) and data[g].get("model") for g in ("prices", "fine_tuning"))


def _catalog_field(data: dict[str, Any], exc: Exception) -> str:
    name = getattr(exc, "name", None)
    ft = data.get("fine_tuning")
    if isinstance(ft, dict) and ft.get("model") == name:
        return "fine_tuning.model"
    return "prices.model"


def _read_mapping(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ScenarioError([Problem(str(path), "no such file")])
    if path.is_dir():
        raise ScenarioError([Problem(str(path), "is a directory, not a scenario file")])
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError([Problem(f"{path}:{exc.lineno}:{exc.colno}", f"not valid JSON: {exc.msg}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([Problem(where, f"not valid YAML: {what}")]) from None
    if data is None:
        raise ScenarioError([Problem(str(path), "the file is empty")])
    if not isinstance(data, dict):
        raise ScenarioError([Problem(str(path), f"a scenario file must be a mapping of groups, got {type(data).__name__}")])
    return data


def scenario_from_mapping(data: dict[str, Any], *, source: str | None = None) -> Scenario:
    """Build a scenario from a mapping that may name a preset as its ``base``."""
    data = dict(data)
    base = data.pop("base", None)
    if base is not None:
        from simlib.presets import preset_data

        if not isinstance(base, str):
            raise ScenarioError([Problem("base", f"must be a preset name, got {base!r}")], source=source)
        data = _deep_merge(preset_data(base), data)
    return build_scenario(data, source=source)


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario from a YAML or JSON file (safe loading; ``base:`` names a preset)."""
    path = Path(path)
    data = _read_mapping(path)
    return scenario_from_mapping(data, source=str(path))
