"""Charts of sweeps and side-by-side runs for the story notebooks (03 freshness, 04 caching).

Pure functions: a ``simlib.sweep.SweepResult`` (its tidy ``table``) or a few ``RunResult``
objects in, a ``go.Figure`` out, in the shared theme (one colour per strategy; variants of
one strategy differ by dash or marker, never by colour).

- ``tradeoff_chart``: metrics against one swept field, a line per strategy with its 95%
  interval as a band (retrain interval against fresh share and cost, say);
- ``hit_rate_chart``: simulated cache hit rates on the closed-form curve
  ``1 - exp(-L T)`` (L arrivals per second per prefix, T the TTL in seconds);
- ``variants_chart``: one strategy's metric against a swept field, one line per variant
  (5-minute against 1-hour cache entries);
- ``runs_bar_chart``: a few labelled runs side by side (explicit against automatic caching).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simlib.charts.theme import TEMPLATE_NAME, colour, label, metric_title
from simlib.results import METRICS, RunResult
from simlib.scenario import SECONDS_PER_DAY

DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
SYMBOLS = ("circle", "diamond", "square", "triangle-up", "x")


def _scale(metric: str) -> float:
    unit = METRICS[metric].unit if metric in METRICS else ""
    return 100.0 if unit == "share" else 1.0


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _finish(fig: go.Figure, title: str, subtitle: str = "", *, legend_below: bool = False) -> go.Figure:
    """Theme, title and legend: above the plot, or below it when panels carry their own titles."""
    legend = (dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0) if legend_below
              else dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0))
    fig.update_layout(template=TEMPLATE_NAME,
                      title=dict(text=title, subtitle=dict(text=subtitle, font=dict(size=14, color="#555555"))),
                      legend=legend, margin=dict(l=80, r=30, t=130 if not legend_below else 110,
                                                 b=130 if legend_below else 70))
    fig.update_annotations(font=dict(size=16))
    return fig


def tradeoff_chart(sweep, axis: str, metrics: Sequence[str], *, strategies: Sequence[str] | None = None,
                   x_title: str | None = None, x_per_unit: float = 1.0, log_x: bool = True, title: str = "",
                   subtitle: str = "") -> go.Figure:
    """One panel per metric against the swept ``axis``; a line per strategy with a 95% band.

    ``x_per_unit`` converts the axis (a field in seconds shown in hours: 3600).
    """
    table = sweep.table
    names = list(strategies) if strategies is not None else list(dict.fromkeys(table["strategy"]))
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[metric_title(m) for m in metrics],
                        horizontal_spacing=0.1)
    for col, metric in enumerate(metrics, start=1):
        k = _scale(metric)
        for s in names:
            t = table[(table["metric"] == metric) & (table["strategy"] == s)].sort_values(axis)
            t = t[t["mean"].notna()]
            if t.empty:
                continue
            x = (t[axis].astype(float) / x_per_unit).tolist()
            if t["ci_low"].notna().all() and t["ci_high"].notna().all():
                low, high = t["ci_low"] * k, t["ci_high"] * k
                if k == 100.0:  # a share's interval stays within 0-100%
                    low, high = low.clip(0, 100), high.clip(0, 100)
                fig.add_trace(go.Scatter(
                    x=x + x[::-1], y=high.tolist() + low.tolist()[::-1], mode="lines",
                    fill="toself", fillcolor=_rgba(colour(s), 0.18), line=dict(width=0), hoverinfo="skip",
                    showlegend=False, meta=f"band:{s}:{metric}"), row=1, col=col)
            fig.add_trace(go.Scatter(
                x=x, y=(t["mean"] * k).tolist(), mode="lines+markers", name=label(s), legendgroup=s,
                showlegend=col == 1, line=dict(color=colour(s), width=3), marker=dict(size=8),
                meta=f"{s}:{metric}", hovertemplate=f"{label(s)}: %{{y:.3g}} at %{{x:.3g}}<extra></extra>"),
                row=1, col=col)
        fig.update_xaxes(title_text=x_title or axis, type="log" if log_x else "linear", showgrid=True,
                         gridcolor="#EEEEEE", row=1, col=col)
        fig.update_yaxes(rangemode="tozero", row=1, col=col)
    return _finish(fig, title or f"{', '.join(metric_title(m) for m in metrics)} against {x_title or axis}", subtitle,
                   legend_below=len(metrics) > 1)


def closed_form_hit_rate(arrivals_per_ttl: np.ndarray | float) -> np.ndarray | float:
    """Steady-state hit rate of a refreshed-TTL cache under Poisson arrivals: 1 - exp(-L T),
    with L T the expected arrivals per TTL (docs/model.md, Provider prompt cache)."""
    return 1.0 - np.exp(-np.asarray(arrivals_per_ttl, float))


def hit_rate_chart(sweep, *, strategy: str = "rag_prompt_cache", rate_axis: str = "workload.queries_per_day",
                   ttl_axis: str = "prompt_cache.ttl_s", prefixes: int = 1, title: str = "") -> go.Figure:
    """Simulated cache hit rates (markers, one symbol per TTL) on the curve 1 - exp(-L T).

    L = queries_per_day / 86,400 / ``prefixes`` (arrivals per second per cached prefix).
    """
    table = sweep.table
    t = table[(table["metric"] == "cache_hit_rate") & (table["strategy"] == strategy)].copy()
    t["arrivals_per_ttl"] = t[rate_axis].astype(float) / SECONDS_PER_DAY / prefixes * t[ttl_axis].astype(float)
    fig = go.Figure()
    top = max(float(t["arrivals_per_ttl"].max()) if len(t) else 10.0, 5.0)
    xs = np.logspace(math.log10(max(float(t["arrivals_per_ttl"].min()) if len(t) else 0.01, 1e-3) / 2), math.log10(top * 2), 120)
    fig.add_trace(go.Scatter(x=xs.tolist(), y=(closed_form_hit_rate(xs) * 100).tolist(), mode="lines",
                             name="1 - exp(-L·T), closed form", line=dict(color="#444444", width=2, dash="dash"),
                             meta="closed_form", hoverinfo="skip"))
    for i, (ttl, group) in enumerate(t.groupby(ttl_axis)):
        group = group.sort_values("arrivals_per_ttl")
        err = None
        if group["ci_low"].notna().all():
            err = dict(type="data", symmetric=False, array=((group["ci_high"] - group["mean"]) * 100).tolist(),
                       arrayminus=((group["mean"] - group["ci_low"]) * 100).tolist(), color=colour(strategy))
        fig.add_trace(go.Scatter(
            x=group["arrivals_per_ttl"].tolist(), y=(group["mean"] * 100).tolist(), mode="markers",
            name=f"{label(strategy)}, simulated, TTL {ttl / 60:g} min", error_y=err, meta=f"ttl:{ttl:g}",
            marker=dict(color=colour(strategy), symbol=SYMBOLS[i % len(SYMBOLS)], size=12,
                        line=dict(width=1.5, color="white")),
            hovertemplate="L·T = %{x:.3g}: hit rate %{y:.1f}%<extra></extra>"))
    fig.update_xaxes(type="log", title_text="L·T: arrivals per prefix during one TTL", showgrid=True, gridcolor="#EEEEEE")
    fig.update_yaxes(title_text="Cache hit rate (%)", range=[0, 104])
    return _finish(fig, title or "Prompt-cache hit rate: simulation on the closed form",
                   "L = arrivals per second per cached prefix, T = entry lifetime (s); a hit refreshes the entry")


def variants_chart(sweep, axis: str, variant_axis: str, metric: str, *, strategy: str,
                   variant_labels: Mapping[float, str] | None = None, x_title: str | None = None,
                   log_x: bool = True, title: str = "") -> go.Figure:
    """One strategy's metric against ``axis``, one line (dash) per value of ``variant_axis``."""
    table = sweep.table
    t = table[(table["metric"] == metric) & (table["strategy"] == strategy)]
    k = _scale(metric)
    fig = go.Figure()
    for i, (variant, group) in enumerate(t.groupby(variant_axis)):
        group = group.sort_values(axis)
        name = (variant_labels or {}).get(variant, f"{variant_axis.split('.')[-1]} = {variant:g}")
        fig.add_trace(go.Scatter(
            x=group[axis].astype(float).tolist(), y=(group["mean"] * k).tolist(), mode="lines+markers",
            name=f"{label(strategy)}, {name}", meta=f"variant:{variant:g}",
            line=dict(color=colour(strategy), width=3, dash=DASHES[i % len(DASHES)]),
            marker=dict(symbol=SYMBOLS[i % len(SYMBOLS)], size=9)))
    fig.update_xaxes(type="log" if log_x else "linear", title_text=x_title or axis, showgrid=True, gridcolor="#EEEEEE")
    fig.update_yaxes(title_text=metric_title(metric), rangemode="tozero")
    return _finish(fig, title or f"{metric_title(metric)} of {label(strategy)}")


def runs_bar_chart(results: Mapping[str, RunResult], metrics: Sequence[str], *, strategies: Sequence[str],
                   title: str = "", subtitle: str = "") -> go.Figure:
    """A few labelled runs side by side: one panel per metric, runs on the x axis, a bar
    per strategy in its colour (value labels on the bars; infeasible runs left empty)."""
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[metric_title(m) for m in metrics],
                        horizontal_spacing=0.1)
    runs = list(results)
    for col, metric in enumerate(metrics, start=1):
        k = _scale(metric)
        for s in strategies:
            ys = []
            for r in results.values():
                entry = r.summary().get(s)
                v = entry[metric]["mean"] if entry and entry["feasible"] else None
                ys.append(None if v is None else v * k)
            fig.add_trace(go.Bar(x=runs, y=ys, name=label(s), legendgroup=s, showlegend=col == 1,
                                 marker=dict(color=colour(s)), meta=f"{s}:{metric}",
                                 text=[("" if y is None else f"{y:.3g}") for y in ys], textposition="outside",
                                 cliponaxis=False), row=1, col=col)
        fig.update_yaxes(rangemode="tozero", row=1, col=col)
    fig.update_layout(barmode="group")
    return _finish(fig, title or "Side by side", subtitle, legend_below=True)
