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


# --- issue 19: charts fit for a slide ---------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from simlib import formats  # noqa: E402
from simlib.charts.strategies import (  # noqa: E402
    COMPARISON_DIMENSIONS, MAX_CHANGE_TICKS, SATURATED, TABLE_COLUMN_WIDTHS, TABLE_FONT_PX, TABLE_HEADER_PX,
    TABLE_LAYOUT_WIDTH_PX, TABLE_ROW_PX, change_ticks, comparison_height_px, format_comparison, legend_width_px,
    model_line,
)
from simlib.charts.theme import COMPONENT_STYLES, text_width_px  # noqa: E402
from simlib.results import COST_COMPONENTS  # noqa: E402


def _hsv_saturation(hex_colour: str) -> float:
    r, g, b = (int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return 0.0 if max(r, g, b) == 0 else (max(r, g, b) - min(r, g, b)) / max(r, g, b)


def test_no_colour_is_shared_between_a_strategy_and_a_cost_component(figures):
    """Components are greys (saturation 0), strategies clearly coloured: they cannot be confused."""
    components = [t for t in figures["cost"].data if t.meta in COST_COMPONENTS]
    assert {t.meta for t in components} == set(COST_COMPONENTS)
    drawn = {str(t.marker.color).upper() for t in components}
    assert not drawn & {c.upper() for c in STRATEGY_COLOURS.values()}
    assert all(_hsv_saturation(c) == 0 for c in drawn)
    assert all(_hsv_saturation(c) > 0.4 for c in STRATEGY_COLOURS.values())
    assert len(set(STRATEGY_COLOURS.values())) == len(STRATEGY_COLOURS)
    # every component has its own (grey, hatching) pair, so the legend tells them apart
    assert len(set(COMPONENT_STYLES.values())) == len(COMPONENT_STYLES) == len(COST_COMPONENTS)
    # the bar's strategy: an outline in its colour around the stacked bar
    outlines = [sh.line.color for sh in figures["cost"].layout.shapes]
    feasible = [s for s in result_strategies(figures) if s is not None]
    assert outlines == [STRATEGY_COLOURS[s] for s in feasible]


def result_strategies(figures):
    """Strategies of the cost chart whose bar is drawn, in order (None where infeasible)."""
    total = _trace(figures["cost"], "total")
    names = [next(s for s in STRATEGY_COLOURS if strategy_tick(s) == y) for y in total.y]
    return [s if "infeasible" not in text else None for s, text in zip(names, total.text)]


FORMAT_CASES = [
    (formats.duration, 0.000432 * 86_400, "37 s"),  # issue 19: "0.000432 days"
    (formats.duration, 0.045, "45 ms"),
    (formats.duration, 0.9, "0.9 s"),
    (formats.duration, 12.75, "13 s"),
    (formats.duration, 90 * 60, "90 min"),
    (formats.duration, 6 * 3600, "6 h"),
    (formats.duration, 15 * 86_400, "15 days"),
    (formats.count, 20_000, "20k"),  # issue 19: slider readout "2.00e+4"
    (formats.count, 950, "950"),
    (formats.count, 1_500, "1.5k"),
    (formats.count, 2_500_000, "2.5M"),
    (formats.count, 999_950, "1M"),  # rounds up a unit, never "1000k"
    (formats.count, 0.25, "0.25"),
    (formats.usd, 0.0123, "$0.0123"),
    (formats.usd, 0.5, "$0.50"),
    (formats.usd, 9_800, "$9.8k"),
    (formats.usd, 1_234_567, "$1.23M"),
    (formats.usd, 0.0, "$0"),
    (formats.share, 0.998, "99.8%"),  # issue 19: freshness "0.998" in notebook 02
    (formats.share, 1.0, "100%"),
    (formats.share, 0.99996, ">99.9%"),  # not exactly 1: never "100.0%"
    (formats.share, 0.00004, "<0.1%"),
    (formats.share, None, "n/a"),
]


@pytest.mark.parametrize("fn, value, text", FORMAT_CASES, ids=[f"{c[0].__name__}-{c[1]}" for c in FORMAT_CASES])
def test_readable_formats_choose_the_unit_by_magnitude(fn, value, text):
    assert fn(value) == text


def test_money_carries_its_period_where_it_has_one():
    """issue 19: "Retraining cost $152.19" said no period."""
    assert formats.usd(152.19, per="month") == "$152/month"
    dims = {d.label: d for d in COMPARISON_DIMENSIONS}
    assert dims["Retraining cost"].fmt(152.19) == "$152/month"
    assert dims["Monthly cost"].fmt(36_700) == "$36.7k/month"


def _parse_count(text: str) -> float:
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if text.endswith(suffix):
            return float(text[:-1]) * scale
    return float(text.replace(",", ""))


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-6, max_value=1e14, allow_nan=False))
def test_a_count_reads_back_within_its_three_significant_digits(x):
    """Three significant digits: the number shown is within half a unit of the third digit (0.5%)."""
    assert _parse_count(formats.count(x)) == pytest.approx(x, rel=0.005)
    assert "e" not in formats.count(x)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-4, max_value=1e9, allow_nan=False))
def test_a_duration_reads_back_in_its_unit(x):
    """Whole numbers from 10 units up (at most 5% off), three significant digits below (0.5%)."""
    number, unit = formats.duration(x).split(" ")
    per = {"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "days": 86_400.0}[unit]
    shown = float(number.replace(",", "")) * per
    assert shown == pytest.approx(x, rel=0.05 if float(number.replace(",", "")) >= 10 else 0.005)


def test_change_ticks_are_thinned_to_a_density_strip():
    """issue 19: 8,223 change ticks merged into a black bar; at most MAX_CHANGE_TICKS are drawn,
    and the strip's counts still add up to every change."""
    scenario = simlib.Scenario().with_changes({"workload.queries_per_day": 2_000, "simulation.queries": 1_000,
                                               "knowledge.changes_per_day": 20_000})
    result = simlib.run(scenario)
    fig = timeline_figure(result)
    arrivals = result.records("rag")["arrival_at_s"]
    times = result.replications[0].timeline["change"]
    inside = int(((times >= arrivals[0]) & (times <= arrivals[-1])).sum())
    assert inside > 5 * MAX_CHANGE_TICKS
    ticks = _trace(fig, "change")
    assert 0 < len(ticks.x) <= MAX_CHANGE_TICKS
    assert sum(ticks.customdata) == inside
    assert f"{inside:,} knowledge changes" in fig.layout.title.subtitle.text
    # the legend stands right of the plot, clear of the subtitle above it
    assert fig.layout.legend.orientation == "v" and fig.layout.legend.x >= 1.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), max_size=2000),
       st.integers(min_value=1, max_value=300))
def test_change_ticks_never_lose_a_change(times, max_ticks):
    at, counts = change_ticks(np.array(times), 0.0, 1000.0, max_ticks)
    assert len(at) <= max_ticks
    assert counts.sum() == len(times)
    assert ((at >= 0) & (at <= 1000)).all()


@pytest.fixture(scope="module")
def saturated_result():
    """docs-assistant on 2 model slots: at the busiest hour the base model's stage runs over capacity."""
    return simlib.run(simlib.load_preset("docs-assistant").with_changes(
        {"model.concurrency_limit": 2, "simulation.queries": 1500}))


def test_a_saturated_strategy_is_drawn_as_saturated_not_as_numbers(saturated_result):
    r = saturated_result
    summary = r.summary()
    sat = [s for s in r.strategies if summary[s]["saturated"]]
    steady = [s for s in r.strategies if summary[s]["feasible"] and not summary[s]["saturated"]]
    assert sat and steady  # the base-model strategies saturate, the fine-tuned ones do not
    latency = latency_figure(r)
    for metric in ("ttft_p50_s", "ttft_p95_s", "latency_p50_s", "latency_p95_s", "latency_p99_s"):
        x = dict(zip(r.strategies, _trace(latency, metric).x))
        assert all(x[s] is None for s in sat), metric
        assert all(x[s] == summary[s][metric]["mean"] for s in steady), metric
    for key in ("ttft_text", "latency_text"):
        text = dict(zip(r.strategies, _trace(latency, key).text))
        assert all(text[s].strip() == SATURATED for s in sat) and not any(SATURATED in text[s] for s in steady)
    assert all(label in latency.layout.title.subtitle.text for label in [strategy_tick(s).split("</span> ")[1] for s in sat])
    table = comparison_table(r)
    cells = format_comparison(table, r.strategies)
    for dim in ("Latency p95", "First token p95"):
        for s in sat:
            assert cells.loc[dim, strategy_tick(s).split("</span> ")[1]] == SATURATED
            assert s not in table.loc[dim, "best"].split(", ")  # a growing queue wins nothing
    assert cells.loc["Cost per query", strategy_tick(sat[0]).split("</span> ")[1]].startswith("$")  # cost still shown
    cost_text = dict(zip(r.strategies, _trace(cost_figure(r), "total").text))
    assert all(SATURATED in cost_text[s] for s in sat) and not any(SATURATED in cost_text[s] for s in steady)


def test_every_chart_subtitle_and_the_table_name_the_models():
    """shared-manual runs Claude Sonnet 4.5 as the base model and GPT-4.1 fine-tuned (issue 19)."""
    scenario = simlib.load_preset("shared-manual").with_changes({"simulation.queries": 600})
    assert (scenario.prices.model, scenario.fine_tuning.model) == ("anthropic/claude-sonnet-4-5", "openai/gpt-4.1")
    from simlib.charts.board import dashboard_figures as board

    for key, fig in board(simlib.run(scenario)).items():
        sub = fig.layout.title.subtitle.text
        assert "base: anthropic/claude-sonnet-4-5" in sub and "fine-tuned: openai/gpt-4.1" in sub, key
    hand_set = simlib.Scenario().with_changes({"simulation.strategies": ["rag", "fine_tune"]})
    assert model_line(hand_set) == f"base: {hand_set.model.name} (hand-set prices) · fine-tuned: hand-set prices"
    assert "fine-tuned" not in model_line(hand_set.with_changes({"simulation.strategies": ["rag"]}))


def test_subtitles_sit_above_the_panel_titles(figures):
    """The title block is pinned to the top and the top margin holds title, every subtitle
    line and the panel titles: nothing overlaps however many lines the subtitle has."""
    from simlib.charts.theme import LINE_HEIGHT, PANEL_TITLE_FONT_PX, SUBTITLE_FONT_PX, TITLE_FONT_PX, TITLE_PAD_PX

    for key, fig in figures.items():
        title = fig.layout.title
        assert (title.yref, title.y, title.yanchor) == ("container", 1.0, "top"), key
        lines = title.subtitle.text.count("<br>") + 1
        panels = max((a.text.count("<br>") + 1 for a in fig.layout.annotations if a.yref == "paper" and a.y == 1.0
                      and a.text), default=0)
        needed = TITLE_PAD_PX + (TITLE_FONT_PX + lines * SUBTITLE_FONT_PX + panels * PANEL_TITLE_FONT_PX) * LINE_HEIGHT
        assert fig.layout.margin.t >= needed, key


def test_latency_has_separate_first_token_and_total_panels(result, figures):
    fig = figures["latency"]
    assert _trace(fig, "ttft_p95_s").xaxis == "x" and _trace(fig, "latency_p95_s").xaxis == "x2"
    ttft_top = max(v for v in _trace(fig, "ttft_p95_s").x if v is not None)
    assert fig.layout.xaxis.range[1] < fig.layout.xaxis2.range[1]  # TTFT is not squeezed on the total's axis
    assert ttft_top <= fig.layout.xaxis.range[1]
    titles = [a.text for a in fig.layout.annotations]
    assert "Time to first token (s)" in titles and any(t.startswith("Total latency") for t in titles)


def test_the_queueing_panel_is_dropped_when_nobody_waits(figures):
    """docs-assistant at its 32 slots: no request waits; at 3 slots some do (utilisation ~0.9)."""
    quiet = figures["latency"]
    assert max(v or 0 for v in _trace(quiet, "queue_wait_mean_s").x or [0]) == 0
    assert quiet.layout.xaxis3.visible is False
    assert not any("wait" in a.text for a in quiet.layout.annotations)
    assert "No request waited" in quiet.layout.title.subtitle.text
    busy = latency_figure(simlib.run(simlib.load_preset("docs-assistant").with_changes(
        {"model.concurrency_limit": 3, "simulation.queries": 1500})))
    assert busy.layout.xaxis3.visible is True and any("wait" in a.text for a in busy.layout.annotations)
    assert any((v or 0) > 0.001 for v in _trace(busy, "queue_wait_mean_s").x)
    assert [(t.type, t.meta) for t in busy.data] == [(t.type, t.meta) for t in quiet.data]  # updates in place


def test_cost_labels_and_legend_have_their_own_columns(figures):
    """The totals stand right of the plot (paper x = 1) and the legend right of them, in a right
    margin wide enough for both: a label can overlap neither a bar nor the legend."""
    fig = figures["cost"]
    labels = [a for a in fig.layout.annotations if a.name == "cost_label" and a.xref == "paper"]
    assert labels and all(a.x == 1.0 and a.xanchor == "left" for a in labels)
    widest = max(text_width_px(line, a.font.size) for a in labels for line in a.text.split("<br>"))
    names = [t.name for t in fig.data if t.showlegend]
    legend = fig.layout.legend
    assert (legend.xref, legend.x, legend.xanchor, legend.orientation) == ("container", 1.0, "right", "v")
    assert fig.layout.margin.r >= labels[0].xshift + widest + legend_width_px(names, legend.font.size)
    assert max(t for t in _trace(fig, "total").x) <= fig.layout.xaxis.range[1]  # every bar inside the plot


def test_the_table_shows_every_row_and_no_cell_wraps(result, figures):
    """issue 19: the table's last row and title were clipped."""
    from simlib.widgets.dashboard import CHART_HEIGHTS_PX

    fig = figures["comparison"]
    rows = len(COMPARISON_DIMENSIONS)
    assert len(fig.data[0].cells.values[0]) == rows
    assert CHART_HEIGHTS_PX["comparison"] == comparison_height_px() >= (
        fig.layout.margin.t + TABLE_HEADER_PX + rows * TABLE_ROW_PX + fig.layout.margin.b)
    assert fig.layout.title.text == "Practical comparison"  # the reading key moved to the subtitle
    widths = list(fig.data[0].columnwidth)
    assert widths == [TABLE_COLUMN_WIDTHS[0]] + [TABLE_COLUMN_WIDTHS[1]] * len(result.strategies) + [TABLE_COLUMN_WIDTHS[2]]
    px_per_unit = (TABLE_LAYOUT_WIDTH_PX - 40) / sum(widths)
    for column, width in zip(fig.data[0].cells.values, widths):
        for cell in column:
            assert text_width_px(str(cell), TABLE_FONT_PX) <= width * px_per_unit - 8, cell


def _svg_boxes(svg: bytes) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """(legend's left and right x, [each annotation's left and right x]) read from plotly's SVG."""
    import re
    import xml.etree.ElementTree as ET

    def translate(el) -> tuple[float, float]:
        m = re.search(r"translate\(([-\d.]+)[ ,]+([-\d.]+)\)", el.get("transform", ""))
        return (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)

    g_tag, rect_tag = "{http://www.w3.org/2000/svg}g", "{http://www.w3.org/2000/svg}rect"
    root = ET.fromstring(svg)
    legend = next(g for g in root.iter(g_tag) if g.get("class") == "legend")
    bg = next(r for r in legend.iter(rect_tag) if "bg" in (r.get("class") or ""))
    left = translate(legend)[0]
    boxes = []
    for g in root.iter(g_tag):
        if g.get("class") != "annotation":
            continue
        inner = next(x for x in g.iter(g_tag) if "cursor-pointer" in (x.get("class") or ""))
        rect = next(x for x in g.iter(rect_tag) if "bg" in (x.get("class") or ""))
        x0 = translate(inner)[0]
        boxes.append((x0, x0 + float(rect.get("width"))))
    return (left, left + float(bg.get("width"))), boxes


@pytest.mark.browser
@pytest.mark.parametrize("width, height", [(1280, 720), (560, 560)], ids=["slide", "narrowest-dashboard"])
def test_drawn_cost_labels_never_reach_the_legend(figures, width, height):
    """issue 19: "$1.2M/mo" overlapped the legend. Drawn by Chromium at the slide's layout size
    and at the dashboard's narrowest chart, every label's box ends left of the legend's."""
    from simlib import export

    try:
        export.find_browser()
    except export.BrowserNotFoundError:
        pytest.skip("needs Chromium: apt-get install chromium")
    svg = export.render_images({"cost": figures["cost"]}, "svg", width=width, height=height, zoom=1)["cost"]
    (legend_left, legend_right), labels = _svg_boxes(svg)
    assert len(labels) == len(figures["cost"].layout.annotations)
    assert legend_right <= width + 1
    assert all(right < legend_left for _, right in labels)


def test_table_header_names_take_at_most_the_headers_two_lines(result):
    """A name wrapped onto a third line grows the header and pushes the last row out of view."""
    from simlib.charts.strategies import TABLE_HEADER_FONT_PX

    px_per_unit = (TABLE_LAYOUT_WIDTH_PX - 40) / (TABLE_COLUMN_WIDTHS[0] + TABLE_COLUMN_WIDTHS[2]
                                                   + TABLE_COLUMN_WIDTHS[1] * len(result.strategies))
    column_px = TABLE_COLUMN_WIDTHS[1] * px_per_unit - 16
    for s in result.strategies:
        name = strategy_tick(s).split("</span> ")[1]
        line, lines = "", 1
        for word in name.split(" "):  # greedy wrap, bold text about 10% wider
            trial = f"{line} {word}".strip()
            if line and 1.1 * text_width_px(trial, TABLE_HEADER_FONT_PX) > column_px:
                line, lines = word, lines + 1
            else:
                line = trial
        assert lines <= 2, name


def test_timeline_subtitle_counts_in_words():
    """'1 retraining', '2 retrainings', '1 re-index': the subtitle reads as English."""
    from simlib.charts.strategies import _event_phrase

    s = simlib.load_preset("docs-assistant").with_changes({"knowledge.index_refresh": "batch"})
    assert _event_phrase("retrain", 1, s).startswith("1 retraining (every")
    assert _event_phrase("retrain", 2, s).startswith("2 retrainings (every")
    assert _event_phrase("reindex", 1, s).startswith("1 re-index (every")
    assert _event_phrase("reindex", 0, s).startswith("0 re-indexes (every")


def test_a_crowned_latency_never_reads_the_same_as_an_uncrowned_one(saturated_result):
    """Issue 19: '13 s' marked best beside another '13 s' looked arbitrary; the row gets the digits that tell them apart."""
    r = saturated_result
    table = comparison_table(r).copy()
    steady = [s for s in r.strategies if s not in table.attrs["saturated"] and s not in table.attrs["infeasible"]]
    a, b = steady[:2]
    table.loc["Latency p95", a], table.loc["Latency p95", b] = 12.75, 13.21
    table.loc["Latency p95", "best"] = a  # distinguishable beyond noise (the intervals did not overlap)
    cells = format_comparison(table, r.strategies)
    name = {s: strategy_tick(s).split("</span> ")[1] for s in r.strategies}
    assert (cells.loc["Latency p95", name[a]], cells.loc["Latency p95", name[b]]) == ("12.8 s", "13.2 s")
    table.loc["Latency p95", "best"] = f"{a}, {b}"  # tied: the table's usual two digits stay
    cells = format_comparison(table, r.strategies)
    assert (cells.loc["Latency p95", name[a]], cells.loc["Latency p95", name[b]]) == ("13 s", "13 s")
    table.loc["Latency p95", b], table.loc["Latency p95", "best"] = 12.76, a  # 12.8 vs 12.8: one more digit
    cells = format_comparison(table, r.strategies)
    assert (cells.loc["Latency p95", name[a]], cells.loc["Latency p95", name[b]]) == ("12.75 s", "12.76 s")


def test_the_fresh_share_label_starts_past_its_interval_not_over_its_whisker(saturated_result):
    """docs-assistant's fine-tuning read '70.4%' over its 61-80% whisker."""
    r = saturated_result
    label_x = dict(zip(r.strategies, _trace(freshness_figure(r), "fresh_text").x))
    wide = 0
    for s in r.strategies:
        row = r.summary()[s]["fresh_share"]
        if row["mean"] is None or not row.get("ci95"):
            continue
        upper = max(row["mean"], row["ci95"][1]) * 100
        assert label_x[s] >= upper - 1e-9, s
        wide += upper > row["mean"] * 100 + 1
    assert wide, "no strategy with an interval wider than 1 point: the test checks nothing"
