"""Prices and speeds the simulator uses, each with its source and date.

Two kinds of data, one module:

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
"""

from __future__ import annotations

import csv
import difflib
import functools
import importlib.metadata
import math
import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simlib.paths import data_dir

__all__ = [
    "PriceDataError",
    "UnknownModelError",
    "cache_rules",
    "catalog_prices",
    "describe_model_prices",
    "effective_token_prices",
    "embedding_prices",
    "fine_tune_prices",
    "latency_figures",
    "load_table",
    "model_context_window_tokens",
    "model_output_limit_tokens",
    "names",
    "reranker_prices",
    "retrieval_latency",
    "search_models",
    "validate_all",
    "write_multiplier_for_ttl",
    "vector_read_usd_per_query",
    "vector_store_prices",
]


# --- errors ---------------------------------------------------------------------------

class UnknownModelError(ValueError):
    """A name that is not in the catalog or in a data file.

    Attributes: ``name`` (as given), ``near_matches`` (up to five similar known names, best
    first) and ``kind`` ('model', 'vector store', ...). ``str()`` reads
    ``unknown model "x"; did you mean: a, b, c?``.
    """

    def __init__(self, name: str, near_matches: list[str], kind: str = "model") -> None:
        self.name = name
        self.near_matches = list(near_matches)
        self.kind = kind
        if self.near_matches:
            message = f'unknown {kind} "{name}"; did you mean: {", ".join(self.near_matches)}?'
        else:
            message = f'unknown {kind} "{name}"; no similar names (see simlib.prices.search_models / names)'
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.near_matches, self.kind))


class PriceDataError(ValueError):
    """A data file in ``data/prices/`` that cannot be used: names the file, row and column.

    ``row`` is the data row number (1 = first row under the header) and ``line`` the line
    in the file; either is None for a problem with the file as a whole (e.g. its header).
    """

    def __init__(self, path: Path | str, message: str, *, row: int | None = None,
                 line: int | None = None, column: str | None = None) -> None:
        self.path = Path(path)
        self.row = row
        self.line = line
        self.column = column
        self.message = message
        where = str(self.path)
        if row is not None:
            where += f", row {row}" + (f" (line {line})" if line is not None else "")
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_price_data_error, (str(self.path), self.message, self.row, self.line, self.column))


def _rebuild_price_data_error(path: str, message: str, row: int | None, line: int | None,
                              column: str | None) -> PriceDataError:
    return PriceDataError(path, message, row=row, line=line, column=column)


def _near(name: str, candidates: list[str], n: int = 5) -> list[str]:
    """Up to ``n`` candidates similar to ``name`` (difflib ratio >= 0.6, case-insensitive).

    Also compares the part after the first '/', so 'claude-sonnet-4-5' finds
    'anthropic/claude-sonnet-4-5' and 'antropic/gpt-4o' finds 'openai/gpt-4o'.
    """
    lowered = {c.lower(): c for c in candidates}
    key = name.lower().strip()
    found = difflib.get_close_matches(key, list(lowered), n=n, cutoff=0.6)
    tail = key.split("/", 1)[-1]
    by_tail: dict[str, list[str]] = {}
    for low in lowered:
        by_tail.setdefault(low.split("/", 1)[-1], []).append(low)
    for t in difflib.get_close_matches(tail, list(by_tail), n=n, cutoff=0.75):
        found.extend(by_tail[t])
    out: list[str] = []
    for low in found:
        if lowered[low] not in out:
            out.append(lowered[low])
    return out[:n]


# --- model token prices: the genai-prices catalog -------------------------------------

GENAI_PRICES_VERSION: str = importlib.metadata.version("genai-prices")
"""Version of the installed genai-prices package whose bundled snapshot we read."""

# A date a genai-prices maintainer wrote down as the day a price page was looked at, e.g.
# "Batch rates verified on 2026-10-14 at https://...", "(checked 2026-10-09)" or
# "... listed in Anthropic's batch price table as of 2026-10-14".
_CHECK_DATE = re.compile(r"\b(?:checked|verified|confirmed|as of)\b.{0,80}?(\d{4}-\d{2}-\d{2})", re.IGNORECASE | re.DOTALL)

_CATALOG_KEYS = (
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "cache_read_usd_per_mtok",
    "cache_write_usd_per_mtok",
    "cache_write_1h_usd_per_mtok",
    "long_context_threshold_tokens",
    "long_context_input_usd_per_mtok",
    "long_context_output_usd_per_mtok",
    "source",
    "as_of",
)


@functools.cache
def _catalog() -> dict[str, tuple[str, Any, Any]]:
    """'provider/model_id' (lower case) -> (display name, Provider, ModelInfo), built once.

    Reads ``genai_prices.data.providers``: the snapshot bundled with the package, never a
    fetched one (``genai_prices.data_snapshot.get_snapshot()`` would return a snapshot set
    by ``UpdatePrices`` if anything in the process started one).
    """
    from genai_prices.data import providers

    index: dict[str, tuple[str, Any, Any]] = {}
    for provider in providers:
        for model in provider.models:
            display = f"{provider.id}/{model.id}"
            index.setdefault(display.lower(), (display, provider, model))
    return index


@functools.cache
def _catalog_names() -> list[str]:
    return sorted(display for display, _, _ in _catalog().values())


def _check_dates(text: str | None) -> list[date]:
    out = []
    for match in _CHECK_DATE.finditer(text or ""):
        try:
            out.append(date.fromisoformat(match.group(1)))
        except ValueError:
            continue
    return out


@functools.cache
def _bundle_checked_on() -> date | None:
    """The latest check date written anywhere in the bundled catalog: how fresh the bundle is."""
    from genai_prices.data import providers

    dates: list[date] = []
    for provider in providers:
        dates += _check_dates(provider.price_comments)
        for model in provider.models:
            dates += _check_dates(model.price_comments)
    return max(dates) if dates else None


def _resolve(model: str) -> tuple[str, Any, Any]:
    """(display name, Provider, ModelInfo) for 'provider/model', or UnknownModelError."""
    if not isinstance(model, str) or not model.strip():
        raise UnknownModelError(str(model), [])
    key = model.strip().lower()
    index = _catalog()
    if key in index:
        return index[key]
    if "/" in key:
        from genai_prices.data import providers
        from genai_prices.data_snapshot import find_provider_by_id

        provider_ref, model_ref = key.split("/", 1)
        provider = find_provider_by_id(providers, provider_ref)
        if provider is not None:
            found = provider.find_model(model_ref, all_providers=providers)
            if found is not None:
                owner = next((p for p in providers if any(m is found for m in p.models)), provider)
                return index[f"{owner.id}/{found.id}".lower()]
    raise UnknownModelError(model, _near(model, _catalog_names()))


def _price_in_force(model_info: Any, on: date) -> tuple[Any, bool]:
    """The catalog's standard ModelPrice for ``model_info`` on day ``on`` (UTC).

    Prices can change on a start date or by time of day (DeepSeek's off-peak discount). We
    ask genai-prices for the price at the quarter past and quarter to of every hour of the
    day and keep the one in force for most of the day (ties: the earliest in the day).
    Returns (price, whether it varied within the day). Request variants (batch, flex,
    priority, fast) are never applied: these are standard on-demand prices.
    """
    from genai_prices.types import ModelPrice

    if isinstance(model_info.prices, ModelPrice):
        return model_info.prices, False
    start = datetime.combine(on, time(0, 15), tzinfo=UTC)
    counts: Counter[int] = Counter()
    seen: dict[int, Any] = {}
    for half_hour in range(48):
        price = model_info.get_prices(start + timedelta(minutes=30 * half_hour))
        counts[id(price)] += 1
        seen.setdefault(id(price), price)
    best_id, _ = counts.most_common(1)[0]
    return seen[best_id], len(counts) > 1


def _split_price(value: Any) -> tuple[float | None, list[tuple[int, float]]]:
    """(base price, [(threshold_tokens, price), ...]) of a Decimal or TieredPrices value."""
    from genai_prices.types import TieredPrices

    if value is None:
        return None, []
    if isinstance(value, TieredPrices):
        return float(value.base), [(int(t.start), float(t.price)) for t in value.tiers]
    return float(value), []


def _tier_price(base: float | None, tiers: list[tuple[int, float]], threshold: int) -> float | None:
    """Price that applies to a prompt just above ``threshold`` tokens."""
    price = base
    for start, tier_price in tiers:
        if start <= threshold:
            price = tier_price
    return price


def _today() -> date:
    return datetime.now(UTC).date()


@functools.lru_cache(maxsize=1024)
def _catalog_prices_cached(display: str, on: date) -> tuple[tuple[str, Any], ...]:
    _, provider, model_info = _catalog()[display.lower()]
    price, varies_by_time = _price_in_force(model_info, on)

    parts = {
        "input": _split_price(getattr(price, "input_mtok", None)),
        "output": _split_price(getattr(price, "output_mtok", None)),
        "cache_read": _split_price(getattr(price, "cache_read_mtok", None)),
        "cache_write": _split_price(getattr(price, "cache_write_mtok", None) or getattr(price, "cache_write_5m_mtok", None)),
        "cache_write_1h": _split_price(getattr(price, "cache_write_1h_mtok", None)),
    }
    threshold: int | None = None
    for name in ("input", "output"):
        if parts[name][1]:
            threshold = parts[name][1][0][0]
            break

    model_dates = _check_dates(model_info.price_comments)
    provider_dates = _check_dates(provider.price_comments)
    if model_dates:
        as_of, basis = max(model_dates), "model's price notes"
    elif provider_dates:
        as_of, basis = max(provider_dates), "provider's price notes"
    else:
        as_of, basis = _bundle_checked_on() or on, "latest check date in the bundle; no date for this model"
    url = (provider.pricing_urls or [""])[0]
    source = (
        f"genai-prices {GENAI_PRICES_VERSION} bundled catalog, {display}"
        f" ({provider.name} pricing{' ' + url if url else ''}; page checked {as_of.isoformat()} per the {basis})"
    )
    if varies_by_time:
        source += "; price varies by time of day or date: the rate in force for most of the day is used"

    result: dict[str, Any] = {
        "input_usd_per_mtok": parts["input"][0],
        "output_usd_per_mtok": parts["output"][0],
        "cache_read_usd_per_mtok": parts["cache_read"][0],
        "cache_write_usd_per_mtok": parts["cache_write"][0],
        "cache_write_1h_usd_per_mtok": parts["cache_write_1h"][0],
        "long_context_threshold_tokens": threshold,
        "long_context_input_usd_per_mtok": _tier_price(*parts["input"], threshold) if threshold else None,
        "long_context_output_usd_per_mtok": _tier_price(*parts["output"], threshold) if threshold else None,
        "source": source,
        "as_of": as_of.isoformat(),
    }
    return tuple(result.items())


def catalog_prices(model: str, *, on: date | None = None) -> dict:
    """Token prices of a catalog model, USD per million tokens (None where the catalog has none).

    ``model`` is 'provider/model_id', e.g. 'anthropic/claude-sonnet-4-5', 'openai/gpt-4.1-mini'.
    ``on`` is the day whose prices to return (default: today, UTC); the catalog holds dated
    price changes, so fix it for a reproducible study.

    Keys: input_usd_per_mtok, output_usd_per_mtok, cache_read_usd_per_mtok,
    cache_write_usd_per_mtok (the default / 5-minute write), cache_write_1h_usd_per_mtok,
    long_context_threshold_tokens, long_context_input_usd_per_mtok,
    long_context_output_usd_per_mtok, source, as_of.

    Long context is a cliff: a request whose prompt exceeds ``long_context_threshold_tokens``
    pays the long-context prices on all its tokens (genai-prices: "crossing a tier applies
    that rate to ALL tokens"). Where a model has several tiers, the first is reported here
    and all of them by :func:`describe_model_prices`. ``as_of`` is the latest date a
    genai-prices maintainer noted checking the model's (else the provider's) price page,
    else the latest such date in the whole bundle. Raises UnknownModelError with near
    matches.
    """
    display, _, _ = _resolve(model)
    return dict(_catalog_prices_cached(display, on or _today()))


def model_context_window_tokens(model: str) -> int | None:
    """The catalog's context window (maximum input tokens) for ``model``, or None if unknown."""
    _, _, model_info = _resolve(model)
    return model_info.context_window


def model_output_limit_tokens(model: str) -> int | None:
    """The most output tokens ``model`` allows per request, from data/prices/output_limits.csv.

    The catalog (genai-prices) has no output limits, so they are dated data here; the row
    whose ``model_prefix`` is the longest prefix of 'provider/model' wins. None if unknown.
    A catalog alias is matched under its catalog name too.
    """
    wanted = {model.strip().lower()}
    try:
        wanted.add(_resolve(model)[0].lower())
    except UnknownModelError:
        pass
    rows = [r for r in load_table("output_limits") if isinstance(r, OutputLimitRow)]
    hits = [r for r in rows for w in wanted if w.startswith(r.model_prefix.lower())]
    return max(hits, key=lambda r: len(r.model_prefix)).max_output_tokens if hits else None


def long_context_tiers(model: str, *, on: date | None = None) -> dict[str, list[tuple[int, float]]]:
    """Every long-context tier of ``model``: price name -> [(threshold_tokens, usd_per_mtok)].

    Price names: input, output, cache_read, cache_write, cache_write_1h. A prompt above a
    threshold pays that tier's price on all its tokens.
    """
    _, _, model_info = _resolve(model)
    price, _ = _price_in_force(model_info, on or _today())
    out: dict[str, list[tuple[int, float]]] = {}
    for name, attr in (("input", "input_mtok"), ("output", "output_mtok"), ("cache_read", "cache_read_mtok"),
                       ("cache_write", "cache_write_mtok"), ("cache_write_1h", "cache_write_1h_mtok")):
        _, tiers = _split_price(getattr(price, attr, None))
        if tiers:
            out[name] = tiers
    return out


def search_models(text: str, limit: int = 20) -> list[str]:
    """Catalog names ('provider/model') containing ``text`` (case-insensitive), best first.

    Names whose model part starts with ``text`` come first, then shorter names.
    """
    needle = text.strip().lower()
    hits = [n for n in _catalog_names() if needle in n.lower()]
    hits.sort(key=lambda n: (not n.lower().split("/", 1)[-1].startswith(needle), n.lower().find(needle), len(n), n))
    return hits[: max(0, limit)]


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


_TABLES: dict[str, tuple[str, type[_Row]]] = {
    "fine_tuning": ("fine_tuning.csv", FineTuneRow),
    "embeddings": ("embeddings.csv", EmbeddingRow),
    "vector_stores": ("vector_stores.csv", VectorStoreRow),
    "rerankers": ("rerankers.csv", RerankerRow),
    "cache_rules": ("cache_rules.csv", CacheRuleRow),
    "latency": ("latency.csv", LatencyRow),
    "output_limits": ("output_limits.csv", OutputLimitRow),
    "retrieval_latency": ("retrieval_latency.csv", RetrievalLatencyRow),
    "rate_limits": ("rate_limits.csv", RateLimitRow),
    "gpus": ("gpus.csv", GpuRow),
    "batch_discounts": ("batch_discounts.csv", BatchDiscountRow),
}


def prices_dir() -> Path:
    """Folder of the price data files: ``data/prices`` (``simlib/_data/prices`` in a wheel)."""
    return data_dir() / "prices"


def load_table(table: str, path: Path | str | None = None) -> tuple[_Row, ...]:
    """Read and validate one data file; the only place data files are parsed.

    ``table`` is one of: fine_tuning, embeddings, vector_stores, rerankers, cache_rules,
    latency, output_limits, retrieval_latency, rate_limits, gpus, batch_discounts. ``path`` overrides the file (tests, user catalogs). The
    header must hold exactly the table's columns (any order); empty cells mean "not
    given"; key columns must be unique. Results are cached per path.
    """
    if table not in _TABLES:
        raise UnknownModelError(table, _near(table, list(_TABLES)), kind="price table")
    filename, _ = _TABLES[table]
    resolved = Path(path) if path is not None else prices_dir() / filename
    return _load_table_cached(table, str(resolved))


@functools.lru_cache(maxsize=64)
def _load_table_cached(table: str, path_str: str) -> tuple[_Row, ...]:
    _, row_model = _TABLES[table]
    path = Path(path_str)
    if not path.is_file():
        raise PriceDataError(path, f"missing data file for table '{table}'")
    columns = list(row_model.model_fields)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames
        if not header:
            raise PriceDataError(path, "empty file: the first line must be the header " + ",".join(columns))
        header = [h.strip() for h in header]
        for position, name in enumerate(header):
            if name in header[:position]:
                raise PriceDataError(path, "column appears twice in the header", line=1, column=name)
            if name not in columns:
                raise PriceDataError(path, f"unknown column (expected: {', '.join(columns)})", line=1, column=name)
        for name in columns:
            if name not in header:
                raise PriceDataError(path, "missing column in the header", line=1, column=name)
        reader.fieldnames = header
        rows: list[_Row] = []
        seen: dict[str, int] = {}
        for row_number, raw in enumerate(reader, start=1):
            line = reader.line_num
            if None in raw:
                raise PriceDataError(path, f"{len(raw[None])} more cell(s) than the header has columns",
                                     row=row_number, line=line)
            if any(value is None for value in raw.values()):
                short = next(k for k, v in raw.items() if v is None)
                raise PriceDataError(path, "fewer cells than the header has columns", row=row_number, line=line,
                                     column=short)
            values = {k: v.strip() for k, v in raw.items() if v is not None and v.strip() != ""}
            if not values:
                continue  # blank line
            try:
                row = row_model.model_validate(values)
            except ValidationError as exc:
                error = exc.errors()[0]
                column = str(error["loc"][0]) if error["loc"] else None
                if error["type"] == "missing":
                    message = "empty cell; this column needs a value"
                else:
                    message = error["msg"].removeprefix("Value error, ")
                    if column is not None:
                        message += f" (got {raw.get(column, '')!r})"
                raise PriceDataError(path, message, row=row_number, line=line, column=column) from None
            key = row.key().lower()
            if key in seen:
                raise PriceDataError(path, f"duplicate entry '{row.key()}' (first on row {seen[key]})",
                                     row=row_number, line=line, column=row_model.key_columns[0])
            seen[key] = row_number
            rows.append(row)
    return tuple(rows)


def validate_all(directory: Path | str | None = None) -> dict[str, int]:
    """Load every data file (from ``directory`` or the default) and return table -> row count.

    Raises PriceDataError on the first malformed file.
    """
    base = Path(directory) if directory is not None else prices_dir()
    return {table: len(load_table(table, base / filename)) for table, (filename, _) in _TABLES.items()}


def names(table: str) -> list[str]:
    """The keys of a data table (e.g. names('vector_stores')), in file order."""
    return [row.key() for row in load_table(table)]


def clear_caches() -> None:
    """Forget loaded data files and computed catalog prices (after editing a data file)."""
    _load_table_cached.cache_clear()
    _catalog_prices_cached.cache_clear()


def _find_row(table: str, name: str, kind: str) -> _Row:
    rows = load_table(table)
    wanted = name.strip().lower() if isinstance(name, str) else name
    for row in rows:
        if row.key().lower() == wanted:
            return row
    raise UnknownModelError(name, _near(str(name), [r.key() for r in rows]), kind=kind)


def _provenance(row: _Row) -> dict[str, Any]:
    return {"notes": row.notes, "source": row.source, "as_of": row.as_of.isoformat()}


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
    return {
        "training_usd_per_mtok": row.training_usd_per_mtok,
        "input_usd_per_mtok": row.input_usd_per_mtok,
        "output_usd_per_mtok": row.output_usd_per_mtok,
        "cache_read_usd_per_mtok": row.cache_read_usd_per_mtok,
        "hosting_usd_per_hour": row.hosting_usd_per_hour,
        "base_model": row.base_model,
        "method": row.method,
        **_provenance(row),
    }


def embedding_prices(model: str) -> dict:
    """Embedding model price and size: usd_per_mtok, dimensions, max_input_tokens, notes, source, as_of.

    Stored size of one vector: dimensions x 4 bytes (float32) plus metadata.
    """
    row = _find_row("embeddings", model, "embedding model")
    assert isinstance(row, EmbeddingRow)
    return {"usd_per_mtok": row.usd_per_mtok, "dimensions": row.dimensions,
            "max_input_tokens": row.max_input_tokens, **_provenance(row)}


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
    return {
        "read_usd_per_query": row.read_usd_per_query,
        "read_usd_per_query_per_gb": row.read_usd_per_query_per_gb,
        "write_usd_per_gb": row.write_usd_per_gb,
        "storage_usd_per_gb_month": row.storage_usd_per_gb_month,
        "minimum_usd_per_month": row.minimum_usd_per_month,
        **_provenance(row),
    }


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
    return {"usd_per_1k_searches": row.usd_per_1k_searches, "usd_per_search": per_search,
            "usd_per_mtok": row.usd_per_mtok, "docs_per_search": row.docs_per_search, **_provenance(row)}


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
    (cache breakpoints per request on explicit caches, None if no limit), provider,
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
    return {
        "mode": row.mode,
        "ttl_options_s": list(row.ttl_options_s),
        "write_multiplier_by_ttl": dict(zip(row.ttl_options_s, row.write_multipliers, strict=True)),
        "read_multiplier": row.read_multiplier,
        "min_cacheable_tokens": row.min_cacheable_tokens,
        "increment_tokens": row.increment_tokens,
        "storage_usd_per_mtok_hour": row.storage_usd_per_mtok_hour,
        "breakpoints_limit": row.breakpoints_limit,
        "provider": row.provider,
        "model_prefix": row.model_prefix,
        **_provenance(row),
    }


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
    return {
        "prefill_tokens_per_s": row.prefill_tokens_per_s,
        "cached_prefill_tokens_per_s": row.cached_prefill_tokens_per_s,
        "decode_tokens_per_s": row.decode_tokens_per_s,
        "network_rtt_s": row.network_rtt_s,
        "cache_overhead_s": row.cache_overhead_s,
        "latency_class": row.name,
        **_provenance(row),
    }


_Z95 = 1.6448536269514722  # standard normal 95th percentile


def rate_limit_tier(provider: str, tier: str, model_class: str) -> RateLimitRow:
    """One tier's limits from data/prices/rate_limits.csv (UnknownModelError if not on file)."""
    return _find_row("rate_limits", f"{provider}/{tier}/{model_class}", "rate-limit tier")  # type: ignore[return-value]


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
    return {
        "component": row.component,
        "p50_s": row.p50_s,
        "p95_s": row.p95_s,
        "mean_s": row.p50_s * math.exp(sigma**2 / 2),
        "cv": math.sqrt(math.expm1(sigma**2)),
        **_provenance(row),
    }


# --- combined views ---------------------------------------------------------------------

def effective_token_prices(model: str, *, on: date | None = None) -> dict:
    """Catalog prices with the gaps a cache simulation needs filled from the provider's rules.

    Starts from :func:`catalog_prices`; where the catalog has no cache price, fills it as
    input price x the multiplier in :func:`cache_rules` for the provider's default cache
    mode and default TTL (e.g. OpenAI: cache write = 1.0 x input, no premium); the 1-hour
    write only where the provider offers 1 hour beside a shorter default. Adds
    long_context_cache_read_usd_per_mtok, long_context_cache_write_usd_per_mtok and long_context_cache_write_1h_usd_per_mtok (the
    catalog's tier prices, else the cache price scaled like input), ``derived_keys`` (the
    keys filled here, not from the catalog) and ``cache_rules`` (the rule dict used, or None).
    """
    prices = catalog_prices(model, on=on)
    display, provider, _ = _resolve(model)
    derived: list[str] = []
    try:
        rules: dict | None = cache_rules(display)
    except UnknownModelError:
        rules = None
    base = prices["input_usd_per_mtok"]
    if rules is not None and base is not None:
        by_ttl = rules["write_multiplier_by_ttl"]
        fills = {
            "cache_read_usd_per_mtok": rules["read_multiplier"],
            "cache_write_usd_per_mtok": by_ttl[rules["ttl_options_s"][0]],
            # A 1-hour entry only where the provider sells one beside a shorter default.
            "cache_write_1h_usd_per_mtok": by_ttl.get(3600) if rules["ttl_options_s"][0] != 3600 else None,
        }
        for key, multiplier in fills.items():
            if prices[key] is None and multiplier is not None:
                prices[key] = base * multiplier
                derived.append(key)
    tiers = long_context_tiers(display, on=on) if prices["long_context_threshold_tokens"] else {}
    threshold = prices["long_context_threshold_tokens"]
    for name in ("cache_read", "cache_write", "cache_write_1h"):
        key = f"long_context_{name}_usd_per_mtok"
        flat = prices[f"{name}_usd_per_mtok"]
        if threshold is None or flat is None:
            prices[key] = None
        elif name in tiers:
            prices[key] = _tier_price(flat, tiers[name], threshold)
        else:
            scale = (prices["long_context_input_usd_per_mtok"] or base or 0.0) / base if base else 1.0
            prices[key] = flat * scale
            derived.append(key)
    prices["derived_keys"] = derived
    prices["cache_rules"] = rules
    return prices


def _money(value: float | None) -> str:
    if value is None:
        return "-"
    text = f"{value:,.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def describe_model_prices(model: str, *, on: date | None = None) -> str:
    """Every price the simulator would use for ``model``, with sources and dates (for `simlib prices`)."""
    day = on or _today()
    display, _, model_info = _resolve(model)
    p = effective_token_prices(display, on=day)
    derived = set(p["derived_keys"])
    base = p["input_usd_per_mtok"]

    def line(label: str, key: str) -> str:
        value = p[key]
        extra = ""
        if value is not None and base:
            extra = f"  ({value / base:.2f} x input)"
        if key in derived:
            extra += "  [not in catalog: provider cache rule x input]"
        return f"  {label:<24}{_money(value):>12}{extra}"

    title = f"{display}" + (f" ({model_info.name})" if model_info.name else "")
    out = [title, f"Token prices on {day.isoformat()}, USD per million tokens:"]
    out += [line("input", "input_usd_per_mtok"), line("output", "output_usd_per_mtok"),
            line("cache read", "cache_read_usd_per_mtok"), line("cache write (default TTL)", "cache_write_usd_per_mtok"),
            line("cache write (1h)", "cache_write_1h_usd_per_mtok")]
    threshold = p["long_context_threshold_tokens"]
    if threshold:
        out.append(f"  long context: a prompt over {threshold:,} tokens pays on all its tokens:")
        for label, key in (("input", "long_context_input_usd_per_mtok"), ("output", "long_context_output_usd_per_mtok"),
                           ("cache read", "long_context_cache_read_usd_per_mtok"),
                           ("cache write (default)", "long_context_cache_write_usd_per_mtok"),
                           ("cache write (1h)", "long_context_cache_write_1h_usd_per_mtok")):
            if p[key] is not None:
                out.append(f"    {label:<22}{_money(p[key]):>12}" + ("  [scaled like input]" if key in derived else ""))
        tiers = long_context_tiers(display, on=day)
        more = {k: v for k, v in tiers.items() if len(v) > 1}
        for name, steps in more.items():
            out.append(f"    all {name} tiers: " + ", ".join(f"> {s:,} tokens: {_money(v)}" for s, v in steps))
    if model_info.context_window:
        out.append(f"  context window: {model_info.context_window:,} tokens")
    limit = model_output_limit_tokens(display)
    if limit:
        out.append(f"  output limit: {limit:,} tokens per request (data/prices/output_limits.csv)")
    out.append(f"  source: {p['source']}")
    out.append(f"  as of: {p['as_of']}")

    rules = p["cache_rules"]
    if rules is not None:
        provider_id = display.split("/", 1)[0].lower()
        modes = [rules["mode"]] + sorted({r.mode for r in load_table("cache_rules") if isinstance(r, CacheRuleRow)
                                          and r.provider.lower() == provider_id and r.mode != rules["mode"]})
        for mode in modes:
            rule = rules if mode == rules["mode"] else cache_rules(display, mode=mode)
            ttl = ", ".join(f"{t:,} s (write {m:g}x)" for t, m in rule["write_multiplier_by_ttl"].items())
            scope = rule["provider"] + ("/" + rule["model_prefix"] + "*" if rule["model_prefix"] else "")
            label = "default" if mode == rules["mode"] else "alternative"
            out.append(f"Prompt cache rules, {mode} mode ({label}; {scope}):")
            out.append(f"  TTL {ttl}; read {rule['read_multiplier']:g}x input; "
                       f"minimum {rule['min_cacheable_tokens']:,} tokens"
                       + (f"; counted in steps of {rule['increment_tokens']} tokens" if rule["increment_tokens"] else "")
                       + (f"; storage {_money(rule['storage_usd_per_mtok_hour'])} USD per M tokens per hour"
                          if rule["storage_usd_per_mtok_hour"] else ""))
            out.append(f"  source: {rule['source']}; as of {rule['as_of']}")
    else:
        out.append("Prompt cache rules: none on file for this provider (data/prices/cache_rules.csv).")

    wanted = display.lower()
    tuned = [r for r in load_table("fine_tuning") if isinstance(r, FineTuneRow)
             and (r.model.lower() == wanted or (r.base_model or "").lower() == wanted)]
    for r in tuned:
        out.append(f"Fine-tuning ({r.model}, {r.method}):")
        out.append(f"  training {_money(r.training_usd_per_mtok)} USD per M training tokens (x epochs); "
                   f"tuned input {_money(r.input_usd_per_mtok)}, output {_money(r.output_usd_per_mtok)}"
                   + (f", cache read {_money(r.cache_read_usd_per_mtok)}" if r.cache_read_usd_per_mtok is not None else "")
                   + f"; hosting {_money(r.hosting_usd_per_hour)} USD/hour")
        out.append(f"  source: {r.source}; as of {r.as_of.isoformat()}")

    try:
        lat = latency_figures(display)
    except UnknownModelError:
        out.append("Latency: no class on file for this model (data/prices/latency.csv).")
    else:
        out.append(f"Latency class {lat['latency_class']}: prefill {lat['prefill_tokens_per_s']:,.0f} tok/s, cached prefill "
                   f"{lat['cached_prefill_tokens_per_s']:,.0f} tok/s, decode {lat['decode_tokens_per_s']:,.0f} tok/s, "
                   f"round trip {lat['network_rtt_s']:g} s")
        out.append(f"  source: {lat['source']}; as of {lat['as_of']}")
    return "\n".join(out)
