"""Slide captions: the scenario's key parameters and its price sources with their dates."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily at run time: export is optional
    import plotly.graph_objects as go

    from simlib.scenario import Scenario


def figure_title(fig: go.Figure) -> str:
    """A figure's title as plain text (its first line; HTML tags dropped)."""
    text = fig.layout.title.text or ""
    first = re.split(r"<br\s*/?>", text, maxsplit=1, flags=re.I)[0]
    return re.sub(r"<[^>]+>", "", first).strip()


def _figure_subtitle(fig: go.Figure) -> str:
    text = fig.layout.title.text or ""
    parts = re.split(r"<br\s*/?>", text, maxsplit=1, flags=re.I)
    sub = parts[1] if len(parts) > 1 else ""
    try:
        sub = sub or (fig.layout.title.subtitle.text or "")
    except AttributeError:  # plotly < 6 has no subtitles
        pass
    sub = re.sub(r"<br\s*/?>", " \u00b7 ", sub, flags=re.I)  # one line on the slide: the lines joined
    return re.sub(r"<[^>]+>", "", sub).strip()


# --- captions -------------------------------------------------------------------------

def key_parameters(scenario: Scenario) -> list[tuple[str, str]]:
    """The scenario's key parameters as (group, plain text) pairs, for slide captions."""
    w, k, r, m, ft, pc, sim = (scenario.workload, scenario.knowledge, scenario.retrieval, scenario.model,
                               scenario.fine_tuning, scenario.prompt_cache, scenario.simulation)
    index = f"streaming index ({k.index_lag_s:g} s lag)" if k.index_refresh == "streaming" else (
        f"batch re-index every {k.reindex_interval_s / 3600:g} h")
    reps = "replication" if sim.replications == 1 else "replications"
    workload = f"{w.queries_per_day:,.0f} queries/day ({w.query_tokens_mean:,.0f} tokens in, {w.output_tokens_mean:,.0f} out)"
    if w.arrival_process == "trace":
        workload += f", trace {w.trace} (time x{w.trace_time_scale:g})"
    return [
        ("workload", workload),
        ("knowledge", f"{k.facts_count:,} facts, {k.changes_per_day:g} changes/day, {index}"),
        ("model", f"{m.name} ({m.context_window_tokens:,}-token window, {m.concurrency_limit} slots)"),
        ("retrieval", f"top {r.top_k} x {r.chunk_tokens}-token chunks" + (", reranked" if r.rerank else "")),
        ("fine-tuning", f"retrained every {ft.retrain_interval_days:g} days"),
        ("prompt cache", f"{pc.mode}, {pc.ttl_s:g} s TTL"),
        ("run", f"{sim.queries:,} queries x {sim.replications} {reps}, seed {sim.seed}"),
    ]


def price_sources(scenario: Scenario) -> list[tuple[str, str, str]]:
    """(what, source, as of) for every price set the scenario uses."""
    p, ft = scenario.prices, scenario.fine_tuning
    token = "tokens" + (f" ({p.model})" if p.model else "")
    tuning = "fine-tuning" + (f" ({ft.model})" if ft.model else "")
    return [(token, p.source, p.as_of), (tuning, ft.source, ft.as_of)]


def short_source(source: str, limit: int = 70) -> str:
    """A source fit for a caption line: parenthesised remarks dropped, cut at ``limit``."""
    text = re.sub(r"\s*\([^)]*\)", "", source).strip() or source.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;") + "\u2026"


def caption_text(scenario: Scenario, *, full: bool = False) -> str:
    """Two lines: the scenario's key parameters, then the price sources with their dates.

    ``full=False`` shortens long sources to fit under a chart (the title slide and every
    slide's notes carry them in full).
    """
    params = " \u00b7 ".join(f"{group}: {text}" for group, text in key_parameters(scenario))
    sources = " \u00b7 ".join(f"{what}: {source if full else short_source(source)}, as of {as_of}"
                               for what, source, as_of in price_sources(scenario))
    return f"Scenario {scenario.name} \u00b7 {params}\nPrices \u00b7 {sources}"
