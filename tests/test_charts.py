"""The strategy charts: what they draw must be what the result says, in the theme's colours.

Every check reads numbers back out of the figure and compares them with the result, so a
chart that drew the wrong metric, the wrong strategy's colour or a NaN would fail here.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

import simlib
from simlib.charts.strategies import (
    FIGURE_KEYS, comparison_figure, comparison_table, cost_figure, dashboard_figures, freshness_figure,
    latency_figure, strategy_tick, timeline_figure, winners,
)
from simlib.charts.theme import STRATEGY_COLOURS


@pytest.fixture(scope="module")
def result():
    """docs-assistant, small: prompt_cache is infeasible there (its 3.2M-token prefix)."""
    return simlib.run(simlib.load_preset("docs-assistant").with_changes({"simulation.queries": 1500}))


@pytest.fixture(scope="module")
def figures(result):
    return dashboard_figures(result)


def _walk(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")
    elif isinstance(node, np.ndarray):
        for i, v in enumerate(node.ravel().tolist()):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, node


def _trace(fig: go.Figure, meta: str):
    found = [t for t in fig.data if t.meta == meta]
    assert found, f"no trace with meta {meta!r}"
    return found[0]


def test_dashboard_figures_has_every_key_with_a_title(figures):
    assert tuple(figures) == FIGURE_KEYS
    for key, fig in figures.items():
        assert isinstance(fig, go.Figure)
        assert fig.layout.title.text, key


def test_no_figure_holds_nan_because_widget_messages_are_strict_json(figures):
    for key, fig in figures.items():
        bad = [p for p, v in _walk(fig.to_plotly_json()) if isinstance(v, float) and math.isnan(v)]
        assert not bad, f"{key}: NaN at {bad[:3]}"


def test_cost_bars_add_up_to_the_cost_per_query(result, figures):
    fig = figures["cost"]
    components = [t for t in fig.data if t.type == "bar"]
    for i, s in enumerate(result.strategies):
        expected = result.summary()[s]["cost_per_query_usd"]["mean"]
        drawn = sum((t.x[i] or 0.0) for t in components)
        if expected is None:
            assert drawn == 0 and "infeasible" in _trace(fig, "total").text[i]
        else:
            assert drawn == pytest.approx(expected, rel=1e-6), s


def test_cost_hides_components_that_are_zero_everywhere(figures):
    for t in figures["cost"].data:
        if t.type == "bar":
            assert bool(t.visible) == any((v or 0) > 0 for v in t.x), t.name


def test_latency_markers_are_the_summary_percentiles(result, figures):
    fig = figures["latency"]
    for metric in ("latency_p50_s", "latency_p95_s", "latency_p99_s", "ttft_p50_s"):
        trace = _trace(fig, metric)
        for i, s in enumerate(result.strategies):
            assert trace.x[i] == result.summary()[s][metric]["mean"]


def test_freshness_labels_what_does_not_apply(result, figures):
    fig = figures["freshness"]
    text = dict(zip(result.strategies, _trace(fig, "fresh_text").text))
    assert "ungrounded" in text["prompt_only"]
    assert "infeasible" in text["prompt_cache"]
    fresh = dict(zip(result.strategies, _trace(fig, "fresh_share").x))
    assert fresh["rag"] == pytest.approx(100 * result.summary()["rag"]["fresh_share"]["mean"])


def test_each_strategy_keeps_its_colour_on_every_chart(result, figures):
    ticks = [strategy_tick(s) for s in result.strategies]
    for s, tick in zip(result.strategies, ticks):
        assert STRATEGY_COLOURS[s] in tick
    for key in ("cost", "latency", "freshness"):
        assert list(figures[key].layout.yaxis.categoryarray) == ticks, key
    bars = _trace(figures["freshness"], "fresh_share")
    assert list(bars.marker.color) == [STRATEGY_COLOURS[s] for s in result.strategies]
    for t in figures["timeline"].data:
        if t.meta in STRATEGY_COLOURS:
            assert t.line.color == STRATEGY_COLOURS[t.meta]
    header = figures["comparison"].data[0].header.fill.color
    assert list(header[1:-1]) == [STRATEGY_COLOURS[s] for s in result.strategies]


def test_figures_keep_their_traces_for_in_place_updates(result):
    """Same strategies, other numbers: same trace types and order (FigureWidget updates in place)."""
    other = simlib.run(result.scenario.with_changes({"retrieval.top_k": 12, "simulation.seed": 3}))
    for key in FIGURE_KEYS:
        a, b = dashboard_figures(result)[key], dashboard_figures(other)[key]
        assert [(t.type, t.meta) for t in a.data] == [(t.type, t.meta) for t in b.data], key


def test_comparison_table_picks_the_best_of_each_row(result):
    table = comparison_table(result)
    # issue 19: time to first token beside total latency (a 0.9 s first token is not a 13 s wait)
    assert list(table.index) == ["Cost per query", "Monthly cost", "Latency p95", "First token p95", "Fresh answers",
                                 "Quality proxy", "Citable answers", "Retraining cost"]
    feasible = [s for s in result.strategies if result.feasibility[s] is None]
    cost = table.loc["Cost per query", feasible].astype(float)
    assert table.loc["Cost per query", "best"] == cost.idxmin()
    quality = table.loc["Quality proxy", feasible].astype(float)
    assert quality.idxmax() in table.loc["Quality proxy", "best"].split(", ")
    # infeasible: NaN, never a winner; not applicable: NaN
    assert np.isnan(table.loc["Cost per query", "prompt_cache"])
    assert all("prompt_cache" not in best.split(", ") for best in table["best"])
    assert np.isnan(table.loc["Fresh answers", "prompt_only"])
    # every strategy without fine-tuning spends nothing on retraining: a tie
    assert set(table.loc["Retraining cost", "best"].split(", ")) == {"prompt_only", "rag", "rag_prompt_cache"}


def test_winners_ties_and_gaps():
    assert winners({"a": 1.0, "b": 1.004, "c": 2.0}, "lower") == ["a", "b"]
    assert winners({"a": 1.0, "b": 1.01}, "lower") == ["a"]
    assert winners({"a": None, "b": 0.5, "c": float("nan")}, "higher") == ["b"]
    assert winners({"a": None}, "higher") == []


def test_timeline_draws_every_event_of_the_horizon():
    """Batch re-index every 2 h and retraining every 0.25 day over ~1 day: one line each."""
    scenario = simlib.Scenario().with_changes({
        "workload.queries_per_day": 3000, "simulation.queries": 3000, "knowledge.changes_per_day": 200,
        "knowledge.index_refresh": "batch", "knowledge.reindex_interval_s": 7200, "knowledge.reindex_duration_s": 600,
        "fine_tuning.retrain_interval_days": 0.25, "fine_tuning.training_duration_s": 3600, "fine_tuning.deploy_delay_s": 0,
    })
    result = simlib.run(scenario)
    fig = timeline_figure(result)
    rep = result.replications[0]
    arrivals = result.records("rag")["arrival_at_s"]
    for kind in ("reindex", "retrain"):
        times = rep.timeline[kind]
        inside = ((times >= arrivals[0]) & (times <= arrivals[-1])).sum()
        assert inside >= 2
        xs = _trace(fig, kind).x
        assert sum(x is not None for x in xs) == 2 * inside, kind  # two points per vertical line
    changes = _trace(fig, "change")
    assert len(changes.x) == ((rep.timeline["change"] >= arrivals[0]) & (rep.timeline["change"] <= arrivals[-1])).sum()
    assert "retrainings" in fig.layout.title.subtitle.text


def test_chart_functions_do_not_change_the_result(result):
    before = result.summary_table().copy()
    for fn in (cost_figure, latency_figure, freshness_figure, timeline_figure, comparison_figure):
        fn(result)
    assert result.summary_table().equals(before)
