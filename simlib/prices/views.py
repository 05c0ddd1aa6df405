"""Combined views: the token prices a scenario uses (catalog + cache rules), and the text of ``simlib prices``."""

from __future__ import annotations

from datetime import date


from simlib.prices.catalog import _tier_price, _today, catalog_prices, long_context_tiers, resolve_model
from simlib.prices.errors import UnknownModelError
from simlib.prices.lookups import cache_rules, latency_figures
from simlib.prices.rows import CacheRuleRow, FineTuneRow
from simlib.prices.tables import load_table


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
    display, provider, _ = resolve_model(model)
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
    display, _, model_info = resolve_model(model)
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
