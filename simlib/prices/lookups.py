"""Lookups in the data files: one function per table, returning plain dicts with ``source`` and ``as_of``."""

from __future__ import annotations

import math

from simlib.prices.errors import UnknownModelError, _near
from simlib.prices.rows import (
    BatchDiscountRow,
    CacheRuleRow,
    EmbeddingRow,
    FineTuneRow,
    GpuRow,
    LatencyRow,
    OutputLimitRow,
    RateLimitRow,
    RateLimitTierRow,
    RerankerRow,
    RetrievalLatencyRow,
    VectorStoreRow,
)
from simlib.prices.tables import _find_row, load_table, row_fields


# --- data-file lookups -----------------------------------------------------------------

def fine_tune_prices(model: str) -> dict:
    """Fine-tuning prices from data/prices/fine_tuning.csv.

    Keys: training_usd_per_mtok (per million training tokens; a retraining costs
    training tokens x epochs x this), input_usd_per_mtok, output_usd_per_mtok,
    cache_read_usd_per_mtok (None if not published), hosting_usd_per_hour (0 for
    serverless per-token serving), base_model, method, notes, source, as_of.
    Raises UnknownModelError with near matches.
    """
    row = _find_row("fine_tuning", model, "fine-tuning model")
    assert isinstance(row, FineTuneRow)
    return row_fields(row, "training_usd_per_mtok", "input_usd_per_mtok", "output_usd_per_mtok",
                      "cache_read_usd_per_mtok", "hosting_usd_per_hour", "base_model", "method")


def embedding_prices(model: str) -> dict:
    """Embedding model price and size: usd_per_mtok, dimensions, max_input_tokens, notes, source, as_of.

    Stored size of one vector: dimensions x 4 bytes (float32) plus metadata.
    """
    row = _find_row("embeddings", model, "embedding model")
    assert isinstance(row, EmbeddingRow)
    return row_fields(row, "usd_per_mtok", "dimensions", "max_input_tokens")


def vector_store_prices(name: str) -> dict:
    """Vector store prices from data/prices/vector_stores.csv.

    Keys: read_usd_per_query (the minimum price of one query), read_usd_per_query_per_gb
    (query price per GB of index, e.g. Pinecone's 1 read unit per GB), write_usd_per_gb
    (per GB of vectors + metadata written; one float32 vector is dimensions x 4 bytes),
    storage_usd_per_gb_month, minimum_usd_per_month (plan minimum or the smallest
    instance), notes, source, as_of. One query costs
    max(read_usd_per_query, read_usd_per_query_per_gb x index_gb): see
    :func:`vector_read_usd_per_query`.
    """
    row = _find_row("vector_stores", name, "vector store")
    assert isinstance(row, VectorStoreRow)
    return row_fields(row, "read_usd_per_query", "read_usd_per_query_per_gb", "write_usd_per_gb",
                      "storage_usd_per_gb_month", "minimum_usd_per_month")


def vector_read_usd_per_query(name: str, index_gb: float) -> float:
    """Price of one query on an index of ``index_gb`` GB: max(minimum, per-GB price x index_gb)."""
    p = vector_store_prices(name)
    return max(p["read_usd_per_query"], p["read_usd_per_query_per_gb"] * max(0.0, index_gb))


def reranker_prices(model: str) -> dict:
    """Reranker prices: usd_per_1k_searches, usd_per_search (None if token-priced), usd_per_mtok,
    docs_per_search (documents one search covers), notes, source, as_of."""
    row = _find_row("rerankers", model, "reranker")
    assert isinstance(row, RerankerRow)
    per_search = row.usd_per_1k_searches / 1000.0 if row.usd_per_1k_searches is not None else None
    return row_fields(row, "usd_per_1k_searches", "usd_per_mtok", "docs_per_search", usd_per_search=per_search)


def cache_rules(provider: str, *, mode: str | None = None) -> dict:
    """A provider's prompt-cache rules, from data/prices/cache_rules.csv.

    ``provider`` is a provider id ('anthropic') or a model name ('anthropic/claude-haiku-4-5'):
    with a model, the row with the longest matching ``model_prefix`` wins (minimums differ
    by model). ``mode`` picks 'explicit' or 'automatic' where a provider has both (Google);
    by default the provider's first row in the file.

    Keys: mode, ttl_options_s (first = default), write_multiplier_by_ttl (ttl_s -> write
    price / input price), read_multiplier (read price / input price), min_cacheable_tokens,
    increment_tokens (automatic mode: cached tokens counted in these steps; None if not
    stepped), storage_usd_per_mtok_hour (explicit storage fee, 0 if none), breakpoints_limit
    (cache breakpoints per request on explicit caches, None if no limit),
    overflow_requests_per_minute (best-effort routing cap per prefix and key, None if none), provider,
    model_prefix, notes, source, as_of. Prefer the catalog's own cache prices where it
    has them: the multipliers here are the provider's general rule.
    """
    wanted = provider.strip().lower()
    provider_id, _, model_id = wanted.partition("/")
    rows = [r for r in load_table("cache_rules") if isinstance(r, CacheRuleRow) and r.provider.lower() == provider_id]
    if not rows:
        providers = sorted({r.provider for r in load_table("cache_rules") if isinstance(r, CacheRuleRow)})
        raise UnknownModelError(provider, _near(provider_id, providers), kind="cache-rules provider")
    if mode is not None and mode not in ("explicit", "automatic"):
        raise ValueError(f"mode must be 'explicit' or 'automatic', got {mode!r}")
    chosen_mode = mode or rows[0].mode
    rows = [r for r in rows if r.mode == chosen_mode]
    if not rows:
        raise ValueError(f'provider "{provider_id}" has no {chosen_mode} prompt cache in cache_rules.csv')
    applicable = [r for r in rows if model_id.startswith(r.model_prefix.lower())]
    if not applicable:
        applicable = [r for r in rows if r.model_prefix == ""] or rows
    row = max(applicable, key=lambda r: len(r.model_prefix))  # max keeps the first of equals
    return row_fields(row, "mode", "read_multiplier", "min_cacheable_tokens", "increment_tokens",
                      "storage_usd_per_mtok_hour", "breakpoints_limit", "overflow_requests_per_minute", "provider",
                      "model_prefix", ttl_options_s=list(row.ttl_options_s),
                      write_multiplier_by_ttl=dict(zip(row.ttl_options_s, row.write_multipliers, strict=True)))


def write_multiplier_for_ttl(rules: dict, ttl_s: float) -> tuple[int, float]:
    """The entry a TTL buys under a provider's rules, and its write multiplier.

    A provider sells a few lifetimes (Anthropic: 300 s at 1.25x input, 3,600 s at 2x); an
    entry meant to live ttl_s is bought as the shortest lifetime on offer that holds it,
    or the longest on offer when none does (ttl_s = inf included). Returns
    (lifetime_s, write price / input price).
    """
    by_ttl = rules["write_multiplier_by_ttl"]
    options = sorted(by_ttl)
    chosen = next((t for t in options if t >= ttl_s), options[-1])
    return chosen, by_ttl[chosen]


def model_output_limit_tokens(model: str) -> int | None:
    """The most output tokens ``model`` allows per request, from data/prices/output_limits.csv.

    The catalog (genai-prices) has no output limits, so they are dated data here; the row
    whose ``model_prefix`` is the longest prefix of 'provider/model' wins. None if unknown.
    A catalog alias is matched under its catalog name too.
    """
    from simlib.prices.catalog import resolve_model

    wanted = {model.strip().lower()}
    try:
        wanted.add(resolve_model(model)[0].lower())
    except UnknownModelError:
        pass
    rows = [r for r in load_table("output_limits") if isinstance(r, OutputLimitRow)]
    hits = [r for r in rows for w in wanted if w.startswith(r.model_prefix.lower())]
    return max(hits, key=lambda r: len(r.model_prefix)).max_output_tokens if hits else None


def latency_figures(model_or_class: str) -> dict:
    """Typical speeds for a latency class ('frontier-api') or a model ('openai/gpt-4.1-mini').

    A model is matched to the class whose ``applies_to`` prefix is longest. Keys:
    prefill_tokens_per_s (uncached prompt tokens), cached_prefill_tokens_per_s,
    decode_tokens_per_s (per request), network_rtt_s (fixed time to first token of a tiny
    prompt), cache_overhead_s (fixed time a cache hit adds: TTFT on a hit = rtt + overhead +
    cached / cached rate + uncached / prefill rate), latency_class, notes, source, as_of. Retrieval steps: :func:`retrieval_latency`.
    """
    rows = [r for r in load_table("latency") if isinstance(r, LatencyRow)]
    wanted = model_or_class.strip().lower()
    row = next((r for r in rows if r.name.lower() == wanted), None)
    if row is None:
        best: tuple[int, LatencyRow] | None = None
        for r in rows:
            for prefix in r.applies_to:
                if wanted.startswith(prefix.lower()) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), r)
        if best is None:
            raise UnknownModelError(model_or_class, _near(model_or_class, [r.name for r in rows]
                                                          + [p for r in rows for p in r.applies_to]),
                                    kind="latency class or model")
        row = best[1]
    return row_fields(row, "prefill_tokens_per_s", "cached_prefill_tokens_per_s", "decode_tokens_per_s",
                      "network_rtt_s", "cache_overhead_s", latency_class=row.name)


_Z95 = 1.6448536269514722  # standard normal 95th percentile


def rate_limit_class(model_name: str) -> str | None:
    """The rate-limit class of a catalog model (a model_class of data/prices/rate_limits.csv), None if none is on file.

    Only Anthropic's Sonnet/Opus 4 class is on file (its published tier table); other models have no row.
    """
    name = model_name.lower()
    return "sonnet-opus-4" if ("sonnet-4" in name or "opus-4" in name) else None


def rate_limit_tier(provider: str, tier: str, model_class: str) -> RateLimitRow:
    """One tier's limits from data/prices/rate_limits.csv (UnknownModelError if not on file)."""
    return _find_row("rate_limits", f"{provider}/{tier}/{model_class}", "rate-limit tier")  # type: ignore[return-value]


def rate_limit_tiers(provider: str) -> list[RateLimitTierRow]:
    """A provider's usage tiers and how each is reached, from data/prices/rate_limit_tiers.csv (file order; [] if none)."""
    return [r for r in load_table("rate_limit_tiers") if r.provider == provider]  # type: ignore[misc]


def gpu(name: str) -> GpuRow:
    """A GPU type from data/prices/gpus.csv (UnknownModelError if not on file)."""
    return _find_row("gpus", name, "GPU")  # type: ignore[return-value]


def batch_discount(provider: str) -> BatchDiscountRow:
    """A provider's batch API discount and window from data/prices/batch_discounts.csv."""
    return _find_row("batch_discounts", provider, "batch API provider")  # type: ignore[return-value]


def retrieval_latency(name: str) -> dict:
    """Latency of a retrieval step ('pinecone-serverless', 'cohere-rerank-v3.5', ...).

    Keys: component ('embedding' | 'vector_search' | 'rerank'), p50_s, p95_s, and the
    lognormal through those two quantiles: sigma = ln(p95/p50) / z95 (z95 = 1.645),
    mean_s = p50 x exp(sigma^2 / 2), cv = sqrt(exp(sigma^2) - 1); notes, source, as_of.
    """
    row = _find_row("retrieval_latency", name, "retrieval step")
    assert isinstance(row, RetrievalLatencyRow)
    sigma = math.log(row.p95_s / row.p50_s) / _Z95
    return row_fields(row, "component", "p50_s", "p95_s",
                      mean_s=row.p50_s * math.exp(sigma**2 / 2), cv=math.sqrt(math.expm1(sigma**2)))
