"""Sweeps, break-even and sensitivity: same tables on every backend, crossings where the
arithmetic puts them, stopped sweeps that keep their points, and located errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simlib
from simlib.analysis import Range, break_even, cheapest, sensitivity
from simlib.errors import ScenarioError
from simlib.scenario import DAYS_PER_MONTH, Scenario
from simlib.sweep import build_sweep, load_sweep, run_sweep, sweep

ROOT = Path(__file__).resolve().parent.parent


def small_sweep():
    base = simlib.load_preset("shared-manual").with_changes({"simulation.queries": 300})
    return build_sweep(base, grid={"workload.queries_per_day": [2_000, 50_000], "prompt_cache.ttl_s": [300, 3_600]},
                       metrics=["monthly_cost_usd", "fresh_share", "latency_p95_s", "cache_hit_rate"])


def test_backends_give_the_same_table():
    """In-process, a local process pool and a Dask LocalCluster: identical tidy tables."""
    spec = small_sweep()
    inprocess = run_sweep(spec, progress=False)
    assert inprocess.complete and len(inprocess.table) == 4 * 6 * 4
    processes = run_sweep(spec, backend="processes", workers=2, progress=False)
    pd.testing.assert_frame_equal(inprocess.table, processes.table)
    distributed = pytest.importorskip("dask.distributed")
    dask = run_sweep(spec, backend="dask", workers=2, progress=False)
    pd.testing.assert_frame_equal(inprocess.table, dask.table)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        existing = run_sweep(spec, backend="dask", scheduler=cluster.scheduler_address, progress=False)
    pd.testing.assert_frame_equal(inprocess.table, existing.table)
    assert any(cluster.scheduler_address in n for n in existing.notes)


def test_a_ttl_axis_prices_each_point_at_its_entrys_write_multiplier():
    """Anthropic (prompt-caching docs, 2025): a 300-s entry is written at 1.25x input, a 3,600-s
    one at 2x, so a TTL axis on an Anthropic model re-prices the writes point by point; a
    hand-set multiplier in the sweep's changes holds at every point."""
    spec = small_sweep()  # shared-manual: anthropic/claude-sonnet-4-5, ttl_s in (300, 3600)
    by_ttl = {spec.scenario(i).prompt_cache.ttl_s: spec.scenario(i).prompt_cache.write_multiplier for i in range(len(spec))}
    assert by_ttl == {300.0: pytest.approx(1.25), 3600.0: pytest.approx(2.0)}
    fixed = build_sweep(spec.base, grid={"prompt_cache.ttl_s": [300, 3_600]}, changes={"prompt_cache.write_multiplier": 1.5})
    assert {fixed.scenario(i).prompt_cache.write_multiplier for i in range(len(fixed))} == {1.5}


def test_points_share_common_random_numbers():
    """Changing only the prices re-prices the same queries: cost scales exactly, latency not at all."""
    base = simlib.load_preset("docs-assistant").with_changes({"simulation.queries": 400})
    r = sweep(base, points=[{}, {"prices.output_usd_per_mtok": base.prices.output_usd_per_mtok * 2}],
              metrics=["cost_output_per_query_usd", "latency_p50_s"], progress=False)
    t = r.table.set_index(["point", "strategy", "metric"])["mean"]
    for s in ("prompt_only", "rag"):
        assert t[(1, s, "latency_p50_s")] == t[(0, s, "latency_p50_s")]
        assert t[(1, s, "cost_output_per_query_usd")] == pytest.approx(2 * t[(0, s, "cost_output_per_query_usd")], rel=1e-12)


def test_a_stopped_sweep_keeps_its_finished_points():
    """Ctrl-C (a KeyboardInterrupt) after the third point: three points kept, as a full run has them."""
    spec = small_sweep()
    full = run_sweep(spec, progress=False)

    def interrupt(point, rows):
        if point == 2:
            raise KeyboardInterrupt

    stopped = run_sweep(spec, progress=False, on_point=interrupt)
    assert not stopped.complete and stopped.points_done == 3
    assert any("interrupted" in n for n in stopped.notes)
    pd.testing.assert_frame_equal(stopped.table, full.table[full.table["point"] < 3].reset_index(drop=True))
    halted = run_sweep(spec, backend="processes", workers=2, progress=False, on_point=lambda p, rows: False)
    assert not halted.complete and halted.points_done >= 1
    kept = halted.table["point"].unique()
    pd.testing.assert_frame_equal(halted.table, full.table[full.table["point"].isin(kept)].reset_index(drop=True))


def test_grid_and_random_points():
    base = Scenario().with_changes({"simulation.queries": 10})
    spec = build_sweep(base, grid={"workload.queries_per_day": {"log_range": [10, 1000], "points": 3},
                                   "retrieval.top_k": {"range": [1, 2], "points": 4}})
    assert spec.axes == ("workload.queries_per_day", "retrieval.top_k")
    assert [p["workload.queries_per_day"] for p in spec.points[::2]] == pytest.approx([10, 100, 1000])
    assert {p["retrieval.top_k"] for p in spec.points} == {1, 2}  # whole numbers for an integer field
    assert len(spec) == 6
    fields = {"workload.queries_per_day": {"log_uniform": [10, 1e4]}, "retrieval.top_k": {"choice": [3, 5]}}
    a = build_sweep(base, random={"samples": 20, "seed": 4, "fields": fields})
    b = build_sweep(base, random={"samples": 20, "seed": 4, "fields": fields})
    assert a.points == b.points and len(a) == 20
    assert all(10 <= p["workload.queries_per_day"] <= 1e4 and p["retrieval.top_k"] in (3, 5) for p in a.points)


BAD_FILES = [
    ("base: docs-assistant\ngrid:\n  workload.queries_per_dya: [1, 2]\n",
     ["line 3", "grid.workload.queries_per_dya", "did you mean 'workload.queries_per_day'"]),
    ("base: docs-assistant\ngrid:\n  workload.queries_per_day: [100, -5]\n",
     ["line 3", "grid.workload.queries_per_day[1]", "greater than 0", "-5"]),
    ("base: docs-assistant\ngrid:\n  retrieval.top_k: [3]\nmetrics: [monthly_cost]\n",
     ["line 4", "metrics[0]", "did you mean 'monthly_cost_usd'"]),
    ("grid:\n  retrieval.top_k: [3]\n", ["base", "base: PRESET"]),
    ("base: docs-assistant\ngrid: {retrieval.top_k: [3]}\npoints: [{retrieval.top_k: 4}]\n",
     ["exactly one of grid, random and points"]),
    ("base: docs-assistant\ngrid:\n  workload.queries_per_day: {log_range: [0, 10], points: 3}\n",
     ["line 3", "log_range", "positive"]),
    ("base: docs-asistant\ngrid: {retrieval.top_k: [3]}\n", ["line 1", "unknown preset", "docs-assistant"]),
    ("base: docs-assistant\ngrid: [\n", ["not valid YAML"]),
    ("base: docs-assistant\ngird: {retrieval.top_k: [3]}\n", ["gird", "did you mean 'grid'"]),
    # the entries of grid and random are pydantic models (sweep.spec.SweepEntries): every error located
    ("base: docs-assistant\ngrid:\n  retrieval.top_k: {rnge: [1, 5], points: 3}\n",
     ["line 3", "grid.retrieval.top_k.rnge", "unknown key; did you mean 'range'"]),
    ("base: docs-assistant\ngrid:\n  retrieval.top_k:\n    range: [1, x]\n",
     ["line 4", "grid.retrieval.top_k.range[1]", "valid number", "'x'"]),
    ("base: docs-assistant\ngrid:\n  retrieval.top_k: {range: [1, 5], log_range: [1, 5]}\n",
     ["line 3", "grid.retrieval.top_k", "(got range and log_range)"]),
    ("base: docs-assistant\nrandom:\n  samples: 3\n  fields:\n    retrieval.top_k: {unifrm: [1, 5]}\n",
     ["line 5", "random.fields.retrieval.top_k.unifrm", "did you mean 'uniform'"]),
    ("base: docs-assistant\nrandom:\n  sampels: 3\n  fields: {retrieval.top_k: {choice: [3]}}\n",
     ["line 3", "random.sampels", "did you mean 'samples'", "random.samples", "Field required"]),
    ("base: docs-assistant\nrandom:\n  samples: true\n  fields: {retrieval.top_k: {choice: [3]}}\n",
     ["line 3", "random.samples", "valid integer"]),
    ("base: docs-assistant\nrandom:\n  samples: 2\n  fields:\n    workload.queries_per_day: {log_uniform: [0, 5]}\n",
     ["line 5", "random.fields.workload.queries_per_day.log_uniform", "positive"]),
    ("base: docs-assistant\nrandom:\n  samples: 2\n  fields:\n    retrieval.top_kk: {choice: [3]}\n",
     ["line 5", "random.fields.retrieval.top_kk", "did you mean 'retrieval.top_k'"]),
    ("base: docs-assistant\npoints:\n  - {retrieval.top_k: 3}\n  - 5\n", ["line 4", "points[1]", "valid dictionary"]),
    ("base: docs-assistant\ngrid: {retrieval.top_k: [3]}\nengine: turbo\n", ["line 3", "engine", "'auto', 'fast' or 'simpy'"]),
    # a typo that would build a billion-value axis in memory before the first simulation
    ("base: docs-assistant\ngrid:\n  retrieval.top_k: {range: [1, 40], points: 1000000000}\n",
     ["line 3", "grid.retrieval.top_k.points", "less than or equal to 100000"]),
    ("base: docs-assistant\ngrid:\n  retrieval.top_k: {range: [1, 40], points: 1000}\n"
     "  retrieval.chunk_tokens: {range: [100, 800], points: 1000}\n",
     ["the grid has 1,000,000 points", "more than the 100,000"]),
    ("base: docs-assistant\nrandom:\n  samples: 200000\n  fields: {retrieval.top_k: {choice: [3]}}\n",
     ["line 3", "random.samples", "less than or equal to 100000"]),
]


@pytest.mark.parametrize("text,expected", BAD_FILES)
def test_bad_sweep_files_get_located_errors(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    message = str(err.value)
    assert str(path) in message
    for part in expected:
        assert part in message, message


def test_cli_sweep_writes_tables_and_exits_2_on_bad_input(tmp_path):
    good = tmp_path / "sweep.yaml"
    good.write_text("base: code-apply\nchanges: {simulation.queries: 200}\n"
                    "grid:\n  workload.queries_per_day: [1000, 100000]\nmetrics: [monthly_cost_usd]\n")
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"out{suffix}"
        done = subprocess.run([sys.executable, "-m", "simlib.cli", "sweep", str(good), "--out", str(out)],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert done.returncode == 0, done.stderr
        table = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        assert set(table["point"]) == {0, 1} and set(table["metric"]) == {"monthly_cost_usd"}
        assert {"workload.queries_per_day", "strategy", "mean", "ci_low", "ci_high"} <= set(table.columns)
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: code-apply\ngrid:\n  workload.queries_per_day: [0]\n")
    done = subprocess.run([sys.executable, "-m", "simlib.cli", "sweep", str(bad)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 2
    assert "line 3: grid.workload.queries_per_day[0]" in done.stderr and "Traceback" not in done.stderr


def analytic_case() -> tuple[Scenario, float]:
    """RAG against fine-tuning with constant tokens: both costs are linear in traffic Q.

    monthly(Q) = c Q M + F, with M = 30.4375 days, c the per-query cost and F the monthly
    fixed cost of each, so they cross at Q* = (F_ft - F_rag) / ((c_rag - c_ft) M):
    c_rag = (system + instructions + few-shot + k chunk + q) p_in + o p_out + q p_embed + p_read
    (explicit provider, the default: rag places no cache breakpoint),
    c_ft = (short system + q) p_in_ft + o p_out_ft,
    F_rag = changes/day M chunks/fact chunk p_embed + facts chunks/fact dims 4 B p_GB,
    F_ft = training tokens epochs p_train M / interval + hosting 24 M,
    with the ownership costs zeroed but the initial index's embedding (all chunks x p_embed
    over the amortisation months) kept in F_rag; the plan minimum is zeroed because it is
    not linear in Q.
    """
    s = Scenario().with_changes({"workload.token_length_cv": 0.0, "simulation.queries": 200,
                                 "fine_tuning.hosting_usd_per_hour": 2.0, "fine_tuning.training_tokens": 2_000_000,
                                 "prices.engineer_usd_per_hour": 0.0, "prices.vector_store_minimum_usd_per_month": 0.0,
                                 "fine_tuning.synthetic_data_share": 0.0, "fine_tuning.eval_questions_count": 0})
    p, ft, k, r, pr = s.prompt, s.fine_tuning, s.knowledge, s.retrieval, s.prices
    q, o, M, mtok = s.workload.query_tokens_mean, s.workload.output_tokens_mean, DAYS_PER_MONTH, 1e6
    c_rag = ((p.system_tokens + p.instructions_tokens + p.few_shot_tokens + r.top_k * r.chunk_tokens + q)
             * pr.input_usd_per_mtok / mtok
             + o * pr.output_usd_per_mtok / mtok + q * pr.embedding_usd_per_mtok / mtok + pr.vector_read_usd_per_query)
    c_ft = (p.short_system_tokens + q) * ft.input_usd_per_mtok / mtok + o * ft.output_usd_per_mtok / mtok
    f_rag = (k.changes_per_day * M * k.chunks_per_fact * r.chunk_tokens * pr.embedding_usd_per_mtok / mtok
             + k.facts_count * k.chunks_per_fact * pr.embedding_dimensions * 4 / 1e9 * pr.vector_storage_usd_per_gb_month
             + k.facts_count * k.chunks_per_fact * r.chunk_tokens * pr.embedding_usd_per_mtok / mtok
             / r.index_build_amortisation_months)
    f_ft = ft.training_tokens * ft.epochs * ft.training_usd_per_mtok / mtok * M / ft.retrain_interval_days \
        + ft.hosting_usd_per_hour * 24 * M
    return s, (f_ft - f_rag) / ((c_rag - c_ft) * M)


def test_break_even_found_where_the_arithmetic_puts_it():
    scenario, expected = analytic_case()
    be = break_even(scenario, "rag", "fine_tune", bounds=(100, 1e6), replications=3)
    assert be.at == pytest.approx(expected, rel=1e-5)  # records hold costs as float32
    assert len(be.roots) == 3 and be.ci95[0] <= be.at <= be.ci95[1]
    assert (be.cheaper_below, be.cheaper_above) == ("rag", "fine_tune")
    none = break_even(scenario, "rag", "fine_tune", bounds=(2 * expected, 1e6), replications=2)
    assert none.at is None and none.cheaper_below == "fine_tune"


def test_break_even_interval_covers_the_noisy_crossings():
    """With variable tokens each replication crosses elsewhere; the interval is over replications."""
    scenario, _ = analytic_case()
    noisy = scenario.with_changes({"workload.token_length_cv": 0.8})
    be = break_even(noisy, "rag", "fine_tune", bounds=(100, 1e6), replications=4)
    assert len(set(be.roots)) == 4
    assert be.ci95[0] < min(be.roots) <= max(be.roots) < be.ci95[1] or be.ci95[0] <= be.at <= be.ci95[1]
    assert be.ci95[0] < be.at < be.ci95[1]


def test_sensitivity_swings():
    """Halving or doubling the base model's output price scales its output cost exactly and
    leaves the fine-tuned models' (their own prices) alone; it cannot move freshness; and
    the tornado ranks it."""
    base = simlib.load_preset("docs-assistant").with_changes(
        {"simulation.queries": 300, "knowledge.changes_per_day": 3_000, "knowledge.change_burst_size_mean": 1})
    params = {"prices.output_usd_per_mtok": Range("factor", 0.5, 2.0, "halved or doubled"),
              "knowledge.index_lag_s": Range("factor", 0.1, 10.0, "faster or slower indexing")}
    t = sensitivity(base, params, metrics=["cost_output_per_query_usd", "fresh_share"])
    out = t[(t["parameter"] == "prices.output_usd_per_mtok") & (t["metric"] == "cost_output_per_query_usd")]
    for row in out.itertuples():
        if row.strategy == "prompt_cache":  # infeasible in this preset
            assert np.isnan(row.mean)
            continue
        factor = 1.0 if row.strategy in ("fine_tune", "rag_fine_tune") else (2.0 if row.side == "high" else 0.5)
        assert row.mean == pytest.approx(factor * row.base_mean, rel=1e-12)
    fresh = t[(t["parameter"] == "prices.output_usd_per_mtok") & (t["metric"] == "fresh_share")]
    assert (fresh["swing"].dropna() == 0).all()
    lag = t[(t["parameter"] == "knowledge.index_lag_s") & (t["metric"] == "fresh_share") & (t["strategy"] == "rag")]
    assert lag["swing"].iloc[0] > 0
    from simlib.charts.sensitivity import tornado_chart

    fig = tornado_chart(t, "rag", "cost_output_per_query_usd")
    assert [tr.name for tr in fig.data] == ["low end of range", "high end of range"]
    assert "Output price" in fig.data[0].y[-1]  # the largest swing on top


def test_cheapest_and_its_map():
    table = pd.DataFrame({
        "point": [0, 0, 1, 1], "x": [1, 1, 2, 2], "y": [5, 5, 5, 5], "strategy": ["rag", "fine_tune"] * 2,
        "metric": "monthly_cost_usd", "mean": [10.0, 12.0, 9.0, 3.0], "ci_low": [9.0, 11.5, 8.0, 2.0],
        "ci_high": [11.0, 12.5, 10.0, 4.0], "unit": "USD/month", "feasible": True,
    })
    best = cheapest(table)
    assert best["best"].tolist() == ["rag", "fine_tune"]
    assert best["clear"].tolist() == [True, True]
    assert best["margin_share"].tolist() == pytest.approx([0.2, 2.0])
    from simlib.charts.sensitivity import cheapest_map_chart

    fig = cheapest_map_chart(table, "x", "y")
    heat = fig.data[0]
    names = [tr.name for tr in fig.data[1:]]
    assert [names[int(v)] for v in heat.z[0]] == ["RAG", "Fine-tuning"]


def test_the_documented_example_sweep_file_loads():
    """data/sweeps/docs-assistant-load.yaml is the example docs/sweeps.md runs: it must stay valid."""
    from pathlib import Path

    from simlib.sweep import load_sweep

    spec = load_sweep(Path(__file__).parent.parent / "data" / "sweeps" / "docs-assistant-load.yaml")
    assert len(spec.points) == 7 * 3


@pytest.mark.parametrize("text,expected", [
    ("base: docs-assistant\nreplications: true\ngrid: {retrieval.top_k: [3]}\n", ["line 2", "replications", "integer"]),
    ("base: docs-assistant\nseed: -1\ngrid: {retrieval.top_k: [3]}\n", ["line 2", "seed", "greater than or equal to 0"]),
    ("base: docs-assistant\nscenario: my.yaml\ngrid: {retrieval.top_k: [3]}\n", ["base", "one of them"]),
    ("base: docs-assistant\nchanges: [1]\ngrid: {retrieval.top_k: [3]}\n", ["line 2", "changes", "dictionary"]),
])
def test_the_sweep_file_model_locates_bad_keys(tmp_path, text, expected):
    """The file's keys are a pydantic model (SweepFile): a boolean is not a count, and each error names its line."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    for part in expected:
        assert part in str(err.value), str(err.value)


def test_every_problem_of_a_sweep_is_listed_at_once():
    """Unknown paths in grid and changes, a bad metric and a bad range: four problems in one error."""
    base = Scenario()
    with pytest.raises(ScenarioError) as err:
        build_sweep(base, grid={"retrieval.top_kk": [1], "workload.queries_per_day": {"log_range": [0, 9]}},
                    changes={"simulation.queriez": 5}, metrics=["fresh_shar"])
    where = sorted(p.location for p in err.value.problems)
    assert where == ["changes.simulation.queriez", "grid.retrieval.top_kk", "grid.workload.queries_per_day.log_range",
                     "metrics[0]"], where
    assert "did you mean 'fresh_share'" in str(err.value)


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(lo=st.floats(1e-3, 1e6), ratio=st.floats(1.0, 1e4), n=st.integers(1, 12), log=st.booleans())
def test_a_range_axis_is_the_closed_form_spacing(lo, ratio, n, log):
    """{range: [lo, hi], points: n} is lo + i (hi - lo)/(n - 1); {log_range: ...} is lo (hi/lo)^(i/(n - 1)):
    n values, from lo to hi, on a float field as given (no rounding)."""
    from simlib.sweep.spec import GridAxis

    hi = lo * ratio
    axis = GridAxis.model_validate({"log_range" if log else "range": [lo, hi], "points": n})
    got = axis.values_of("prompt_cache.write_multiplier")
    step = [i / (n - 1) if n > 1 else 0.0 for i in range(n)]
    want = [lo * (hi / lo) ** t for t in step] if log else [lo + t * (hi - lo) for t in step]
    assert got == pytest.approx(want, rel=1e-9)
