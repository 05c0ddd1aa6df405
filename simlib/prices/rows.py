"""One pydantic row model per data file in ``data/prices/``: its columns, their units and bounds."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator



# --- data files: one loader, one row model per file ----------------------------------

def _parse_iso_date(value: Any) -> Any:
    if isinstance(value, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError(f"must be an ISO date YYYY-MM-DD, got {value!r}")
        return date.fromisoformat(value.strip())
    return value


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return value


class _Row(BaseModel):
    """Columns shared by every data file: where the figure comes from and when it held."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, protected_namespaces=())
    key_columns: ClassVar[tuple[str, ...]] = ()

    notes: str = Field("", description="Caveats, unit conversions, what the figure covers.")
    source: str = Field(..., min_length=1, description="URL or document title the figure comes from.")
    as_of: date = Field(..., description="Date the figure is believed valid (ISO YYYY-MM-DD).")

    @field_validator("as_of", mode="before")
    @classmethod
    def _check_as_of(cls, value: Any) -> Any:
        return _parse_iso_date(value)

    def key(self) -> str:
        return "/".join(str(getattr(self, c)) for c in self.key_columns) if len(self.key_columns) > 1 else str(
            getattr(self, self.key_columns[0]))


class FineTuneRow(_Row):
    """A fine-tuning offer: training price, and the tuned model's serving prices."""

    key_columns: ClassVar[tuple[str, ...]] = ("model",)
    model: str = Field(..., min_length=1, description="'provider/name' of the fine-tuning offer.")
    base_model: str | None = Field(None, description="Catalog name of the base model, if in the catalog.")
    method: str = Field(..., min_length=1, description="e.g. 'supervised (managed)', 'LoRA SFT'.")
    training_usd_per_mtok: float = Field(..., ge=0, allow_inf_nan=False, description="USD per million training tokens (x epochs).")
    input_usd_per_mtok: float = Field(..., ge=0, allow_inf_nan=False, description="Tuned model input price.")
    output_usd_per_mtok: float = Field(..., ge=0, allow_inf_nan=False, description="Tuned model output price.")
    cache_read_usd_per_mtok: float | None = Field(None, ge=0, allow_inf_nan=False, description="Tuned model cached-input price.")
    hosting_usd_per_hour: float = Field(..., ge=0, allow_inf_nan=False, description="Dedicated hosting, 0 for serverless.")
    inference_at_base_price: bool = Field(..., description="True when the tuned model is served at base_model's catalog prices.")


class EmbeddingRow(_Row):
    """An embedding model's price and vector size."""

    key_columns: ClassVar[tuple[str, ...]] = ("model",)
    model: str = Field(..., min_length=1)
    usd_per_mtok: float = Field(..., ge=0, allow_inf_nan=False, description="USD per million input tokens.")
    dimensions: int = Field(..., ge=1, description="Default output dimensions (float32 each).")
    max_input_tokens: int | None = Field(None, ge=1)


class VectorStoreRow(_Row):
    """A vector store's prices. Per query: max(read_usd_per_query, read_usd_per_query_per_gb x index GB)."""

    key_columns: ClassVar[tuple[str, ...]] = ("name",)
    name: str = Field(..., min_length=1)
    read_usd_per_query: float = Field(..., ge=0, allow_inf_nan=False, description="Minimum price of one query.")
    read_usd_per_query_per_gb: float = Field(..., ge=0, allow_inf_nan=False, description="Query price per GB of index searched.")
    write_usd_per_gb: float = Field(..., ge=0, allow_inf_nan=False, description="Price per GB written (vectors + metadata).")
    storage_usd_per_gb_month: float = Field(..., ge=0, allow_inf_nan=False)
    minimum_usd_per_month: float = Field(..., ge=0, allow_inf_nan=False, description="Monthly minimum or fixed instance cost.")


class RerankerRow(_Row):
    """A hosted reranker: priced per search (query + up to docs_per_search documents) or per token."""

    key_columns: ClassVar[tuple[str, ...]] = ("model",)
    model: str = Field(..., min_length=1)
    usd_per_1k_searches: float | None = Field(None, ge=0, allow_inf_nan=False)
    usd_per_mtok: float | None = Field(None, ge=0, allow_inf_nan=False)
    docs_per_search: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_price(self) -> "RerankerRow":
        if self.usd_per_1k_searches is None and self.usd_per_mtok is None:
            raise ValueError("set usd_per_1k_searches or usd_per_mtok")
        return self


class CacheRuleRow(_Row):
    """How a provider's prompt cache is billed (docs/model.md, Provider prompt cache)."""

    key_columns: ClassVar[tuple[str, ...]] = ("provider", "model_prefix", "mode")
    provider: str = Field(..., min_length=1)
    model_prefix: str = Field("", description="Applies to model ids starting with this ('' = all).")
    mode: Literal["explicit", "automatic"]
    ttl_options_s: list[int] = Field(..., min_length=1, description="Entry lifetimes offered, seconds; first = default.")
    write_multipliers: list[float] = Field(..., min_length=1, description="Write price / input price, one per TTL.")
    read_multiplier: float = Field(..., ge=0, allow_inf_nan=False)
    min_cacheable_tokens: int = Field(..., ge=0)
    increment_tokens: int | None = Field(None, ge=1)
    storage_usd_per_mtok_hour: float = Field(0.0, ge=0, allow_inf_nan=False)
    breakpoints_limit: int | None = Field(None, ge=0, description="Cache breakpoints a request may place (explicit caches); empty: no limit.")
    overflow_requests_per_minute: float | None = Field(None, gt=0, allow_inf_nan=False, description="Best-effort routing: requests a minute per prefix and cache key one machine takes before traffic spills to others (each a fresh miss); empty: no overflow.")

    @field_validator("ttl_options_s", "write_multipliers", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _split_list(value)

    @model_validator(mode="after")
    def _aligned(self) -> "CacheRuleRow":
        if len(self.ttl_options_s) != len(self.write_multipliers):
            raise ValueError(
                f"ttl_options_s has {len(self.ttl_options_s)} values but write_multipliers has "
                f"{len(self.write_multipliers)}: give one write multiplier per TTL"
            )
        if any(t <= 0 for t in self.ttl_options_s) or any(m < 0 or not math.isfinite(m) for m in self.write_multipliers):
            raise ValueError("TTLs must be positive and write multipliers finite and non-negative")
        return self


class OutputLimitRow(_Row):
    """The most output tokens a model may be asked for in one request (its max_tokens ceiling)."""

    key_columns: ClassVar[tuple[str, ...]] = ("model_prefix",)
    model_prefix: str = Field(..., min_length=1, description="'provider/model' prefix; the longest matching prefix wins.")
    max_output_tokens: int = Field(..., ge=1)


class LatencyRow(_Row):
    """Typical speeds of a class of model endpoints."""

    key_columns: ClassVar[tuple[str, ...]] = ("name",)
    name: str = Field(..., min_length=1)
    applies_to: list[str] = Field(default_factory=list, description="'provider/model' prefixes in this class.")
    prefill_tokens_per_s: float = Field(..., gt=0, allow_inf_nan=False)
    cached_prefill_tokens_per_s: float = Field(..., gt=0, allow_inf_nan=False)
    decode_tokens_per_s: float = Field(..., gt=0, allow_inf_nan=False)
    network_rtt_s: float = Field(..., ge=0, allow_inf_nan=False)
    cache_overhead_s: float = Field(0.0, ge=0, allow_inf_nan=False, description="Fixed time a cache hit adds to prefill.")

    @field_validator("applies_to", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _split_list(value)


class RetrievalLatencyRow(_Row):
    """Latency of one retrieval step (embedding call, vector search, rerank): median and p95."""

    key_columns: ClassVar[tuple[str, ...]] = ("name",)
    name: str = Field(..., min_length=1)
    component: Literal["embedding", "vector_search", "rerank"]
    p50_s: float = Field(..., gt=0, allow_inf_nan=False)
    p95_s: float = Field(..., gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> "RetrievalLatencyRow":
        if self.p95_s < self.p50_s:
            raise ValueError(f"p95_s ({self.p95_s}) is below p50_s ({self.p50_s})")
        return self


# --- capacity tables (issue 16: rate limits, GPUs, batch API) ---------------------------

class RateLimitRow(_Row):
    """One provider tier's per-minute limits for a class of models (token buckets)."""

    key_columns: ClassVar[tuple[str, ...]] = ("provider", "tier", "model_class")
    provider: str = Field(..., min_length=1)
    tier: str = Field(..., min_length=1)
    model_class: str = Field(..., min_length=1)
    requests_per_minute: float = Field(..., gt=0, allow_inf_nan=False)
    input_tokens_per_minute: float = Field(..., gt=0, allow_inf_nan=False)
    output_tokens_per_minute: float = Field(..., gt=0, allow_inf_nan=False)
    cache_reads_exempt: bool = Field(..., description="True where cache reads do not count toward the input limit.")


class GpuRow(_Row):
    """A GPU type: memory, bandwidth and compute for the roofline, and its hourly price."""

    key_columns: ClassVar[tuple[str, ...]] = ("name",)
    name: str = Field(..., min_length=1)
    memory_gb: float = Field(..., gt=0, allow_inf_nan=False)
    memory_bandwidth_gb_per_s: float = Field(..., gt=0, allow_inf_nan=False)
    bf16_tflops: float = Field(..., gt=0, allow_inf_nan=False)
    usd_per_gpu_hour: float = Field(..., gt=0, allow_inf_nan=False)


class BatchDiscountRow(_Row):
    """A provider's batch API: share of the token price saved and the completion window."""

    key_columns: ClassVar[tuple[str, ...]] = ("provider",)
    provider: str = Field(..., min_length=1)
    discount_share: float = Field(..., ge=0, lt=1, allow_inf_nan=False)
    completion_window_s: float = Field(..., gt=0, allow_inf_nan=False)
