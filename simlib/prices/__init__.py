"""Prices and speeds the simulator uses, each with its source and date.

Two kinds of data, one package:

* **Model token prices** come from the `genai-prices` catalog (pydantic/genai-prices),
  read from the snapshot bundled in the installed package. Nothing is fetched: this
  module imports ``genai_prices.data.providers`` directly, so even a background
  ``genai_prices.UpdatePrices`` started by another library cannot change what we read.
  Models are named ``'provider/model_id'`` (``'anthropic/claude-sonnet-4-5'``); dated and
  aliased names the provider accepts (``'anthropic/claude-sonnet-4-5-20250929'``) resolve
  to the same entry.
* **Everything else** (fine-tuning, embeddings, vector stores, rerankers, provider cache
  rules, latency figures) comes from the CSV files in ``data/prices/``. Every row carries
  ``source`` and ``as_of``. All files are read and validated by :func:`load_table`, the
  one loader: a malformed file raises :class:`PriceDataError` naming file, row and column.

Units are in the names: ``_usd_per_mtok`` is US dollars per million tokens, ``_s`` seconds,
``_per_s`` per second, ``_tokens`` a token count. See ``docs/prices.md``.

One module per job: ``errors`` (unknown names, bad data files), ``catalog`` (the genai-prices
adapter), ``rows`` (one row model per data file), ``tables`` (the one loader), ``lookups``
(one function per table), ``views`` (the scenario's token prices, the ``simlib prices`` text).
"""

from simlib.prices.catalog import (
    catalog_prices,
    long_context_tiers,
    model_context_window_tokens,
    resolve_model,
    search_models,
)
from simlib.prices.errors import PriceDataError, UnknownModelError
from simlib.prices.lookups import (
    batch_discount,
    rate_limit_class,
    cache_rules,
    embedding_prices,
    fine_tune_prices,
    gpu,
    latency_figures,
    model_output_limit_tokens,
    rate_limit_tier,
    rate_limit_tiers,
    reranker_prices,
    retrieval_latency,
    vector_read_usd_per_query,
    vector_store_prices,
    write_multiplier_for_ttl,
)
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
from simlib.prices.tables import clear_caches, load_table, names, prices_dir, validate_all
from simlib.prices.views import describe_model_prices, effective_token_prices

__all__ = [
    "BatchDiscountRow", "CacheRuleRow", "EmbeddingRow", "FineTuneRow", "GpuRow", "LatencyRow", "OutputLimitRow", "PriceDataError",
    "RateLimitRow", "RateLimitTierRow", "RerankerRow", "RetrievalLatencyRow", "UnknownModelError", "VectorStoreRow", "batch_discount", "rate_limit_class",
    "cache_rules", "catalog_prices", "clear_caches", "describe_model_prices", "effective_token_prices",
    "embedding_prices", "fine_tune_prices", "gpu", "latency_figures", "load_table", "long_context_tiers",
    "model_context_window_tokens", "model_output_limit_tokens", "names", "prices_dir", "rate_limit_tier", "rate_limit_tiers", "reranker_prices", "resolve_model",
    "retrieval_latency", "search_models", "validate_all", "vector_read_usd_per_query", "vector_store_prices",
    "write_multiplier_for_ttl",
]
