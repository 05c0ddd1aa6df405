"""Hostile inputs (issue 13): silent wrong numbers get a note or an error; every numeric field's
boundary values give a located error or a run, never a traceback."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simlib
from simlib.errors import ScenarioError
from simlib.scenario import Scenario, build_scenario


def _small(**groups):
    data = {"simulation": {"queries": 300, "strategies": ["prompt_only", "rag"]}}
    for g, v in groups.items():
        data.setdefault(g, {}).update(v)
    return build_scenario(data)


def test_one_query_gets_a_too_few_queries_note():
    result = simlib.run(_small(simulation={"queries": 1}))
    assert any("too few queries" in n for n in result.notes)
    assert not any("too few queries" in n for n in simlib.run(_small()).notes)


def test_top_k_beyond_the_chunks_that_exist_is_noted():
    result = simlib.run(_small(knowledge={"facts_count": 1, "chunks_per_fact": 1}, retrieval={"top_k": 100}))
    assert any("retrieval.top_k (100)" in n for n in result.notes)


def test_rejected_requests_are_shown_in_the_table():
    from simlib.cli import format_table

    s = _small(workload={"query_tokens_mean": 500_000, "token_length_cv": 0.0})  # over the 200k window
    text = format_table(simlib.run(s))
    header = next(line for line in text.splitlines() if line.startswith("strategy"))
    assert "rejected" in header  # the table has the column
    assert "request(s) per replication rejected" in text


def test_unknown_names_are_errors_not_empty_results():
    result = simlib.run(_small())
    with pytest.raises(ValueError, match="no strategy 'foo'"):
        result.records("foo")
    with pytest.raises(ValueError, match="unknown metric 'foo'"):
        result.summary_wide(["foo"])
    with pytest.raises(ValueError, match="records must be"):
        simlib.run(_small(), records="none")


def test_sweep_results_carry_the_run_notes():
    from simlib.sweep import sweep

    res = sweep(_small(simulation={"queries": 10}), grid={"simulation.seed": [0, 1]}, progress=False)
    assert any("too few queries" in n and "points 0, 1" in n for n in res.notes)


# --- every numeric field at its boundaries (in the spirit of sklearn's check_param_validation) --

def _numeric_fields():
    from simlib.scenario import _is_number_annotation

    for group, gfield in Scenario.model_fields.items():
        model = gfield.annotation
        if not (isinstance(model, type) and hasattr(model, "model_fields")):
            continue
        for name, f in model.model_fields.items():
            if _is_number_annotation(f.annotation) and "tuple" not in str(f.annotation):
                yield f"{group}.{name}", f


def _upper(f):
    for m in f.metadata:
        for attr in ("le", "lt"):
            if getattr(m, attr, None) is not None:
                return getattr(m, attr)
    return None


FIELDS = list(_numeric_fields())


def test_every_numeric_field_has_a_finite_upper_bound():
    unbounded = [p for p, f in FIELDS if _upper(f) is None and p != "prompt_cache.ttl_s"]
    assert not unbounded


@pytest.mark.parametrize("path,field", FIELDS, ids=[p for p, _ in FIELDS])
def test_boundary_values_run_or_name_the_field(path, field):
    top = _upper(field)
    values = [0, -1, math.nan, math.inf, -math.inf, 1e308, True]
    if top is not None:
        values.append(top * 2 + 1)
    start = time.monotonic()
    for value in values:
        try:
            s = build_scenario({"simulation": {"queries": 60, "strategies": ["rag", "fine_tune"]}}).with_changes({path: value})
        except ScenarioError as exc:
            assert path in str(exc), (path, value, str(exc))
            continue
        if value is True:
            pytest.fail(f"{path} accepted a boolean")
        if isinstance(value, float) and math.isinf(value) and path != "prompt_cache.ttl_s":
            pytest.fail(f"{path} accepted {value}")
        assert isinstance(s, Scenario)
    assert time.monotonic() - start < 10


# a sample through the CLI: exit 2 naming the field, never a traceback
@pytest.mark.parametrize("path,value", [
    ("workload.queries_per_day", "1e308"), ("knowledge.facts_count", "1000000000000"),
    ("knowledge.index_lag_s", ".inf"), ("prompt_cache.ttl_s", ".inf"), ("workload.queries_per_day", "0.001"),
    ("fine_tuning.training_tokens", "1e20"), ("model.concurrency_limit", "-1"),
])
def test_cli_sample_exits_2_or_runs(tmp_path, path, value):
    group, name = path.split(".")
    f = tmp_path / "s.yaml"
    f.write_text(f"base: docs-assistant\n{group}:\n  {name}: {value}\n")
    proc = subprocess.run([sys.executable, "-m", "simlib.cli", "run", "--scenario", str(f), "--queries", "100",
                           "--strategies", "rag,prompt_cache", "--json"], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode == 2:
        assert path in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        json.loads(proc.stdout)


# --- random valid scenarios through the CLI: the JSON parses, every metric finite or null ---

@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(qpd=st.floats(10, 1e6), top_k=st.integers(0, 50), ttl=st.sampled_from([0.0, 300.0, 3600.0, math.inf]),
       cv=st.floats(0, 3), changes=st.floats(0, 500), seed=st.integers(0, 2**31),
       warmup=st.floats(0, 0.5), replications=st.integers(1, 2), engine=st.sampled_from(["auto", "simpy"]))
def test_random_valid_scenarios_give_strict_json(tmp_path, capsys, qpd, top_k, ttl, cv, changes, seed, warmup,
                                                 replications, engine):
    """In-process (simlib.cli.main) and without the flip search, so eight examples stay well under a minute."""
    import yaml

    from simlib.cli import main

    data = {"base": "docs-assistant", "workload": {"queries_per_day": qpd, "token_length_cv": cv},
            "retrieval": {"top_k": top_k}, "prompt_cache": {"ttl_s": ttl}, "knowledge": {"changes_per_day": changes},
            "simulation": {"queries": 150, "seed": seed, "warmup_share": warmup, "replications": replications}}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    code = main(["run", "--scenario", str(f), "--json", "--no-flips", "--no-progress", "--engine", engine])
    out, err = capsys.readouterr()
    assert code == 0, err
    # strict: json.loads accepts NaN and Infinity, so refuse them as constants, then check every number
    parsed = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in --json"))
    for entry in parsed["strategies"].values():
        for metric, v in entry.items():
            if metric == "peak_hour_utilisation":  # {stage: utilisation or None}
                assert all(u is None or math.isfinite(u) for u in v.values()), v
            elif isinstance(v, dict):
                assert v["mean"] is None or (isinstance(v["mean"], (int, float)) and math.isfinite(v["mean"])), metric


# --- the batch-means interval (one replication) ------------------------------------------

@pytest.mark.parametrize("warmup", [0.0, 0.1, 0.55])
@pytest.mark.parametrize("engine,records", [("simpy", "full"), ("fast", "full"), ("fast", "summary")])
def test_an_exactly_constant_metric_has_a_zero_width_interval(warmup, engine, records):
    """Constant lengths and prompt_only: every query costs the same, so every batch does too.

    Before the fix, with warm-up the first batch was all warm-up and counted as $0: a cost of
    exactly $0.01623 per query was reported with the interval 0.01256-0.01990.
    """
    s = build_scenario({"workload": {"token_length_cv": 0.0},
                        "simulation": {"queries": 2000, "warmup_share": warmup, "strategies": ["prompt_only"]}})
    entry = simlib.run(s, engine=engine, records=records).summary()["prompt_only"]
    mean = entry["cost_per_query_usd"]["mean"]
    low, high = entry["cost_per_query_usd"]["ci95"]
    assert high - low <= 1e-12 * mean
    measured = 2000 - int(warmup * 2000)
    qc = entry["queries_completed"]
    assert qc["mean"] == measured and qc["ci95"][0] <= measured <= qc["ci95"][1]
    assert qc["ci95"][1] - qc["ci95"][0] < 0.01 * measured  # batch counts scaled to the run total


# --- the resource estimate refuses what would not fit ------------------------------------

@pytest.mark.parametrize("args", [["--queries", "50000000", "--records", "full"],
                                  ["--engine", "simpy", "--queries", "5000000"]])
def test_runs_that_would_not_fit_are_refused_at_once(args):
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "simlib.cli", "run", "--preset", "docs-assistant", *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "GiB" in proc.stderr and "SIMLIB_MEMORY_LIMIT_GIB" in proc.stderr, proc.stderr
    assert time.monotonic() - start < 30


def test_memory_limit_is_a_setting(monkeypatch):
    from simlib.resources import check_fits

    s = build_scenario({"simulation": {"queries": 100_000}})
    monkeypatch.setenv("SIMLIB_MEMORY_LIMIT_GIB", "0.01")
    with pytest.raises(ScenarioError, match="0.01 GiB limit"):
        check_fits(s, records="full")
    monkeypatch.setenv("SIMLIB_MEMORY_LIMIT_GIB", "many")
    with pytest.raises(ScenarioError, match="SIMLIB_MEMORY_LIMIT_GIB"):
        check_fits(s)


def test_a_rate_limited_summary_run_is_sized_with_its_whole_draws():
    """Rate limits decide admissions from every query's draws, so a rate-limited summary run is not flat in size."""
    from simlib.resources import PER_QUERY_BYTES, RATE_LIMITED_PER_QUERY_STRATEGY_BYTES, estimate

    plain = build_scenario({"simulation": {"queries": 1_000_000}})
    limited = plain.with_changes({"rate_limits.requests_per_minute": 1e6, "rate_limits.input_tokens_per_minute": 1e9,
                                  "rate_limits.output_tokens_per_minute": 1e9})
    n, s = 1_000_000, len(plain.simulation.strategies)
    extra = estimate(limited, records="summary").memory_bytes - estimate(plain, records="summary").memory_bytes
    assert extra == PER_QUERY_BYTES["full"] * n + RATE_LIMITED_PER_QUERY_STRATEGY_BYTES * n * s


def test_a_scenario_the_array_backend_hands_over_is_refused_as_the_simpy_run_it_becomes(monkeypatch):
    """engine='auto' on a session workload runs on simpy (~1,000 B a query x strategy, not the array's 160 B)."""
    import simlib
    from simlib.resources import PER_QUERY_STRATEGY_BYTES

    s = simlib.load_preset("coaching-app").with_changes({"simulation.queries": 200_000})
    from simlib.engine.run import simpy_only_reason

    assert simpy_only_reason(s) is not None
    need_gib = PER_QUERY_STRATEGY_BYTES["simpy"] * 200_000 * len(s.simulation.strategies) / 1024**3
    monkeypatch.setenv("SIMLIB_MEMORY_LIMIT_GIB", f"{need_gib / 2:.3f}")  # room for the array run, not for simpy's
    with pytest.raises(ScenarioError, match=r"\(simpy\)"):
        simlib.run(s)


# --- common random numbers along the change rate -----------------------------------------

def test_a_higher_change_rate_gives_a_superset_of_changes_at_the_poisson_rate():
    import numpy as np

    from simlib.engine.draws import ChangeStream

    def stream(rate):
        s = build_scenario({"knowledge": {"changes_per_day": rate, "change_burst_size_mean": 1.0}})
        times, facts = ChangeStream(s, np.random.default_rng(7), -1e7).arrays(1e7)
        return times, facts

    low, high = stream(10.0), stream(15.0)
    assert set(zip(*map(np.ndarray.tolist, low))) <= set(zip(*map(np.ndarray.tolist, high)))
    days = 2e7 / 86_400
    for (times, _), rate in ((low, 10.0), (high, 15.0)):  # Poisson counts: within 4 sd of rate x span
        assert abs(len(times) - rate * days) < 4 * math.sqrt(rate * days)


@pytest.mark.parametrize("changes", [
    {"knowledge.index_refresh": "streaming", "fine_tuning.retrain_interval_days": 7.0},
    {"knowledge.index_refresh": "batch", "knowledge.reindex_interval_s": 43_200.0},
])
def test_fresh_share_is_monotone_in_the_change_rate_on_one_seed(changes):
    """Issue 13: on docs-assistant with weekly retraining, seed 1, fine-tuning's fresh share rose
    from 0.9370 at 10 changes/day to 0.9572 at 15 (changes squeezed toward the start)."""
    from simlib.scenario import load_preset

    base = load_preset("docs-assistant").with_changes({
        **changes, "simulation.seed": 1, "simulation.queries": 3000,
        "simulation.strategies": ["rag", "fine_tune"]})
    previous = {"rag": 1.0, "fine_tune": 1.0}
    for rate in (2.0, 10.0, 15.0, 40.0, 120.0):
        summary = simlib.run(base.with_changes({"knowledge.changes_per_day": rate})).summary()
        for name in previous:
            fresh = summary[name]["fresh_share"]["mean"]
            assert fresh <= previous[name] + 1e-12, (name, rate, fresh, previous[name])
            previous[name] = fresh


def test_one_row_trace_rate_is_noted(tmp_path):
    from simlib.scenario import load_preset
    from simlib.traces import with_trace

    f = tmp_path / "one.csv"
    f.write_text("timestamp_s,input_tokens,output_tokens\n0,100,50\n")
    s = with_trace(load_preset("docs-assistant"), str(f)).with_changes({"simulation.strategies": ["rag"]})
    assert any("no measurable rate" in n for n in simlib.run(s).notes)


def test_a_grid_axis_given_twice_is_an_error(capsys):
    from simlib.cli import main

    code = main(["sweep", "--preset", "docs-assistant", "--grid", "simulation.seed=0", "--grid", "simulation.seed=1"])
    assert code == 2 and "more than once" in capsys.readouterr().err
