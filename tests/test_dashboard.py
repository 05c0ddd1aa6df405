"""The dashboard's logic, driven from Python: a slider moves the charts the right way, in
place, without simulating a scenario twice; presets reset the sliders; a newer request wins.
"""

from __future__ import annotations

import json
import threading

import ipywidgets as W
import pytest

import simlib
from simlib.charts.strategies import FIGURE_KEYS
from simlib.scenario import build_scenario
from simlib.widgets import Dashboard
from simlib.widgets.common import BackgroundRunner, ResultCache, scenario_key
from simlib.widgets.dashboard import CONTROL_GROUPS
from simlib.widgets.figure import SharedFigureWidget, plotly_bundle_source, shared_bundle

SMALL = {"simulation.queries": 800}


@pytest.fixture()
def dashboard():
    return Dashboard("docs-assistant", changes=SMALL, background=False)


def total_cost(d: Dashboard, strategy: str) -> float:
    """RAG's bar total as the cost chart draws it (the text trace sits at the bar's end)."""
    fig = d.figures["cost"]
    total = [t for t in fig.data if t.meta == "total"][0]
    return total.x[d.result.strategies.index(strategy)]


def test_more_retrieved_chunks_raise_rag_cost_per_query_in_place(dashboard):
    d = dashboard
    widget_before = d.figures["cost"]
    traces_before = list(widget_before.data)
    rag_before, ft_before = total_cost(d, "rag"), total_cost(d, "fine_tune")
    d.control("retrieval.top_k").value = 12
    assert d.result.scenario.retrieval.top_k == 12
    assert total_cost(d, "rag") > rag_before * 1.2  # 7 more chunks of 400 tokens each
    assert total_cost(d, "fine_tune") == pytest.approx(ft_before)  # no retrieval, no change
    assert d.figures["cost"] is widget_before  # the same FigureWidget ...
    assert all(a is b for a, b in zip(d.figures["cost"].data, traces_before))  # ... same trace objects
    assert d.updates == 1


def test_every_chart_takes_the_new_result(dashboard):
    d = dashboard
    before = {k: d.figures[k].to_plotly_json()["data"] for k in FIGURE_KEYS}
    d.control("workload.output_tokens_mean").value = 1200  # longer answers: cost, latency, table
    for key in ("cost", "latency", "comparison"):
        assert d.figures[key].to_plotly_json()["data"] != before[key], key


def test_an_identical_scenario_is_not_simulated_twice(dashboard):
    d = dashboard
    slider = d.control("retrieval.top_k")
    original = total_cost(d, "rag")
    slider.value = 9
    runs = d.cache.runs
    slider.value = 5  # back to the preset's value: cached
    assert d.cache.runs == runs
    assert d.last_timing.cached
    assert total_cost(d, "rag") == pytest.approx(original)
    slider.value = 9  # and forth again: cached too
    assert d.cache.runs == runs


def test_sliders_fire_on_release(dashboard):
    d = dashboard
    for path in (c.path for group in CONTROL_GROUPS.values() for c in group):
        w = d.control(path)
        if isinstance(w, (W.IntSlider, W.FloatSlider, W.FloatLogSlider)):
            assert w.continuous_update is False, path


def test_preset_resets_controls_and_widens_ranges(dashboard):
    d = dashboard
    d.control("retrieval.top_k").value = 20
    d.preset_picker.value = "code-apply"
    qpd = d.control("workload.queries_per_day")
    assert qpd.value == pytest.approx(1_000_000)
    assert qpd.max >= 6  # log slider: 10^6 fits
    assert d.control("retrieval.top_k").value == simlib.load_preset("code-apply").retrieval.top_k
    assert d.result.scenario.name == "code-apply"
    assert "code-apply" in d.figures["cost"].layout.title.subtitle.text


def test_infeasible_strategies_are_shown_not_dropped(dashboard):
    d = dashboard
    d.control("model.context_window_tokens").value = 4000  # too small for the prompted strategies
    reasons = {s: r for s, r in d.result.feasibility.items() if r}
    assert "prompt_only" in reasons and "fine_tune" not in reasons
    assert "prompt_only is infeasible" in d.notes.value
    total = [t for t in d.figures["cost"].data if t.meta == "total"][0]
    assert "infeasible" in total.text[d.result.strategies.index("prompt_only")]


def test_a_newer_request_supersedes_a_running_one():
    """Background mode: the run of the first scenario stops at a progress report once a
    second is asked for; only the second reaches the charts."""
    started = threading.Event()
    release = threading.Event()
    shown = []

    def slow_run(scenario, progress=None):
        if scenario.retrieval.top_k == 1:
            started.set()
            release.wait(10)
            progress(1, 2)  # raises Superseded: a newer scenario is waiting
        return simlib.run(scenario)

    cache = ResultCache(runner=slow_run)
    runner = BackgroundRunner(cache, lambda result, timing: shown.append(result.scenario.retrieval.top_k))
    base = simlib.Scenario().with_changes({"simulation.queries": 300, "simulation.strategies": ["rag"]})
    runner.submit(base.with_changes({"retrieval.top_k": 1}))
    assert started.wait(10)
    runner.submit(base.with_changes({"retrieval.top_k": 2}))
    release.set()
    assert runner.wait(30)
    assert shown == [2]
    assert cache.runs == 1


def test_background_dashboard_shows_progress_and_the_last_request():
    d = Dashboard("docs-assistant", changes=SMALL, background=True)
    seen = []
    d.progress.observe(lambda change: seen.append(change["new"]), names="value")
    d.control("retrieval.top_k").value = 3
    d.control("retrieval.top_k").value = 8
    assert d.wait(60)
    assert d.result.scenario.retrieval.top_k == 8
    assert d.progress.value == 1.0 and 0.0 in seen


def test_scenario_key_identifies_equal_scenarios():
    a = simlib.load_preset("docs-assistant")
    assert scenario_key(a) == scenario_key(simlib.load_preset("docs-assistant"))
    assert scenario_key(a) != scenario_key(a.with_changes({"retrieval.top_k": 6}))


def test_charts_share_one_plotly_bundle(dashboard):
    """Each FigureWidget would carry plotly.js (~5 MB); the dashboard's carry a loader and
    point to one PlotlyBundle that carries it once."""
    bundle = shared_bundle()
    assert len(bundle.source) > 1_000_000 and bundle.source == plotly_bundle_source()
    for fig in dashboard.figures.values():
        assert isinstance(fig, SharedFigureWidget)
        state = fig.get_state()
        assert len(json.dumps(state["_esm"])) < 10_000
        assert state["_bundle_id"] == "IPY_MODEL_" + bundle.model_id


def test_explorer_and_questionnaire_follow_their_widgets():
    from simlib.charts.strategies import cost_figure
    from simlib.widgets import Control, Questionnaire, ScenarioExplorer

    base = simlib.load_preset("docs-assistant").with_changes(SMALL)
    explorer = ScenarioExplorer(base, [Control("retrieval.top_k", "Top k", "int", 0, 40, 1)], {"cost": cost_figure},
                                background=False)
    before = [t for t in explorer.figures["cost"].data if t.meta == "total"][0].x[1]
    explorer.controls["retrieval.top_k"].value = 15
    assert [t for t in explorer.figures["cost"].data if t.meta == "total"][0].x[1] > before

    q = Questionnaire("docs-assistant", changes=SMALL, background=False)
    assert "★ RAG</b>" in q.figure.data[0].header.values[2]
    q.questions["specialised_behaviour"].value = True
    assert "RAG + fine-tuning" in q.recommendation.value
    assert "★ RAG + fine-tuning" in q.figure.data[0].header.values[4]


def test_cache_ttl_slider_brings_the_providers_write_price_unless_it_was_moved():
    """Anthropic writes a 5-minute entry at 1.25x input and a 1-hour entry at 2x (prompt-caching
    docs, 2025): opening the prompt-cache tab must not make the write price count as hand-set."""
    base = build_scenario({"prices": {"model": "anthropic/claude-sonnet-4-5"}, "simulation": {"queries": 300}})
    d = Dashboard(scenario=base, background=False)
    write = d.control("prompt_cache.write_multiplier")  # builds the whole tab
    assert write.value == pytest.approx(1.25)
    d.control("prompt_cache.ttl_s").value = 60  # minutes
    assert d.current_scenario().prompt_cache.write_multiplier == pytest.approx(2.0)
    assert write.value == pytest.approx(2.0)  # the slider shows the price in force
    write.value = 1.5  # now it is hand-set, and wins over the TTL's price
    d.control("prompt_cache.ttl_s").value = 5
    assert d.current_scenario().prompt_cache.write_multiplier == pytest.approx(1.5)


def test_cache_ttl_slider_brings_the_default_providers_write_price_without_a_catalog_model():
    """A scenario with no catalog model follows Anthropic's rule (its defaults' provider):
    1-hour entry 2x, 5-minute entry 1.25x; opening the tab marks nothing hand-set."""
    d = Dashboard(scenario=build_scenario({"simulation": {"queries": 300}}), background=False)
    d.control("prompt_cache.write_multiplier")  # builds the whole tab
    assert d._values == {}
    d.control("prompt_cache.ttl_s").value = 60  # minutes
    assert d.current_scenario().prompt_cache.write_multiplier == pytest.approx(2.0)
    d.control("prompt_cache.ttl_s").value = 5
    assert d.current_scenario().prompt_cache.write_multiplier == pytest.approx(1.25)


# --- typed fields, models, save / load / share (issue 19) ----------------------------------

def test_typed_value_is_honoured_exactly_not_clamped(dashboard):
    d = dashboard
    d.control("workload.queries_per_day")  # build the tab
    d.fields["workload.queries_per_day"].value = "50,000"
    assert d.result.scenario.workload.queries_per_day == 50_000
    d.fields["workload.queries_per_day"].value = "250M"  # beyond the slider's 10^7: widened, not clamped
    assert d.result.scenario.workload.queries_per_day == 250_000_000
    assert d.control("workload.queries_per_day").max >= 9


def _changed_lines(d: Dashboard) -> dict[str, str]:
    """The "changed from preset" list as path (each line's tooltip) -> the line's text."""
    import re
    from html import unescape

    lines = re.findall(r"<li title='([^']*)'>(.*?)</li>", d.changed.value)
    return {path: unescape(re.sub(r"<[^>]+>", "", text)) for path, text in lines}


def test_changed_from_preset_reads_like_the_controls(dashboard):
    """Issue 19 item 1: each change with the preset's value beside it, in the controls'
    units, not raw floats (20000.0, 0.000432). docs-assistant's preset has 20,000
    queries/day, a 5-minute indexing lag (300 s), recall at 1 of 0.55, retraining every
    30 days and GPT-4.1 input at $2 per million tokens (data/presets, the price catalog)."""
    d = dashboard
    for path in ("workload.queries_per_day", "knowledge.index_lag_s", "retrieval.recall_at_1_share",
                 "fine_tuning.retrain_interval_days", "prices.input_usd_per_mtok"):
        d.control(path)  # build its tab
    d.fields["workload.queries_per_day"].value = "50,000"
    d.fields["knowledge.index_lag_s"].value = "90"                    # minutes on screen: 5,400 s
    d.fields["retrieval.recall_at_1_share"].value = "0.7"
    d.fields["fine_tuning.retrain_interval_days"].value = "0.5"      # half a day: 12 hours
    d.fields["prices.input_usd_per_mtok"].value = "3"
    lines = _changed_lines(d)
    assert lines["workload.queries_per_day"] == "Queries / day 20k → 50k"
    assert lines["knowledge.index_lag_s"] == "Indexing lag 5 min → 90 min"
    assert lines["retrieval.recall_at_1_share"] == "Recall at 1 55.0% → 70.0%"
    assert lines["fine_tuning.retrain_interval_days"] == "Retrain every 30 days → 12 h"
    assert lines["prices.input_usd_per_mtok"] == "Input $2.00/M tokens → $3.00/M tokens"
    text = " ".join(lines.values())
    assert "20000" not in text and "0.55" not in text and "e+" not in text and "e-" not in text


def test_changed_strategies_are_listed_by_display_name():
    d = Dashboard("docs-assistant", changes={**SMALL, "simulation.strategies": ["rag", "fine_tune"]}, background=False)
    line = _changed_lines(d)["simulation.strategies"]
    assert line.endswith("→ RAG, Fine-tuning") and line.startswith("Strategies Prompt only, RAG")


def test_bad_typed_value_is_refused_with_a_message_and_no_run(dashboard):
    d = dashboard
    d.control("retrieval.top_k")
    runs, before = d.cache.runs, d.result.scenario
    d.fields["retrieval.top_k"].value = "lots"
    assert "not a number" in d.messages["retrieval.top_k"].value
    d.fields["retrieval.top_k"].value = "2.5"
    assert "whole number" in d.messages["retrieval.top_k"].value
    d.fields["retrieval.recall_at_1_share"].value = "1.7"  # outside the field's constraint
    assert "recall_at_1_share" in d.messages["retrieval.recall_at_1_share"].value
    assert d.cache.runs == runs and d.result.scenario == before


def test_typed_zero_on_a_log_slider_stays_zero(dashboard):
    """A log slider cannot show 0; the typed 0 must still reach the scenario."""
    d = dashboard
    d.control("knowledge.changes_per_day")
    d.fields["knowledge.changes_per_day"].value = "0"
    assert d.result.scenario.knowledge.changes_per_day == 0
    assert d.control("knowledge.change_burst_size_mean").disabled


def test_inapplicable_controls_are_disabled_with_a_reason(dashboard):
    d = dashboard
    w = d.control("knowledge.reindex_interval_s")
    assert d.result.scenario.knowledge.index_refresh == "streaming"
    assert w.disabled and "batch" in w.tooltip
    d.control("knowledge.index_refresh").value = "batch"
    assert not w.disabled and d.control("knowledge.index_lag_s").disabled


def test_model_picker_refreshes_catalog_prices(dashboard):
    from simlib.prices import catalog_prices

    d = dashboard
    d.set_model("prices.model", "anthropic/claude-sonnet-4-5")
    s = d.result.scenario
    assert s.prices.model == "anthropic/claude-sonnet-4-5"
    assert s.prices.input_usd_per_mtok == pytest.approx(catalog_prices("anthropic/claude-sonnet-4-5")["input_usd_per_mtok"])
    assert d.control("prices.input_usd_per_mtok").value == pytest.approx(s.prices.input_usd_per_mtok)


def test_save_load_round_trip_and_cli_gives_the_same_numbers(dashboard, tmp_path):
    import subprocess
    import sys

    d = dashboard
    d.control("retrieval.top_k").value = 9
    d.fields["workload.queries_per_day"].value = "50k"
    path = d.save(str(tmp_path / "mine.yaml"))
    assert simlib.load_scenario(path) == d.scenario
    out = subprocess.run([sys.executable, "-m", "simlib.cli", "run", "--scenario", path, "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    mine = d.result.summary()
    for strategy in d.result.strategies:
        assert cli["strategies"][strategy]["cost_per_query_usd"]["mean"] == pytest.approx(
            mine[strategy]["cost_per_query_usd"]["mean"])
    other = Dashboard("code-apply", changes=SMALL, background=False)
    assert other.load(path) and other.result.scenario == d.scenario
    assert "retrieval.top_k" in other.changed.value


def test_shared_link_restores_the_screen(dashboard):
    d = dashboard
    d.control("retrieval.top_k").value = 11
    restored = Dashboard.from_query("?" + d.share_query(), background=False)
    assert restored.result.scenario == d.scenario
    assert restored.control("retrieval.top_k").value == 11


def test_reset_returns_to_the_preset(dashboard):
    d = dashboard
    d.control("retrieval.top_k").value = 11
    d.reset()
    assert d.result.scenario == simlib.load_preset("docs-assistant")
    assert d.control("retrieval.top_k").value == simlib.load_preset("docs-assistant").retrieval.top_k
    assert "nothing" in d.changed.value


@pytest.mark.browser  # the deck's charts are drawn by Debian chromium
def test_export_button_writes_the_on_screen_deck(dashboard, tmp_path):
    d = dashboard
    d.control("retrieval.top_k").value = 9
    d.export.folder.value = str(tmp_path)
    written = d.export.export()
    assert written and written[0].suffix == ".pptx" and written[0].stat().st_size > 10_000


def test_results_show_the_rate_limit_tier_and_dedicated_replicas():
    """Issue 16: the dashboard answers 'which tier, how many GPUs at our peak, and the bill' under its results."""
    d = Dashboard("code-apply", changes={**SMALL, "rate_limits.tier": "4", "serving.fine_tuned_model": "dedicated",
                                         "serving.replicas_count": 3}, background=False)
    assert "capacity: prompt_only: rate limits (tier 4)" in d.notes.value
    assert "capacity: fine_tune: dedicated 3 replica(s) x 4 nvidia-h100-sxm" in d.notes.value


def test_the_capacity_tab_asks_which_tier_and_how_many_gpus_on_screen():
    """Issue 16's question from the dashboard's own controls (not a scenario file): pick Anthropic's
    tier 4 and a dedicated fine-tuned model; the notes say the tier cannot carry code-apply's peak
    and give the replicas and their GPU bill = replicas x 4 GPUs x $3.00/GPU-hour x 730.5 h."""
    import re

    d = Dashboard("code-apply", changes={**SMALL, "serving.fine_tuned_model": "serverless"}, background=False)
    gpu = d.control("serving.gpu")
    assert gpu.disabled and "dedicated" in gpu.tooltip  # serverless everywhere: the GPU does not apply
    assert [v for _, v in d.control("rate_limits.tier").options] == [None, "anthropic/1", "anthropic/2", "anthropic/3",
                                                                       "anthropic/4"]
    d.control("rate_limits.tier").value = "anthropic/4"
    d.control("serving.fine_tuned_model").value = "dedicated"
    assert not gpu.disabled
    notes = d.notes.value
    assert "rate limits (anthropic/4)" in notes and "a higher tier or custom limits needed" in notes
    m = re.search(r"capacity: fine_tune: dedicated (\d+) replica\(s\) x 4 nvidia-h100-sxm = (\d+) GPUs .*?: \$([\d,]+)/month", notes)
    assert m, notes
    replicas, gpus, bill = int(m[1]), int(m[2]), float(m[3].replace(",", ""))
    assert gpus == 4 * replicas and bill == pytest.approx(replicas * 4 * 3.00 * 24 * 30.4375, abs=1)
    # the list names the two choices, not the limits the tier filled in; the link restores both
    assert {p: v for p, v in d._shown_changes().items() if p not in SMALL} == {"rate_limits.tier": "anthropic/4"}
    restored = Dashboard.from_query(d.share_query(), changes=SMALL, background=False)  # the preset is dedicated again
    assert restored.scenario.rate_limits == d.scenario.rate_limits
    assert restored.scenario.serving == d.scenario.serving


# --- the horizon, and a scenario file to open (issue 19.5, issue 18) --------------------------

def test_horizon_is_a_week_or_one_retraining_within_the_query_budget():
    """queries = min(queries_per_day x max(7 days, retrain interval), budget / replications)."""
    from simlib.widgets.dashboard import HORIZON_QUERY_BUDGET, horizon_queries

    base = simlib.load_preset("docs-assistant")
    assert HORIZON_QUERY_BUDGET == 150_000
    week = base.with_changes({"workload.queries_per_day": 1_000, "fine_tuning.retrain_interval_days": 3})
    assert horizon_queries(week) == 7_000  # 1,000 a day for the 7-day floor
    month = week.with_changes({"fine_tuning.retrain_interval_days": 30})
    assert horizon_queries(month) == 30_000  # one 30-day retraining interval
    assert horizon_queries(base) == 150_000  # 20,000 a day x 30 days = 600,000: capped
    three = base.with_changes({"simulation.replications": 3})
    assert horizon_queries(three) == 50_000  # the budget covers every replication


def test_default_dashboard_covers_the_retraining_interval_and_says_so():
    d = Dashboard("docs-assistant", changes={"workload.queries_per_day": 500}, background=False)
    s = d.result.scenario
    assert s.simulation.queries == 15_000  # 500 a day x the preset's 30-day retraining interval
    assert "simulated 30 days, 15,000 queries" in d.status.value
    subtitle = d.figures["timeline"].layout.title.subtitle.text
    assert "0 retrainings" not in subtitle and "retraining" in subtitle  # a retraining falls inside the horizon
    assert "simulation.queries" not in d.changed.value and "simulation.queries" not in d.share_query()
    d.control("workload.queries_per_day").value = 1_000  # the horizon follows the traffic ...
    assert d.result.scenario.simulation.queries == 30_000
    d.control("simulation.queries")  # build the Simulation tab: it shows the horizon's size
    assert d.fields["simulation.queries"].value == "30,000"
    d.fields["simulation.queries"].value = "3,000"  # ... until the size is typed
    assert d.result.scenario.simulation.queries == 3_000
    d.control("workload.queries_per_day").value = 800
    assert d.result.scenario.simulation.queries == 3_000
    d.reset()
    assert d.result.scenario.simulation.queries == 150_000 and "capped at 150,000" in d.status.value


def test_a_move_draws_a_quick_preview_then_the_full_horizon():
    """Issue 19.5: the full horizon (a week of docs-assistant: 140,000 queries) takes seconds, so a
    move first draws PREVIEW_QUERY_BUDGET queries of the same scenario, then the full run; a
    run size typed by hand, a cached full run or a small scenario draws once."""
    from simlib.widgets.dashboard import PREVIEW_QUERY_BUDGET, _summary_run

    sizes: list[int] = []

    def recording_run(scenario, progress=None):
        sizes.append(scenario.simulation.queries)
        return _summary_run(scenario, progress)

    week = {"fine_tuning.retrain_interval_days": 7}  # 20,000 a day x 7 days = 140,000 queries
    d = Dashboard("docs-assistant", changes=week, cache=ResultCache(runner=recording_run), background=False)
    assert sizes == [140_000]  # the first paint is the full run (no update while the page loads)
    updates = d.updates
    statuses: list[str] = []
    d.status.observe(lambda change: statuses.append(change["new"]), names="value")
    d.control("retrieval.top_k").value = 9
    assert sizes[1:] == [PREVIEW_QUERY_BUDGET, 140_000] and d.updates == updates + 2
    assert d.result.scenario.simulation.queries == 140_000 and "Preview" not in d.status.value
    assert d.result.scenario.retrieval.top_k == 9
    # what the user saw between the two: the preview, said so, with the full run announced
    text = [t for t in statuses if "Preview" in t][0]
    d.control("retrieval.top_k").value = 5  # back: the full run is cached, no preview
    assert sizes[3:] == [] and d.updates == updates + 3
    assert "Preview: simulated 36 hours, 30,000 queries" in text and "Now simulating 7 days, 140,000 queries" in text


def test_dashboard_opens_the_scenario_file_scripts_dashboard_names(tmp_path, monkeypatch):
    """scripts/dashboard --scenario FILE exports SIMLIB_SCENARIO; notebook 01's from_query opens it."""
    path = tmp_path / "fitted.yaml"
    path.write_text("base: code-apply\nworkload:\n  queries_per_day: 3000\nretrieval:\n  top_k: 7\n"
                    "simulation:\n  queries: 900\n", encoding="utf-8")
    monkeypatch.setenv("SIMLIB_SCENARIO", str(path))
    d = Dashboard.from_query("", background=False)
    s = d.result.scenario
    assert (s.name, s.workload.queries_per_day, s.retrieval.top_k) == ("code-apply", 3000, 7)
    assert s.simulation.queries == 900  # the file's own size is kept
    assert d.control("retrieval.top_k").value == 7 and d.fields["retrieval.top_k"].value == "7"
    assert d.control("workload.queries_per_day").value == pytest.approx(3000)
    assert "Changed from preset code-apply" in d.changed.value and "retrieval.top_k" in d.changed.value
    assert "fitted.yaml" in d.file_status.value
    d.reset()
    assert d.result.scenario.retrieval.top_k == simlib.load_preset("code-apply").retrieval.top_k

    linked = Dashboard.from_query("?preset=docs-assistant&retrieval.top_k=9", background=False, queries=800)
    assert linked.result.scenario.name == "docs-assistant"  # a shared link wins over the file
    path.write_text("base: code-apply\nretrieval:\n  top_kk: 7\n", encoding="utf-8")
    bad = Dashboard.from_query("", background=False, queries=800)
    assert bad.result.scenario.name == "docs-assistant" and "top_kk" in bad.status.value


@pytest.mark.slow  # starts Voila and a dashboard kernel (20-40 s on 2 shared cores)
def test_voila_culls_the_kernel_of_a_closed_page(tmp_path):
    """scripts/dashboard with CULL_S=3 and CULL_INTERVAL_S=1: a page loaded (Voila starts a
    kernel and runs the dashboard in it) and closed leaves a kernel that is shut down within
    the timeout. Voila serving one notebook has no /api/kernels, so the kernel is followed
    by its id in the server's log ("Kernel started: ID") and by its process (its
    connection file, kernel-ID.json, is on its command line)."""
    import os
    import re
    import signal
    import subprocess
    import time
    import urllib.request
    from pathlib import Path

    from voila_support import free_port

    root = Path(__file__).resolve().parents[1]
    if not (root / ".venv" / "bin" / "voila").exists():
        pytest.skip("scripts/dashboard needs .venv (scripts/test creates it)")
    port, log_path = free_port(), tmp_path / "voila.log"
    env = {**os.environ, "PORT": str(port), "CULL_S": "3", "CULL_INTERVAL_S": "1", "PYTHONPATH": str(root)}
    log = open(log_path, "w")
    proc = subprocess.Popen([str(root / "scripts" / "dashboard"), "--no-browser"], cwd=root, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"

    def kernel_alive(kernel_id: str) -> bool:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if f"kernel-{kernel_id}".encode() in cmdline.read_bytes():
                    return True
            except OSError:
                continue
        return False

    try:
        deadline = time.monotonic() + 60
        while "running at" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, "scripts/dashboard did not serve"
            time.sleep(0.3)
        with urllib.request.urlopen(url, timeout=120) as page:  # renders the notebook in a new kernel
            assert b"application/vnd.jupyter.widget-view+json" in page.read()  # the dashboard ran
        closed = time.monotonic()
        started = re.findall(r"Kernel started: ([0-9a-f-]{36})", log_path.read_text())
        assert len(started) == 1
        kernel = started[0]
        while kernel_alive(kernel) and time.monotonic() - closed < 3 + 1 + 15:  # timeout + interval + slack
            time.sleep(0.5)
        assert not kernel_alive(kernel), "the idle kernel of a closed page was not culled"
        assert f"Kernel shutdown: {kernel}" in log_path.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
        log.close()


def test_horizon_of_a_scenario_only_simpy_runs_keeps_the_simpy_budget():
    """Sessions and dedicated serving run on the simpy backend (~20-50x slower a query): a dashboard run of
    such a scenario keeps SIMPY_HORIZON_QUERY_BUDGET queries so a redraw stays interactive."""
    import math

    from simlib.engine.run import simpy_only_reason
    from simlib.widgets.dashboard import HORIZON_QUERY_BUDGET, SIMPY_HORIZON_QUERY_BUDGET, horizon_queries

    conversations = simlib.load_preset("coaching-app")
    assert conversations.sessions.kind != "none" and simpy_only_reason(conversations) is not None
    days = max(7.0, conversations.fine_tuning.retrain_interval_days)
    wanted = math.ceil(conversations.workload.queries_per_day * days)
    assert wanted > SIMPY_HORIZON_QUERY_BUDGET == 5_000
    assert horizon_queries(conversations) == SIMPY_HORIZON_QUERY_BUDGET
    single = conversations.with_changes({"sessions.kind": "none"})
    assert simpy_only_reason(single) is None and horizon_queries(single) == min(wanted, HORIZON_QUERY_BUDGET)


def test_tier_picker_is_disabled_for_a_model_with_no_tiers_on_file():
    """docs-assistant runs openai/gpt-4.1: the tiers on file are Anthropic's Sonnet/Opus 4 limits, which
    a scenario refuses for it (rate_limits.tier), so the picker is disabled and says why; code-apply
    (Sonnet 4.5) keeps it."""
    d = Dashboard("docs-assistant", changes=SMALL, background=False)
    tier = d.control("rate_limits.tier")
    assert tier.disabled and "gpt-4.1" in tier.tooltip and "rate_limits" in tier.tooltip
    assert not Dashboard("code-apply", changes=SMALL, background=False).control("rate_limits.tier").disabled


def test_a_failed_run_says_the_charts_are_the_last_runs():
    """code-apply's dedicated fine-tuned model cannot meet a 1 s p95 (the run fails at serving.p95_target_s);
    the notes still list the 5 s sizing of the last good run, so the status says they are that run's."""
    d = Dashboard("code-apply", changes=SMALL, background=False)
    d.control("serving.p95_target_s").value = 1.0
    assert "Run failed" in d.status.value and "serving.p95_target_s" in d.status.value
    assert "still those of the last run" in d.status.value
    assert "p95 &lt;= 5 s" in d.notes.value  # the last good run's capacity lines, still shown
