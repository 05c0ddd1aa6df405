"""The catalog fill: prices, cache rules, context window and speeds of a named catalog model.

A scenario that sets ``prices.model`` (or ``fine_tuning.model``) takes every field the user
did not set from the price catalog (``simlib.prices``); a hand-set value always wins. The
filled paths are recorded in ``catalog_filled`` so ``Scenario.with_changes`` can drop them
and look them up again (for a new model, or the same one). ``build_scenario`` runs the fill
once per build, before validation.
"""

from __future__ import annotations

from typing import Any

from simlib import prices as catalog
from simlib.errors import Problem, ScenarioError
from simlib.scenario.schema import PromptCache


def names_catalog_model(data: dict[str, Any]) -> bool:
    """True if ``data`` names a catalog model (only a non-empty string does; anything else is left to validation)."""
    return any(isinstance(data.get(g), dict) and isinstance(data[g].get("model"), str) and data[g]["model"]
               for g in ("prices", "fine_tuning"))


def catalog_field(data: dict[str, Any], exc: Exception) -> str:
    """The field that named the unknown model of ``exc`` (prices.model or fine_tuning.model)."""
    name = getattr(exc, "name", None)
    ft = data.get("fine_tuning")
    if isinstance(ft, dict) and ft.get("model") == name:
        return "fine_tuning.model"
    return "prices.model"


def resolve_catalog(data: dict[str, Any]) -> dict[str, Any]:
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
        on = prices.get("catalog_date")
        if on:
            try:
                on = date.fromisoformat(str(on))
            except ValueError:
                raise ScenarioError([Problem("prices.catalog_date", f"not an ISO date (YYYY-MM-DD), got {on!r}")]) from None
        else:
            on = None
        looked_up = catalog.effective_token_prices(prices["model"], on=on)
        filled = dict(prices)
        marks += _fill_unset(filled, looked_up, _CATALOG_KEYS["prices"], "prices")
        data = {**data, "prices": filled}
        cache = dict(data["prompt_cache"]) if isinstance(data.get("prompt_cache"), dict) else {}
        rules = looked_up.get("cache_rules") or {}
        inp = looked_up.get("input_usd_per_mtok") or 0.0
        before = set(cache)
        mode = cache.setdefault("mode", rules.get("mode", "explicit"))
        if rules and mode != rules.get("mode"):
            # a provider with both modes (Google): the rules of the mode chosen, if it has them
            try:
                rules = catalog.cache_rules(prices["model"], mode=mode) if mode in ("explicit", "automatic") else rules
            except ValueError:
                pass
        _fill_unset(cache, rules, ("min_cacheable_tokens", "increment_tokens", "storage_usd_per_mtok_hour",
                                   "breakpoints_limit"), "prompt_cache")  # marked below, with the rest of the cache
        if mode == rules.get("mode"):
            # best-effort routing belongs to the provider's own cache: not to an explicit mode set by hand on it
            _fill_unset(cache, rules, ("overflow_requests_per_minute",), "prompt_cache")
        if inp > 0:
            ttl = _number_or(cache.get("ttl_s"), PromptCache.model_fields["ttl_s"].default)  # raw input: validated later
            if "read_multiplier" not in cache and looked_up.get("cache_read_usd_per_mtok") is not None:
                cache["read_multiplier"] = round(looked_up["cache_read_usd_per_mtok"] / inp, 6)
            if "write_multiplier" not in cache:
                write = 1.0 if mode == "automatic" else _write_multiplier_for_ttl(looked_up, rules, ttl, inp)
                if write is not None:
                    cache["write_multiplier"] = write
        marks += [f"prompt_cache.{k}" for k in set(cache) - before]
        data = {**data, "prompt_cache": cache}
        model = dict(data["model"]) if isinstance(data.get("model"), dict) else {}
        if "name" not in model:
            model["name"] = prices["model"]
            marks.append("model.name")
        marks += _fill_limits(model, "model", prices["model"])
        marks += _fill_latency(model, prices["model"], "model", _MODEL_SPEED_KEYS)
        data = {**data, "model": model}
    if isinstance(ft, dict) and ft.get("model"):
        looked_up = catalog.fine_tune_prices(ft["model"])
        filled = dict(ft)
        marks += _fill_unset(filled, looked_up, _CATALOG_KEYS["fine_tuning"], "fine_tuning")
        marks += _fill_ft_cache(filled, ft["model"], prices.get("model") if isinstance(prices, dict) else None)
        marks += _fill_limits(filled, "fine_tuning", looked_up.get("base_model") or ft["model"], ft["model"])
        marks += _fill_latency(filled, ft["model"], "fine_tuning", _FT_SPEED_KEYS)
        data = {**data, "fine_tuning": filled}
    return _marked(data, marks)


def resolve_capacity(data: dict[str, Any]) -> dict[str, Any]:
    """Fill rate limits from a named tier and the batch discount from the provider (data/prices).

    ``rate_limits.tier`` 'PROVIDER/TIER' or 'TIER' (the provider of prices.model): the row of
    data/prices/rate_limits.csv for prices.model's class fills the limits not set by hand and
    ``cache_reads_exempt``. prices.batch_discount_share and batch_completion_window_s come
    from data/prices/batch_discounts.csv for prices.model's provider when not set.
    """
    prices = data.get("prices") if isinstance(data.get("prices"), dict) else {}
    model = prices.get("model") if isinstance(prices.get("model"), str) else None
    marks: list[str] = []
    limits = data.get("rate_limits")
    if isinstance(limits, dict) and type(limits.get("tier")) is int:
        # `--set rate_limits.tier=4` and `tier: 4` in YAML read the tier's name as an int: it is Tier "4"
        limits = {**limits, "tier": str(limits["tier"])}
        data = {**data, "rate_limits": limits}
    if isinstance(limits, dict) and isinstance(limits.get("tier"), str) and limits["tier"]:
        tier = limits["tier"]
        provider, _, name = tier.rpartition("/")
        if not provider:
            if model is None:
                raise ScenarioError([Problem("rate_limits.tier", f"'{tier}' names no provider: write 'PROVIDER/{tier}' or set prices.model")])
            provider = model.split("/")[0]
        cls = catalog.rate_limit_class(model) if model else None
        if model is not None and cls is None:
            # a tier's limits are those of prices.model's class: Sonnet's Tier 4 is not gpt-4.1's or Haiku's
            raise ScenarioError([Problem("rate_limits.tier", (
                f"no rate-limit tiers on file for {model}'s class (data/prices/rate_limits.csv holds Anthropic's "
                "Sonnet/Opus 4 tiers only): unset rate_limits.tier and set your account's limits, "
                "rate_limits.requests_per_minute, input_tokens_per_minute and output_tokens_per_minute"))])
        rows = [r for r in catalog.load_table("rate_limits") if r.provider == provider and r.tier == name
                and (cls is None or r.model_class == cls)]
        if not rows:
            on_file = sorted({f"{r.provider}/{r.tier}" for r in catalog.load_table("rate_limits")})
            raise ScenarioError([Problem("rate_limits.tier", (
                f"no tier '{provider}/{name}' on file for {model or 'this model'} (data/prices/rate_limits.csv holds "
                f"{', '.join(on_file)} for {'its class' if cls else 'Sonnet/Opus 4 models'})"))])
        row = rows[0]
        filled = dict(limits)
        keys = ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute", "cache_reads_exempt")
        marks += _fill_unset(filled, {k: getattr(row, k) for k in keys}, keys, "rate_limits", keep_none=True)
        data = {**data, "rate_limits": filled}
    if model is not None and ("batch_discount_share" not in prices or "batch_completion_window_s" not in prices):
        try:
            row = catalog.batch_discount(model.split("/")[0])
        except catalog.UnknownModelError:
            row = None
        if row is not None:
            filled = dict(prices)
            batch = {"batch_discount_share": row.discount_share, "batch_completion_window_s": row.completion_window_s}
            marks += _fill_unset(filled, batch, batch, "prices", keep_none=True)
            data = {**data, "prices": filled}
    return _marked(data, marks)


def _fill_unset(group: dict[str, Any], values: dict[str, Any], keys: Any, prefix: str, *,
                keep_none: bool = False) -> list[str]:
    """Set each of ``keys`` the user left out of ``group`` to its value in ``values`` (a hand-set
    value always wins); a None value is left unset unless ``keep_none``. Returns the paths filled
    (``prefix.key``), for ``catalog_filled``."""
    filled = []
    for key in keys:
        if key not in group and (keep_none or values.get(key) is not None):
            group[key] = values[key]
            filled.append(f"{prefix}.{key}")
    return filled


def _marked(data: dict[str, Any], marks: Any) -> dict[str, Any]:
    """``data`` with ``marks`` (field paths) added to its ``catalog_filled``, sorted, each once."""
    if not marks:
        return data
    return {**data, "catalog_filled": tuple(sorted(set(data.get("catalog_filled", ())) | set(marks)))}


def _write_multiplier_for_ttl(looked_up: dict[str, Any], rules: dict[str, Any], ttl_s: float, input_usd_per_mtok: float) -> float | None:
    """The write multiplier of the entry a TTL buys (``prices.write_multiplier_for_ttl``).

    The catalog's own write prices win where it has the lifetime bought (its default entry,
    or the 1-hour entry); otherwise the provider's rule in data/prices/cache_rules.csv.
    Without rules: the catalog's default write price.
    """
    default_write = looked_up.get("cache_write_usd_per_mtok")
    if not rules:
        return None if default_write is None else round(default_write / input_usd_per_mtok, 6)
    lifetime_s, multiplier = catalog.write_multiplier_for_ttl(rules, ttl_s)
    catalog_write = {rules["ttl_options_s"][0]: default_write, 3600: looked_up.get("cache_write_1h_usd_per_mtok")}.get(lifetime_s)
    return round(catalog_write / input_usd_per_mtok, 6) if catalog_write is not None else multiplier


def fill_default_write_multiplier(data: dict[str, Any]) -> dict[str, Any]:
    """A scenario with no catalog model: its explicit cache follows the default provider's rule for its TTL.

    The defaults are Anthropic's (Claude Sonnet 4.5 prices, a 5-minute entry), so an untouched
    write multiplier is Anthropic's for the entry the TTL buys: 1.25x for 300 s, 2x for
    3,600 s. Marked in ``catalog_filled``, so a later TTL change looks it up again; a hand-set
    multiplier wins.
    """
    from simlib.scenario.schema import DEFAULT_CACHE_PROVIDER

    cache = data.get("prompt_cache") if isinstance(data.get("prompt_cache"), dict) else {}
    if "write_multiplier" in cache or cache.get("mode", "explicit") != "explicit":
        return data
    ttl = _number_or(cache.get("ttl_s"), PromptCache.model_fields["ttl_s"].default)
    _, multiplier = catalog.write_multiplier_for_ttl(catalog.cache_rules(DEFAULT_CACHE_PROVIDER), ttl)
    return _marked({**data, "prompt_cache": {**cache, "write_multiplier": multiplier}}, ["prompt_cache.write_multiplier"])


def _fill_ft_cache(group: dict[str, Any], entry: str, base_model: str | None) -> list[str]:
    """The fine-tuned model's own provider cache, where its provider differs from the base model's.

    A fine-tuned gpt-4.1 beside a Claude base model is served by OpenAI, so fine-tuned strategies
    cache by OpenAI's automatic rules (no write premium, 1,024-token minimum, 128-token steps, its
    default retention, the best-effort overflow) and read at the fine-tuned cached-input price
    (fine_tuning.cache_read_usd_per_mtok). ``base_model`` None: the defaults' provider (Anthropic).
    A provider without cache rules on file (Together, Fireworks) is left to prompt_cache. Fills
    only fields the user did not set; returns the filled paths.
    """
    provider = entry.split("/")[0].lower()
    base_provider = (base_model or "anthropic/").split("/")[0].lower()
    if provider == base_provider:
        return []
    try:
        rules = catalog.cache_rules(entry)
    except (ValueError, LookupError):
        return []
    values = {"cache_mode": rules["mode"], "cache_ttl_s": float(rules["ttl_options_s"][0]),
              "cache_min_cacheable_tokens": rules["min_cacheable_tokens"], "cache_increment_tokens": rules["increment_tokens"],
              "cache_overflow_requests_per_minute": rules["overflow_requests_per_minute"]}
    return _fill_unset(group, values, values, "fine_tuning")


def _fill_limits(group: dict[str, Any], prefix: str, model: str, entry: str | None = None) -> list[str]:
    """Fill a group's context window (genai-prices) and output limit (data/prices/output_limits.csv).

    ``model`` is a catalog name (the base model of a fine-tuning entry); ``entry``, the
    fine-tuning entry's own name, is looked up first for the output limit. Hand-set values win.
    """
    marks = []
    if "context_window_tokens" not in group:
        try:
            window = catalog.model_context_window_tokens(model)
        except catalog.UnknownModelError:
            window = None  # a fine-tuning entry whose base model is not in the catalog
        if window:
            group["context_window_tokens"] = int(window)
            marks.append(f"{prefix}.context_window_tokens")
    if "output_limit_tokens" not in group:
        limit = (catalog.model_output_limit_tokens(entry) if entry else None) or catalog.model_output_limit_tokens(model)
        if limit:
            group["output_limit_tokens"] = int(limit)
            marks.append(f"{prefix}.output_limit_tokens")
    return marks


def _number_or(value: Any, default: float) -> float:
    """A raw (unvalidated) input as a float, or the default if it is not one (validation reports it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return default
    try:
        return float(value)
    except (ValueError, OverflowError):
        return default


_CATALOG_KEYS = {
    "prices": {
        "input_usd_per_mtok", "output_usd_per_mtok", "long_context_threshold_tokens",
        "long_context_input_usd_per_mtok", "long_context_output_usd_per_mtok", "source", "as_of",
    },
    "fine_tuning": {"training_usd_per_mtok", "input_usd_per_mtok", "output_usd_per_mtok", "cache_read_usd_per_mtok",
                    "hosting_usd_per_hour", "source", "as_of"},
}


_MODEL_SPEED_KEYS = ("prefill_tokens_per_s", "cached_prefill_tokens_per_s", "cache_overhead_s", "decode_tokens_per_s", "network_rtt_s")
_FT_SPEED_KEYS = ("prefill_tokens_per_s", "decode_tokens_per_s", "network_rtt_s")


def _fill_latency(group: dict[str, Any], model: str, prefix: str, keys: tuple[str, ...]) -> list[str]:
    """Fill a group's speeds from data/prices/latency.csv (typical figures for the model's class)."""
    try:
        figures = catalog.latency_figures(model)
    except catalog.UnknownModelError:
        return []  # no latency class for this model: the documented defaults stay
    marks = _fill_unset(group, figures, keys, prefix)
    if "latency_source" not in group:
        group["latency_source"] = f"{figures.get('latency_class')}: {figures.get('source')} (as of {figures.get('as_of')})"
        marks.append(f"{prefix}.latency_source")
    return marks
