"""The dashboard of ``notebooks/01_dashboard.ipynb``: a preset picker, slider groups, and
the strategy charts, each a ``FigureWidget`` updated in place.

    from simlib.widgets import Dashboard
    Dashboard().show()          # or: display(Dashboard())

Moving a slider (it fires on release) builds a new scenario from the preset plus every
control's value, then a worker thread simulates it (through a cache keyed by the
scenario, so going back to a previous position is instant) while a progress bar moves;
the page stays responsive, and a newer slider move cancels an older run. When the run
ends, the charts are built and sent one by one (each in one ``batch_update``), so the
page draws a chart while the kernel builds the next.

The first charts are drawn from the figures' constructor data (no update after the page
loads), which keeps Voila's first paint close to that of a bare FigureWidget.
"""

from __future__ import annotations

import html
import time
from collections import OrderedDict
from typing import Any

import ipywidgets as W

from simlib import formats
from simlib.charts.board import FIGURE_BUILDERS, FIGURE_KEYS
from simlib.charts.strategies import comparison_height_px
from simlib.engine.strategies import display_name
from simlib.errors import ScenarioError
from simlib.horizon import HORIZON_MIN_DAYS, HORIZON_QUERY_BUDGET, SIMPY_HORIZON_QUERY_BUDGET, horizon_queries
from simlib.presets import list_presets
from simlib.scenario import load_preset
from simlib.results import RunResult
from simlib.scenario import Scenario
from simlib.widgets.common import (
    BackgroundRunner, Control, ResultCache, RunnerStatus, RunTiming, figure_widget, make_widget, scenario_key,
    scenario_value, set_widget_value, update_in_place,
)
from simlib.widgets.static import StaticFallback, hide_static_style
from simlib.widgets.share import changes_from, parse_number, scenario_from_query, scenario_yaml, to_query

DEFAULT_PRESET = "docs-assistant"

MIN, HOUR, DAY = 60.0, 3600.0, 86400.0

def _tier_options() -> tuple[tuple[str, str | None], ...]:
    """The rate-limit tiers on file (data/prices/rate_limits.csv) as 'provider/tier', after "none"."""
    from simlib.prices.tables import load_table

    tiers = dict.fromkeys(f"{r.provider}/{r.tier}" for r in load_table("rate_limits"))
    return (("none", None),) + tuple((t, t) for t in tiers)


def _gpu_options() -> tuple[str, ...]:
    """The GPU types on file (data/prices/gpus.csv)."""
    from simlib.prices.tables import load_table

    return tuple(r.name for r in load_table("gpus"))


DEDICATED_ONLY = "only used when the base or the fine-tuned model is served dedicated"


def _no_dedicated(s: Scenario) -> str | None:
    return None if "dedicated" in (s.serving.base_model, s.serving.fine_tuned_model) else DEDICATED_ONLY


def _no_tier_class(s: Scenario) -> str | None:
    """The tiers on file are Anthropic's Sonnet/Opus 4 limits: they are not another catalog model's (a scenario error)."""
    from simlib.prices import rate_limit_class

    if s.prices.model is None or rate_limit_class(s.prices.model) is not None or s.rate_limits.tier is not None:
        return None
    return (f"no rate-limit tiers on file for {s.prices.model}'s class (Anthropic's Sonnet/Opus 4 only); "
            "set your account's limits in the scenario's rate_limits group")


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
        Control("fine_tuning.training_work_via_batch_api", "Data & evals via batch API", "bool"),
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
    # issue 16: which tier or how many GPUs the peak needs, and the bill (the capacity lines above the notes)
    "Capacity": (
        Control("rate_limits.tier", "Rate-limit tier", "choice", options=_tier_options()),
        Control("serving.base_model", "Base model serving", "choice", options=("serverless", "dedicated")),
        Control("serving.fine_tuned_model", "Fine-tuned serving", "choice", options=("serverless", "dedicated")),
        Control("serving.gpu", "GPU", "choice", options=_gpu_options()),
        Control("serving.gpus_per_replica_count", "GPUs per replica", "int", 1, 16, 1),
        Control("serving.p95_target_s", "p95 target for sizing (s)", "float", 1, 60, 0.5),
        Control("serving.autoscaling", "Replicas", "choice", options=(("fixed at the peak", "off"), ("hourly", "hourly"))),
        Control("serving.speculative", "Speculative decoding", "bool"),
        Control("workload.offline_share", "Share via batch API", "float", 0, 1, 0.01),
    ),
    "Simulation": (
        Control("simulation.queries", "Queries simulated", "log_int", 2, 5, 0.05, readout_format=",.0f"),
        Control("simulation.replications", "Replications", "int", 1, 10, 1),
        Control("simulation.seed", "Random seed", "int", 0, 100, 1),
    ),
}

CONTROLS_BY_PATH: dict[str, Control] = {c.path: c for group in CONTROL_GROUPS.values() for c in group}

# Controls that have no effect in some scenarios: path -> (scenario -> reason or None). The
# control is disabled, with the reason as its tooltip, while the reason holds.
INAPPLICABLE: dict[str, Any] = {
    "knowledge.reindex_interval_s": lambda s: ("only used when Index refresh is batch"
                                               if s.knowledge.index_refresh != "batch" else None),
    "knowledge.index_lag_s": lambda s: ("only used when Index refresh is streaming"
                                        if s.knowledge.index_refresh != "streaming" else None),
    "prompt_cache.rebuild_interval_s": lambda s: ("only used when the knowledge prefix is rebuilt periodically"
                                                  if s.prompt_cache.rebuild_policy != "periodic" else None),
    "knowledge.change_burst_size_mean": lambda s: ("no knowledge changes at 0 changes / day"
                                                   if s.knowledge.changes_per_day == 0 else None),
    "rate_limits.tier": _no_tier_class,
    **{path: _no_dedicated for path in ("serving.gpu", "serving.gpus_per_replica_count", "serving.p95_target_s",
                                        "serving.autoscaling", "serving.speculative")},
}

# The model picker: one per role, each a catalog name ("provider/model").
MODEL_ROLES: dict[str, str] = {"prices.model": "Base model", "fine_tuning.model": "Fine-tuned model"}


# A slider move first draws a preview: the same scenario at this many queries, simulated and
# drawn first whenever the full horizon's run (simlib.horizon) is larger and not cached
# (benchmarks/bench_dashboard.py times both: the release to the preview, and to the full run).
# The status line says which is on screen.
PREVIEW_QUERY_BUDGET = 30_000


def horizon_text(scenario: Scenario) -> str:
    """What a run of ``scenario`` covers, for the status line: 'simulated 7 days, 140,000 queries'."""
    n = scenario.simulation.queries
    days = n / scenario.workload.queries_per_day if scenario.workload.queries_per_day > 0 else 0.0
    if days >= 2:
        span = f"{days:,.3g} days"
    elif days * 24 >= 2:
        span = f"{days * 24:,.3g} hours"
    else:
        span = f"{days * 1440:,.3g} minutes"
    reps = scenario.simulation.replications
    return f"simulated {span}, {n:,} queries" + (f" x {reps} replications" if reps > 1 else "")


def format_shown(control: Control, shown: Any) -> str:
    """A control's value as its typed field shows it: whole numbers with thousands
    separators (50,000), others with 4 significant digits; the exact value, never rounded
    to a slider step."""
    if control.kind in ("choice", "bool"):
        return str(shown)
    value = float(shown)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4g}" if abs(value) >= 1000 else f"{value:.4g}"


# Labels of fields the list may show that have no control of their own.
CHANGE_LABELS: dict[str, str] = {"simulation.strategies": "Strategies", "workload.arrival_process": "Arrivals"}


def change_label(path: str) -> str:
    """What the "changed from preset" list calls a field: its control's label ("Queries /
    day"), or its model role ("Base model"), else its dotted path. A label's unit in
    brackets ("Indexing lag (min)") is dropped where the value writes its own ("5 min")."""
    control = CONTROLS_BY_PATH.get(path)
    label = control.label if control else MODEL_ROLES.get(path, CHANGE_LABELS.get(path, path))
    if formats.field_has_unit(path) and label.endswith(")") and " (" in label:
        label = label.rpartition(" (")[0]
    return label


def change_values_html(path: str, preset: Scenario, value: Any) -> str:
    """"<preset's value> → <new value>" for one changed field, each as ``formats.field_value``
    writes it (k/M, %, s/min/h/days, $); strategies by display name. A field the preset
    cannot be read at (a list's item) shows the new value alone."""
    def shown(v: Any) -> str:
        if path == "simulation.strategies":
            return ", ".join(display_name(s) for s in v)
        return formats.field_value(path, v)

    try:
        before = shown(scenario_value(preset, path))
    except (AttributeError, TypeError):
        return f"<b>{html.escape(shown(value))}</b>"
    return f"{html.escape(before)} &rarr; <b>{html.escape(shown(value))}</b>"


# The comparison table is drawn at the height that shows all its rows (``comparison_height_px``).
CHART_HEIGHTS_PX: dict[str, int] = {"cost": 560, "cost_quality": 560, "latency": 560, "freshness": 560, "timeline": 560,
                                    "comparison": comparison_height_px()}


class Dashboard(StaticFallback, RunnerStatus, W.VBox):
    """Preset picker, slider tabs, status line, and the six strategy charts.

    ``preset``: the preset to start from; ``scenario``: start from this scenario instead;
    ``changes``: dotted paths to override (``{"simulation.queries": 1000}``).
    ``queries``: simulated queries per run; None (default) sizes every run by the horizon
    rule (``horizon_queries``: a week or one retraining interval, at most
    ``HORIZON_QUERY_BUDGET`` queries) unless ``changes`` or the "Queries simulated" slider
    set ``simulation.queries``.
    ``background=False`` simulates inside the slider callback (tests); the notebook keeps the
    default, a worker thread. ``figures[key]`` are the ``FigureWidget`` objects (keys of
    ``FIGURE_KEYS``), ``control(path)`` the widget of a scenario field, ``cache`` the results.
    """

    def __init__(self, preset: str = DEFAULT_PRESET, *, scenario: Scenario | None = None,
                 changes: dict[str, Any] | None = None, queries: int | None = None, background: bool = True,
                 cache: ResultCache | None = None, horizon: bool | None = None):
        # summary records: the charts need per-query records only for the timeline's bins,
        # and the array backend's systematic sample of them serves those (simlib.engine.array_backend)
        self.cache = cache if cache is not None else ResultCache(runner=_summary_run)
        self.preset_name = preset
        changes = dict(changes or {})
        if queries is not None:
            changes["simulation.queries"] = queries
        # the horizon rule sizes runs unless the caller fixed the size
        # (a ``scenario`` given as is keeps its size unless ``horizon=True``)
        self.horizon = ("simulation.queries" not in changes and scenario is None) if horizon is None else horizon
        base = scenario if scenario is not None else load_preset(preset)
        if changes:
            base = base.with_changes(changes)
        self.base = base
        # The scenario values set on screen (typed or slid), path -> scenario unit: the
        # truth the scenario is built from (a slider shows the nearest position it can).
        self._values: dict[str, Any] = {}
        base = self._sized(base)
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
        self.reset_button = W.Button(description="Reset to preset", icon="undo",
                                     tooltip="Undo every change: back to the preset's values",
                                     layout=W.Layout(width="200px"))
        self.reset_button.on_click(lambda _b: self.reset())
        self.story = W.HTML(self._story_html(base))
        self.progress = W.FloatProgress(value=1.0, min=0.0, max=1.0, layout=W.Layout(width="220px"))
        self.status = W.HTML(self._status_html(self.last_timing))
        self.notes = W.HTML(self._notes_html(result))
        from simlib.widgets.verdict_banner import VerdictBanner

        self.banner = VerdictBanner(result, on_change=lambda _: self._on_requirements())

        # Controls are built per tab, when the tab is first opened: the page paints sooner
        # (one tab's widgets, not eight), and untouched controls hold the base's values anyway.
        self.controls: dict[str, W.Widget] = {}
        self.fields: dict[str, W.Text] = {}  # the typed field beside each slider
        self.messages: dict[str, W.HTML] = {}  # its validation message
        self.model_pickers: dict[str, W.VBox] = {}
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
            W.HBox([W.Box([self.figures["cost_quality"]], layout=chart_box)], layout=W.Layout(flex_flow="row wrap")),
            self.figures["comparison"],
        ])
        header = W.HBox([self.preset_picker, self.reset_button, self.progress, self.status],
                        layout=W.Layout(align_items="center", grid_gap="12px"))
        # The top of the page: the verdict (filled by simlib.widgets.verdict_banner) beside
        # the list of changes from the preset.
        self.verdict_slot = W.VBox([self.banner], layout=W.Layout(flex="1 1 auto", min_width="560px"))
        self.verdict_slot.add_class("simlib-verdict-slot")
        self.changed = W.HTML(self._changed_html())
        self.changed.add_class("simlib-changed")
        top = W.HBox([self.verdict_slot, W.VBox([self.changed], layout=W.Layout(width="420px"))],
                     layout=W.Layout(flex_flow="row wrap", grid_gap="16px"))
        self.model_pickers = {path: self._model_picker(path, label) for path, label in MODEL_ROLES.items()}
        models = W.HBox(list(self.model_pickers.values()), layout=W.Layout(flex_flow="row wrap", grid_gap="16px"))
        self.files = self._files_box()
        super().__init__([top, header, self.story, models, self.tabs, self.notes, grid, self.files, hide_static_style()])
        self.add_class("simlib-dashboard")

    # -- controls -------------------------------------------------------------------------------
    def _build_group(self, index: int | None) -> None:
        """Create the widgets of one tab (once), showing the values of the scenario on screen."""
        if index is None or self._panes[index].children:
            return
        items = []
        for c in list(CONTROL_GROUPS.values())[index]:
            value = scenario_value(self.scenario, c.path)
            w = make_widget(c, value, width="300px" if c.kind not in ("choice", "bool") else "440px")
            w.add_class("simlib-control")
            w.add_class("simlib-" + c.path.replace(".", "-").replace("_", "-"))
            w.observe(lambda change, path=c.path: self._on_control(path, change), names="value")
            self.controls[c.path] = w
            if c.kind in ("choice", "bool"):
                items.append(w)
                continue
            w.readout = False  # the typed field beside it is the readout, exact
            field = W.Text(value=format_shown(c, c.to_shown(value)), continuous_update=False,
                           layout=W.Layout(width="130px"), tooltip="type an exact value: 50000, 50,000, 50k, 2.5M")
            field.add_class("simlib-field")
            field.add_class("simlib-field-" + c.path.replace(".", "-").replace("_", "-"))
            field.observe(lambda change, path=c.path: self._on_typed(path, change["new"]), names="value")
            message = W.HTML("")
            self.fields[c.path], self.messages[c.path] = field, message
            items.append(W.VBox([W.HBox([w, field]), message], layout=W.Layout(width="450px")))
        self._panes[index].children = items
        self._update_applicability(self.scenario)

    def _update_applicability(self, scenario: Scenario) -> None:
        """Disable the controls that do nothing in ``scenario``, saying why in their tooltip."""
        for path, reason_of in INAPPLICABLE.items():
            w = self.controls.get(path)
            if w is None:
                continue
            reason = reason_of(scenario)
            w.disabled = reason is not None
            w.tooltip = f"Not used: {reason}" if reason else None
            if path in self.fields:
                self.fields[path].disabled = reason is not None
                self.fields[path].tooltip = w.tooltip

    def _show_values(self, scenario: Scenario, skip: frozenset[str] | set[str] = frozenset()) -> None:
        """Put ``scenario``'s values on every built control but those in ``skip``, without triggering runs."""
        self._loading = True
        try:
            for path, w in self.controls.items():
                if path in skip:
                    continue
                spec = self._control_specs[path]
                value = scenario_value(scenario, path)
                set_widget_value(spec, w, value)
                if path in self.fields:
                    self.fields[path].value = format_shown(spec, spec.to_shown(value))
                    self.messages[path].value = ""
            for path, picker in self.model_pickers.items():
                dropdown, model = picker.children[1], scenario_value(scenario, path)
                if model and model not in dropdown.options:
                    dropdown.options = [model, *dropdown.options]
                dropdown.value = model or None
        finally:
            self._loading = False
        self._update_applicability(scenario)

    def control(self, path: str) -> W.Widget:
        """The widget of a scenario field (``"retrieval.top_k"``), built if its tab was not."""
        if path not in self._control_specs:
            raise KeyError(f"no control for {path!r}; controls: {', '.join(self._control_specs)}")
        self._build_group(self._group_of[path])
        return self.controls[path]

    # -- building the scenario from the controls ---------------------------------------------
    def current_scenario(self) -> Scenario:
        """The base scenario with every value set on screen (validated: may raise
        ScenarioError). Untouched controls keep the base's exact values."""
        return self.base.with_changes(self._values)

    def _on_control(self, path: str, change: dict[str, Any]) -> None:
        if self._loading:
            return
        spec = self._control_specs[path]
        self._set_value(path, spec.to_scenario(change["new"]))
        if path in self.fields:
            self._loading = True
            try:
                self.fields[path].value = format_shown(spec, change["new"])
            finally:
                self._loading = False

    def _on_typed(self, path: str, text: str) -> None:
        """A typed value: honoured exactly (the slider widens to show it) or refused with a
        message under the field; never clamped, never replaced."""
        if self._loading:
            return
        spec = self._control_specs[path]
        message = self.messages[path]
        try:
            shown = parse_number(text)
        except ValueError as exc:
            message.value = _error_html(str(exc))
            return
        value = spec.to_scenario(shown)
        if spec.kind in ("int", "log_int") and value != shown * spec.scale:
            message.value = _error_html(f"{text!r}: {spec.label} takes a whole number")
            return
        try:
            scenario = self.base.with_changes({**self._values, path: value})
        except ScenarioError as exc:
            message.value = _error_html(str(exc))
            return
        message.value = ""
        self._loading = True
        try:
            set_widget_value(spec, self.controls[path], value)
        finally:
            self._loading = False
        self._values[path] = value
        self.request(scenario)

    def _on_requirements(self) -> None:
        """A requirement control on the verdict banner moved: its value joins the on-screen
        values (so it is saved, shared and reset like any other change) and the run repeats."""
        if self._loading:
            return
        values = {p: v for p, v in self._values.items() if not p.startswith("requirements.")}
        for p, v in self.banner.changes().items():
            if scenario_value(self.base, p) != v:
                values[p] = v
        self._apply_values(values)

    def _set_value(self, path: str, value: Any) -> bool:
        """Record one on-screen value and simulate; False (and a message) if invalid."""
        return self._apply_values({**self._values, path: value})

    def _apply_values(self, values: dict[str, Any]) -> bool:
        """Make ``values`` (path -> value, the changes set on screen) the scenario on screen:
        validate, keep them, show the scenario's values on every control the user did not
        set (a new cache TTL shows the provider's write price for that TTL on the untouched
        write-price slider), and simulate. False, with the problem shown, if invalid."""
        try:
            scenario = self.base.with_changes(values)
        except ScenarioError as exc:
            self.show_error(str(exc))
            return False
        self._values = values
        scenario = self._sized(scenario)
        self._show_values(scenario, skip=set(values))
        self.request(scenario)
        return True

    def set_scenario(self, scenario: Scenario, preset: str | None = None) -> None:
        """Show ``scenario`` (loaded, shared, or a preset): every control, then the charts."""
        if preset is not None and preset != self.preset_name:
            self.preset_name = preset
            self._loading = True
            try:
                if preset in self.preset_picker.options:
                    self.preset_picker.value = preset
            finally:
                self._loading = False
        self.base = load_preset(self.preset_name) if self.preset_name in dict(list_presets()) else scenario
        self._values = changes_from(self.base, scenario)
        scenario = self._sized(scenario)
        self._show_values(scenario)
        self.banner.set_requirements(scenario)
        self.story.value = self._story_html(scenario)
        self.request(scenario)

    def reset(self) -> None:
        """Back to the preset's values (the "Reset to preset" button)."""
        self.base = load_preset(self.preset_name) if self.preset_name in dict(list_presets()) else self.base
        self._values = {}
        self._show_values(self._sized(self.base))
        self.banner.set_requirements(self.base)
        self.story.value = self._story_html(self.base)
        self.request(self.base)

    def _on_preset(self, change: dict[str, Any]) -> None:
        name = change["new"]
        if name == "(custom)" or self._loading:
            return
        self.preset_name = name
        self.reset()

    # -- model pickers --------------------------------------------------------------------------
    def _model_picker(self, path: str, label: str) -> W.VBox:
        """A search box and a list of catalog models for one role; picking one refreshes the
        prices, cache rules, context window and speeds the catalog holds for it."""
        from simlib.prices import search_models

        current = scenario_value(self.scenario, path) or ""
        search = W.Text(value="", placeholder="search the catalog: sonnet, gpt-4.1, gemini...",
                        description=label, style={"description_width": "120px"}, layout=W.Layout(width="420px"),
                        continuous_update=True)
        picker = W.Dropdown(options=[current] if current else [], value=current or None,
                            layout=W.Layout(width="420px", margin="0 0 0 124px"))
        picker.add_class("simlib-model-" + path.split(".")[0].replace("_", "-"))

        def on_search(change: dict[str, Any]) -> None:
            hits = search_models(change["new"], limit=30) if change["new"].strip() else []
            keep = picker.value
            self._loading = True
            try:
                picker.options = list(dict.fromkeys(([keep] if keep else []) + hits))
                picker.value = keep
            finally:
                self._loading = False

        search.observe(on_search, names="value")
        picker.observe(lambda change: self.set_model(path, change["new"]), names="value")
        return W.VBox([search, picker])

    def set_model(self, path: str, model: str | None) -> None:
        """Use catalog ``model`` for a role (``prices.model`` or ``fine_tuning.model``): the
        role's catalog-filled fields (prices, cache rules, speeds, context window) are looked
        up again, replacing values set on screen for them."""
        if self._loading or not model or model == scenario_value(self.scenario, path):
            return
        try:
            fresh = self.base.with_changes({path: model})
        except ScenarioError as exc:
            self.show_error(str(exc))
            return
        filled = set(fresh.catalog_filled)
        values = {p: v for p, v in self._values.items() if p not in filled}
        values[path] = model
        self._apply_values(values)

    # -- save, load, share, export --------------------------------------------------------------
    def _files_box(self) -> W.Widget:
        from simlib.export_widget import export_box

        self.save_path = W.Text(value=f"{self.preset_name}-scenario.yaml", description="File",
                                layout=W.Layout(width="360px"))
        save = W.Button(description="Save YAML", icon="save", tooltip="Write the on-screen scenario as YAML")
        load = W.Button(description="Load", icon="folder-open", tooltip="Read a scenario file (YAML or JSON)")
        self.upload = W.FileUpload(accept=".yaml,.yml,.json", multiple=False, description="Upload")
        save.on_click(lambda _b: self.save(self.save_path.value))
        load.on_click(lambda _b: self.load(self.save_path.value))
        self.upload.observe(self._on_upload, names="value")
        self.file_status = W.HTML("")
        self.share = W.HTML(self._share_html())
        self.share.add_class("simlib-share")
        self.export = export_box(lambda: (self.result, self._figures_for(self.result)))
        rows = W.VBox([W.HBox([self.save_path, save, load, self.upload], layout=W.Layout(flex_flow="row wrap")),
                       self.file_status, self.share, self.export])
        return W.Accordion(children=[rows], titles=["Save, load, share, export"], selected_index=0)

    def scenario_yaml(self) -> str:
        """The on-screen scenario as a file ``simlib run --scenario`` reads."""
        return scenario_yaml(self.preset_name, self.scenario)

    def save(self, path: str) -> str | None:
        from pathlib import Path

        from simlib.writing import write_atomic

        try:
            target = Path(path).expanduser()
            text = self.scenario_yaml().encode("utf-8")
            write_atomic(target, lambda f: f.write(text), force=True)  # Save replaces, but never half-writes
        except OSError as exc:
            self.file_status.value = _error_html(f"could not save {path}: {exc}")
            return None
        self.file_status.value = (f"<span style='color:#1a7f37'>Saved <code>{html.escape(str(target.resolve()))}</code>; "
                                  f"run it with <code>simlib run --scenario {html.escape(str(target))}</code></span>")
        return str(target)

    def load(self, path: str) -> bool:
        from simlib.scenario import load_scenario

        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            self.file_status.value = _error_html(str(exc))
            return False
        self._load_scenario(scenario, path)
        return True

    def _on_upload(self, change: dict[str, Any]) -> None:
        import yaml

        from simlib.scenario import scenario_from_mapping

        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        name = item.get("name", "upload") if isinstance(item, dict) else getattr(item, "name", "upload")
        content = item["content"] if isinstance(item, dict) else item.content
        try:
            data = yaml.safe_load(bytes(content).decode("utf-8", errors="replace"))
            if not isinstance(data, dict):
                raise ValueError("a scenario file must be a mapping of groups")
            scenario = scenario_from_mapping(data, source=name)
        except (ScenarioError, ValueError, yaml.YAMLError) as exc:
            self.file_status.value = _error_html(f"{name}: {exc}")
            return
        self._load_scenario(scenario, name, preset=data.get("base"))

    def _load_scenario(self, scenario: Scenario, where: str, preset: Any = None) -> None:
        if not isinstance(preset, str):
            preset = scenario.name if scenario.name in dict(list_presets()) else self.preset_name
        self.set_scenario(scenario, preset)
        self.file_status.value = f"<span style='color:#1a7f37'>Loaded {html.escape(str(where))}</span>"

    @classmethod
    def from_file(cls, path: str, preset: str = DEFAULT_PRESET, **kwargs: Any) -> "Dashboard":
        """The dashboard opened on a scenario file (saved here, written by ``simlib fit``, or
        by hand): its values on every control, the file's ``base:`` preset as the preset the
        changes are listed against. A file that does not load opens ``preset`` and says why.
        Runs are sized by the horizon rule unless the file sets ``simulation.queries``."""
        import yaml

        from simlib.scenario import load_scenario

        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            board = cls(preset, **kwargs)
            board.show_error(f"{path} was not opened: {exc}")
            return board
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError):  # load_scenario read it; a JSON file is YAML too
            data = None
        data = data if isinstance(data, dict) else {}
        base = data.get("base") if data.get("base") in dict(list_presets()) else None
        if base is None:
            base = scenario.name if scenario.name in dict(list_presets()) else preset
        sized_by_file = "queries" in (data.get("simulation") or {})
        kwargs.setdefault("horizon", not (sized_by_file or kwargs.get("queries")))
        board = cls(base, scenario=scenario, **kwargs)
        board.file_status.value = f"<span style='color:#1a7f37'>Opened {html.escape(str(path))}</span>"
        return board

    @classmethod
    def from_query(cls, query: str | None = None, preset: str = DEFAULT_PRESET, **kwargs: Any) -> "Dashboard":
        """The dashboard a shared link describes; ``query`` defaults to Voila's
        ``$QUERY_STRING``. A link that does not describe a valid scenario opens the preset
        and says why.

        Without a link, ``$SIMLIB_SCENARIO`` (set by ``scripts/dashboard --scenario FILE``)
        names a scenario file to open (``from_file``); a link wins over the file."""
        import os

        query = os.environ.get("QUERY_STRING", "") if query is None else query
        scenario_file = os.environ.get("SIMLIB_SCENARIO", "")
        if scenario_file and not query.lstrip("?"):
            return cls.from_file(scenario_file, preset, **kwargs)
        changes = kwargs.pop("changes", None) or {}
        try:
            name, scenario = scenario_from_query(query, preset)
            if changes:
                scenario = scenario.with_changes(changes)
        except ScenarioError as exc:
            board = cls(preset, changes=changes, **kwargs)
            board.show_error(f"The shared link was not used: {exc}")
            return board
        board = cls(name, changes=changes, **kwargs)
        if changes_from(board.base, scenario):
            board.set_scenario(scenario, name)
        return board

    def share_query(self) -> str:
        """The query string of a link that restores this screen: the preset and its changes."""
        return to_query(self.preset_name, self._shown_changes() if self.preset_name in dict(list_presets()) else {})

    def _share_html(self) -> str:
        q = html.escape(self.share_query())
        return (f"<div>Share: add <code class='simlib-share-query' style='user-select:all'>?{q}</code> to this "
                f"page's address; opening it restores this screen.</div>")

    def _changed_html(self) -> str:
        if self.preset_name not in dict(list_presets()):
            return "<b>Custom scenario</b>"
        changes = self._shown_changes()
        if not changes:
            return f"<b>Changed from preset {html.escape(self.preset_name)}</b>: nothing"
        preset = load_preset(self.preset_name)
        items = "".join(self._change_item(path, preset, value) for path, value in changes.items() if path != "name")
        return (f"<b>Changed from preset {html.escape(self.preset_name)}</b> ({len(changes)})"
                f"<ul style='margin:2px 0;max-height:140px;overflow:auto'>{items}</ul>")

    def _change_item(self, path: str, preset: Scenario, value: Any) -> str:
        """One line of the "changed from preset" list: the control's label, then the
        preset's value and the new one as the controls show them ("Queries / day 20k → 50k",
        "Indexing lag 5 min → 10 min"); the field's path is the line's tooltip."""
        return f"<li title='{html.escape(path)}'>{html.escape(change_label(path))} {change_values_html(path, preset, value)}</li>"

    def _sized(self, scenario: Scenario) -> Scenario:
        """``scenario`` with the horizon rule's number of queries, unless the size was set
        (by the caller or on screen)."""
        if not self._horizon_sizes():
            return scenario
        n = horizon_queries(scenario)
        return scenario if n == scenario.simulation.queries else scenario.with_changes({"simulation.queries": n})

    def _horizon_sizes(self) -> bool:
        """True while the horizon rule, not a value set by the caller or on screen, sizes runs."""
        return self.horizon and "simulation.queries" not in self._values

    def _shown_changes(self) -> dict[str, Any]:
        """The on-screen scenario's changes from its preset, as listed and shared: without the
        horizon rule's run size (a shared link re-sizes by the same rule when opened), and without
        the fields the catalog filled from a changed choice (a model's prices, a tier's limits: the
        choice is the change, and opening the link fills them again)."""
        filled = set(self.scenario.catalog_filled)
        changes = {p: v for p, v in changes_from(load_preset(self.preset_name), self.scenario).items() if p not in filled}
        if self._horizon_sizes():
            changes.pop("simulation.queries", None)
        return changes

    def request(self, scenario: Scenario) -> None:
        """Show ``scenario`` (sized by the horizon rule): from the cache at once, else
        simulated in the background."""
        scenario = self._sized(scenario)
        self.scenario = scenario
        self._requested_at = time.perf_counter()
        self._update_applicability(scenario)
        if hasattr(self, "changed"):
            self.changed.value = self._changed_html()
            self.share.value = self._share_html()
        preview = self._preview(scenario)
        first = preview or scenario
        n = first.simulation.queries * first.simulation.replications
        busy = f"Simulating {n:,} queries x {len(first.simulation.strategies)} strategies…"
        if preview is None:
            self.submit(scenario, busy)
        else:
            self.submit(preview, busy, scenario)

    def _preview(self, scenario: Scenario) -> Scenario | None:
        """The quick first run of ``scenario`` (``PREVIEW_QUERY_BUDGET`` queries), or None
        when it needs none: the run size was set by hand, the full run is no larger or is
        cached, or only the simpy backend runs it (already small)."""
        from simlib.engine.run import simpy_only_reason

        reps = max(1, scenario.simulation.replications)
        if (not self._horizon_sizes() or scenario.simulation.queries * reps <= PREVIEW_QUERY_BUDGET
                or self.cache.get(scenario) is not None or simpy_only_reason(scenario) is not None):
            return None
        return scenario.with_changes({"simulation.queries": max(100, PREVIEW_QUERY_BUDGET // reps)})

    # -- runner callbacks (worker thread) ------------------------------------------------------
    def _figure(self, result: RunResult, key: str) -> Any:
        """One chart of a result, built once per scenario (back to a cached scenario costs
        only the widget update)."""
        scenario = scenario_key(result.scenario)
        figures = self._figure_cache.get(scenario)
        if figures is None:
            figures = self._figure_cache[scenario] = {}
            while len(self._figure_cache) > 16:
                self._figure_cache.popitem(last=False)
        else:
            self._figure_cache.move_to_end(scenario)
        if key not in figures:
            figures[key] = FIGURE_BUILDERS[key](result)
        return figures[key]

    def _figures_for(self, result: RunResult) -> dict[str, Any]:
        """Every chart of a result (``FIGURE_KEYS`` order), through the per-scenario cache."""
        return {key: self._figure(result, key) for key in FIGURE_KEYS}

    def _on_error(self, exc: BaseException) -> None:
        """A failed run leaves the last good run's charts, notes and capacity lines on screen: the status says so,
        so its figures are not read as the new settings' (a p95 target no count meets kept 'sized to p95 <= 5 s')."""
        self.progress.value = 0.0
        self.show_error(f"Run failed: {exc}. The charts and notes below are still those of the last run that succeeded.")

    def _on_result(self, result: RunResult, timing: RunTiming) -> None:
        t0 = time.perf_counter()
        # chart by chart: each update leaves for the page (ipykernel's IOPub thread) while the
        # next chart is built, so the browser draws one while the kernel builds the next
        for key in FIGURE_KEYS:
            update_in_place(self.figures[key], self._figure(result, key))
        timing.draw_s = time.perf_counter() - t0
        self.result = result
        self.last_timing = timing
        self.updates += 1
        self.progress.value = 1.0
        self.notes.value = self._notes_html(result)
        self.banner.update(result)
        self.status.value = self._status_html(timing, preview=result.scenario != self.scenario)

    # -- text ---------------------------------------------------------------------------------
    @staticmethod
    def _story_html(scenario: Scenario) -> str:
        return (f"<div style='font-size:15px;color:#333;margin:4px 0 8px 0'><b>{html.escape(scenario.name)}</b>: "
                f"{html.escape(scenario.story)}</div>")

    def _status_html(self, timing: RunTiming, *, preview: bool = False) -> str:
        s = self.scenario
        how = "from the cache" if timing.cached else f"run in {timing.run_s:.2f} s"
        drawn = f"charts drawn in {timing.draw_s:.2f} s"
        strategies = len(s.simulation.strategies)
        if preview:
            shown = self.result.scenario
            return (f"<span class='simlib-status simlib-preview' data-updates='{self.updates}' style='color:#8a5300'>Preview: "
                    f"{html.escape(horizon_text(shown))} x {strategies} strategies, {how}; {drawn}. Now "
                    f"{html.escape(horizon_text(s).replace('simulated', 'simulating', 1))} for the full horizon…</span>")
        cap = ""
        if self._horizon_sizes():
            days = max(HORIZON_MIN_DAYS, s.fine_tuning.retrain_interval_days)
            if s.simulation.queries < s.workload.queries_per_day * days:
                from simlib.engine.run import simpy_only_reason

                slow = simpy_only_reason(s)
                budget = HORIZON_QUERY_BUDGET if slow is None else SIMPY_HORIZON_QUERY_BUDGET
                why = "" if slow is None else f", the simpy backend's size: {slow}"
                cap = f" (capped at {budget:,} queries a run{why}; a week or one retraining would be {days:g} days)"
        return (f"<span class='simlib-status' data-updates='{self.updates}' style='color:#333'>"
                f"{html.escape(horizon_text(s))}{html.escape(cap)} x "
                f"{strategies} strategies, {how}; {drawn}</span>")

    @staticmethod
    def _notes_html(result: RunResult) -> str:
        """The capacity lines (rate-limit tier or dedicated replicas and their bill, issue 16), then the run's notes."""
        from simlib.results import capacity_status

        capacity = capacity_status(result)
        if not result.notes and not capacity:
            return ""
        items = "".join(f"<li class='simlib-capacity' style='color:#333'>capacity: {html.escape(c)}</li>" for c in capacity)
        items += "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
        return f"<ul style='color:#8a5300;margin:2px 0'>{items}</ul>"

    def show(self) -> "Dashboard":
        from IPython.display import display

        display(self)
        return self


def _summary_run(scenario: Scenario, progress: Any = None) -> RunResult:
    """The dashboard's runs: streaming summary records (every metric from every query; a
    systematic sample of per-query records, enough for the timeline's bins)."""
    from simlib.engine.run import run

    return run(scenario, progress=progress, records="summary")


def _error_html(text: str) -> str:
    return f"<span class='simlib-field-error' style='color:#B00020;white-space:pre-wrap'>{html.escape(text)}</span>"
