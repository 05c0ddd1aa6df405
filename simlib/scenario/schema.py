"""The scenario's schema: the groups of fields, each with its unit, bounds and the source of its default.

A scenario is a tree of groups (workload, knowledge, retrieval, model, prompt, prices,
fine_tuning, prompt_cache, rate_limits, serving, quality, sessions, simulation, requirements). Every numeric field carries its unit in
its name (``_s`` durations, ``_at_s`` instants, ``_usd`` money, ``_tokens``, ``_per_s``,
``_per_day``, ``_share`` fractions in [0, 1]), a constraint, and a description that
states where its default comes from.

This module is the bottom of the scenario layer: it imports nothing of simlib but the
errors. The whole :class:`~simlib.scenario.build.Scenario` and how it is built (catalog
fill, run-size limits, the trace check) are in ``build.py``; files and presets in ``load.py``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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


# Finite ranges (issue 13): every number has an upper bound, so no input can ask for an
# unbounded allocation or an overflow; the horizon-relative limits (events per run) are
# checked in build_scenario (check_run_size), where the horizon is known.
MAX_DURATION_S = 3.2e9  # ~100 years: no duration, lag or period is longer
MAX_USD_PER_MTOK = 10_000.0  # 100x the dearest list price in the catalog
MAX_CONCURRENCY = 1_000_000  # requests served at once by one stage
MAX_HORIZON_S = 3.2e9  # simulated span (queries / rate), ~100 years
MAX_CHANGES_PER_RUN = 20_000_000  # knowledge changes drawn over horizon + look-back (~320 MB)
MAX_PERIODIC_EVENTS_PER_RUN = 1_000_000  # re-indexes, cache rebuilds or retrainings per run
DEFAULT_CACHE_PROVIDER = "anthropic"  # whose cache rules the hand-set defaults follow (Claude Sonnet 4.5 prices)
INFINITE_OK = frozenset({"ttl_s"})  # the only field where inf means something (an entry never expires)


def _is_number_annotation(annotation: Any) -> bool:
    """True for float/int fields, optional or tuple-of (bool is not a number)."""
    import typing

    if annotation in (int, float):
        return True
    return any(_is_number_annotation(a) for a in typing.get_args(annotation) if a is not Ellipsis)


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_number(cls, value: Any, info: Any) -> Any:
        """A boolean is not a number (YAML 'true' would become 1); inf only where it means something."""
        field = cls.model_fields.get(info.field_name)
        if field is None or not _is_number_annotation(field.annotation):
            return value
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, bool):
                raise ValueError("expected a number, got a boolean")
            if isinstance(item, float) and math.isinf(item) and info.field_name not in INFINITE_OK:
                raise ValueError("must be finite")
        return value


def _mapping_as_pairs(value: Any) -> Any:
    """A mapping written in a file ({5: 0.85}) as the sorted (key, value) pairs a frozen group holds."""
    if isinstance(value, dict):
        return tuple(value.items())
    return value


def _f(default: Any, description: str, **constraints: Any) -> Any:
    """A field with its constraint and the description (which says where the default is from)."""
    return Field(default, description=description, **constraints)


class Workload(_Group):
    """Who asks what, and how often."""

    queries_per_day: float = _f(20_000.0, "Mean queries per day over the whole system. Default: a mid-sized internal assistant.", gt=0, le=1e9)
    arrival_process: Literal["poisson", "daily_profile", "trace"] = _f(
        "poisson",
        "'poisson' (constant rate), 'daily_profile' (non-homogeneous Poisson, one rate per hour of "
        "day from hourly_weights) or 'trace' (replayed arrivals and token counts; see simlib.traces).",
    )
    hourly_weights: tuple[float, ...] = _f(
        (1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 12, 11, 9, 7, 5, 4, 3, 2, 1),
        "Relative arrival rate for each hour of the day (24 finite numbers in [0, 1e6], not all zero), "
        "used when arrival_process is 'daily_profile'. Default: a business-hours shape.",
        min_length=24,
        max_length=24,
    )
    query_tokens_mean: float = _f(60.0, "Mean tokens in the user's query. Default: a one-paragraph question.", ge=1, le=1e7)
    output_tokens_mean: float = _f(350.0, "Mean output tokens per answer (capped at model.max_output_tokens). Default: a few paragraphs.", ge=1, le=1e7)
    token_length_cv: float = _f(0.6, "Coefficient of variation of query and output lengths (lognormal); 0 makes them constant. Default: typical chat spread.", ge=0, le=5)
    fact_popularity: Literal["uniform", "zipf"] = _f("zipf", "How often each fact is asked about: uniform, or Zipf by rank. Default: Zipf, as in most FAQ traffic.")
    zipf_exponent: float = _f(0.9, "Exponent s of the Zipf popularity (P(rank r) ~ r^-s). Default 0.9.", gt=0, le=5)
    tenants_count: int = _f(1, "Tenants or users whose data (and cache prefixes) are separate; facts are split evenly among them. 1 = one shared knowledge base.", ge=1, le=1_000_000)
    trace: str | None = _f(None, "Trace to replay when arrival_process is 'trace': a shipped trace name or a file path.")
    trace_time_scale: float = _f(1.0, "Trace replay: multiply inter-arrival times by this (0.5 = twice the load).", gt=0, le=1e6)
    trace_start_s: float = _f(0.0, "Trace replay: skip the trace before this many seconds.", ge=0, le=MAX_DURATION_S)
    trace_duration_s: float | None = _f(None, "Trace replay: use this many seconds of trace from trace_start_s (None: to the end).", gt=0, le=MAX_DURATION_S)
    trace_loop: bool = _f(False, "Trace replay: loop the window until simulation.queries have arrived.")
    offline_share: float = _f(
        0.0,
        "Share of queries that need no live answer and go through the provider's batch API: billed at "
        "prices.batch_discount_share off the token prices (fine_tuning.batch_discount_share for fine-tuned "
        "strategies), answered within prices.batch_completion_window_s instead of a latency (left out of the "
        "latency, TTFT and queue metrics; they bypass the live rate limits and model slots). Default 0: all live.",
        ge=0, le=1,
    )

    @field_validator("hourly_weights")
    @classmethod
    def _weights_usable(cls, w: tuple[float, ...]) -> tuple[float, ...]:
        # NaN fails every comparison, so test for the good range, not the bad one (issue 13: NaN passed `x < 0`)
        bad = [h for h, x in enumerate(w) if not (math.isfinite(x) and 0 <= x <= 1e6)]
        if bad or not sum(w) > 0:
            where = f"hour {bad[0]} is {w[bad[0]]!r}" if bad else "all are zero"
            raise ValueError(f"must be 24 finite numbers in [0, 1e6], not all zero ({where})")
        return w

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

    facts_count: int = _f(2_000, "Facts (documents) in the knowledge base. Default: a product's docs site.", ge=1, le=10_000_000)
    chunks_per_fact: int = _f(4, "Retrievable chunks per fact (document). Default: a 1,600-token page in 400-token chunks.", ge=1, le=10_000)
    changes_per_day: float = _f(30.0, "Knowledge changes per day (a fact's new version), over the whole base. Default: a docs team's weekly churn.", ge=0, le=1e7)
    changes_follow_popularity: bool = _f(False, "If true, popular facts change more often (changes drawn with query popularity); else uniformly.")
    change_burst_size_mean: float = _f(1.0, "Mean changes per burst (geometric); 1 = plain Poisson changes, larger = bursty releases.", ge=1, le=1e4)
    index_refresh: Literal["streaming", "batch"] = _f("streaming", "How the search index follows changes: streaming (each change indexed after index_lag_s) or batch (re-index every reindex_interval_s).")
    index_lag_s: float = _f(300.0, "Streaming indexing lag: a change is searchable this long after it happens. Default: 5 minutes, a queue-driven embedding job.", ge=0, le=MAX_DURATION_S)
    reindex_interval_s: float = _f(86_400.0, "Batch re-index period. Default: nightly.", gt=0, le=MAX_DURATION_S)
    reindex_duration_s: float = _f(1_800.0, "Batch re-index duration: a re-index reflects the knowledge at its start and serves from its end.", ge=0, le=MAX_DURATION_S)
    tenant_knowledge: Literal["shared", "private"] = _f(
        "shared",
        "'private': each tenant's facts may only answer that tenant (per-user data), so one shared fine-tuned "
        "model cannot hold them (its knowledge on tenant facts is the base prior); 'shared': any model may learn every fact.",
    )
    base_cutoff_age_days: float = _f(
        365.0,
        "Days from the base model's training cut-off to now; a fact changed in that time is unknown (or known in an old "
        "version) to the base model: its prior decays as 1 - exp(-changes per fact per day x this). Assumption: a model "
        "released ~6 months after its cut-off and used for ~6 months.", ge=0, le=36_500,
    )


class Retrieval(_Group):
    """The retrieval round trip (embed the query, vector search, optional rerank) and its recall."""

    top_k: int = _f(5, "Chunks retrieved into the prompt. Default: a common RAG setting.", ge=0, le=1000)
    chunk_tokens: int = _f(400, "Tokens per retrieved chunk. Default: a common chunk size.", ge=1, le=1_000_000)
    embed_latency_s: float = _f(0.05, "Mean latency of embedding the query (API call). Default: hosted embedding API, small input.", ge=0, le=3600)
    search_latency_s: float = _f(0.03, "Mean vector search latency. Default: managed vector store, ANN index.", ge=0, le=3600)
    rerank: bool = _f(False, "Rerank the candidates before keeping top_k (adds rerank_latency_s and rerank price, lowers misses).")
    rerank_latency_s: float = _f(0.2, "Mean rerank latency. Default: hosted cross-encoder reranker.", ge=0, le=3600)
    latency_cv: float = _f(0.5, "Coefficient of variation of each retrieval step's latency (lognormal); 0 = constant.", ge=0, le=5)
    concurrency_limit: int = _f(64, "Retrieval requests served at once; more wait in FIFO order.", ge=1, le=MAX_CONCURRENCY)
    recall_at_1_share: float = _f(0.55, "P(the needed chunk is the top-1 result). Recall at k is recall_ceiling_share * (1 - (1 - recall_at_1_share)^k).", ge=0, le=1)
    recall_ceiling_share: float = _f(0.95, "Best recall reachable at any k (the needed fact may not be findable at all).", ge=0, le=1)
    rerank_miss_reduction_share: float = _f(0.3, "Share of retrieval misses that reranking recovers.", ge=0, le=1)
    corpus_reference_chunks: int = _f(
        10_000,
        "Searchable chunks (per tenant) at which recall_at_1_share holds; a larger corpus lowers it (see corpus_size_exponent). "
        "Assumption: a mid-sized corpus.", ge=1, le=10**12,
    )
    corpus_size_exponent: float = _f(
        0.1,
        "Top-1 recall falls as (corpus_reference_chunks / searchable chunks)^a above the reference size (more chunks, more "
        "near neighbours). Assumption for the value; dense retrieval degrading with index size: Reimers & Gurevych 2021.",
        ge=0, le=2,
    )
    distraction_per_extra_chunk_share: float = _f(
        0.01,
        "Loss of context use per retrieved chunk beyond the first: U = context_use_share x (1 - d)^(chunks - 1). "
        "Assumption for the value; distractor documents lowering answer accuracy: RAFT (Zhang et al. 2024).", ge=0, le=0.5,
    )
    index_build_engineering_hours: float = _f(40.0, "Engineering hours to build the first index pipeline (chunking, embedding, evaluation), amortised over index_build_amortisation_months. Assumption: one engineer-week.", ge=0, le=100_000)
    index_build_amortisation_months: float = _f(12.0, "Months over which the initial index build (embedding every chunk + its engineering hours) is amortised. Assumption: a one-year horizon.", gt=0, le=120)
    index_upkeep_hours_per_month: float = _f(8.0, "Engineering hours per month to keep the index pipeline running (retrieval strategies). Assumption: a day a month.", ge=0, le=10_000)
    measured_recall_at_k: tuple[tuple[Annotated[int, Field(ge=1, le=1000)], Annotated[float, Field(ge=0, le=1)]], ...] | None = _f(
        None,
        "Your retrieval eval's recall at a few k ({1: 0.6, 5: 0.85, 20: 0.93}: at least 2 k, recall not falling with k). "
        "When set, recall at k is the curve c x (1 - (1 - r1)^k) fitted to these points (least squares) instead of "
        "recall_at_1_share, recall_ceiling_share, the corpus-size and rerank adjustments (the eval measured the retriever "
        "as configured); the run's notes give the fit. None: the documented defaults.",
    )

    _recall_as_pairs = field_validator("measured_recall_at_k", mode="before")(lambda v: _mapping_as_pairs(v))

    @field_validator("measured_recall_at_k")
    @classmethod
    def _recall_points_usable(cls, points: tuple[tuple[int, float], ...] | None) -> tuple[tuple[int, float], ...] | None:
        if points is None:
            return None
        ks = [k for k, _ in points]
        if len(set(ks)) != len(ks):
            raise ValueError("each k may appear once")
        if len(points) < 2:
            raise ValueError("needs recall at 2 or more k to fit the curve's top-1 recall and ceiling")
        points = tuple(sorted(points))
        if any(b[1] < a[1] for a, b in zip(points, points[1:])):
            raise ValueError("recall cannot fall as k grows (more chunks retrieved hold every chunk of fewer)")
        return points


class Model(_Group):
    """The base model behind the provider's API: context window, speeds and concurrency."""

    name: str = _f("anthropic/claude-sonnet-4-5", "Model label shown in results (a catalog name when prices.model is set).")
    context_window_tokens: int = _f(200_000, "Context window in tokens (prompt + reserved output); filled from the catalog (genai-prices) for a named prices.model, a hand-set value wins. Default: Claude Sonnet 4.5 standard window.", ge=256, le=100_000_000)
    max_output_tokens: int = _f(1_024, "Output tokens each request reserves in the context window (its max_tokens); outputs are capped at this. A strategy whose model allows fewer (output_limit_tokens) is infeasible. Default: a common max_tokens setting.", ge=1, le=10_000_000)
    output_limit_tokens: int | None = _f(None, "The most output tokens the model allows per request (its max_tokens ceiling); filled from data/prices/output_limits.csv for a named prices.model, a hand-set value wins. None: not checked.", ge=1, le=10_000_000)
    prefill_tokens_per_s: float = _f(8_000.0, "Uncached prompt tokens processed per second (prefill) per request.", gt=0, le=1e15)
    cached_prefill_tokens_per_s: float = _f(80_000.0, "Cached prompt tokens processed per second (cache reads are ~10x faster than prefill).", gt=0, le=1e15)
    decode_tokens_per_s: float = _f(60.0, "Output tokens generated per second per request. Default: typical frontier API model.", gt=0, le=1e15)
    network_rtt_s: float = _f(0.3, "Network round trip and API overhead added to time to first token.", ge=0, le=3600)
    cache_overhead_s: float = _f(0.0, "Fixed time a cache hit adds to prefill (looking up and loading the entry): TTFT on a hit = network_rtt_s + cache_overhead_s + cached tokens / cached_prefill_tokens_per_s + uncached tokens / prefill_tokens_per_s. Filled from data/prices/latency.csv (Anthropic fit: 0.456 s) for catalog models; default 0 (hand-set scenarios keep the plain rate model).", ge=0, le=60)
    concurrency_limit: int = _f(32, "Requests the provider serves at once for us (rate limit or slots); more wait in FIFO order.", ge=1, le=MAX_CONCURRENCY)
    latency_source: str = _f("hand-set defaults (typical frontier API model)", "Where the speeds above come from (filled from data/prices/latency.csv for catalog models).")
    service_time_distribution: Literal["deterministic", "exponential"] = _f(
        "deterministic",
        "Service time of the model stage: 'deterministic' (from tokens and rates) or 'exponential' with the same mean (for checks against M/M/c).",
    )


class Prompt(_Group):
    """The fixed parts of the prompt, in tokens (see docs/model.md, Strategies)."""

    system_tokens: int = _f(400, "System prompt tokens.", ge=0, le=10_000_000)
    instructions_tokens: int = _f(1_200, "Instruction tokens (style guide, format, rules) for prompted strategies.", ge=0, le=10_000_000)
    few_shot_tokens: int = _f(2_000, "Few-shot example tokens, carried by every prompted strategy alike (0: no few-shot examples); fine-tuned strategies have them internalised.", ge=0, le=10_000_000)
    short_system_tokens: int = _f(150, "The short system prompt of fine-tuned strategies (instructions internalised).", ge=0, le=10_000_000)


class Prices(_Group):
    """Token and retrieval prices. Set ``model`` to take token prices from the catalog."""

    model: str | None = _f(None, "Catalog model ('provider/model') whose token prices to use; hand-set fields below override it.")
    input_usd_per_mtok: float = _f(3.0, "Input price, USD per million tokens. Default: Claude Sonnet 4.5 list price (2025-09).", ge=0, le=MAX_USD_PER_MTOK)
    output_usd_per_mtok: float = _f(15.0, "Output price, USD per million tokens. Default: Claude Sonnet 4.5 list price (2025-09).", ge=0, le=MAX_USD_PER_MTOK)
    long_context_threshold_tokens: int | None = _f(None, "Prompts above this many tokens are billed entirely at the long-context prices (a cliff). None: no tier.", ge=1, le=100_000_000)
    long_context_input_usd_per_mtok: float | None = _f(None, "Input price above the long-context threshold.", ge=0, le=MAX_USD_PER_MTOK)
    long_context_output_usd_per_mtok: float | None = _f(None, "Output price above the long-context threshold.", ge=0, le=MAX_USD_PER_MTOK)
    embedding_usd_per_mtok: float = _f(0.02, "Embedding price, USD per million tokens (query and re-embedded chunks). Default: OpenAI text-embedding-3-small.", ge=0, le=MAX_USD_PER_MTOK)
    vector_read_usd_per_query: float = _f(0.0001, "Vector store price per search. Default: managed serverless store, a few read units per query.", ge=0, le=100)
    vector_storage_usd_per_gb_month: float = _f(0.33, "Vector storage price per GB-month. Default: managed serverless store.", ge=0, le=1e4)
    embedding_dimensions: int = _f(1_536, "Embedding dimensions (storage size = chunks x dimensions x 4 bytes). Default: text-embedding-3-small.", ge=1, le=65_536)
    vector_store_minimum_usd_per_month: float = _f(50.0, "Vector store plan minimum per month: usage below it (storage, reads, re-index writes) is topped up to it. Default: Pinecone Standard (data/prices/vector_stores.csv, 2025-10-01); 0 for an in-process index.", ge=0, le=1_000_000)
    engineer_usd_per_hour: float = _f(100.0, "Loaded engineering cost per hour (retraining, evaluation and pipeline upkeep). Assumption: about 1.5x the US median software developer wage (~64 USD/h, BLS May 2023).", ge=0, le=10_000)
    rerank_usd_per_query: float = _f(0.002, "Rerank price per query. Default: hosted reranker at $2 per 1,000 searches.", ge=0, le=100)
    batch_discount_share: float = _f(0.5, "Batch API discount on the token prices of the offline share (workload.offline_share). Filled from data/prices/batch_discounts.csv for a catalog model's provider; default 0.5: Anthropic's and OpenAI's batch APIs (as of 2026-11-01).", ge=0, lt=1)
    batch_completion_window_s: float = _f(86_400.0, "Batch API completion window: an offline query is answered within it (its 'latency'). Filled from data/prices/batch_discounts.csv; default 24 h (Anthropic, OpenAI).", gt=0, le=MAX_DURATION_S)
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
    retrain_interval_days: float = _f(30.0, "Days between retrainings (each starts from the knowledge at its start).", gt=0, le=36_525)
    training_duration_s: float = _f(6 * 3600.0, "Time a retraining takes.", ge=0, le=MAX_DURATION_S)
    deploy_delay_s: float = _f(2 * 3600.0, "Time from trained to serving (evaluation, rollout).", ge=0, le=MAX_DURATION_S)
    training_tokens: float | None = _f(
        None,
        "Tokens in one model's training set per retraining (before epochs). None: behaviour_training_tokens + the "
        "knowledge it must teach (facts x chunk tokens x paraphrases_per_fact), so training grows with the corpus; a "
        "per-tenant adapter trains on its tenant's facts only (the behaviour examples are trained once, in the shared model).", gt=0, le=1e13,
    )
    behaviour_training_tokens: float = _f(200_000.0, "Tokens of behaviour examples (style, format, tools) in every training set. Assumption: ~200 example conversations of ~1,000 tokens (OpenAI's guide sees gains from 50-100 examples).", ge=0, le=1e12)
    paraphrases_per_fact: int = _f(5, "Varied restatements of each fact in the training set. Default 5: the 'multi5' augmentation with which Allen-Zhu & Li 2023 find facts extractable (Ovadia et al. 2023 also need paraphrases).", ge=1, le=100)
    training_follows_popularity: bool = _f(False, "If true, the training set repeats facts in proportion to query popularity (popular facts get more exposures); else every fact is seen equally.")
    adapters: Literal["shared", "per_tenant"] = _f("shared", "'shared': one fine-tuned model for everyone; 'per_tenant': one adapter per tenant, trained on that tenant's facts (training x tenants) and served S-LoRA style.")
    adapter_retrain_interval_days: float = _f(7.0, "Days between retrainings of the per-tenant adapters (their own schedule). Assumption: weekly.", gt=0, le=3650)
    adapter_storage_usd_per_month: float = _f(0.01, "Storage of one adapter per month. Assumption: a ~0.2 GB LoRA adapter in object storage at ~0.023 USD/GB-month (AWS S3 Standard).", ge=0, le=1000)
    adapters_per_server: int = _f(2_000, "Adapters one multi-adapter server holds. Default: S-LoRA serves 2,000 adapters on one A100 80GB (Sheng et al. 2023, arXiv 2311.03285).", ge=1, le=1_000_000)
    adapter_server_usd_per_hour: float = _f(4.0, "Hourly cost of one multi-adapter server (added to the per-token prices). Assumption: one 80 GB GPU on demand.", ge=0, le=1000)
    synthetic_data_share: float = _f(1.0, "Share of the training tokens generated by model calls (paraphrases, Q&A pairs) each retraining; 0 when the data already exists.", ge=0, le=1)
    data_prep_prompt_tokens: int = _f(500, "Instruction tokens of each data-generation call (one call per fact and paraphrase, reading the fact). Assumption.", ge=0, le=1_000_000)
    training_work_via_batch_api: bool = _f(True, "Generate the training data and run each retrained model's evaluation through the provider's batch API (neither needs a live answer): base-model calls at prices.batch_discount_share off (50% at OpenAI and Anthropic), the fine-tuned model's evaluation answers at fine_tuning.batch_discount_share off. False: full per-token prices.")
    eval_questions_count: int = _f(300, "Evaluation questions run against each retrained model (each answered by it and judged). Assumption: a small held-out set.", ge=0, le=10_000_000)
    eval_judge_calls_per_question: int = _f(1, "Judge calls (base model) per evaluation question.", ge=0, le=100)
    eval_call_input_tokens: int = _f(1_500, "Input tokens of one evaluation answer or judge call. Assumption.", ge=0, le=10_000_000)
    eval_call_output_tokens: int = _f(300, "Output tokens of one evaluation answer or judge call. Assumption.", ge=0, le=1_000_000)
    engineering_hours_per_retraining: float = _f(4.0, "Engineering hours per retraining round (data checks, evaluation review, rollout). Assumption: half a day.", ge=0, le=10_000)
    pipeline_upkeep_hours_per_month: float = _f(8.0, "Engineering hours per month to keep the fine-tuning pipeline running (fine-tuned strategies). Assumption: a day a month.", ge=0, le=10_000)
    epochs: int = _f(3, "Training epochs per retraining.", ge=1, le=1000)
    training_usd_per_mtok: float = _f(25.0, "Training price, USD per million training tokens (x epochs). Default: OpenAI gpt-4o fine-tuning (2025).", ge=0, le=MAX_USD_PER_MTOK)
    input_usd_per_mtok: float = _f(3.75, "Fine-tuned model input price. Default: OpenAI fine-tuned gpt-4o (2025).", ge=0, le=MAX_USD_PER_MTOK)
    output_usd_per_mtok: float = _f(15.0, "Fine-tuned model output price. Default: OpenAI fine-tuned gpt-4o (2025).", ge=0, le=MAX_USD_PER_MTOK)
    cache_read_usd_per_mtok: float | None = _f(None, "Fine-tuned model cached-input price, USD per million tokens (a cache hit of a fine-tuned strategy); filled from data/prices/fine_tuning.csv where published (OpenAI fine-tuned gpt-4.1: 0.75). None: input_usd_per_mtok x prompt_cache.read_multiplier.", ge=0, le=MAX_USD_PER_MTOK)
    cache_mode: Literal["explicit", "automatic"] | None = _f(None, "The fine-tuned model's own provider cache ('automatic': OpenAI, Gemini implicit): fine-tuned strategies then cache by its rules (the cache_* fields below), not the base model's. Filled from data/prices/cache_rules.csv when the fine-tuning entry's provider differs from prices.model's. None: the base model's provider, prompt_cache.")
    cache_ttl_s: float | None = _f(None, "Entry lifetime of the fine-tuned model's cache (with cache_mode); filled with its provider's default retention (OpenAI 300 s). None: prompt_cache.ttl_s.", ge=0, le=MAX_DURATION_S)
    cache_min_cacheable_tokens: int | None = _f(None, "Minimum cacheable prefix of the fine-tuned model's cache (with cache_mode). None: prompt_cache.min_cacheable_tokens.", ge=0, le=100_000_000)
    cache_increment_tokens: int | None = _f(None, "Automatic mode: steps of the fine-tuned model's cached part (with cache_mode). None: prompt_cache.increment_tokens.", ge=1, le=1_000_000)
    cache_overflow_requests_per_minute: float | None = _f(None, "Best-effort routing cap of the fine-tuned model's cache (with cache_mode; OpenAI 15). None: no overflow.", gt=0, le=1e9)
    hosting_usd_per_hour: float = _f(0.0, "Dedicated hosting of the fine-tuned model (0 for serverless per-token pricing); ignored when serving.fine_tuned_model is 'dedicated' (the GPU bill replaces it).", ge=0, le=1e6)
    batch_discount_share: float = _f(0.0, "Batch API discount on the fine-tuned model's token prices for the offline share. Default 0: no batch price is assumed for fine-tuned endpoints (set it where your provider has one).", ge=0, lt=1)
    context_window_tokens: int | None = _f(None, "The fine-tuned model's context window (prompt + reserved output); filled from the catalog for the fine-tuning entry's base model, a hand-set value wins. None: model.context_window_tokens.", ge=256, le=100_000_000)
    output_limit_tokens: int | None = _f(None, "The most output tokens the fine-tuned model allows per request; filled from data/prices/output_limits.csv for the entry or its base model, a hand-set value wins. None: model.output_limit_tokens.", ge=1, le=10_000_000)
    prefill_tokens_per_s: float = _f(8_000.0, "Fine-tuned model prefill rate.", gt=0, le=1e15)
    decode_tokens_per_s: float = _f(60.0, "Fine-tuned model decode rate.", gt=0, le=1e15)
    network_rtt_s: float = _f(0.3, "Network round trip to the fine-tuned model's endpoint.", ge=0, le=3600)
    concurrency_limit: int = _f(32, "Requests the fine-tuned endpoint serves at once.", ge=1, le=MAX_CONCURRENCY)
    latency_source: str = _f("hand-set defaults (typical frontier API model)", "Where the fine-tuned model's speeds come from.")
    source: str = _f("hand-set scenario prices", "Where the fine-tuning prices come from.")
    as_of: str = _f("2025-11-01", "Date the fine-tuning prices were valid (ISO).")


class RateLimitGroup(_Group):
    """The provider's rate limits on the base model's API, and the client's retry policy (docs/capacity.md).

    Default: no limits (every field None), today's behaviour. Set ``tier`` (a row of
    data/prices/rate_limits.csv) or all three per-minute limits; hand-set limits override
    the tier's.
    """

    tier: str | None = _f(None, "Provider tier from data/prices/rate_limits.csv: 'PROVIDER/TIER' (e.g. 'anthropic/4') or 'TIER' for the provider of prices.model; its limits are those of prices.model's class. None: no tier.")
    requests_per_minute: float | None = _f(None, "Requests per minute (RPM bucket). None: from tier, or no limits.", gt=0, le=1e9)
    input_tokens_per_minute: float | None = _f(None, "Input tokens per minute (ITPM bucket). None: from tier, or no limits.", gt=0, le=1e13)
    output_tokens_per_minute: float | None = _f(None, "Output tokens per minute (OTPM bucket). None: from tier, or no limits.", gt=0, le=1e13)
    counted_input: Literal["uncached", "all"] | None = _f(None, "Which input tokens count toward ITPM: 'uncached' (cache reads exempt, as Anthropic's current models) or 'all'. None: the tier's rule, else 'all'.")
    burst_s: float = _f(60.0, "Bucket size in seconds of refill (burst = limit / 60 x this). Default: one minute's worth (the issue's reading of per-minute limits).", gt=0, le=86_400)
    retry_limit: int = _f(3, "Retries after a 429 before the request fails (counted in failed_share). Assumption: a typical SDK default (Anthropic's and OpenAI's SDKs retry 2 times by default).", ge=0, le=20)
    backoff_base_s: float = _f(1.0, "Exponential backoff: retry n waits min(backoff_cap_s, backoff_base_s x 2^n) x (1 + jitter_share x u). Assumption.", ge=0, le=3600)
    backoff_cap_s: float = _f(60.0, "Longest backoff before jitter. Assumption.", ge=0, le=86_400)
    jitter_share: float = _f(0.5, "Jitter: the backoff is stretched by up to this share (u uniform in [0, 1)). Assumption.", ge=0, le=1)
    honour_retry_after: bool = _f(True, "Wait at least the 429's retry-after (the time until the buckets hold the request) before retrying.")
    applies_to: Literal["base", "base_and_fine_tuned"] = _f("base", "Which serverless endpoints the limits apply to: the base model only (a fine-tuned model on another provider has its own limits), or both.")
    cache_reads_exempt: bool | None = _f(None, "Filled from the tier when one is set (whether its provider exempts cache reads).")

    @property
    def enabled(self) -> bool:
        return None not in (self.requests_per_minute, self.input_tokens_per_minute, self.output_tokens_per_minute)

    @model_validator(mode="after")
    def _complete(self) -> "RateLimitGroup":
        given = [x is not None for x in (self.requests_per_minute, self.input_tokens_per_minute, self.output_tokens_per_minute)]
        if any(given) and not all(given):
            raise ValueError("set all three of requests_per_minute, input_tokens_per_minute and output_tokens_per_minute, "
                             "or a tier (whose limits fill the ones not set)")
        return self

    def counts_uncached_only(self) -> bool:
        """True where cache reads do not count toward the input-token limit."""
        if self.counted_input is not None:
            return self.counted_input == "uncached"
        return bool(self.cache_reads_exempt)


class Serving(_Group):
    """How each model is served: serverless per-token API (today's behaviour) or a dedicated GPU deployment.

    A dedicated model is billed per GPU-hour (replicas x gpus_per_replica_count x hours x the GPU's price,
    data/prices/gpus.csv), not per token, and its speed per stream follows the roofline batching
    curve of simlib.engine.dedicated at the number of requests in flight on its replica.
    The roofline fields describe the model deployed (defaults: a 70B dense model in FP8, Llama-3-70B's
    KV layout); they apply to whichever model is dedicated (each gets its own replicas).
    """

    base_model: Literal["serverless", "dedicated"] = _f("serverless", "'serverless' (the provider's per-token API, behind rate_limits) or 'dedicated' (an open-weight base model on our GPUs).")
    fine_tuned_model: Literal["serverless", "dedicated"] = _f("serverless", "'serverless' (per-token fine-tuned endpoint) or 'dedicated' (the fine-tuned model on our GPUs).")
    gpu: str = _f("nvidia-h100-sxm", "GPU type from data/prices/gpus.csv.")
    gpus_per_replica_count: int = _f(4, "GPUs per replica (tensor parallel). Default: 4 x H100 holds a 70B FP8 model with room for KV cache.", ge=1, le=64)
    replicas_count: int | None = _f(None, "Replicas per dedicated model. None: the smallest count whose simulated p95 latency at the busiest hour meets p95_target_s (simlib.engine.dedicated.size_replicas).", ge=1, le=10_000)
    p95_target_s: float = _f(10.0, "p95 latency target the replicas are sized to (when replicas_count is None). Assumption.", gt=0, le=86_400)
    autoscaling: Literal["off", "hourly"] = _f("off", "Dedicated replicas: 'off' (one count all day: replicas_count, or sized at the busiest hour) or 'hourly' (each hour of the day sized to p95_target_s at that hour's arrival rate from workload.hourly_weights, at least replicas_min_count; scale-ups serve cold_start_s after the hour starts, billed from its start; a flat profile gives the fixed count). 'hourly' sizes the replicas, so replicas_count must be unset.")
    cold_start_s: float = _f(265.0, "Autoscaling: time from requesting a replica at an hour boundary to it serving (billed meanwhile). Default: Anyscale's measured download and start of Llama-2-70B on a p4de, 4 min 25 s before their optimisation (20 s after; anyscale.com/blog/loading-llama-2-70b-20x-faster-with-anyscale-endpoints, 2023); an assumption for another model, store or engine.", ge=0, le=3_600)
    replicas_min_count: int = _f(1, "Fewest replicas a sized schedule keeps in any hour (a floor, e.g. for redundancy); scale-to-zero is not modelled.", ge=1, le=10_000)
    replicas_count_limit: int = _f(256, "Largest replica count the sizing tries (a target none meets is a scenario error).", ge=1, le=10_000)
    parameters_count: float = _f(70e9, "Parameters of the dedicated model. Default: a 70B dense model (Llama-3-70B class).", gt=0, le=1e13)
    parameter_bytes: float = _f(1.0, "Bytes per weight. Default: FP8.", gt=0, le=8)
    kv_token_bytes: float = _f(163_840.0, "KV-cache bytes per token: 2 x layers x KV heads x head dim x bytes. Default: Llama-3-70B in FP8 (2 x 80 x 8 x 128 x 1).", gt=0, le=1e8)
    stream_context_tokens: float = _f(4_000.0, "Context tokens held per stream for the KV read per decode step. Assumption.", gt=0, le=1e8)
    batch_streams_limit: int = _f(32, "Streams one replica serves at once (more wait FIFO). Assumption: a vLLM-style continuous batch.", ge=1, le=4096)
    bandwidth_efficiency_share: float = _f(0.7, "Share of the GPUs' memory bandwidth real kernels reach. Assumption.", gt=0, le=1)
    compute_efficiency_share: float = _f(0.5, "Share of the GPUs' dense BF16 FLOP/s real kernels reach. Assumption.", gt=0, le=1)
    speculative: bool = _f(False, "Speculative decoding: decode speed x (1 - a^(g+1)) / ((1 - a)(g c + 1)) (Leviathan et al. 2023).")
    acceptance_share: float = _f(0.9, "Speculative decoding: acceptance rate a of drafted tokens. Assumption.", ge=0, le=1)
    draft_tokens: int = _f(8, "Speculative decoding: draft length g. Assumption.", ge=0, le=256)
    draft_cost_multiplier: float = _f(0.05, "Speculative decoding: cost c of one draft step / one target step (about 0 when the draft is the edited file). Assumption.", ge=0, le=10)

    @field_validator("autoscaling", mode="before")
    @classmethod
    def _off_read_as_false(cls, value):
        """YAML 1.1 reads a bare ``off`` as false (``--set serving.autoscaling=off``, ``autoscaling: off``)."""
        return "off" if value is False else value

    @field_validator("gpu")
    @classmethod
    def _gpu_on_file(cls, value: str) -> str:
        from simlib.prices import UnknownModelError, gpu

        try:
            gpu(value)
        except UnknownModelError as exc:
            raise ValueError(str(exc)) from None
        return value

    def dedicated(self, fine_tuned: bool) -> bool:
        """True when the model a strategy uses (fine-tuned or base) is served on dedicated GPUs."""
        return (self.fine_tuned_model if fine_tuned else self.base_model) == "dedicated"


class PromptCache(_Group):
    """The provider's prompt cache (see docs/model.md, Provider prompt cache)."""

    mode: Literal["explicit", "automatic"] = _f("explicit", "'explicit' (write premium, e.g. Anthropic) or 'automatic' (no write premium, cached part counted in increments, e.g. OpenAI).")
    ttl_s: float = _f(300.0, "Entry lifetime after its last use (a hit refreshes it); .inf (YAML) or \"inf\" = never expires, written \"inf\" in --json. Default: Anthropic's 5-minute entry.", ge=0)
    write_multiplier: float = _f(1.25, "Cache-write price as a multiple of the input price. Unless set by hand, the provider's price for the entry ttl_s buys (the shortest lifetime on offer that holds it; data/prices/cache_rules.csv, the catalog's own write prices first): Anthropic 1.25 for 300 s, 2.0 for 3,600 s; 1.0 on automatic caches. Without prices.model, Anthropic's rule (the defaults' provider).", ge=0, le=100)
    read_multiplier: float = _f(0.1, "Cache-read price as a multiple of the input price. Default: Anthropic (0.1x).", ge=0, le=100)
    min_cacheable_tokens: int = _f(1_024, "Prefixes shorter than this never cache. Default: Anthropic Sonnet-class minimum.", ge=0, le=100_000_000)
    increment_tokens: int = _f(128, "Automatic mode: cached tokens are counted in multiples of this. Default: OpenAI.", ge=1, le=1_000_000)
    rebuild_policy: Literal["on_change", "periodic"] = _f("on_change", "When the cached knowledge prefix (prompt_cache) is rebuilt: on every change (fresh, more writes) or every rebuild_interval_s (stale in between).")
    rebuild_interval_s: float = _f(86_400.0, "Period of the periodic rebuild policy.", gt=0, le=MAX_DURATION_S)
    prefix_scope: Literal["global", "per_tenant"] = _f("global", "Cache key of the rag_prompt_cache prefix ([system][instructions][few-shot], the same for every tenant): one shared entry, or one per tenant (a cache key per user, as OpenAI's prompt_cache_key; each tenant's entry then lives only on that tenant's traffic).")
    storage_usd_per_mtok_hour: float = _f(0.0, "Cache storage price per million tokens per hour (some providers' explicit caches).", ge=0, le=1e4)
    overflow_requests_per_minute: float | None = _f(None, "Best-effort caches (OpenAI): requests a minute one machine takes per routing key (the prefix's first level and its cache key) before traffic spills to other machines, each a fresh miss; a request reaches the warm machine with probability min(1, R / L), L the key's request rate (docs/model.md). Filled from data/prices/cache_rules.csv: OpenAI 15 (cookbook Prompt_Caching_201). None: no overflow (Anthropic, the default).", gt=0, le=1e9)
    breakpoints_limit: int | None = _f(4, "Explicit caches: cache breakpoints a request may place (one per level of the cached chain; levels past the limit share the last breakpoint, 0 = nothing caches). Filled from data/prices/cache_rules.csv: Anthropic 4 (cache_control blocks), Gemini explicit 1 (one cached content per request). None: no limit. Default: Anthropic's.", ge=0, le=1_000)


class Quality(_Group):
    """The quality proxy's parameters (docs/model.md, Quality proxy). A proxy, not a claim about a model."""

    prior_knowledge_share: float = _f(0.3, "P(the base model already knows the needed domain fact) with no grounding.", ge=0, le=1)
    context_use_share: float = _f(0.95, "P(the model uses knowledge given in its context).", ge=0, le=1)
    wrong_context_penalty_share: float = _f(0.5, "On a retrieval miss, the share of prior knowledge lost to misleading context.", ge=0, le=1)
    injection_recall_ceiling_share: float = _f(0.9, "Best recall of a fact learned in training, at any number of exposures (the injection curve's ceiling). Assumption.", ge=0, le=1)
    known_fact_half_exposures: float = _f(3.0, "Exposures e_half at which a fact the base model half-knew is learned with probability 1 - 1/e of the ceiling. Assumption.", gt=0, le=1e6)
    new_fact_half_exposures: float = _f(30.0, "e_half for a fact new to the base model or changed since its cut-off: learned far more slowly (Gekhman et al. 2024). Assumption for the value: 5 paraphrases x 3 epochs then recall ~1/3, modest gains as in Ovadia et al. 2023.", gt=0, le=1e6)
    single_form_extractability_share: float = _f(0.097, "P(a learned fact is extractable when trained in one form only); extractability is 1 - (1 - x1)^(p^2) for p paraphrases. Default: Allen-Zhu & Li 2023 (about 10% with one form, above 90% with five).", ge=0, le=1)
    unlearned_hallucination_share: float = _f(0.5, "Share of facts the fine-tuned model did not learn that it answers wrongly rather than declining (Gekhman et al. 2024: new facts in fine-tuning raise hallucination). Assumption for the value.", ge=0, le=1)
    forgetting_penalty_share: float = _f(0.05, "Share of answers a fine-tuned model gets wrong from lost general capability (catastrophic forgetting).", ge=0, le=1)
    long_context_decay_tokens: float = _f(90_400.0, "Long-context use L(T) = exp(-T / this) for T tokens of knowledge in the prompt. Default: calibrated to NoLiMa (Modarressi et al. 2025), GPT-4o 99.3% -> 69.7% at 32k: 32,000 / ln(99.3 / 69.7).", gt=0, le=1e9)
    behaviour_prompted_share: float = _f(0.75, "P(the answer has the required behaviour) under prompting with instructions. 1 = no specialised behaviour.", ge=0, le=1)
    few_shot_uplift_share: float = _f(0.1, "Added to behaviour_prompted_share when few-shot examples are in the prompt (capped at 1).", ge=0, le=1)
    behaviour_fine_tuned_share: float = _f(0.95, "P(the answer has the required behaviour) after fine-tuning. 1 = no specialised behaviour.", ge=0, le=1)
    measured_accuracy_share: tuple[tuple[StrategyName, Annotated[float, Field(ge=0, le=1)]], ...] = _f(
        (),
        "Your eval's answer accuracy per strategy ({rag: 0.82, fine_tune: 0.7}), measured on current knowledge. For each "
        "strategy named, the behaviour factor B is fitted so that the proxy's expected quality with fresh knowledge, "
        "E[K U] x B, equals the measurement (B capped at 1; the run's notes say so); staleness and retrieval misses still "
        "lower it in the run. Empty: the documented defaults.",
    )

    _accuracy_as_pairs = field_validator("measured_accuracy_share", mode="before")(lambda v: _mapping_as_pairs(v))

    @field_validator("measured_accuracy_share")
    @classmethod
    def _one_accuracy_each(cls, pairs: tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
        names = [n for n, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError("each strategy may appear once")
        return tuple(sorted(pairs))

    def measured_accuracy(self) -> dict[str, float]:
        """strategy -> measured accuracy (the pairs of measured_accuracy_share as a mapping)."""
        return dict(self.measured_accuracy_share)


class Sessions(_Group):
    """Conversations and agent tasks (docs/model.md, Sessions): calls grouped into sessions whose history grows.

    With kind 'none' (the default) every query is one independent call. Otherwise
    workload.queries_per_day stays the call (turn) rate and sessions start at
    queries_per_day / turns_mean a day; workload.query_tokens_mean is a user turn's message
    (and an agent task's first input).
    """

    kind: Literal["none", "conversation", "agent_task"] = _f(
        "none",
        "'conversation': turns of a user's message and an answer, each turn carrying the earlier ones as history; "
        "'agent_task': a chain of calls, each adding its tool call (the output) and the tool's result to the context; "
        "'none': independent queries.",
    )
    turns_distribution: Literal["fixed", "geometric"] = _f("geometric", "Turns (calls) per session: 'fixed' (round(turns_mean)) or 'geometric' on 1, 2, ... with mean turns_mean (a constant chance 1 / turns_mean to stop after each turn).")
    turns_mean: float = _f(5.0, "Mean turns per conversation, or calls per agent task (before the turns_max_count cap). Assumption.", ge=1, le=10_000)
    turns_max_count: int = _f(200, "No session has more turns than this (caps the geometric tail).", ge=1, le=100_000)
    think_time_distribution: Literal["fixed", "exponential", "lognormal"] = _f("lognormal", "Time from a turn's answer to the session's next request (the user reading and typing, or the agent's tool running); the next turn is sent then, so a session's calls never overlap.")
    think_time_mean_s: float = _f(60.0, "Mean think time. Assumption: a minute; compare it with prompt_cache.ttl_s (a turn sent within the TTL of the previous one reads the earlier turns from cache).", gt=0, le=MAX_DURATION_S)
    think_time_cv: float = _f(1.0, "Coefficient of variation of the lognormal think time.", ge=0, le=20)
    first_turn_tokens_mean: float | None = _f(None, "Mean new input tokens of a session's first turn (a pasted document, an agent's task with its starting context); None: workload.query_tokens_mean like every other turn. Lognormal with workload.token_length_cv.", ge=1, le=1e7)
    tool_result_tokens_mean: float = _f(2_000.0, "agent_task: mean tokens of a tool result (file contents, command output), the new input of every call after the first (lognormal, workload.token_length_cv). Assumption.", ge=1, le=1e7)
    history_cap_tokens: int = _f(100_000, "History kept in the prompt: when it exceeds this, the oldest whole turns are dropped (a sliding window; the history prefix changes, so that turn reads none of it from cache). Assumption: half of a 200k window.", ge=0, le=100_000_000)
    retrieval: Literal["per_turn", "per_session"] = _f("per_turn", "Retrieval strategies: retrieve on every turn (chunks not kept in history), or once per session on its first turn (the chunks then stay in the history; later turns ask about the same fact).")


class Simulation(_Group):
    """How much to simulate, and with which random seed."""

    queries: int = _f(5_000, "Queries to simulate per replication (the horizon is queries / rate).", ge=1, le=50_000_000)
    replications: int = _f(1, "Independent replications (for 95% intervals across them).", ge=1, le=1000)
    seed: int = _f(0, "Root random seed; every stream is derived from it.", ge=0, le=2**63 - 1)
    warmup_share: float = _f(0.0, "Share of each replication's first queries simulated but left out of the summary (queue warm-up).", ge=0, lt=1)
    strategies: tuple[StrategyName, ...] = _f(STRATEGY_NAMES, "Strategies to simulate (default all six).", min_length=1)


class Requirements(_Group):
    """What the team requires of a strategy; the verdict is the cheapest strategy meeting all of them.

    Every field defaults to "no requirement" (None / False). See simlib.verdict and docs/model.md.
    """

    latency_p95_max_s: float | None = _f(None, "Highest acceptable 95th-percentile latency (arrival to last token). None: no requirement.", gt=0, le=86_400)
    ttft_p95_max_s: float | None = _f(None, "Highest acceptable 95th-percentile time to first token. None: no requirement.", gt=0, le=86_400)
    fresh_share_min: float | None = _f(None, "Lowest acceptable share of answers that reflect the fact's latest version (prompt_only, ungrounded, never meets it). None: no requirement.", ge=0, le=1)
    quality_min: float | None = _f(None, "Lowest acceptable quality proxy (K x U x B, docs/metrics.md). None: no requirement.", ge=0, le=1)
    citations_required: bool = _f(False, "Every answer must be backed by a source: judged as citable_share >= citable_share_min. Default: not required.")
    citable_share_min: float = _f(0.9, "Threshold on citable_share when citations_required is true. Default 0.9, an assumption: top-5 retrieval recalls the needed chunk in about 90-95% of queries (retrieval.recall_ceiling_share 0.95), so no retriever backs every answer.", ge=0, le=1)
    monthly_budget_max_usd: float | None = _f(None, "Highest acceptable monthly cost. None: no requirement.", ge=0, le=1e12)
