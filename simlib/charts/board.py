"""The dashboard's set of charts: the strategy charts plus the cost-vs-quality chart.

Kept apart from ``simlib.charts.strategies`` because the cost-vs-quality chart
(``simlib.charts.verdict``) draws on the strategies module's layout: this module sits above
both, so neither imports the other back.
"""

from __future__ import annotations

import plotly.graph_objects as go

from simlib.charts.strategies import dashboard_figures as strategy_figures
from simlib.charts.verdict import cost_quality_figure
from simlib.results import RunResult

FIGURE_KEYS: tuple[str, ...] = ("cost", "cost_quality", "latency", "freshness", "timeline", "comparison")


def dashboard_figures(result: RunResult) -> dict[str, go.Figure]:
    """Every dashboard chart for one result, keyed by ``FIGURE_KEYS``: cost by component,
    cost per query against the quality proxy with its Pareto frontier (issue 14: a cost is
    read beside the quality it buys), latency, freshness, the staleness timeline and the
    practical-comparison table."""
    figures = strategy_figures(result)
    figures["cost_quality"] = cost_quality_figure(result)
    return {key: figures[key] for key in FIGURE_KEYS}
