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

from simlib import formats
from simlib.charts.theme import (
    COMPONENT_LABELS, PANEL_TITLE_FONT_PX, STRATEGY_DASHES, TEMPLATE_NAME, colour,
    component_marker, label, text_width_px, title_layout, top_margin_px,
)
from simlib.results import COMPLETED, COST_COMPONENTS, FRESH, RunResult
from simlib.scenario import SECONDS_PER_DAY

FIGURE_KEYS: tuple[str, ...] = ("cost", "latency", "freshness", "timeline", "comparison")

# Knowledge-store events on the timeline: (label, colour of the strategy that owns them, dash).
EVENT_STYLES: dict[str, tuple[str, str, str]] = {
    "retrain": ("Retraining serves", colour("fine_tune"), "dash"),
    "reindex": ("Re-index serves", colour("rag"), "dot"),
    "cache_rebuild": ("Cache rebuilt", colour("prompt_cache"), "dashdot"),
}

SATURATED = "saturated"


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


def saturated(result: RunResult, strategy: str) -> bool:
    """True when a stage of ``strategy`` runs at or over capacity at the busiest hour
    (``results.saturation``, the flag the verdict reads): its waiting times grow with the
    horizon, so its latency numbers are not steady-state figures and are not drawn."""
    return bool(result.summary()[strategy].get("saturated"))


def saturation_line(result: RunResult) -> str | None:
    """'Saturated at the busiest hour (latency not shown): Prompt only, RAG (model stage at
    131-136% of capacity)': the saturated strategies grouped by stage, or None when none is."""
    by_stage: dict[str, list[tuple[str, float | None]]] = {}
    for s in result.strategies:
        if saturated(result, s):
            entry = result.summary()[s]
            stage = entry.get("saturated_stage") or "a"
            by_stage.setdefault(stage, []).append((label(s), (entry.get("peak_hour_utilisation") or {}).get(stage)))
    if not by_stage:
        return None
    groups = []
    for stage, items in by_stage.items():
        utils = [u for _, u in items if u is not None]
        span = ""
        if utils:
            lo, hi = f"{min(utils):.0%}", f"{max(utils):.0%}"
            span = f" at {lo if lo == hi else lo.rstrip('%') + '-' + hi} of capacity"
        groups.append(f"{', '.join(n for n, _ in items)} ({stage} stage{span})")
    return "Saturated at the busiest hour (latency not shown): " + "; ".join(groups)


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


FINE_TUNED = ("fine_tune", "rag_fine_tune")


def model_line(scenario) -> str:
    """'base: anthropic/claude-sonnet-4-5 · fine-tuned: openai/gpt-4.1': the models the numbers
    are for (a scenario without a catalog model says its prices are hand-set)."""
    base = scenario.prices.model or f"{scenario.model.name} (hand-set prices)"
    parts = [f"base: {base}"]
    if any(n in scenario.simulation.strategies for n in FINE_TUNED):
        parts.append(f"fine-tuned: {scenario.fine_tuning.model or 'hand-set prices'}")
    return " \u00b7 ".join(parts)


def horizon_line(result: RunResult) -> str:
    """'docs-assistant: 20k queries/day; 2.4 hours simulated (5,000 queries, 3 replications)'."""
    s = result.scenario
    reps = len(result.replications)
    span_s = max((r.span_s for r in result.replications), default=0.0)
    rep_text = f", {reps} replications" if reps > 1 else ""
    return (f"{s.name}: {formats.count(s.workload.queries_per_day)} queries/day; {formats.duration(span_s)} simulated "
            f"({s.simulation.queries:,} queries{rep_text})")


def subtitle_lines(result: RunResult, *extra: str | None) -> list[str]:
    """The subtitle of every strategy chart: the scenario and horizon, the models, then ``extra`` lines."""
    return [horizon_line(result), model_line(result.scenario)] + [e for e in extra if e]


def _subtitle(result: RunResult) -> str:
    return "<br>".join(subtitle_lines(result))


def _layout(fig: go.Figure, title: str, result: RunResult, *, extra_lines: tuple[str | None, ...] = (),
            panel_title_lines: int = 0, extra_top_px: int = 0, **extra: Any) -> go.Figure:
    """Theme, the title pinned to the top with the subtitle lines (scenario, models, ``extra_lines``)
    under it, and a top margin that keeps them clear of the panel titles."""
    lines = subtitle_lines(result, *extra_lines)
    margin = dict(extra.pop("margin", None) or {})
    margin["t"] = top_margin_px(len(lines), panel_title_lines=panel_title_lines) + extra_top_px
    fig.update_layout(template=TEMPLATE_NAME, title=title_layout(title, lines), margin=margin, **extra)
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


def _entity(text: str) -> str:
    """'$' as '&#36;': plotly.js reads two '$' in one string as LaTeX and draws nothing."""
    return text.replace("$", "&#36;")


# --- cost ------------------------------------------------------------------------------

COST_LABEL_FONT_PX = 13
COST_LEGEND_FONT_PX = 13
X_TITLE_PX = 64  # below the plot: tick labels and the axis title
COST_LABEL_GAP_PX = 8  # from the plot's right edge to the label column
LEGEND_GAP_PX = 16  # from the label column to the legend
LEGEND_SWATCH_PX = 46  # a legend entry's swatch and the space around it


def cost_label_column_px(lines: list[list[str]]) -> int:
    """Width of the column of cost labels: its widest line (``theme.text_width_px``)."""
    return round(max((text_width_px(line, COST_LABEL_FONT_PX) for ls in lines for line in ls), default=0.0))


def legend_width_px(names: list[str], font_px: float) -> int:
    """Width of a vertical legend of ``names``: its widest entry plus the swatch."""
    return round(max((text_width_px(n, font_px) for n in names), default=0.0) + LEGEND_SWATCH_PX)


def cost_label_lines(result: RunResult, strategy: str, per_query: float | None, monthly: float | None) -> list[str]:
    """The text at a cost bar's end: per query and per month (two short lines, so it fits
    beside the bar on the narrowest chart), 'saturated' under them when the strategy is."""
    if per_query is None:
        return [short_reason(result.feasibility.get(strategy)) or "n/a"]
    lines = [f"{formats.usd(per_query)}/query", f"{formats.usd(monthly, per='month')}"]
    if saturated(result, strategy):
        lines.append(SATURATED)
    return lines


def cost_figure(result: RunResult) -> go.Figure:
    """Cost per query by strategy, stacked by component, with the monthly total at each bar.

    Per-query components (tokens, cache reads and writes, retrieval) and monthly ones
    (re-embedding, training, storage, hosting) share one axis: a monthly component is
    amortised over the month's queries (``RunResult.cost_breakdown``), so a bar's length is
    the strategy's ``cost_per_query_usd``. Components are greys with hatching (never a
    strategy's colour, ``theme.COMPONENT_STYLES``); the row's strategy is the coloured square
    before its name. Components that are zero for every strategy are hidden (the trace
    stays, so the figure keeps its shape for in-place updates).

    The totals stand in a column right of the plot and the legend right of them, each in
    a share of the right margin sized from its text (``theme.text_width_px``, a generous
    estimate): at any figure width, a label never runs into the legend or over a bar.
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
            name=COMPONENT_LABELS[comp], orientation="h", y=ticks, x=x, marker=component_marker(comp),
            customdata=[[m] for m in monthly],  # None, not NaN: widget messages are strict JSON
            hovertemplate=f"{COMPONENT_LABELS[comp]}: &#36;%{{x:.5f}}/query, &#36;%{{customdata[0]:,.0f}}/month<extra></extra>",
            visible=True if used else False, showlegend=used, meta=comp,
        ))
    totals = [_mean(result, s, "cost_per_query_usd") for s in strategies]
    monthly_totals = [_mean(result, s, "monthly_cost_usd") for s in strategies]
    lines = [cost_label_lines(result, s, t, m) for s, t, m in zip(strategies, totals, monthly_totals)]
    text = [_entity("<br>".join(ls)) for ls in lines]
    fig.add_trace(go.Scatter(
        name="Total", y=ticks, x=[t if t is not None else 0.0 for t in totals], mode="markers",
        marker=dict(size=1, opacity=0), text=text, showlegend=False, hoverinfo="skip", meta="total",
    ))
    # The labels are annotations, not the trace's text: a text trace to the right of a
    # horizontal bar was not drawn by the FigureWidget's plotly.js (it was in static exports).
    # They stand in a column of their own right of the plot (paper x = 1), and the legend
    # right of that column: the right margin holds both, so at any width neither overlaps
    # the bars or the other (``cost_label_column_px``, ``legend_width_px``).
    # A strategy without a bar (infeasible) says why inside the plot, where its bar would be.
    for tick, t, label_text in zip(ticks, totals, text):
        fig.add_annotation(x=1.0 if t is not None else 0.0, y=tick, xref="paper" if t is not None else "x", yref="y",
                           text=label_text, showarrow=False, xanchor="left", xshift=COST_LABEL_GAP_PX, align="left",
                           font=dict(size=COST_LABEL_FONT_PX, color="#222222"), name="cost_label")
    # Each stacked bar is outlined in its strategy's colour (the greys inside are components).
    # Category i sits at y = i; a bar is 1 - bargap = 0.7 of a category tall.
    for i, (s, t) in enumerate(zip(strategies, totals)):
        if t:
            fig.add_shape(type="rect", xref="x", yref="y", x0=0, x1=t, y0=i - 0.35, y1=i + 0.35,
                          line=dict(color=colour(s), width=3), fillcolor="rgba(0,0,0,0)", layer="above")
    top = max([t for t in totals if t is not None] or [1e-6])
    fig.update_xaxes(title_text="USD per query (monthly costs amortised)", tickprefix="$",
                     range=[0, top * 1.04], rangemode="tozero", showgrid=True, gridcolor="#E5E5E5", nticks=5)
    _strategy_axis(fig, strategies)
    used = [COMPONENT_LABELS[c] for c in COST_COMPONENTS if any((per_query.get((s, c)) or 0) > 0 for s in strategies)]
    label_px = cost_label_column_px([ls for t, ls in zip(totals, lines) if t is not None])
    legend_px = legend_width_px(used, COST_LEGEND_FONT_PX)
    return _layout(
        fig, "Cost per query, by component", result, barmode="stack", bargap=0.3,
        legend=dict(orientation="v", traceorder="normal", xref="container", x=1.0, xanchor="right", yanchor="top",
                    y=1.0, font=dict(size=COST_LEGEND_FONT_PX), tracegroupgap=0, itemsizing="constant"),
        margin=dict(l=20, r=COST_LABEL_GAP_PX + label_px + LEGEND_GAP_PX + legend_px, b=X_TITLE_PX),
    )


def _queries_per_month(result: RunResult) -> float:
    from simlib.scenario import DAYS_PER_MONTH

    return result.scenario.workload.queries_per_day * DAYS_PER_MONTH


# --- latency ---------------------------------------------------------------------------

# (panel, metrics with legend label and marker symbol): the same symbol means the same
# percentile in both panels; the colour is the strategy.
TTFT_MARKERS: tuple[tuple[str, str, str], ...] = (
    ("ttft_p50_s", "p50", "circle"),
    ("ttft_p95_s", "p95", "diamond"),
)
TOTAL_MARKERS: tuple[tuple[str, str, str], ...] = (
    ("latency_p50_s", "p50", "circle"),
    ("latency_p95_s", "p95", "diamond"),
    ("latency_p99_s", "p99", "square"),
)
LATENCY_MARKERS = TTFT_MARKERS + TOTAL_MARKERS
PERCENTILE_SYMBOLS: dict[str, str] = {"p50": "circle", "p95": "diamond", "p99": "square"}
NO_QUEUEING_S = 0.0005  # mean waits below half a millisecond read as 0.00 s: the panel is dropped

# Panel domains (shares of the width): first token, total, queueing; without queueing the
# first two take the width.
_LATENCY_DOMAINS = ((0.0, 0.33), (0.38, 0.78), (0.84, 1.0))
_LATENCY_DOMAINS_NO_QUEUE = ((0.0, 0.40), (0.46, 0.995), (0.998, 1.0))


def latency_figure(result: RunResult) -> go.Figure:
    """Latency by strategy in separate panels: time to first token, total latency, and the
    mean wait for a model slot or retrieval worker.

    First token (arrival to first output token) and total (arrival to last token) have
    their own axes: a first token in 0.9 s is not squeezed against zero by a 13 s answer.
    Each strategy has a line from its p50 to its slowest percentile and a marker per
    percentile (circle p50, diamond p95, square p99), its p95 written beside it. The
    queueing panel is shown only when some strategy waits (mean over 0.5 ms), so a
    saturated stage is not mistaken for a slow model. A saturated strategy (a stage over
    capacity at the busiest hour) has no numbers here: its waits grow with the horizon, so
    the panels say "saturated" instead.
    """
    strategies = result.strategies
    ticks = [strategy_tick(s) for s in strategies]
    sat = [saturated(result, s) for s in strategies]
    waits = [None if q else _mean(result, s, "queue_wait_mean_s") for s, q in zip(strategies, sat)]
    queueing = any(w is not None and w >= NO_QUEUEING_S for w in waits)
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("Time to first token (s)", "Total latency, arrival to last token (s)",
                                        "Mean wait for a slot (s)" if queueing else ""))
    for col, markers, key in ((1, TTFT_MARKERS, "ttft"), (2, TOTAL_MARKERS, "latency")):
        tops = []
        for s, tick, q in zip(strategies, ticks, sat):
            values = [None if q else _mean(result, s, m) for m, _, _ in markers]
            present = [v for v in values if v is not None]
            tops += present
            fig.add_trace(go.Scatter(
                x=[min(present), max(present)] if present else [None, None], y=[tick, tick], mode="lines",
                line=dict(color=colour(s), width=4), showlegend=False, hoverinfo="skip", meta=f"range:{key}:{s}",
            ), row=1, col=col)
        for metric, name, symbol in markers:
            x = [None if q else _mean(result, s, metric) for s, q in zip(strategies, sat)]
            fig.add_trace(go.Scatter(
                x=x, y=ticks, mode="markers", name=name, showlegend=False, meta=metric,
                marker=dict(symbol=symbol, size=14, color=[colour(s) for s in strategies],
                            line=dict(width=2, color=[colour(s) for s in strategies])),
                hovertemplate=f"{'first token' if key == 'ttft' else 'total'} {name}: %{{x:.2f}} s<extra></extra>",
            ), row=1, col=col)
        slowest = markers[-1][0]
        p95 = [None if q else _mean(result, s, markers[1][0]) for s, q in zip(strategies, sat)]
        ends = [None if q else _mean(result, s, slowest) for s, q in zip(strategies, sat)]
        fig.add_trace(go.Scatter(
            x=[e if e is not None else 0.0 for e in ends], y=ticks, mode="text", textposition="middle right",
            text=[f"  {SATURATED}" if q else (f"  p95 {formats.duration(v, 2)}" if v is not None
                                               else f"  {short_reason(result.feasibility.get(s)) or 'n/a'}")
                  for s, q, v in zip(strategies, sat, p95)],
            textfont=dict(size=13), cliponaxis=False, showlegend=False, hoverinfo="skip", meta=f"{key}_text",
        ), row=1, col=col)
        top = max(tops or [1.0])
        # room right of the slowest marker for its "p95 0.95 s" label (about a third of the panel)
        fig.update_xaxes(range=[0, top * 1.55], rangemode="tozero", showgrid=True, gridcolor="#E5E5E5", nticks=5,
                         row=1, col=col)
    for name, symbol in PERCENTILE_SYMBOLS.items():  # legend keys in neutral ink: the colour is the strategy
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=name, meta=f"legend:{name}",
            marker=dict(symbol=symbol, size=12, color="#555555", line=dict(width=2, color="#555555")),
        ), row=1, col=2)
    shares = [_mean(result, s, "queue_share") for s in strategies]
    fig.add_trace(go.Bar(
        x=[w if queueing else None for w in waits], y=ticks, orientation="h",
        marker=dict(color=[colour(s) for s in strategies]),
        text=[("" if not queueing else SATURATED if q else
               f"{formats.duration(w)} ({formats.share(r or 0.0, digits=0)})" if w is not None
               else short_reason(result.feasibility.get(s)) or "n/a")
              for s, q, w, r in zip(strategies, sat, waits, shares)],
        textposition="outside", cliponaxis=False, showlegend=False, meta="queue_wait_mean_s",
        hovertemplate="Mean wait for a slot: %{x:.3f} s<extra></extra>",
    ), row=1, col=3)
    top_wait = max([w for w in waits if w is not None] or [0.0])
    fig.update_xaxes(range=[0, max(top_wait, 0.05) * 2.4], nticks=3, visible=queueing, row=1, col=3)
    for axis, domain in zip(("xaxis", "xaxis2", "xaxis3"), _LATENCY_DOMAINS if queueing else _LATENCY_DOMAINS_NO_QUEUE):
        fig.layout[axis].domain = domain
    for annotation, domain in zip(fig.layout.annotations, _LATENCY_DOMAINS if queueing else _LATENCY_DOMAINS_NO_QUEUE):
        annotation.x = (domain[0] + domain[1]) / 2  # subplot titles follow their panels
    _strategy_axis(fig, strategies, row=1, col=1)
    no_wait = None if queueing else "No request waited for a model slot or retrieval worker (queueing panel omitted)"
    fig = _layout(
        fig, "Latency by strategy", result, extra_lines=(saturation_line(result) or no_wait,), panel_title_lines=1,
        legend=dict(orientation="h", yanchor="top", y=-0.1, xanchor="left", x=0.0, title_text="Percentile:"),
        margin=dict(l=20, r=30, b=80),
    )
    fig.update_annotations(font=dict(size=PANEL_TITLE_FONT_PX))
    return fig


# --- freshness -------------------------------------------------------------------------

def freshness_figure(result: RunResult) -> go.Figure:
    """Share of fresh answers and how stale the stale ones were, by strategy.

    Left: share of completed answers whose knowledge held the fact's latest version, with
    its 95% interval. ``prompt_only`` is labelled ungrounded (its answers come from the base
    model, which is neither fresh nor stale). Right: mean and 95th percentile staleness age
    of the stale answers (time since the first change the answer missed); the axis is in a
    unit chosen for the largest value, each label in the unit its own value calls for
    ('37 s' beside '15 days', never '0.000432 days').
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
        # the label starts past the interval's upper end, not over its whisker (fine-tuning's wide interval)
        x=[max(f, c[1] if c is not None else f) * 100 if f is not None else 0 for f, c in zip(fresh, cis)], y=ticks, mode="text",
        text=[f"  {formats.share(f)}" if f is not None else f"  {why_missing(s)}" for s, f in zip(strategies, fresh)],
        textposition="middle right", textfont=dict(size=15), showlegend=False, hoverinfo="skip",
        cliponaxis=False, meta="fresh_text",
    ), row=1, col=1)
    ages_mean = [_mean(result, s, "staleness_age_mean_s") for s in strategies]
    ages_p95 = [_mean(result, s, "staleness_age_p95_s") for s in strategies]
    per, unit = formats.time_unit(max([a for a in ages_mean + ages_p95 if a is not None] or [60.0]))
    fig.add_trace(go.Bar(
        x=[None if a is None else a / per for a in ages_mean], y=ticks, orientation="h", name="Mean age",
        marker=dict(color=[colour(s) for s in strategies]), showlegend=False, meta="staleness_age_mean_s",
        customdata=[formats.duration(a) for a in ages_mean],
        hovertemplate="Mean staleness age: %{customdata}<extra></extra>",
    ), row=1, col=2)
    fig.add_trace(go.Scatter(
        x=[None if a is None else a / per for a in ages_p95], y=ticks, mode="markers", name="p95 age",
        marker=dict(symbol="line-ns", size=22, line=dict(width=3, color="#222222")), showlegend=False,
        meta="staleness_age_p95_s", customdata=[formats.duration(a) for a in ages_p95],
        hovertemplate="p95 staleness age: %{customdata}<extra></extra>",
    ), row=1, col=2)
    age_text = []
    for a, f in zip(ages_mean, fresh):
        if a is not None:
            age_text.append(f"  {formats.duration(a)}")
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
    fig = _layout(fig, "Freshness by strategy", result, panel_title_lines=2, margin=dict(l=20, r=30, b=70))
    fig.update_annotations(font=dict(size=PANEL_TITLE_FONT_PX))
    # the reading key sits under the panel title, clear of the axis tick labels
    fig.layout.annotations[1].text = f"Age when stale ({unit})<br><span style='font-size:13px;color:#555555'>bar: mean · tick: 95th percentile</span>"
    return fig


# --- timeline --------------------------------------------------------------------------

GROUNDED = ("rag", "fine_tune", "rag_fine_tune", "prompt_cache", "rag_prompt_cache")
# At most this many change ticks are drawn: a 1.5-px tick needs about 4 px of its own to stay
# apart from the next, and a slide's plot is about 1,000 px wide. Above it, the changes are
# counted in as many equal bins and each bin is one tick whose height and shade grow with
# its count (a density strip), so 8,223 changes no longer merge into a black bar.
MAX_CHANGE_TICKS = 250


def change_ticks(changes_at_s: np.ndarray, start_s: float, end_s: float,
                 max_ticks: int = MAX_CHANGE_TICKS) -> tuple[np.ndarray, np.ndarray]:
    """(tick times in s, changes per tick): every change when there are at most ``max_ticks``,
    else ``max_ticks`` equal bins over [start_s, end_s] (empty bins dropped), each at its centre
    with its count. The counts add up to the number of changes."""
    changes = np.asarray(changes_at_s, float)
    if changes.size <= max_ticks:
        return changes, np.ones(changes.size, dtype=int)
    edges = np.linspace(start_s, end_s, max_ticks + 1)
    counts, _ = np.histogram(changes, edges)
    centres = (edges[:-1] + edges[1:]) / 2
    keep = counts > 0
    return centres[keep], counts[keep]


def timeline_figure(result: RunResult, *, replication: int = 0, bins: int | None = None) -> go.Figure:
    """Fresh share over the simulated horizon, against the knowledge changes and the
    retrainings, re-indexes and cache rebuilds that catch up with them.

    One line per grounded strategy: the share of fresh answers among the queries that
    arrived in each time bin (``bins``, default about one per 100 queries, 8 to 60).
    Changes are ticks along the bottom (at most ``MAX_CHANGE_TICKS``: a density strip
    beyond, see ``change_ticks``); each knowledge-store event is a dashed vertical line in
    the colour of the strategy it serves. The subtitle counts the events, so a horizon too
    short to see a retraining says so; the legend sits to the right of the plot, clear of it.
    """
    s = result.scenario
    rep = result.replications[replication]
    strategies = [name for name in result.strategies if name in GROUNDED]
    all_arrivals = [result.records(n, replication)["arrival_at_s"] for n in strategies]
    all_arrivals = [a for a in all_arrivals if a.size]
    start = float(min(a[0] for a in all_arrivals)) if all_arrivals else 0.0
    end = float(max(a[-1] for a in all_arrivals)) if all_arrivals else 1.0
    end = max(end, start + 1.0)
    per, unit = formats.time_unit(end - start)
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
        dash = STRATEGY_DASHES.get(name, "solid")
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines", name=label(name),
            line=dict(color=colour(name), width=3 if dash == "solid" else 3.5, shape="hv", dash=dash),
            meta=name, hovertemplate=f"{label(name)}: %{{y:.1f}}% fresh<extra></extra>",
        ))
    timeline = rep.timeline
    changes = np.asarray(timeline.get("change", np.empty(0)), float)
    changes = changes[(changes >= start) & (changes <= end)]
    tick_at, per_tick = change_ticks(changes, start, end)
    binned = changes.size > MAX_CHANGE_TICKS
    biggest = int(per_tick.max()) if per_tick.size else 1
    fig.add_trace(go.Scatter(
        x=((tick_at - start) / per).tolist(), y=[-4.0] * tick_at.size, mode="markers",
        name="Knowledge changes" + (" (tick height: changes per bin)" if binned else ""),
        marker=dict(symbol="line-ns", size=(np.round(5 + 11 * per_tick / biggest).tolist() if binned else 12),
                    line=dict(width=1.5, color="#444444")), meta="change",
        customdata=per_tick.tolist(),
        hovertemplate=(f"%{{customdata}} changes around %{{x:.2f}} {unit}<extra></extra>" if binned
                       else f"change at %{{x:.2f}} {unit}<extra></extra>"),
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
    events = (f"{formats.duration(end - start)} simulated: {changes.size:,} knowledge changes"
              + (f"; {summary}" if summary else ""))
    lines = [events, model_line(s)]
    fig.update_layout(
        template=TEMPLATE_NAME,
        title=title_layout("Freshness over the simulated horizon", lines),
        legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.02, font=dict(size=13)),
        margin=dict(l=80, r=20, t=top_margin_px(len(lines)), b=70),
    )
    return fig


def _event_phrase(kind: str, count: int, scenario) -> str:
    """'0 retrains (every 30 days)': what the horizon shows of each applicable schedule."""
    k, ft, pc = scenario.knowledge, scenario.fine_tuning, scenario.prompt_cache
    names = scenario.simulation.strategies
    def plural(word: str) -> str:
        return word if count == 1 else word + "s"

    if kind == "retrain" and any(n in names for n in FINE_TUNED):
        return f"{count} {plural('retraining')} (every {formats.duration(ft.retrain_interval_days * SECONDS_PER_DAY)})"
    if kind == "reindex" and k.index_refresh == "batch":
        return f"{count} {'re-index' if count == 1 else 're-indexes'} (every {formats.duration(k.reindex_interval_s)})"
    if kind == "cache_rebuild" and pc.rebuild_policy == "periodic" and "prompt_cache" in names:
        return f"{count} {plural('cache rebuild')} (every {formats.duration(pc.rebuild_interval_s)})"
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
    Dimension("Cost per query", "cost_per_query_usd", "USD", "lower", formats.usd, "Per-query cost"),
    Dimension("Monthly cost", "monthly_cost_usd", "USD/month", "lower", lambda v: formats.usd(v, per="month"),
              "Setup and running cost"),
    Dimension("Latency p95", "latency_p95_s", "s", "lower", formats.duration, "Latency"),
    Dimension("First token p95", "ttft_p95_s", "s", "lower", formats.duration, "Latency"),
    Dimension("Fresh answers", "fresh_share", "share", "higher", formats.share, "Knowledge freshness"),
    Dimension("Quality proxy", "quality_proxy", "share", "higher", formats.share, "Best for (knowledge x behaviour)"),
    Dimension("Citable answers", "citable_share", "share", "higher", formats.share, "Citability"),
    Dimension("Retraining cost", "cost_training_monthly_usd", "USD/month", "lower", lambda v: formats.usd(v, per="month"),
              "Data changes"),
)

# Rows whose numbers are waiting times: not steady-state figures for a saturated strategy.
WAIT_METRICS: frozenset[str] = frozenset({"latency_p95_s", "ttft_p95_s"})

TIE_TOLERANCE_SHARE = 0.005  # values within 0.5% of the best tie: the table cannot tell them apart


def comparison_table(result: RunResult) -> pd.DataFrame:
    """The reference article's practical-comparison table, made quantitative for this scenario.

    One row per dimension (index: its label), columns: ``metric`` (the ``METRICS`` name),
    ``unit``, ``better`` ("lower" or "higher"), one column per strategy with the mean over
    replications (NaN where it does not apply, the strategy is infeasible, or it is
    saturated and the row is a latency), and ``best``: the winning strategies' names,
    comma-separated: every strategy not distinguishable from the best beyond noise is a
    winner too (its 95% interval overlaps the best's, or it is within 0.5% of it, e.g.
    every strategy without fine-tuning spends 0 on retraining). ``table.attrs`` holds the
    ``infeasible`` and ``saturated`` strategies, which ``format_comparison`` names in words.
    """
    strategies = result.strategies
    sat = {s for s in strategies if saturated(result, s)}
    rows = []
    for dim in COMPARISON_DIMENSIONS:
        hidden = sat if dim.metric in WAIT_METRICS else set()
        values = {s: None if s in hidden else _mean(result, s, dim.metric) for s in strategies}
        cis = {s: None if s in hidden else _ci(result, s, dim.metric) for s in strategies}
        row: dict[str, Any] = {"dimension": dim.label, "metric": dim.metric, "unit": dim.unit, "better": dim.better}
        row.update({s: (np.nan if v is None else v) for s, v in values.items()})
        row["best"] = ", ".join(winners(values, dim.better, cis))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("dimension")
    table.attrs["infeasible"] = [s for s in strategies if result.feasibility.get(s)]
    table.attrs["saturated"] = sorted(sat, key=strategies.index)
    return table


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
    """Text version of ``comparison_table`` for display: numbers in ``simlib.formats`` (with
    their period: '$152/month'), 'infeasible' down an infeasible strategy's column,
    'saturated' in a saturated strategy's latency rows, 'n/a' for what does not apply."""
    fmts = {d.label: d.fmt for d in COMPARISON_DIMENSIONS}
    waits = {d.label for d in COMPARISON_DIMENSIONS if d.metric in WAIT_METRICS}
    infeasible, sat = set(table.attrs.get("infeasible", ())), set(table.attrs.get("saturated", ()))
    out = pd.DataFrame(index=table.index)
    for s in strategies:
        cells = []
        for i, v in zip(table.index, table[s]):
            if s in infeasible:
                cells.append("infeasible")
            elif s in sat and i in waits:
                cells.append(SATURATED)
            else:
                cells.append("n/a" if pd.isna(v) else fmts[i](float(v)))
        out[label(s)] = cells
    for i in waits & set(table.index):  # a crowned 13 s beside an uncrowned 13 s: more digits
        row = [out.at[i, label(s)] for s in strategies]
        best = {w for w in str(table.at[i, "best"]).split(", ") if w}
        for digits in (3, 4, 5):
            if not _winner_reads_like_loser(row, strategies, best):
                break
            row = [c if s in infeasible or s in sat or pd.isna(v) else
                   formats.duration(float(v), digits, whole_from=math.inf) for s, v, c in zip(strategies, table.loc[i, strategies], row)]
        for s, c in zip(strategies, row):
            out.at[i, label(s)] = c
    out["Best"] = [", ".join(label(w) for w in str(b).split(", ") if w) for b in table["best"]]
    return out


def _winner_reads_like_loser(cells: list[str], strategies: list[str], best: set[str]) -> bool:
    """Whether a winning cell's text equals a losing one's (the crown would look arbitrary)."""
    won = {c for s, c in zip(strategies, cells) if s in best}
    return any(c in won for s, c in zip(strategies, cells) if s not in best and c not in ("n/a", "infeasible", SATURATED))


# The table figure's geometry, in px: fixed row heights so the table's height is known, and
# column widths (relative) chosen so no cell wraps at the slide's 1,280-px layout.
TABLE_HEADER_PX, TABLE_ROW_PX = 56, 34
TABLE_FONT_PX, TABLE_HEADER_FONT_PX = 14, 14
TABLE_BOTTOM_PX = 16
TABLE_MAX_SUBTITLE_LINES = 4  # scenario, models, how to read it, saturation
TABLE_COLUMN_WIDTHS = (1.3, 1.1, 1.8)  # relative: dimension, each strategy, best
TABLE_LAYOUT_WIDTH_PX = 1280  # the slide layout (export.SLIDE_WIDTH_PX / LAYOUT_ZOOM), the narrowest it is drawn at


def comparison_height_px(rows: int = len(COMPARISON_DIMENSIONS)) -> int:
    """Height the comparison figure needs so nothing is clipped: title block (with the most
    subtitle lines it can have), header, ``rows`` rows and a bottom margin."""
    return top_margin_px(TABLE_MAX_SUBTITLE_LINES) + TABLE_HEADER_PX + rows * TABLE_ROW_PX + TABLE_BOTTOM_PX + 8


def best_column_px(strategies_count: int) -> float:
    """Width of the 'Best' column at the slide layout, in px (margins of 20 px each side)."""
    dim_w, strategy_w, best_w = TABLE_COLUMN_WIDTHS
    return (TABLE_LAYOUT_WIDTH_PX - 40) * best_w / (dim_w + best_w + strategy_w * strategies_count)


def best_cell(names: list[str], strategies_count: int) -> str:
    """The 'Best' column: the winners' display names when they fit on one line, else how
    many tie ('4 tied (green)': the shaded cells name them), so no row grows and clips."""
    text = ", ".join(label(n) for n in names) or "-"
    if len(names) > 1 and text_width_px(text, TABLE_FONT_PX) > best_column_px(strategies_count) - 8:
        return f"{len(names)} tied (green)"
    return text


def comparison_figure(result: RunResult, *, highlight: str | None = None) -> go.Figure:
    """The practical-comparison table as a figure: strategies as columns (headed in their
    colours), the winner of each row highlighted, and a last column naming it.
    ``highlight``: a strategy whose column header is starred (a recommendation).

    Rows have a fixed height and no cell wraps (header names may take the header's two
    lines), so ``comparison_height_px`` is the height
    that shows every row (the dashboard draws it at that height; a slide has room to spare).
    """
    strategies = result.strategies
    table = comparison_table(result)
    text = format_comparison(table, strategies)
    win_fill, plain, alt = "#DFF2E1", "white", "#F7F7F7"
    fills = [[alt if i % 2 else plain for i in range(len(table))]]
    for s in strategies:
        col = []
        for i, best in enumerate(table["best"]):
            col.append(win_fill if s in str(best).split(", ") else (alt if i % 2 else plain))
        fills.append(col)
    fills.append([alt if i % 2 else plain for i in range(len(table))])
    bold = [[f"<b>{x}</b>" for x in table.index]]
    best = [best_cell([w for w in str(b).split(", ") if w], len(strategies)) for b in table["best"]]
    header_fill = ["#333333"] + [colour(s) for s in strategies] + ["#333333"]
    fig = go.Figure(go.Table(
        columnwidth=[TABLE_COLUMN_WIDTHS[0]] + [TABLE_COLUMN_WIDTHS[1]] * len(strategies) + [TABLE_COLUMN_WIDTHS[2]],
        header=dict(values=["<b>Dimension</b>"] + [f"<b>{'★ ' if s == highlight else ''}{label(s)}</b>"
                                                   for s in strategies] + ["<b>Best</b>"],
                    fill_color=header_fill, font=dict(color="white", size=TABLE_HEADER_FONT_PX), align="center",
                    height=TABLE_HEADER_PX),
        cells=dict(values=bold + [text[label(s)].tolist() for s in strategies] + [best],
                   fill_color=fills, font=dict(size=TABLE_FONT_PX, color="#222222"),
                   align=["left"] + ["center"] * (len(strategies) + 1),
                   height=TABLE_ROW_PX, line=dict(color="#DDDDDD")),
    ))
    how = "green: best in the row, several where not distinguishable beyond noise (95% intervals overlap, or within 0.5%)"
    return _layout(fig, "Practical comparison", result, extra_lines=(how, saturation_line(result)),
                   margin=dict(l=20, r=20, b=TABLE_BOTTOM_PX))


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
