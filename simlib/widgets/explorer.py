"""A small explorer for the story notebooks: a few sliders, a few charts, one scenario.

    explorer = ScenarioExplorer(base, controls=[Control("fine_tuning.retrain_interval_days", ...)],
                                charts={"timeline": timeline_figure, "freshness": freshness_figure})

It works like the dashboard (``simlib.widgets.dashboard``) with fewer parts: sliders fire on
release, runs go through a cache keyed by the scenario and a background runner that never
freezes the page, and each chart is a FigureWidget updated in place. ``summary`` (a
function of the result returning HTML) adds a line of text under the sliders. Displayed,
it also writes a static copy of its charts for pages without a kernel
(``simlib.widgets.static``).
"""

from __future__ import annotations

import html
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as W
import plotly.graph_objects as go

from simlib.errors import ScenarioError
from simlib.results import RunResult
from simlib.scenario import Scenario
from simlib.widgets.static import StaticFallback, hide_static_style
from simlib.widgets.common import (
    BackgroundRunner, Control, ResultCache, RunnerStatus, RunTiming, figure_widget, make_widget, scenario_value, update_in_place,
    with_readout,
)


class ScenarioExplorer(StaticFallback, RunnerStatus, W.VBox):
    """Sliders bound to ``controls`` over ``base``; ``charts[key](result)`` drawn below them."""

    def __init__(self, base: Scenario, controls: Sequence[Control], charts: Mapping[str, Callable[[RunResult], go.Figure]],
                 *, summary: Callable[[RunResult], str] | None = None, chart_height_px: int = 480,
                 background: bool = True, cache: ResultCache | None = None):
        self.base = base
        self.chart_functions = dict(charts)
        self.summary_function = summary
        self.cache = cache if cache is not None else ResultCache()
        self.result = self.cache.run(base)
        self.specs = {c.path: c for c in controls}
        self.controls: dict[str, W.Widget] = {}
        for c in controls:
            w = make_widget(c, scenario_value(base, c.path), width="380px")
            w.add_class("simlib-" + c.path.replace(".", "-").replace("_", "-"))
            w.observe(self._on_control, names="value")
            self.controls[c.path] = w
        self.figures = {k: figure_widget(fn(self.result), height_px=chart_height_px) for k, fn in self.chart_functions.items()}
        self.progress = W.FloatProgress(value=1.0, min=0.0, max=1.0, layout=W.Layout(width="200px"))
        self.status = W.HTML("")
        self.text = W.HTML(self._summary_html(self.result))
        self.runner = BackgroundRunner(self.cache, self._on_result, self._on_progress, self._on_error,
                                       background=background)
        sliders = W.GridBox([with_readout(self.specs[p], w) for p, w in self.controls.items()],
                            layout=W.Layout(grid_template_columns="repeat(auto-fill, 460px)", grid_gap="2px 16px"))
        charts_box = W.HBox([W.Box([f], layout=W.Layout(width=f"{100 // max(1, len(self.figures))}%", min_width="520px"))
                             for f in self.figures.values()], layout=W.Layout(flex_flow="row wrap"))
        super().__init__([sliders, W.HBox([self.progress, self.status]), self.text, charts_box, hide_static_style()])

    def current_scenario(self) -> Scenario:
        return self.base.with_changes({p: self.specs[p].to_scenario(w.value) for p, w in self.controls.items()})

    def _on_control(self, change: dict[str, Any]) -> None:
        try:
            scenario = self.current_scenario()
        except ScenarioError as exc:
            self.show_error(str(exc))
            return
        self.submit(scenario, "Simulating…")

    def _on_result(self, result: RunResult, timing: RunTiming) -> None:
        for key, fn in self.chart_functions.items():
            update_in_place(self.figures[key], fn(result))
        self.result = result
        self.progress.value = 1.0
        self.status.value = "from the cache" if timing.cached else f"simulated in {timing.run_s:.2f} s"
        self.text.value = self._summary_html(result)

    def _summary_html(self, result: RunResult) -> str:
        if self.summary_function is None:
            return ""
        return f"<div style='font-size:15px;margin:4px 0'>{self.summary_function(result)}</div>"


def cache_hit_summary(result: RunResult, strategy: str = "rag_prompt_cache") -> str:
    """'Hit rate 71% simulated, 71% from 1 - exp(-L T) with L T = 1.25': the run against
    the closed form, for a global prefix under Poisson arrivals."""
    import math

    from simlib.charts.theme import label
    from simlib.scenario import SECONDS_PER_DAY

    s = result.scenario
    entry = result.summary().get(strategy)
    if entry is None or not entry["feasible"] or entry["cache_hit_rate"]["mean"] is None:
        return f"{label(strategy)}: no cache hits to report."
    prefixes = s.workload.tenants_count if s.prompt_cache.prefix_scope == "per_tenant" else 1
    lt = s.workload.queries_per_day / SECONDS_PER_DAY / prefixes * s.prompt_cache.ttl_s
    simulated = entry["cache_hit_rate"]["mean"]
    return (f"{html.escape(label(strategy))}: cache hit rate <b>{simulated:.1%}</b> simulated; "
            f"<b>{1 - math.exp(-lt):.1%}</b> from 1 - exp(-L·T) with L·T = {lt:.3g} arrivals per prefix per TTL "
            f"(exact for Poisson arrivals and one entry per prefix).")
