"""Model token prices from the genai-prices catalog bundled in the installed package (nothing fetched).

Models are named ``'provider/model_id'``; dated and aliased names resolve to the same entry.
The catalog holds scheduled price changes, so prices are read as of a date.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any


from simlib.prices.errors import UnknownModelError, _near


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


def resolve_model(model: str) -> tuple[str, Any, Any]:
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
    display, _, _ = resolve_model(model)
    return dict(_catalog_prices_cached(display, on or _today()))


def model_context_window_tokens(model: str) -> int | None:
    """The catalog's context window (maximum input tokens) for ``model``, or None if unknown."""
    _, _, model_info = resolve_model(model)
    return model_info.context_window


def long_context_tiers(model: str, *, on: date | None = None) -> dict[str, list[tuple[int, float]]]:
    """Every long-context tier of ``model``: price name -> [(threshold_tokens, usd_per_mtok)].

    Price names: input, output, cache_read, cache_write, cache_write_1h. A prompt above a
    threshold pays that tier's price on all its tokens.
    """
    _, _, model_info = resolve_model(model)
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
