"""The dashboard of ``notebooks/01_dashboard.ipynb``: a preset picker, slider groups, and
the strategy charts, each a ``FigureWidget`` updated in place.

    from simlib.widgets import Dashboard
    Dashboard().show()          # or: display(Dashboard())

Moving a slider (it fires on release) builds a new scenario from the preset plus every
control's value, then a worker thread simulates it (through a cache keyed by the
scenario, so going back to a previous position is instant) while a progress bar moves;
the page stays responsive, and a newer slider move cancels an older run. When the run
ends, every chart takes the new data in one ``batch_update``.

The first charts are drawn from the figures' constructor data (no update after the page
loads), which keeps Voila's first paint close to that of a bare FigureWidget.
"""

from __future__ import annotations

import html
import time
from collections import OrderedDict
from typing import Any

import ipywidgets as W

from simlib.charts.strategies import FIGURE_KEYS, dashboard_figures
from simlib.errors import ScenarioError
from simlib.presets import list_presets
from simlib.scenario import load_preset
from simlib.results import RunResult
from simlib.scenario import Scenario
from simlib.widgets.common import (
    BackgroundRunner, Control, ResultCache, RunnerStatus, RunTiming, figure_widget, make_widget, scenario_key,
    scenario_value, set_widget_value, update_in_place,
)

DEFAULT_PRESET = "docs-assistant"

MIN, HOUR, DAY = 60.0, 3600.0, 86400.0

# The slider groups of the issue: workload, knowledge and changes, retrieval, model and
# prices, fine-tuning, prompt cache (plus quality proxy and simulation size).
CONTROL_GROUPS: dict[str, tuple[Control, ...]] = {
    "Workload": (
        Control("workload.queries_per_day", "Queries / day", "log", 2, 7, 0.05),
        Control("workload.arrival_process", "Arrivals", "choice", options=("poisson", "daily_profile")),
        Control("workload.query_tokens_mean", "Query (tokens)", "int", 10, 4000, 10),
        Control("workload.output_tokens_mean", "Answer (tokens)", "int", 10, 4000, 10),
        Control("workload.tenants_count", "Tenants / users", "log_int", 0, 4, 0.1, readout_format=".0f"),
        Control("workload.fact_popularity", "Fact popularity", "choice", options=("zipf", "uniform")),
    ),
    "Knowledge": (
        Control("knowledge.facts_count", "Facts (documents)", "log_int", 1, 6, 0.05, readout_format=".0f"),
        Control("knowledge.chunks_per_fact", "Chunks per fact", "int", 1, 20, 1),
        Control("knowledge.changes_per_day", "Changes / day", "log", -2, 5, 0.05),
        Control("knowledge.change_burst_size_mean", "Changes per burst", "float", 1, 100, 1),
        Control("knowledge.index_refresh", "Index refresh", "choice", options=("streaming", "batch")),
        Control("knowledge.index_lag_s", "Indexing lag (min)", "float", 0, 240, 1, scale=MIN),
        Control("knowledge.reindex_interval_s", "Batch re-index every (h)", "float", 1, 168, 1, scale=HOUR),
    ),
    "Retrieval": (
        Control("retrieval.top_k", "Retrieved chunks (top k)", "int", 0, 40, 1),
        Control("retrieval.chunk_tokens", "Chunk (tokens)", "int", 50, 2000, 50),
        Control("retrieval.recall_at_1_share", "Recall at 1", "float", 0, 1, 0.01),
        Control("retrieval.rerank", "Rerank", "bool"),
    ),
    "Model & prices": (
        Control("prices.input_usd_per_mtok", "Input ($/M tokens)", "float", 0, 30, 0.05),
        Control("prices.output_usd_per_mtok", "Output ($/M tokens)", "float", 0, 100, 0.5),
        Control("model.decode_tokens_per_s", "Decode (tokens/s)", "log", 1, 3.5, 0.05),
        Control("model.concurrency_limit", "Concurrent requests", "log_int", 0, 4, 0.05, readout_format=".0f"),
        Control("model.context_window_tokens", "Context window (tokens)", "log_int", 3.5, 6.5, 0.05, readout_format=",.0f"),
    ),
    "Fine-tuning": (
        Control("fine_tuning.retrain_interval_days", "Retrain every (days)", "float", 1, 180, 1),
        Control("fine_tuning.paraphrases_per_fact", "Paraphrases per fact", "int", 1, 20, 1),
        Control("fine_tuning.adapters", "Fine-tuned models", "choice", options=("shared", "per_tenant")),
        Control("fine_tuning.epochs", "Epochs", "int", 1, 10, 1),
        Control("fine_tuning.training_usd_per_mtok", "Training ($/M tokens)", "float", 0, 100, 0.5),
        Control("fine_tuning.input_usd_per_mtok", "FT input ($/M tokens)", "float", 0, 30, 0.05),
        Control("fine_tuning.output_usd_per_mtok", "FT output ($/M tokens)", "float", 0, 100, 0.5),
        Control("fine_tuning.hosting_usd_per_hour", "Dedicated hosting ($/h)", "float", 0, 50, 0.5),
        Control("fine_tuning.decode_tokens_per_s", "FT decode (tokens/s)", "log", 1, 3.5, 0.05),
    ),
    "Prompt cache": (
        Control("prompt_cache.mode", "Caching", "choice", options=("explicit", "automatic")),
        Control("prompt_cache.ttl_s", "Entry lifetime, TTL (min)", "float", 0, 120, 1, scale=MIN),
        Control("prompt_cache.write_multiplier", "Write price (x input)", "float", 0, 3, 0.05),
        Control("prompt_cache.read_multiplier", "Read price (x input)", "float", 0, 1, 0.01),
        Control("prompt_cache.rebuild_policy", "Knowledge prefix rebuilt", "choice", options=("on_change", "periodic")),
        Control("prompt_cache.rebuild_interval_s", "Rebuild every (h)", "float", 0.25, 168, 0.25, scale=HOUR),
        Control("prompt_cache.prefix_scope", "RAG prefix shared", "choice", options=("global", "per_tenant")),
    ),
    "Quality": (
        Control("quality.prior_knowledge_share", "Base model knows the fact", "float", 0, 1, 0.01),
        Control("quality.behaviour_prompted_share", "Behaviour when prompted", "float", 0, 1, 0.01),
        Control("quality.behaviour_fine_tuned_share", "Behaviour when fine-tuned", "float", 0, 1, 0.01),
        Control("quality.injection_recall_ceiling_share", "Fine-tuned recall ceiling", "float", 0, 1, 0.01),
    ),
    "Simulation": (
        Control("simulation.queries", "Queries simulated", "log_int", 2, 5, 0.05, readout_format=",.0f"),
        Control("simulation.replications", "Replications", "int", 1, 10, 1),
        Control("simulation.seed", "Random seed", "int", 0, 100, 1),
    ),
}

CHART_HEIGHTS_PX: dict[str, int] = {"cost": 560, "latency": 560, "freshness": 560, "timeline": 560, "comparison": 440}


class Dashboard(RunnerStatus, W.VBox):
    """Preset picker, slider tabs, status line, and the five strategy charts.

    ``preset``: the preset to start from; ``scenario``: start from this scenario instead;
    ``changes``: dotted paths to override (``{"simulation.queries": 1000}``).
    ``background=False`` simulates inside the slider callback (tests); the notebook keeps the
    default, a worker thread. ``figures[key]`` are the ``FigureWidget`` objects (keys of
    ``FIGURE_KEYS``), ``control(path)`` the widget of a scenario field, ``cache`` the results.
    """

    def __init__(self, preset: str = DEFAULT_PRESET, *, scenario: Scenario | None = None,
                 changes: dict[str, Any] | None = None, background: bool = True,
                 cache: ResultCache | None = None):
        self.cache = cache or ResultCache()
        self.preset_name = preset
        base = scenario if scenario is not None else load_preset(preset)
        if changes:
            base = base.with_changes(changes)
        self.base = base
        self.scenario = base
        self.last_timing: RunTiming | None = None
        self.updates = 0  # how many times the charts took a new result
        self._loading = False

        t0 = time.perf_counter()
        result = self.cache.run(base)
        t1 = time.perf_counter()
        self.result = result
        self._figure_cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.figures = {k: figure_widget(f, height_px=CHART_HEIGHTS_PX[k]) for k, f in self._figures_for(result).items()}
        self.last_timing = RunTiming(cached=False, run_s=t1 - t0, draw_s=time.perf_counter() - t1)

        presets = [name for name, _ in list_presets()]
        options = presets if scenario is None else ["(custom)"] + presets
        self.preset_picker = W.Dropdown(options=options, value=preset if scenario is None else "(custom)",
                                        description="Preset", layout=W.Layout(width="320px"))
        self.preset_picker.observe(self._on_preset, names="value")
        self.story = W.HTML(self._story_html(base))
        self.progress = W.FloatProgress(value=1.0, min=0.0, max=1.0, layout=W.Layout(width="220px"))
        self.status = W.HTML(self._status_html(self.last_timing))
        self.notes = W.HTML(self._notes_html(result))
        from simlib.widgets.verdict_banner import VerdictBanner

        self.banner = VerdictBanner(result, on_change=lambda _: self._on_control({}))

        # Controls are built per tab, when the tab is first opened: the page paints sooner
        # (one tab's widgets, not eight), and untouched controls hold the base's values anyway.
        self.controls: dict[str, W.Widget] = {}
        self._moved: set[str] = set()  # paths of the controls the user moved (hand-set values)
        self._control_specs: dict[str, Control] = {c.path: c for cs in CONTROL_GROUPS.values() for c in cs}
        self._group_of = {c.path: i for i, cs in enumerate(CONTROL_GROUPS.values()) for c in cs}
        self._panes = [W.GridBox([], layout=W.Layout(grid_template_columns="repeat(auto-fill, 460px)",
                                                     grid_gap="2px 16px")) for _ in CONTROL_GROUPS]
        self.tabs = W.Tab(children=self._panes, titles=list(CONTROL_GROUPS))
        self._build_group(0)
        self.tabs.observe(lambda change: self._build_group(change["new"]), names="selected_index")

        self.runner = BackgroundRunner(self.cache, self._on_result, self._on_progress, self._on_error,
                                       background=background)
        for key, fig in self.figures.items():
            fig.add_class(f"simlib-chart-{key}")
        chart_box = W.Layout(width="50%", min_width="560px")
        grid = W.VBox([
            W.HBox([W.Box([self.figures["cost"]], layout=chart_box), W.Box([self.figures["latency"]], layout=chart_box)],
                   layout=W.Layout(flex_flow="row wrap")),
            W.HBox([W.Box([self.figures["freshness"]], layout=chart_box), W.Box([self.figures["timeline"]], layout=chart_box)],
                   layout=W.Layout(flex_flow="row wrap")),
            self.figures["comparison"],
        ])
        header = W.HBox([self.preset_picker, self.progress, self.status],
                        layout=W.Layout(align_items="center", grid_gap="12px"))
        super().__init__([self.banner, header, self.story, self.tabs, self.notes, grid])
        self.add_class("simlib-dashboard")

    # -- controls -------------------------------------------------------------------------------
    def _build_group(self, index: int | None) -> None:
        """Create the widgets of one tab (once), showing the values of the scenario on screen."""
        if index is None or self._panes[index].children:
            return
        items = []
        for c in list(CONTROL_GROUPS.values())[index]:
            w = make_widget(c, scenario_value(self.scenario, c.path))
            w.add_class("simlib-control")
            w.add_class("simlib-" + c.path.replace(".", "-").replace("_", "-"))
            w.observe(self._on_control, names="value")
            self.controls[c.path] = w
            items.append(w)
        self._panes[index].children = items

    def control(self, path: str) -> W.Widget:
        """The widget of a scenario field (``"retrieval.top_k"``), built if its tab was not."""
        if path not in self._control_specs:
            raise KeyError(f"no control for {path!r}; controls: {', '.join(self._control_specs)}")
        self._build_group(self._group_of[path])
        return self.controls[path]

    # -- building the scenario from the controls ---------------------------------------------
    def current_scenario(self) -> Scenario:
        """The base scenario with the value of every control the user moved (validated: may
        raise ScenarioError). Only moved controls count as hand-set: a control merely shown
        (its tab opened) keeps following the scenario, so a new cache TTL brings the
        provider's write price for that TTL unless the write-price slider itself was moved."""
        changes = {path: self._control_specs[path].to_scenario(w.value)
                   for path, w in self.controls.items() if path in self._moved}
        return self.base.with_changes({**changes, **self.banner.changes()})

    def _show_values(self, scenario: Scenario) -> None:
        """Show the scenario's values on the controls the user has not moved."""
        self._loading = True
        try:
            for path, w in self.controls.items():
                if path not in self._moved:
                    set_widget_value(self._control_specs[path], w, scenario_value(scenario, path))
        finally:
            self._loading = False

    def _on_control(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        path = next((p for p, w in self.controls.items() if w is change.get("owner")), None)
        if path is not None:
            self._moved.add(path)
        try:
            scenario = self.current_scenario()
        except ScenarioError as exc:
            self.show_error(str(exc))
            return
        self._show_values(scenario)
        self.request(scenario)

    def _on_preset(self, change: dict[str, Any]) -> None:
        name = change["new"]
        if name == "(custom)":
            return
        self.preset_name = name
        self.base = self.scenario = load_preset(name)
        self._moved.clear()
        self._loading = True
        try:
            for path, w in self.controls.items():
                set_widget_value(self._control_specs[path], w, scenario_value(self.base, path))
        finally:
            self._loading = False
        self.story.value = self._story_html(self.base)
        self.banner.set_requirements(self.base)
        self.request(self.current_scenario())

    def request(self, scenario: Scenario) -> None:
        """Show ``scenario``: from the cache at once, else simulated in the background."""
        self.scenario = scenario
        self._requested_at = time.perf_counter()
        n = scenario.simulation.queries * scenario.simulation.replications
        self.submit(scenario, f"Simulating {n:,} queries x {len(scenario.simulation.strategies)} strategies…")

    # -- runner callbacks (worker thread) ------------------------------------------------------
    def _figures_for(self, result: RunResult) -> dict[str, Any]:
        """The chart figures of a result, built once per scenario (back to a cached scenario
        costs only the widget update)."""
        key = scenario_key(result.scenario)
        figures = self._figure_cache.get(key)
        if figures is None:
            figures = dashboard_figures(result)
            self._figure_cache[key] = figures
            while len(self._figure_cache) > 16:
                self._figure_cache.popitem(last=False)
        else:
            self._figure_cache.move_to_end(key)
        return figures

    def _on_result(self, result: RunResult, timing: RunTiming) -> None:
        t0 = time.perf_counter()
        figures = self._figures_for(result)
        for key in FIGURE_KEYS:
            update_in_place(self.figures[key], figures[key])
        timing.draw_s = time.perf_counter() - t0
        self.result = result
        self.last_timing = timing
        self.updates += 1
        self.progress.value = 1.0
        self.notes.value = self._notes_html(result)
        self.banner.update(result)
        self.status.value = self._status_html(timing)

    # -- text ---------------------------------------------------------------------------------
    @staticmethod
    def _story_html(scenario: Scenario) -> str:
        return (f"<div style='font-size:15px;color:#333;margin:4px 0 8px 0'><b>{html.escape(scenario.name)}</b>: "
                f"{html.escape(scenario.story)}</div>")

    def _status_html(self, timing: RunTiming) -> str:
        s = self.scenario
        n = s.simulation.queries * s.simulation.replications
        how = "from the cache" if timing.cached else f"simulated in {timing.run_s:.2f} s"
        return (f"<span class='simlib-status' style='color:#333'>{n:,} queries x {len(s.simulation.strategies)} "
                f"strategies, {how}; charts drawn in {timing.draw_s:.2f} s</span>")

    @staticmethod
    def _notes_html(result: RunResult) -> str:
        if not result.notes:
            return ""
        items = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
        return f"<ul style='color:#8a5300;margin:2px 0'>{items}</ul>"

    def show(self) -> "Dashboard":
        from IPython.display import display

        display(self)
        return self
