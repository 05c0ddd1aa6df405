"""The strategy charts: one ``RunResult`` in, plotly figures and the comparison table out.

Every function here is pure (no simulation, no files, no printing) and uses the shared
theme (``simlib.charts.theme``): strategies always sit on the vertical axis in the
scenario's order, top to bottom, each in its own colour, so a slide deck built from these
charts reads the same way on every page. Axis titles carry units; a metric that does not
apply (fresh share of ``prompt_only``) or a strategy that cannot run is labelled as such,
never drawn as a zero.

    figures = dashboard_figures(result)        # {"cost", "latency", "freshness", "timeline", "comparison"}
    table = comparison_table(result)           # the reference article's table, in numbers

Each figure keeps the same traces (count, order, names) for a given list of strategies, so
a ``FigureWidget`` can take a new result's data in place (``simlib.dashboard``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simlib.charts.theme import COMPONENT_COLOURS, TEMPLATE_NAME, colour, label
from simlib.results import COMPLETED, COST_COMPONENTS, FRESH, RunResult
from simlib.scenario import SECONDS_PER_DAY

FIGURE_KEYS: tuple[str, ...] = ("cost", "latency", "freshness", "timeline", "comparison")

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
    "data_preparation": "Training data prep",
    "evaluation": "Evaluation",
    "engineering": "Engineering time",
    "index_build": "Index build (amortised)",
    "vector_minimum": "Vector plan minimum",
    "adapter_storage": "Adapter storage",
    "adapter_serving": "Adapter servers",
}

# Knowledge-store events on the timeline: (label, colour of the strategy that owns them, dash).
EVENT_STYLES: dict[str, tuple[str, str, str]] = {
    "retrain": ("Retraining serves", colour("fine_tune"), "dash"),
    "reindex": ("Re-index serves", colour("rag"), "dot"),
    "cache_rebuild": ("Cache rebuilt", colour("prompt_cache"), "dashdot"),
}


# --- small helpers ---------------------------------------------------------------------

def _mean(result: RunResult, strategy: str, metric: str) -> float | None:
    """Mean of a metric over replications, or None (infeasible, or not applicable)."""
    value = result.summary()[strategy][metric]["mean"]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _ci(result: RunResult, strategy: str, metric: str) -> tuple[float, float] | None:
    ci = result.summary()[strategy][metric]["ci95"]
    return (float(ci[0]), float(ci[1])) if ci else None


def strategy_tick(strategy: str) -> str:
    """Axis label of a strategy: a square in its colour, then its name (legible on slides)."""
    return f"<span style='color:{colour(strategy)}'>\u25a0</span> {label(strategy)}"


def short_reason(reason: str | None) -> str:
    """A few words for a chart saying why a strategy could not run (full reason in notes)."""
    if not reason:
        return ""
    if "context window" in reason:
        return "infeasible (context window)"
    return "infeasible"


def time_unit(max_s: float) -> tuple[float, str]:
    """(seconds per unit, unit name) that keeps numbers up to ``max_s`` readable."""
    if max_s >= 2 * SECONDS_PER_DAY:
        return SECONDS_PER_DAY, "days"
    if max_s >= 2 * 3600:
        return 3600.0, "hours"
    if max_s >= 120:
        return 60.0, "minutes"
    return 1.0, "s"


def usd(value: float | None, digits: int = 4) -> str:
    """Money for a label: $0.0123, $9.8k, $1.2M."""
    if value is None:
        return "n/a"
    a = abs(value)
    if a >= 1e6:
        return f"${value / 1e6:.1f}M"
    if a >= 1e4:
        return f"${value / 1e3:.0f}k"
    if a >= 1e3:
        return f"${value / 1e3:.1f}k"
    if a >= 1:
        return f"${value:,.2f}"
    if a == 0:
        return "$0"
    return f"${value:.{digits}f}" if a >= 10 ** -digits else f"${value:.2g}"


def _duration(value_s: float | None) -> str:
    if value_s is None:
        return "n/a"
    per, unit = time_unit(value_s)
    return f"{value_s / per:.3g} {unit if unit != 's' else 's'}"


def _subtitle(result: RunResult) -> str:
    s = result.scenario
    reps = len(result.replications)
    rep_text = f", {reps} replications" if reps > 1 else ""
    return (f"{s.name}: {s.workload.queries_per_day:,.0f} queries/day, "
            f"{s.simulation.queries:,} simulated queries{rep_text}")


def _layout(fig: go.Figure, title: str, result: RunResult, **extra: Any) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE_NAME,
        title=dict(text=title, subtitle=dict(text=_subtitle(result), font=dict(size=14, color="#555555"))),
        **extra,
    )
    return fig


def _strategy_axis(fig: go.Figure, strategies: list[str], **where: Any) -> None:
    """Strategies on a categorical y axis, first at the top, with coloured ticks."""
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=[strategy_tick(s) for s in strategies],
        autorange="reversed",
        automargin=True,
        **where,
    )


# --- cost ------------------------------------------------------------------------------

def cost_figure(result: RunResult) -> go.Figure:
    """Cost per query by strategy, stacked by component, with the monthly total at each bar.

    Per-query components (tokens, cache reads and writes, retrieval) and monthly ones
    (re-embedding, training, storage, hosting) share one axis: a monthly component is
    amortised over the month's queries (``RunResult.cost_breakdown``), so a bar's length is
    the strategy's ``cost_per_query_usd``. Components that are zero for every strategy are
    hidden (the trace stays, so the figure keeps its shape for in-place updates).
    """
    strategies = result.strategies
    ticks = [strategy_tick(s) for s in strategies]
    breakdown = result.cost_breakdown()
    per_query = {
        (row.strategy, row.component): row.usd_per_query for row in breakdown.itertuples(index=False)
    } if len(breakdown) else {}
    fig = go.Figure()
    for comp in COST_COMPONENTS:
        x = [per_query.get((s, comp)) for s in strategies]
        monthly = [None if v is None else v * _queries_per_month(result) for v in x]
        used = any(v is not None and v > 0 for v in x)
        fig.add_trace(go.Bar(
            name=COMPONENT_LABELS[comp], orientation="h", y=ticks, x=x,
            marker=dict(color=COMPONENT_COLOURS[comp], line=dict(width=0)),
            customdata=[[m] for m in monthly],  # None, not NaN: widget messages are strict JSON
            hovertemplate=f"{COMPONENT_LABELS[comp]}: &#36;%{{x:.5f}}/query, &#36;%{{customdata[0]:,.0f}}/month<extra></extra>",
            visible=True if used else False, showlegend=used, meta=comp,
        ))
    totals = [_mean(result, s, "cost_per_query_usd") for s in strategies]
    monthly_totals = [_mean(result, s, "monthly_cost_usd") for s in strategies]
    # "&#36;", not "$": plotly.js reads two "$" in one string as LaTeX and draws nothing
    text = [
        f" {usd(t)}/query · {usd(m)}/mo".replace("$", "&#36;") if t is not None else f"  {short_reason(result.feasibility.get(s)) or 'n/a'}"
        for s, t, m in zip(strategies, totals, monthly_totals)
    ]
    fig.add_trace(go.Scatter(
        name="Total", y=ticks, x=[t if t is not None else 0.0 for t in totals], mode="markers",
        marker=dict(size=1, opacity=0), text=text, showlegend=False, hoverinfo="skip", meta="total",
    ))
    # The labels are annotations, not the trace's text: a text trace to the right of a
    # horizontal bar was not drawn by the FigureWidget's plotly.js (it was in static exports).
    for tick, x, label_text in zip(ticks, totals, text):
        fig.add_annotation(x=x if x is not None else 0.0, y=tick, xref="x", yref="y", text=label_text.strip(),
                           showarrow=False, xanchor="left", xshift=4, font=dict(size=13, color="#222222"))
    top = max([t for t in totals if t is not None] or [1e-6])
    fig.update_xaxes(title_text="USD per query (monthly costs amortised)", tickprefix="$",
                     range=[0, top * 1.8], rangemode="tozero", showgrid=True, gridcolor="#E5E5E5", nticks=6)
    _strategy_axis(fig, strategies)
    return _layout(
        fig, "Cost per query, by component", result, barmode="stack", bargap=0.3,
        legend=dict(orientation="v", traceorder="normal", yanchor="top", y=1.0, xanchor="left", x=1.01,
                    title_text="Component", font=dict(size=13), tracegroupgap=0, itemsizing="constant"),
        margin=dict(l=20, r=20, t=100, b=70),
    )


def _queries_per_month(result: RunResult) -> float:
    from simlib.scenario import DAYS_PER_MONTH

    return result.scenario.workload.queries_per_day * DAYS_PER_MONTH


# --- latency ---------------------------------------------------------------------------

LATENCY_MARKERS: tuple[tuple[str, str, str], ...] = (
    # (metric, legend label, marker symbol)
    ("latency_p50_s", "p50", "circle"),
    ("latency_p95_s", "p95", "diamond"),
    ("latency_p99_s", "p99", "square"),
    ("ttft_p50_s", "first token p50", "circle-open"),
    ("ttft_p95_s", "first token p95", "diamond-open"),
)


def latency_figure(result: RunResult) -> go.Figure:
    """Latency by strategy: p50/p95/p99 and time to first token; queueing in its own panel.

    Left: for each strategy a line from its fastest to its slowest percentile, with filled
    markers for end-to-end latency (done - arrival) and open markers for time to first
    token. Right: mean time spent waiting for retrieval workers and model slots, so a
    saturated stage is not mistaken for a slow model.
    """
    strategies = result.strategies
    ticks = [strategy_tick(s) for s in strategies]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.72, 0.28], horizontal_spacing=0.04,
                        subplot_titles=("Latency and time to first token (s)", "Mean queueing (s)"))
    for s, tick in zip(strategies, ticks):
        values = [_mean(result, s, m) for m, _, _ in LATENCY_MARKERS]
        present = [v for v in values if v is not None]
        x = [min(present), max(present)] if present else [None, None]
        fig.add_trace(go.Scatter(
            x=x, y=[tick, tick], mode="lines", line=dict(color=colour(s), width=4),
            showlegend=False, hoverinfo="skip", meta=f"range:{s}",
        ), row=1, col=1)
    for metric, name, symbol in LATENCY_MARKERS:
        x = [_mean(result, s, metric) for s in strategies]
        fig.add_trace(go.Scatter(
            x=x, y=ticks, mode="markers", name=name, showlegend=False, meta=metric,
            marker=dict(symbol=symbol, size=15, color=[colour(s) for s in strategies],
                        line=dict(width=2.5, color=[colour(s) for s in strategies])),
            hovertemplate=f"{name}: %{{x:.2f}} s<extra></extra>",
        ), row=1, col=1)
        # legend entry in neutral grey: the colour is the strategy, the symbol the statistic
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=name, meta=f"legend:{metric}",
            marker=dict(symbol=symbol, size=13, color="#555555", line=dict(width=2, color="#555555")),
        ), row=1, col=1)
    waits = [_mean(result, s, "queue_wait_mean_s") for s in strategies]
    shares = [_mean(result, s, "queue_share") for s in strategies]
    fig.add_trace(go.Bar(
        x=waits, y=ticks, orientation="h", marker=dict(color=[colour(s) for s in strategies]),
        text=[f"{w:.2f} s ({(q or 0) * 100:.0f}%)" if w is not None else short_reason(result.feasibility.get(s)) or "n/a"
              for s, w, q in zip(strategies, waits, shares)],
        textposition="outside", cliponaxis=False, showlegend=False, meta="queue_wait_mean_s",
        hovertemplate="Mean queueing: %{x:.3f} s<extra></extra>",
    ), row=1, col=2)
    top_wait = max([w for w in waits if w is not None] or [0.0])
    fig.update_xaxes(rangemode="tozero", showgrid=True, gridcolor="#E5E5E5", row=1, col=1)
    fig.update_xaxes(range=[0, max(top_wait, 0.05) * 2.4], nticks=3, row=1, col=2)
    _strategy_axis(fig, strategies, row=1, col=1)
    fig = _layout(
        fig, "Latency by strategy", result,
        legend=dict(orientation="h", yanchor="top", y=-0.08, xanchor="left", x=0, title_text="Latency:"),
        margin=dict(l=20, r=30, t=110, b=70),
    )
    fig.update_annotations(font=dict(size=16))
    return fig


# --- freshness -------------------------------------------------------------------------

def freshness_figure(result: RunResult) -> go.Figure:
    """Share of fresh answers and how stale the stale ones were, by strategy.

    Left: share of completed answers whose knowledge held the fact's latest version, with
    its 95% interval. ``prompt_only`` is labelled ungrounded (its answers come from the base
    model, which is neither fresh nor stale). Right: mean and 95th percentile staleness age
    of the stale answers (time since the first change the answer missed), in a unit chosen
    for the largest value.
    """
    strategies = result.strategies
    ticks = [strategy_tick(s) for s in strategies]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.55, 0.45], horizontal_spacing=0.04,
                        subplot_titles=("Fresh answers (%)", "Age of stale answers"))
    fresh = [_mean(result, s, "fresh_share") for s in strategies]
    cis = [_ci(result, s, "fresh_share") for s in strategies]

    def why_missing(s: str) -> str:
        if result.feasibility.get(s):
            return short_reason(result.feasibility[s])
        return "ungrounded (base model)" if s == "prompt_only" else "n/a"

    fig.add_trace(go.Bar(
        x=[None if f is None else f * 100 for f in fresh], y=ticks, orientation="h",
        marker=dict(color=[colour(s) for s in strategies]),
        error_x=dict(type="data", symmetric=False, color="#333333", thickness=1.5,
                     array=[0 if c is None or f is None else max(0.0, (c[1] - f) * 100) for c, f in zip(cis, fresh)],
                     arrayminus=[0 if c is None or f is None else max(0.0, (f - c[0]) * 100) for c, f in zip(cis, fresh)]),
        showlegend=False, meta="fresh_share", hovertemplate="Fresh: %{x:.1f}%<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=[f * 100 if f is not None else 0 for f in fresh], y=ticks, mode="text",
        text=[f"  {f * 100:.1f}%" if f is not None else f"  {why_missing(s)}" for s, f in zip(strategies, fresh)],
        textposition="middle right", textfont=dict(size=15), showlegend=False, hoverinfo="skip",
        cliponaxis=False, meta="fresh_text",
    ), row=1, col=1)
    ages_mean = [_mean(result, s, "staleness_age_mean_s") for s in strategies]
    ages_p95 = [_mean(result, s, "staleness_age_p95_s") for s in strategies]
    per, unit = time_unit(max([a for a in ages_mean + ages_p95 if a is not None] or [60.0]))
    fig.add_trace(go.Bar(
        x=[None if a is None else a / per for a in ages_mean], y=ticks, orientation="h", name="Mean age",
        marker=dict(color=[colour(s) for s in strategies]), showlegend=False, meta="staleness_age_mean_s",
        hovertemplate=f"Mean staleness age: %{{x:.3g}} {unit}<extra></extra>",
    ), row=1, col=2)
    fig.add_trace(go.Scatter(
        x=[None if a is None else a / per for a in ages_p95], y=ticks, mode="markers", name="p95 age",
        marker=dict(symbol="line-ns", size=22, line=dict(width=3, color="#222222")), showlegend=False,
        meta="staleness_age_p95_s", hovertemplate=f"p95 staleness age: %{{x:.3g}} {unit}<extra></extra>",
    ), row=1, col=2)
    age_text = []
    for s, a, f in zip(strategies, ages_mean, fresh):  # noqa: B007
        if a is not None:
            age_text.append(f"  {a / per:.3g} {unit}")
        elif f is not None:
            age_text.append("  never stale")
        else:
            age_text.append("")
    fig.add_trace(go.Scatter(
        x=[max(a, p or 0.0) / per if a is not None else 0 for a, p in zip(ages_mean, ages_p95)], y=ticks,
        mode="text", text=age_text, textposition="middle right", textfont=dict(size=15), showlegend=False, hoverinfo="skip",
        cliponaxis=False, meta="age_text",
    ), row=1, col=2)
    top_age = max([a / per for a in ages_mean + ages_p95 if a is not None] or [1.0])
    fig.update_xaxes(range=[0, 140], tickvals=[0, 25, 50, 75, 100], showgrid=True, gridcolor="#E5E5E5", row=1, col=1)
    fig.update_xaxes(range=[0, top_age * 1.6], showgrid=True, gridcolor="#E5E5E5", nticks=4, row=1, col=2)
    _strategy_axis(fig, strategies, row=1, col=1)
    fig = _layout(fig, "Freshness by strategy", result, margin=dict(l=20, r=30, t=110, b=70))
    fig.update_annotations(font=dict(size=16))
    # the reading key sits under the panel title, clear of the axis tick labels
    fig.layout.annotations[1].text = f"Age when stale ({unit})<br><span style='font-size:13px;color:#555555'>bar: mean · tick: 95th percentile</span>"
    return fig


# --- timeline --------------------------------------------------------------------------

GROUNDED = ("rag", "fine_tune", "rag_fine_tune", "prompt_cache", "rag_prompt_cache")


def timeline_figure(result: RunResult, *, replication: int = 0, bins: int | None = None) -> go.Figure:
    """Fresh share over the simulated horizon, against the knowledge changes and the
    retrainings, re-indexes and cache rebuilds that catch up with them.

    One line per grounded strategy: the share of fresh answers among the queries that
    arrived in each time bin (``bins``, default about one per 100 queries, 8 to 60).
    Changes are ticks along the bottom; each knowledge-store event is a dashed vertical
    line in the colour of the strategy it serves. The subtitle counts the events, so a
    horizon too short to see a retraining says so.
    """
    s = result.scenario
    rep = result.replications[replication]
    strategies = [name for name in result.strategies if name in GROUNDED]
    all_arrivals = [result.records(n, replication)["arrival_at_s"] for n in strategies]
    all_arrivals = [a for a in all_arrivals if a.size]
    start = float(min(a[0] for a in all_arrivals)) if all_arrivals else 0.0
    end = float(max(a[-1] for a in all_arrivals)) if all_arrivals else 1.0
    end = max(end, start + 1.0)
    per, unit = time_unit(end - start)
    n_queries = max((a.size for a in all_arrivals), default=0)
    n_bins = bins or int(min(60, max(8, n_queries // 100)))
    edges = np.linspace(start, end, n_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for name in strategies:
        rec = result.records(name, replication)
        if rec.size == 0:
            x, y = [], []
        else:
            done = (rec["flags"] & COMPLETED) != 0
            which = np.clip(np.searchsorted(edges, rec["arrival_at_s"][done], side="right") - 1, 0, n_bins - 1)
            fresh = ((rec["flags"][done] & FRESH) != 0).astype(float)
            counts = np.bincount(which, minlength=n_bins)
            fresh_counts = np.bincount(which, weights=fresh, minlength=n_bins)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(counts > 0, fresh_counts / np.maximum(counts, 1) * 100, np.nan)
            # None, not NaN, for empty bins: widget messages are strict JSON
            x, y = ((centres - start) / per).tolist(), [None if math.isnan(v) else v for v in share.tolist()]
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines", name=label(name), line=dict(color=colour(name), width=3, shape="hv"),
            meta=name, hovertemplate=f"{label(name)}: %{{y:.1f}}% fresh<extra></extra>",
        ))
    timeline = rep.timeline
    changes = np.asarray(timeline.get("change", np.empty(0)), float)
    changes = changes[(changes >= start) & (changes <= end)]
    shown = changes if changes.size <= 3000 else changes[np.linspace(0, changes.size - 1, 3000).astype(int)]
    fig.add_trace(go.Scatter(
        x=((shown - start) / per).tolist(), y=[-4.0] * shown.size, mode="markers", name="Knowledge change",
        marker=dict(symbol="line-ns", size=12, line=dict(width=1.5, color="#444444")), meta="change",
        hovertemplate=f"change at %{{x:.2f}} {unit}<extra></extra>",
    ))
    counts_text = []
    for kind, (event_label, event_colour, dash) in EVENT_STYLES.items():
        times = np.asarray(timeline.get(kind, np.empty(0)), float)
        times = times[(times >= start) & (times <= end)]
        xs: list[float | None] = []
        ys: list[float | None] = []
        for t in ((times - start) / per).tolist():
            xs += [t, t, None]
            ys += [0.0, 100.0, None]
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", name=event_label, meta=kind, showlegend=bool(times.size),
            line=dict(color=event_colour, width=2, dash=dash), hoverinfo="skip",
        ))
        counts_text.append((kind, times.size))
    summary = ", ".join(_event_phrase(kind, k, s) for kind, k in counts_text if _event_phrase(kind, k, s))
    fig.update_xaxes(title_text=f"time since the first query ({unit})", range=[0, (end - start) / per],
                     showgrid=True, gridcolor="#F0F0F0", title_standoff=8)
    fig.update_yaxes(title_text="% fresh answers", range=[-8, 104], tickvals=[0, 25, 50, 75, 100])
    fig.update_layout(
        template=TEMPLATE_NAME,
        title=dict(text="Freshness over the simulated horizon",
                   subtitle=dict(text=f"{(end - start) / per:.3g} {unit} simulated: {changes.size:,} knowledge changes"
                                 + (f"; {summary}" if summary else ""), font=dict(size=14, color="#555555"))),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
        margin=dict(l=80, r=30, t=140, b=70),
    )
    return fig


def _event_phrase(kind: str, count: int, scenario) -> str:
    """'0 retrains (every 30 days)': what the horizon shows of each applicable schedule."""
    k, ft, pc = scenario.knowledge, scenario.fine_tuning, scenario.prompt_cache
    names = scenario.simulation.strategies
    if kind == "retrain" and any(n in names for n in ("fine_tune", "rag_fine_tune")):
        return f"{count} retrainings (every {_duration(ft.retrain_interval_days * SECONDS_PER_DAY)})"
    if kind == "reindex" and k.index_refresh == "batch":
        return f"{count} re-indexes (every {_duration(k.reindex_interval_s)})"
    if kind == "cache_rebuild" and pc.rebuild_policy == "periodic" and "prompt_cache" in names:
        return f"{count} cache rebuilds (every {_duration(pc.rebuild_interval_s)})"
    return ""


# --- the practical comparison -------------------------------------------------------------

@dataclass(frozen=True)
class Dimension:
    """One row of the practical comparison: a metric, its unit, which way is better."""

    label: str
    metric: str
    unit: str
    better: str  # "lower" or "higher"
    fmt: Callable[[float], str]
    article: str  # the reference article's row this quantifies


COMPARISON_DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("Cost per query", "cost_per_query_usd", "USD", "lower", lambda v: usd(v), "Per-query cost"),
    Dimension("Monthly cost", "monthly_cost_usd", "USD/month", "lower", lambda v: usd(v), "Setup and running cost"),
    Dimension("Latency p95", "latency_p95_s", "s", "lower", lambda v: f"{v:.2f} s", "Latency"),
    Dimension("Fresh answers", "fresh_share", "share", "higher", lambda v: f"{v * 100:.1f}%", "Knowledge freshness"),
    Dimension("Quality proxy", "quality_proxy", "share", "higher", lambda v: f"{v * 100:.1f}%", "Best for (knowledge x behaviour)"),
    Dimension("Citable answers", "citable_share", "share", "higher", lambda v: f"{v * 100:.1f}%", "Citability"),
    Dimension("Retraining cost", "cost_training_monthly_usd", "USD/month", "lower", lambda v: usd(v), "Data changes"),
)

TIE_TOLERANCE_SHARE = 0.005  # values within 0.5% of the best tie: the table cannot tell them apart


def comparison_table(result: RunResult) -> pd.DataFrame:
    """The reference article's practical-comparison table, made quantitative for this scenario.

    One row per dimension (index: its label), columns: ``metric`` (the ``METRICS`` name),
    ``unit``, ``better`` ("lower" or "higher"), one column per strategy with the mean over
    replications (NaN where it does not apply or the strategy is infeasible), and ``best``:
    the winning strategies' names, comma-separated: every strategy not distinguishable from
    the best beyond noise is a winner too (its 95% interval overlaps the best's, or it is
    within 0.5% of it, e.g. every strategy without fine-tuning spends 0 on retraining).
    """
    strategies = result.strategies
    rows = []
    for dim in COMPARISON_DIMENSIONS:
        values = {s: _mean(result, s, dim.metric) for s in strategies}
        cis = {s: _ci(result, s, dim.metric) for s in strategies}
        row: dict[str, Any] = {"dimension": dim.label, "metric": dim.metric, "unit": dim.unit, "better": dim.better}
        row.update({s: (np.nan if v is None else v) for s, v in values.items()})
        row["best"] = ", ".join(winners(values, dim.better, cis))
        rows.append(row)
    return pd.DataFrame(rows).set_index("dimension")


def winners(values: dict[str, float | None], better: str,
            intervals: dict[str, tuple[float, float] | None] | None = None) -> list[str]:
    """Strategies whose value is best, or not distinguishable from the best beyond noise.

    Ties: within TIE_TOLERANCE_SHARE of the best's size, or (given ``intervals``, the 95%
    intervals) an interval overlapping the best strategy's interval.
    """
    present = {s: v for s, v in values.items() if v is not None and not math.isnan(v)}
    if not present:
        return []
    pick = min(present, key=present.get) if better == "lower" else max(present, key=present.get)
    best = present[pick]
    tol = TIE_TOLERANCE_SHARE * max(abs(best), 1e-12)
    ci_best = (intervals or {}).get(pick)

    def overlaps(s: str) -> bool:
        ci = (intervals or {}).get(s)
        return bool(ci and ci_best) and ci[0] <= ci_best[1] and ci_best[0] <= ci[1]

    return [s for s, v in present.items() if abs(v - best) <= tol or overlaps(s)]


def format_comparison(table: pd.DataFrame, strategies: list[str]) -> pd.DataFrame:
    """Text version of ``comparison_table`` for display: formatted numbers, 'n/a' for gaps."""
    fmts = {d.label: d.fmt for d in COMPARISON_DIMENSIONS}
    out = pd.DataFrame(index=table.index)
    for s in strategies:
        out[label(s)] = [("n/a" if pd.isna(v) else fmts[i](float(v))) for i, v in zip(table.index, table[s])]
    out["Best"] = [", ".join(label(w) for w in str(b).split(", ") if w) for b in table["best"]]
    return out


def comparison_figure(result: RunResult, *, highlight: str | None = None) -> go.Figure:
    """The practical-comparison table as a figure: strategies as columns (headed in their
    colours), the winner of each row highlighted, and a last column naming it.
    ``highlight``: a strategy whose column header is starred (a recommendation)."""
    strategies = result.strategies
    table = comparison_table(result)
    text = format_comparison(table, strategies)
    for s in strategies:
        reason = result.feasibility.get(s)
        if reason:
            text[label(s)] = ["infeasible"] * len(text)
    win_fill, plain, alt = "#DFF2E1", "white", "#F7F7F7"
    fills = [[alt if i % 2 else plain for i in range(len(table))]]
    for s in strategies:
        col = []
        for i, best in enumerate(table["best"]):
            col.append(win_fill if s in str(best).split(", ") else (alt if i % 2 else plain))
        fills.append(col)
    fills.append([alt if i % 2 else plain for i in range(len(table))])
    bold = [[f"<b>{x}</b>" for x in table.index]]
    header_fill = ["#333333"] + [colour(s) for s in strategies] + ["#333333"]
    fig = go.Figure(go.Table(
        columnwidth=[1.5] + [1.0] * len(strategies) + [1.6],
        header=dict(values=["<b>Dimension</b>"] + [f"<b>{'★ ' if s == highlight else ''}{label(s)}</b>" for s in strategies]
                    + ["<b>Best</b>"],
                    fill_color=header_fill, font=dict(color="white", size=15), align="center", height=40),
        cells=dict(values=bold + [text[label(s)].tolist() for s in strategies] + [text["Best"].tolist()],
                   fill_color=fills, font=dict(size=14, color="#222222"), align=["left"] + ["center"] * (len(strategies) + 1),
                   height=34, line=dict(color="#DDDDDD")),
    ))
    return _layout(fig, "Practical comparison (green: best in the row; several when not distinguishable beyond noise: 95% intervals overlap or within 0.5%)", result, margin=dict(l=20, r=20, t=100, b=20))


# --- everything the dashboard shows ---------------------------------------------------------

def dashboard_figures(result: RunResult) -> dict[str, go.Figure]:
    """Every dashboard chart for one result, keyed by ``FIGURE_KEYS``:
    "cost", "latency", "freshness", "timeline" and "comparison" (the table as a figure)."""
    return {
        "cost": cost_figure(result),
        "latency": latency_figure(result),
        "freshness": freshness_figure(result),
        "timeline": timeline_figure(result),
        "comparison": comparison_figure(result),
    }
