"""The dashboard's set of charts: the strategy charts plus the cost-vs-quality chart.

Kept apart from ``simlib.charts.strategies`` because the cost-vs-quality chart
(``simlib.charts.verdict``) draws on the strategies module's layout: this module sits above
both, so neither imports the other back.
"""

from __future__ import annotations

from typing import Callable

import plotly.graph_objects as go

from simlib.charts.strategies import (
    comparison_figure, cost_figure, freshness_figure, latency_figure, timeline_figure,
)
from simlib.charts.verdict import cost_quality_figure
from simlib.results import RunResult

FIGURE_BUILDERS: dict[str, Callable[[RunResult], go.Figure]] = {
    "cost": cost_figure,
    "cost_quality": cost_quality_figure,
    "latency": latency_figure,
    "freshness": freshness_figure,
    "timeline": timeline_figure,
    "comparison": comparison_figure,
}
"""Each dashboard chart's builder, in the order the dashboard shows them."""

FIGURE_KEYS: tuple[str, ...] = tuple(FIGURE_BUILDERS)


def dashboard_figures(result: RunResult) -> dict[str, go.Figure]:
    """Every dashboard chart for one result, keyed by ``FIGURE_KEYS``: cost by component,
    cost per query against the quality proxy with its Pareto frontier (issue 14: a cost is
    read beside the quality it buys), latency, freshness, the staleness timeline and the
    practical-comparison table."""
    return {key: build(result) for key, build in FIGURE_BUILDERS.items()}
