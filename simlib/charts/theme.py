"""One look for every chart: strategy colours and labels, a slide-legible template."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from simlib.engine.strategies import DISPLAY_NAMES

# Okabe-Ito palette (colour-blind safe); one colour per strategy, the same on every chart.
STRATEGY_COLOURS: dict[str, str] = {
    "prompt_only": "#999999",
    "rag": "#0072B2",
    "fine_tune": "#D55E00",
    "rag_fine_tune": "#CC79A7",
    "prompt_cache": "#009E73",
    "rag_prompt_cache": "#56B4E9",
}

STRATEGY_LABELS: dict[str, str] = DISPLAY_NAMES  # one list of display names (simlib.engine.strategies)

COMPONENT_COLOURS: dict[str, str] = {
    "input": "#4C72B0",
    "cache_read": "#64B5CD",
    "cache_write": "#8172B3",
    "output": "#DD8452",
    "retrieval": "#55A868",
    "reindex": "#937860",
    "training": "#C44E52",
    "storage": "#8C8C8C",
    "hosting": "#DA8BC3",
    "cache_storage": "#CCB974",
    # cost of ownership
    "data_preparation": "#E5AE38",
    "evaluation": "#6D904F",
    "engineering": "#30475E",
    "index_build": "#A2C8A0",
    "vector_minimum": "#BDBDBD",
    "adapter_storage": "#F2B5D4",
    "adapter_serving": "#9E3D64",
}

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
