"""Cost against quality: each strategy's cost per query and quality proxy, the Pareto
frontier (no other strategy is both cheaper and better), and the verdict marked.

A pure function of a RunResult (``simlib.verdict`` supplies the pick); nothing is simulated here.
"""

from __future__ import annotations

import plotly.graph_objects as go

from simlib import formats
from simlib.charts.strategies import _layout
from simlib.charts.theme import colour, label
from simlib.results import RunResult


def pareto_frontier(points: dict[str, tuple[float, float]]) -> list[str]:
    """Strategies not dominated on (cost, quality): none other has cost <= and quality >=, one strictly.

    Returned in increasing cost (the frontier's drawing order).
    """
    front = []
    for s, (c, q) in points.items():
        dominated = any((c2 <= c and q2 >= q) and (c2 < c or q2 > q) for t, (c2, q2) in points.items() if t != s)
        if not dominated:
            front.append(s)
    return sorted(front, key=lambda s: points[s][0])


def cost_quality_figure(result: RunResult) -> go.Figure:
    """Cost per query (x) against quality proxy (y) per feasible strategy, 95% intervals as
    error bars, the Pareto frontier as a line, the verdict ringed; hover shows the cost per
    correct answer (cost per query / quality)."""
    from simlib.verdict import verdict

    summary = result.summary()
    v = verdict(result)
    points: dict[str, tuple[float, float]] = {}
    fig = go.Figure()
    for s in result.strategies:
        e = summary[s]
        c, q = e["cost_per_query_usd"]["mean"], e["quality_proxy"]["mean"]
        if not e["feasible"] or c is None or q is None:
            continue
        points[s] = (c, q)
        cc, qc = e["cost_per_query_usd"]["ci95"], e["quality_proxy"]["ci95"]
        cpc = e["cost_per_correct_answer_usd"]["mean"]
        tag = " (verdict)" if s == v.winner else " (tied)" if s in v.tied_with else ""
        fig.add_trace(go.Scatter(
            x=[c], y=[q * 100], mode="markers", name=label(s) + tag,
            marker=dict(size=18 if s == v.winner else 13, color=colour(s),
                        line=dict(width=4 if s == v.winner else 1, color="#111111")),
            error_x=dict(type="data", symmetric=False, array=[cc[1] - c], arrayminus=[c - cc[0]]) if cc else None,
            error_y=dict(type="data", symmetric=False, array=[(qc[1] - q) * 100], arrayminus=[(q - qc[0]) * 100])
            if qc else None,
            hovertemplate=(f"{label(s)}<br>cost/query {formats.usd(c)}<br>quality {formats.share(q)}<br>cost per correct "
                           f"answer {formats.usd(cpc) if cpc is not None else 'n/a (no correct answers)'}"
                           "<extra></extra>").replace("$", "&#36;"),
        ))
    front = pareto_frontier(points)
    if front:
        fig.add_trace(go.Scatter(x=[points[s][0] for s in front], y=[points[s][1] * 100 for s in front], mode="lines",
                                 name="Pareto frontier", line=dict(color="#555555", dash="dash", width=2),
                                 hoverinfo="skip"))
    fig.update_xaxes(title_text="Cost per query (USD)", rangemode="tozero")
    fig.update_yaxes(title_text="Quality proxy (% correct answers)", range=[-5, 108])
    # the key in a subtitle line: in the title it ran past a half-width chart's edge on the dashboard
    return _layout(fig, "Cost against quality", result, extra_lines=("dashed: the Pareto frontier; ringed: the verdict",),
                   showlegend=True)


NO_WINNER = "none meets the requirements"


def verdict_map_chart(table, x_axis: str, y_axis: str) -> go.Figure:
    """The verdict over a grid (``simlib.verdict.verdict_map``): each cell coloured by the
    strategy that wins with the requirements applied, grey where none meets them, "~" where
    the verdict is tied (95% intervals of monthly cost overlap)."""
    import numpy as np


    xs, ys = sorted(table[x_axis].unique()), sorted(table[y_axis].unique())
    names = [n for n in dict.fromkeys(table["winner"].fillna(NO_WINNER))]
    code = {n: i for i, n in enumerate(names)}
    z = np.full((len(ys), len(xs)), np.nan)
    text = [["" for _ in xs] for _ in ys]
    hover = [["" for _ in xs] for _ in ys]
    for _, row in table.iterrows():
        i, j = ys.index(row[y_axis]), xs.index(row[x_axis])
        w = row["winner"] if isinstance(row["winner"], str) else NO_WINNER
        z[i, j] = code[w]
        text[i][j] = "~" if isinstance(row["tied_with"], str) and row["tied_with"] else ""
        hover[i][j] = row["sentence"]
    k = max(1, len(names))
    scale = []
    for n, idx in code.items():
        c = "#BBBBBB" if n == NO_WINNER else colour(n)
        scale += [[idx / k, c], [(idx + 1) / k, c]]
    fig = go.Figure(go.Heatmap(
        z=z, x=[_tick(x) for x in xs], y=[_tick(y) for y in ys], zmin=0, zmax=k, colorscale=scale,
        showscale=False, text=text, texttemplate="%{text}", textfont=dict(size=18), customdata=hover,
        hovertemplate="%{customdata}<extra></extra>", xgap=2, ygap=2))
    for n in names:  # a legend entry per colour
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=n if n == NO_WINNER else label(n),
                                 marker=dict(size=14, symbol="square", color="#BBBBBB" if n == NO_WINNER else colour(n))))
    fig.update_xaxes(title_text=x_axis.split(".")[-1].replace("_", " "),
                     type="category")
    fig.update_yaxes(title_text=y_axis.split(".")[-1].replace("_", " "), type="category")
    from simlib.charts.theme import TEMPLATE_NAME

    fig.update_layout(template=TEMPLATE_NAME, showlegend=True,
                      title=dict(text="The verdict with the requirements applied (~: tied on cost)"))
    return fig


def _tick(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
