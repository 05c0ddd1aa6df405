"""Trace charts: a trace's load over time, its prefix reuse, and runs under it vs Poisson.

Pure functions (no simulation, no files): data in, ``go.Figure`` out, in the shared theme.

    load_over_time(load_trace("azure-conv"))             # requests/s and tokens/s per bin
    prefix_reuse_by_ttl(prefix_reuse_curve(trace, ttls)) # how much reuse a TTL keeps
    trace_vs_poisson({"trace": run_a, "Poisson": run_b}) # p95 latency, cache hits, cost
    runs_table({"trace": run_a, "Poisson": run_b})       # the same numbers as a table

The load chart draws, beside the trace's requests per second, the band a Poisson stream of
the same mean rate L would stay in 95% of the time: counts in a bin of w seconds are
Poisson(L w), so the band is [q_0.025, q_0.975] of Poisson(L w), divided by w. Bins outside
the band are the burstiness a Poisson model leaves out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simlib.charts.theme import NEUTRAL_INK, NEUTRAL_LIGHT, TEMPLATE_NAME, colour, label
from simlib.formats import time_unit

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

# A trace is not a strategy: its load is drawn in neutral ink, never in a strategy's colour.
TRACE_COLOUR = NEUTRAL_INK
BAND_COLOUR = "rgba(140, 140, 140, 0.3)"  # light grey: the Poisson band
RUN_PATTERNS = ("", "/", ".", "x")  # first run solid, the next ones hatched

DEFAULT_METRICS: tuple[tuple[str, str], ...] = (
    ("latency_p95_s", "p95 latency (s)"),
    ("cache_hit_rate", "cache hit rate (requests)"),
    ("cache_hit_token_share", "prompt tokens read from cache"),
    ("cost_per_query_usd", "cost per query (USD)"),
)


def _nice_bin_s(span_s: float, bins: int = 60) -> float:
    """A round bin width giving about ``bins`` bins over the span."""
    raw = max(span_s / bins, 1.0)
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400):
        if step >= raw:
            return float(step)
    return float(math.ceil(raw / 86400) * 86400)


def load_over_time(source: Any, *, bin_s: float | None = None, title: str | None = None) -> go.Figure:
    """Requests, input and output tokens per second over time, in bins of ``bin_s``.

    ``source`` is a ``simlib.traces.Trace`` or ``Replay`` (anything with ``timestamp_s`` or
    ``arrival_at_s``, ``input_tokens`` and ``output_tokens``). The shaded band on the
    top panel is where a Poisson stream of the same mean rate stays 95% of the time.
    """
    from scipy import stats

    t = np.asarray(source.arrival_at_s if hasattr(source, "arrival_at_s") else source.timestamp_s, float)
    inp = np.asarray(source.input_tokens, float)
    out = np.asarray(source.output_tokens, float)
    span = float(t[-1] - t[0]) if t.size > 1 else 1.0
    w = float(bin_s) if bin_s else _nice_bin_s(span)
    edges = np.arange(0.0, max(span, w) + w, w) + float(t[0]) if t.size else np.array([0.0, w])
    counts, _ = np.histogram(t, edges)
    inp_s, _ = np.histogram(t, edges, weights=inp)
    out_s, _ = np.histogram(t, edges, weights=out)
    per, unit = time_unit(edges[-1] - edges[0])
    x = (edges[:-1] + w / 2) / per
    rate = (t.size - 1) / span if t.size > 1 and span > 0 else t.size / w
    lo, hi = stats.poisson.ppf([0.025, 0.975], rate * w) / w
    outside = float(np.mean((counts / w < lo) | (counts / w > hi))) if counts.size else 0.0

    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("Requests per second", "Input tokens per second", "Output tokens per second"))
    fig.add_trace(go.Scatter(x=[x[0], x[-1], x[-1], x[0]], y=[lo, lo, hi, hi], fill="toself", fillcolor=BAND_COLOUR,
                             mode="lines", line=dict(width=0), name=f"Poisson, same mean rate (95% of {w:g}-s bins)",
                             hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=counts / w, marker_color=TRACE_COLOUR, name="trace",
                         hovertemplate="%{y:.2f} requests/s<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[x[0], x[-1]], y=[rate, rate], mode="lines", line=dict(color="#444444", dash="dash"),
                             name=f"mean {rate:.2f} requests/s"), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=inp_s / w, marker_color=TRACE_COLOUR, showlegend=False,
                         hovertemplate="%{y:,.0f} input tokens/s<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Bar(x=x, y=out_s / w, marker_color=TRACE_COLOUR, showlegend=False,
                         hovertemplate="%{y:,.0f} output tokens/s<extra></extra>"), row=3, col=1)
    name = getattr(getattr(source, "trace", source), "name", "trace")
    fig.update_layout(
        template=TEMPLATE_NAME,
        title=title or f"{name}: load over time<br><sup>{outside:.0%} of {w:g}-s bins outside the Poisson band</sup>",
        bargap=0.05, height=720, legend=dict(orientation="h", y=-0.12),
    )
    fig.update_yaxes(title_text="requests/s", row=1, col=1)
    fig.update_yaxes(title_text="tokens/s", row=2, col=1)
    fig.update_yaxes(title_text="tokens/s", row=3, col=1)
    fig.update_xaxes(title_text=f"time from the first request ({unit})", row=3, col=1)
    return fig


def prefix_reuse_by_ttl(curve: Any, *, title: str | None = None) -> go.Figure:
    """Share of the trace's prompt tokens reused from the cache, against the cache TTL.

    ``curve`` is ``simlib.trace_reuse.prefix_reuse_curve(trace, ttls_s)``; an infinite TTL is
    drawn as a dashed line (the trace's own reuse figure).
    """
    finite = curve[np.isfinite(curve["ttl_s"])]
    infinite = curve[~np.isfinite(curve["ttl_s"])]
    fig = go.Figure()
    series = (("token_share", "token-weighted", NEUTRAL_INK), ("request_mean_share", "mean per request", NEUTRAL_LIGHT))
    for column, name, col in series:
        fig.add_trace(go.Scatter(x=finite["ttl_s"] / 60.0, y=finite[column], mode="lines+markers", name=name,
                                 line=dict(color=col), hovertemplate="TTL %{x:.3g} min: %{y:.1%}<extra></extra>"))
        if len(infinite) and len(finite):
            y = float(infinite[column].iloc[0])
            fig.add_trace(go.Scatter(x=[finite["ttl_s"].min() / 60.0, finite["ttl_s"].max() / 60.0], y=[y, y],
                                     mode="lines", line=dict(color=col, dash="dash"),
                                     name=f"{name}, infinite TTL: {y:.1%}", hoverinfo="skip"))
    fig.update_layout(template=TEMPLATE_NAME, title=title or "Prompt tokens reused from the cache, by TTL",
                      xaxis=dict(type="log", title="cache TTL (minutes, log scale)",
                                 tickvals=list(finite["ttl_s"] / 60.0), ticktext=[f"{v / 60:g}" for v in finite["ttl_s"]]),
                      yaxis=dict(title="share of the trace's prompt tokens", tickformat=".0%", rangemode="tozero"),
                      legend=dict(orientation="h", y=-0.25), margin=dict(b=140))
    return fig


def runs_table(results: dict[str, Any], metrics: Sequence[tuple[str, str]] = DEFAULT_METRICS) -> "pd.DataFrame":
    """Per-strategy metric means of several runs: rows = strategies, columns = (metric, run label).

    Infeasible strategies and metrics that do not apply are NaN (shown blank), never zero.
    """
    import pandas as pd

    first = next(iter(results.values()))
    strategies = [s for s in first.strategies if first.feasibility.get(s) is None]
    columns, data = [], []
    for metric, title in metrics:
        for run_label, result in results.items():
            summary = result.summary()
            columns.append((title, run_label))
            values = []
            for s in strategies:
                mean = summary.get(s, {}).get(metric, {}).get("mean")
                values.append(float("nan") if mean is None else float(mean))
            data.append(values)
    frame = pd.DataFrame(np.array(data).T, index=[label(s) for s in strategies],
                         columns=pd.MultiIndex.from_tuples(columns, names=["metric", "run"]))
    frame.index.name = "strategy"
    return frame


def trace_vs_poisson(results: dict[str, Any], metrics: Sequence[tuple[str, str]] = DEFAULT_METRICS, *,
                     title: str | None = None) -> go.Figure:
    """Per-strategy metrics of several runs side by side (e.g. the trace and its Poisson twin).

    ``results`` maps a run label to a ``RunResult``; bars are coloured by strategy, the
    first run solid, the others hatched; whiskers are 95% intervals where the run has them.
    A metric that does not apply (cache hits without a cache) leaves its bar out.
    """
    runs = list(results.items())
    first = runs[0][1]
    strategies = [s for s in first.strategies if first.feasibility.get(s) is None]
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[m[1] for m in metrics], horizontal_spacing=0.07)
    for r, (run_label, result) in enumerate(runs):
        summary = result.summary()
        for c, (metric, _) in enumerate(metrics, start=1):
            ys, lows, highs = [], [], []
            for s in strategies:
                v = summary.get(s, {}).get(metric, {"mean": None, "ci95": None})
                mean = v["mean"]
                ys.append(mean)
                ci = v["ci95"]
                lows.append(mean - ci[0] if ci and mean is not None else 0.0)
                highs.append(ci[1] - mean if ci and mean is not None else 0.0)
            fig.add_trace(go.Bar(
                x=[label(s) for s in strategies], y=ys, name=run_label, legendgroup=run_label, showlegend=c == 1,
                marker=dict(color=[colour(s) for s in strategies], pattern_shape=RUN_PATTERNS[r % len(RUN_PATTERNS)],
                            opacity=1.0 if r == 0 else 0.6, line=dict(color="#333333", width=1)),
                error_y=dict(type="data", array=highs, arrayminus=lows, visible=any(highs)),
                hovertemplate=f"{run_label}<br>%{{x}}: %{{y:.4g}}<extra></extra>",
            ), row=1, col=c)
    for c, (metric, _) in enumerate(metrics, start=1):
        if metric.endswith("_share") or metric.endswith("_rate"):
            fig.update_yaxes(tickformat=".0%", row=1, col=c)
    labels = " vs ".join(k for k, _ in runs)
    fig.update_layout(template=TEMPLATE_NAME, barmode="group", height=580, width=max(900, 330 * len(metrics)),
                      title=title or f"{first.scenario.name}: {labels}",
                      legend=dict(orientation="h", x=1.0, xanchor="right", y=1.16, yanchor="bottom"),
                      margin=dict(t=130, b=150))
    fig.update_xaxes(tickangle=-35)
    return fig
