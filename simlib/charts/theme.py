"""One look for every chart: strategy colours and labels, a slide-legible template."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from simlib.engine.strategies import DISPLAY_NAMES

# Okabe-Ito palette (colour-blind safe); one colour per strategy, the same on every chart.
# No strategy is grey: grey (with hatching) is the cost components' encoding, below.
STRATEGY_COLOURS: dict[str, str] = {
    "prompt_only": "#E69F00",
    "rag": "#0072B2",
    "fine_tune": "#D55E00",
    "rag_fine_tune": "#CC79A7",
    "prompt_cache": "#009E73",
    "rag_prompt_cache": "#56B4E9",
}

STRATEGY_LABELS: dict[str, str] = DISPLAY_NAMES  # one list of display names (simlib.engine.strategies)

# Ink for what is not a strategy (legend keys, reference lines, second series of a trace chart).
NEUTRAL_INK = "#333333"
NEUTRAL_LIGHT = "#8C8C8C"

# Cost components are never coloured: a shade of grey and a hatching pattern each, so a
# component can not be mistaken for a strategy (the bar belongs to the strategy whose
# coloured square heads its row). Darker for what every query pays, lighter for monthly
# running costs, lightest for the cost of ownership; no two components share (shade, pattern).
GREYS: tuple[str, ...] = ("#3A3A3A", "#666666", "#8F8F8F", "#B5B5B5", "#D9D9D9")
COMPONENT_STYLES: dict[str, tuple[str, str]] = {  # component -> (fill grey, plotly pattern shape)
    "input": (GREYS[0], ""),
    "cache_read": (GREYS[0], "."),
    "cache_write": (GREYS[0], "x"),
    "output": (GREYS[2], ""),
    "retrieval": (GREYS[1], "/"),
    "reindex": (GREYS[3], "/"),
    "training": (GREYS[3], ""),
    "storage": (GREYS[3], "."),
    "hosting": (GREYS[3], "x"),
    "cache_storage": (GREYS[3], "-"),
    # cost of ownership
    "data_preparation": (GREYS[4], "\\"),
    "evaluation": (GREYS[4], "|"),
    "engineering": (GREYS[4], ""),
    "index_build": (GREYS[4], "+"),
    "vector_minimum": (GREYS[4], "."),
    "adapter_storage": (GREYS[4], "-"),
    "adapter_serving": (GREYS[4], "x"),
}
COMPONENT_COLOURS: dict[str, str] = {c: fill for c, (fill, _) in COMPONENT_STYLES.items()}

COMPONENT_LABELS: dict[str, str] = {
    "input": "Input",
    "cache_read": "Cache reads",
    "cache_write": "Cache writes",
    "output": "Output",
    "retrieval": "Retrieval",
    "reindex": "Re-embedding",
    "training": "Training",
    "storage": "Vector storage",
    "hosting": "Hosting",
    "cache_storage": "Cache storage",
    "data_preparation": "Training data",
    "evaluation": "Evaluation",
    "engineering": "Engineering",
    "index_build": "Index build",
    "vector_minimum": "Vector minimum",
    "adapter_storage": "Adapter storage",
    "adapter_serving": "Adapter servers",
}


def component_marker(component: str) -> dict[str, Any]:
    """A bar marker for a cost component: its grey, its hatching (white on dark greys, dark
    on light ones), a white edge between stacked segments."""
    fill, shape = COMPONENT_STYLES[component]
    ink = "white" if fill in GREYS[:2] else NEUTRAL_INK
    return dict(color=fill, line=dict(width=1, color="white"),
                pattern=dict(shape=shape, fgcolor=ink, size=7, solidity=0.35, fillmode="overlay"))


# Line dashes on charts where strategies overlap (the timeline): RAG and RAG + prompt cache
# are often equally fresh, so the second is dotted and drawn over the first, not hiding it.
STRATEGY_DASHES: dict[str, str] = {"rag_prompt_cache": "dot", "prompt_cache": "dash"}

# --- sizes: title block, text widths (used to lay out charts so nothing overlaps) ------------

TITLE_FONT_PX, SUBTITLE_FONT_PX, PANEL_TITLE_FONT_PX = 22, 14, 16
TITLE_PAD_PX = 12  # from the figure's top edge to the title
LINE_HEIGHT = 1.3  # a text line's height, in font sizes


def top_margin_px(subtitle_lines: int, *, panel_title_lines: int = 0) -> int:
    """Room above the plot for the title, ``subtitle_lines`` lines of subtitle and the panels'
    own titles, each line ``LINE_HEIGHT`` font sizes tall: the title block is pinned to the
    figure's top edge (``title_layout``), so this keeps the panel titles below it at any height."""
    title = TITLE_PAD_PX + TITLE_FONT_PX * LINE_HEIGHT
    subtitle = subtitle_lines * SUBTITLE_FONT_PX * LINE_HEIGHT + (6 if subtitle_lines else 0)
    panels = panel_title_lines * PANEL_TITLE_FONT_PX * LINE_HEIGHT
    return round(title + subtitle + panels + 12)


def title_layout(title: str, subtitle_lines: list[str]) -> dict[str, Any]:
    """A title pinned to the top edge with its subtitle lines under it (see ``top_margin_px``)."""
    return dict(text=title, x=0.01, xanchor="left", xref="container", y=1.0, yanchor="top", yref="container",
                pad=dict(t=TITLE_PAD_PX, l=0, r=0, b=0), font=dict(size=TITLE_FONT_PX),
                subtitle=dict(text="<br>".join(subtitle_lines), font=dict(size=SUBTITLE_FONT_PX, color="#555555")))


def text_width_px(text: str, font_px: float) -> float:
    """A generous estimate of a line of text's width (HTML tags and entities dropped): 0.6 font
    sizes per character, wider than the average sans-serif glyph, so a layout computed with it
    leaves room rather than overlapping."""
    import re

    plain = re.sub(r"&#?\w+;", "x", re.sub(r"<[^>]+>", "", text))
    return 0.6 * font_px * len(plain)


TEMPLATE_NAME = "simlib"

pio.templates[TEMPLATE_NAME] = go.layout.Template(
    layout=go.Layout(
        font=dict(family="Inter, Helvetica, Arial, sans-serif", size=16, color="#222222"),
        title=dict(font=dict(size=22), x=0.02, xanchor="left"),
        paper_bgcolor="white",
        plot_bgcolor="white",
        xaxis=dict(showgrid=False, linecolor="#444444", ticks="outside", title=dict(font=dict(size=16))),
        yaxis=dict(gridcolor="#E5E5E5", linecolor="#444444", zeroline=False, title=dict(font=dict(size=16))),
        legend=dict(font=dict(size=14), bgcolor="rgba(255,255,255,0.6)"),
        margin=dict(l=80, r=30, t=80, b=70),
        colorway=list(STRATEGY_COLOURS.values()),
    )
)


METRIC_NAMES: dict[str, str] = {
    "monthly_cost_usd": "Monthly cost",
    "cost_per_query_usd": "Cost per query",
    "fresh_share": "Fresh answers",
    "latency_p95_s": "Latency p95",
    "ttft_p50_s": "Time to first token, p50",
    "ttft_p95_s": "Time to first token, p95",
    "cache_hit_rate": "Cache hit rate",
    "staleness_age_mean_s": "Mean staleness age",
    "quality_proxy": "Quality proxy",
}


def metric_name(metric: str) -> str:
    """A metric's name for titles ('Monthly cost'), without its unit."""
    if metric in METRIC_NAMES:
        return METRIC_NAMES[metric]
    name = metric.removesuffix("_usd").removesuffix("_s").removesuffix("_share").replace("_", " ")
    return name[:1].upper() + name[1:]


def metric_title(metric: str, *, shares_as_percent: bool = True) -> str:
    """Axis title of a metric with its unit from results.METRICS ('Fresh answers (%)',
    'Monthly cost (USD/month)'); shares read '(share)' on charts that plot fractions."""
    from simlib.results import METRICS

    unit = METRICS[metric].unit if metric in METRICS else ""
    if unit == "share":
        unit = "%" if shares_as_percent else "share"
    return f"{metric_name(metric)} ({unit})" if unit else metric_name(metric)


def label(strategy: str) -> str:
    return STRATEGY_LABELS.get(strategy, strategy)


def colour(strategy: str) -> str:
    return STRATEGY_COLOURS.get(strategy, "#333333")
