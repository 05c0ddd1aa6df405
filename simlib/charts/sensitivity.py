"""Charts of many runs: cost curves with break-even points, the cheapest-strategy map, a tornado.

Pure functions: tidy tables in (a sweep's ``table`` or a ``SweepResult``, break-evens from
``simlib.analysis``), ``plotly.graph_objects.Figure`` out, in the shared theme (one colour
per strategy, units in axis titles, legible on a 16:9 slide). Nothing here simulates.

    cost_curves_chart(sweep_result, axis="workload.queries_per_day", break_evens=found)
    cheapest_map_chart(sweep_result, x="workload.queries_per_day", y="knowledge.changes_per_day")
    tornado_chart(sensitivity_table, strategy="rag", metric="cost_per_query_usd")
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from simlib import formats
from simlib.charts.theme import STRATEGY_COLOURS, TEMPLATE_NAME, colour, label, metric_name, metric_title
from simlib.results import METRICS

AXIS_LABELS: dict[str, str] = {
    "workload.queries_per_day": "Queries per day",
    "knowledge.changes_per_day": "Knowledge changes per day",
    "fine_tuning.retrain_interval_days": "Retraining interval (days)",
    "prompt_cache.ttl_s": "Cache TTL (s)",
    "knowledge.index_lag_s": "Indexing lag (s)",
    "knowledge.facts_count": "Facts in the knowledge base",
    "workload.query_tokens_mean": "Query length (tokens)",
    "workload.output_tokens_mean": "Answer length (tokens)",
    "retrieval.top_k": "Chunks retrieved (top k)",
    "retrieval.chunk_tokens": "Chunk size (tokens)",
    "prices.input_usd_per_mtok": "Input price (USD / M tokens)",
    "prices.output_usd_per_mtok": "Output price (USD / M tokens)",
    "fine_tuning.paraphrases_per_fact": "Paraphrases per fact",
    "prompt_cache.read_multiplier": "Cache read price (x input)",
    "model.concurrency_limit": "Model concurrency (slots)",
}

def axis_label(path: str) -> str:
    """A field path as an axis title (with its unit)."""
    if path in AXIS_LABELS:
        return AXIS_LABELS[path]
    name = path.split(".")[-1]
    for suffix, unit in (("_per_day", " per day"), ("_usd_per_mtok", " (USD / M tokens)"), ("_tokens", " (tokens)"),
                         ("_days", " (days)"), ("_share", " (share)"), ("_s", " (s)")):
        if name.endswith(suffix):
            return name[: -len(suffix)].replace("_", " ").capitalize() + unit
    return name.replace("_", " ").capitalize()


def metric_label(metric: str) -> str:
    """Axis title of a metric on these charts: shares are plotted in % (as on the dashboard)."""
    return metric_title(metric)


def _percent(metric: str) -> float:
    """100 for a share (plotted in %), else 1: 'Fresh answers (%)' reads 99.8, never 0.998."""
    return 100.0 if metric in METRICS and METRICS[metric].unit == "share" else 1.0


def value_text(metric: str, value: float | None) -> str:
    """A metric's value in words (``simlib.formats``): '$0.0123', '99.8%', '1.3 s', '2.5k'."""
    unit = METRICS[metric].unit if metric in METRICS else ""
    if unit == "share":
        return formats.share(value)
    if unit.startswith("USD"):
        return formats.usd(value, per="month" if unit == "USD/month" else None)
    if unit == "s":
        return formats.duration(value)
    return formats.count(value)


def _table(obj: Any) -> pd.DataFrame:
    return getattr(obj, "table", obj)


def _fmt(v: float) -> str:
    return formats.count(v)


def short_number(v: Any) -> str:
    """A compact tick label (``formats.count``): 1,500 -> '1.5k', 2e6 -> '2M', 0.25 -> '0.25'."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return formats.count(x)


def cost_curves_chart(sweep: Any, axis: str, metric: str = "monthly_cost_usd", *, break_evens: Sequence[Any] = (),
                      strategies: Sequence[str] | None = None, log_x: bool | None = None, log_y: bool = False,
                      title: str | None = None) -> go.Figure:
    """A metric against one swept field, one line per strategy (95% band), break-evens marked.

    ``sweep``: a SweepResult (or its table) with ``axis`` among its columns; other axes, if
    any, should be fixed (the first value of each is used). ``break_evens``: BreakEven
    objects (simlib.analysis) for this axis and metric, drawn as points with their interval.
    """
    t = _table(sweep)
    t = t[t["metric"] == metric]
    others = [c for c in t.columns if c not in ("point", "strategy", "metric", "mean", "ci_low", "ci_high", "unit",
                                                 "feasible", axis)]
    for c in others:  # a slice: other axes at their first value
        t = t[t[c] == t[c].iloc[0]] if len(t) else t
    names = [s for s in (strategies or list(dict.fromkeys(t["strategy"])))]
    k = _percent(metric)
    fig = go.Figure()
    for s in names:
        g = t[(t["strategy"] == s) & t["feasible"].astype(bool)].sort_values(axis)
        g = g[g["mean"].notna()]
        if g.empty:
            continue
        x = g[axis].astype(float).to_numpy()
        if g["ci_low"].notna().all() and g["ci_high"].notna().all():
            fig.add_trace(go.Scatter(
                x=np.concatenate([x, x[::-1]]), y=np.concatenate([g["ci_high"], g["ci_low"][::-1]]) * k,
                fill="toself", fillcolor=_rgba(colour(s), 0.15), line=dict(width=0), hoverinfo="skip",
                showlegend=False, legendgroup=s, name=f"{label(s)} 95%",
            ))
        fig.add_trace(go.Scatter(
            x=x, y=g["mean"] * k, mode="lines+markers", name=label(s), legendgroup=s,
            line=dict(color=colour(s), width=3), marker=dict(size=6),
            hovertemplate=f"{label(s)}<br>{axis_label(axis)}: %{{x:,.4g}}<br>{metric_label(metric)}: %{{y:,.4g}}<extra></extra>",
        ))
    for be in break_evens:
        if getattr(be, "at", None) is None:
            continue
        ci = be.ci95
        y = _interp(t, be.a, axis, be.at) * k
        fig.add_trace(go.Scatter(
            x=[be.at], y=[y], mode="markers+text", showlegend=False, text=[short_number(be.at)],
            textposition="top center", textfont=dict(size=13),
            marker=dict(symbol="diamond", size=13, color="white", line=dict(color="#222222", width=2)),
            error_x=dict(type="data", symmetric=False, array=[ci[1] - be.at], arrayminus=[be.at - ci[0]],
                         color="#222222", thickness=1.5) if ci else None,
            hovertemplate=(f"{label(be.a)} = {label(be.b)}<br>{axis_label(axis)}: {_fmt(be.at)}"
                           + (f" (95%: {_fmt(ci[0])} to {_fmt(ci[1])})" if ci else "") + "<extra></extra>"),
            name=f"{label(be.a)} = {label(be.b)}",
        ))
    fig.update_layout(
        template=TEMPLATE_NAME, title=title or f"{metric_name(metric)} against {axis_label(axis).lower()}",
        xaxis_title=axis_label(axis), yaxis_title=metric_label(metric), hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0.0),
    )
    fig.update_xaxes(type="log" if _is_log(t, axis, log_x) else "linear")
    fig.update_yaxes(type="log" if log_y else "linear", rangemode="tozero" if not log_y else None)
    return fig


def _is_log(t: pd.DataFrame, axis: str, log_x: bool | None) -> bool:
    if log_x is not None:
        return log_x
    x = pd.to_numeric(t[axis], errors="coerce").dropna() if axis in t else pd.Series(dtype=float)
    return bool(len(x) and (x > 0).all() and x.max() / x.min() >= 50)


def _interp(t: pd.DataFrame, strategy: str, axis: str, x: float) -> float:
    g = t[t["strategy"] == strategy].sort_values(axis)
    xs, ys = g[axis].astype(float).to_numpy(), g["mean"].astype(float).to_numpy()
    if len(xs) == 0:
        return math.nan
    if (xs > 0).all():
        return float(np.interp(math.log(x), np.log(xs), ys))
    return float(np.interp(x, xs, ys))


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def cheapest_map_chart(sweep: Any, x: str, y: str, metric: str = "monthly_cost_usd", *,
                       strategies: Sequence[str] | None = None, lower_is_better: bool = True,
                       title: str | None = None) -> go.Figure:
    """A map over two swept fields coloured by the best strategy at each point.

    Cells are the sweep's points (axes shown as categories, in increasing order); hover shows
    the best strategy, its value, the runner-up and the margin; a cell is hatched ("~")
    when the best and the runner-up's 95% intervals overlap (not a clear win).
    """
    from simlib.analysis import cheapest

    best = cheapest(sweep, metric=metric, strategies=strategies, lower_is_better=lower_is_better)
    xs = sorted(best[x].unique()) if len(best) else []
    ys = sorted(best[y].unique()) if len(best) else []
    names = [s for s in STRATEGY_COLOURS if s in set(best["best"])] if len(best) else []
    index = {s: i for i, s in enumerate(names)}
    z = np.full((len(ys), len(xs)), np.nan)
    text = np.full((len(ys), len(xs)), "", dtype=object)
    marks = np.full((len(ys), len(xs)), "", dtype=object)
    for row in best.itertuples(index=False):
        i, j = ys.index(getattr(row, _col(best, y))), xs.index(getattr(row, _col(best, x)))
        z[i, j] = index[row.best]
        runner = f"<br>runner-up: {label(row.runner_up)} {value_text(metric, row.runner_up_value)} (+{row.margin_share:.1%})" \
            if row.runner_up else ""
        text[i, j] = f"{label(row.best)}: {value_text(metric, row.best_value)}{runner}"
        marks[i, j] = "" if row.clear else "~"
    n = max(1, len(names))
    scale = []
    for k, s in enumerate(names):  # a discrete colour scale: band k for strategy k
        scale += [[k / n, colour(s)], [(k + 1) / n, colour(s)]]
    fig = go.Figure(go.Heatmap(
        z=z, x=[short_number(v) for v in xs], y=[short_number(v) for v in ys], zmin=-0.5, zmax=n - 0.5,
        colorscale=scale or [[0, "#FFFFFF"], [1, "#FFFFFF"]], showscale=False, xgap=1, ygap=1,
        customdata=text, hovertemplate=f"{axis_label(x)}: %{{x}}<br>{axis_label(y)}: %{{y}}<br>%{{customdata}}<extra></extra>",
        text=marks, texttemplate="%{text}", textfont=dict(size=14, color="#222222"),
    ))
    for s in names:  # a legend: one invisible marker per strategy shown
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label(s),
                                 marker=dict(symbol="square", size=14, color=colour(s))))
    fig.update_layout(
        template=TEMPLATE_NAME,
        title=title or f"Cheapest strategy ({metric_name(metric).lower()})" if lower_is_better
        else title or f"Best strategy ({metric_name(metric).lower()})",
        xaxis_title=axis_label(x), yaxis_title=axis_label(y), legend=dict(orientation="h", y=1.0, yanchor="bottom"),
        plot_bgcolor="white",
    )
    fig.update_xaxes(type="category", showgrid=False)
    fig.update_yaxes(type="category", showgrid=False)
    return fig


def _col(df: pd.DataFrame, name: str) -> str:
    """The itertuples attribute of a column (dotted names become positional _N)."""
    cols = list(df.columns)
    attr = name if name.isidentifier() else f"_{cols.index(name)}"
    return attr


def tornado_chart(table: pd.DataFrame, strategy: str, metric: str = "cost_per_query_usd", *, top: int = 12,
                  title: str | None = None) -> go.Figure:
    """One-at-a-time sensitivity of one strategy's metric: a bar per parameter from the base.

    ``table``: simlib.analysis.sensitivity's. Parameters ranked by swing, largest on top;
    the low end of each range in a light shade, the high end in the strategy's colour.
    """
    t = table[(table["strategy"] == strategy) & (table["metric"] == metric)]
    k = _percent(metric)
    base = (float(t["base_mean"].dropna().iloc[0]) if t["base_mean"].notna().any() else math.nan) * k
    order = (t.groupby("parameter")["swing"].first().fillna(0).sort_values(ascending=True)).tail(top).index.tolist()
    fig = go.Figure()
    ticks = []
    for p in order:
        rows = t[t["parameter"] == p]
        vals = rows.set_index("side")["value"]
        base_value = rows["base_value"].iloc[0] if len(rows) else None
        lo, hi = vals.get("low", base_value), vals.get("high", base_value)
        span = f"{short_number(lo)} to {short_number(hi)}"
        ticks.append(f"{axis_label(p)}: {span}")
    for side, alpha in (("low", 0.4), ("high", 1.0)):
        g = t[t["side"] == side].set_index("parameter").reindex(order)
        fig.add_trace(go.Bar(
            y=ticks, x=g["mean"] * k - base, base=base, orientation="h",
            name=f"{side} end of range", marker=dict(color=_rgba(colour(strategy), alpha)),
            customdata=np.stack([g["value"].astype(str), g["why"].fillna("")], axis=-1) if len(g) else None,
            hovertemplate="%{y}: %{customdata[0]}<br>%{customdata[1]}<br>" + metric_label(metric)
                          + ": %{x:,.4g}<extra>" + side + "</extra>",
        ))
    fig.add_vline(x=base, line=dict(color="#222222", width=1.5))
    fig.update_layout(
        template=TEMPLATE_NAME, barmode="overlay",
        title=title or f"What moves {label(strategy)}'s {metric_name(metric).lower()}",
        xaxis_title=metric_label(metric), yaxis_title=None, legend=dict(orientation="h", y=1.0, yanchor="bottom"),
        margin=dict(l=340),
    )
    return fig
