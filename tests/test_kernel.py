"""The array backend ("fast") against the simpy engine of record: the same per-query records, bit for bit.

Both engines draw the same random inputs (simlib.engine.draws), so every record field
(times, costs, freshness, cache hits, flags) must be equal, not merely close, on every
preset and on random scenarios; then the kernel's streaming summaries must equal the
summaries computed from full records. Speed is measured in benchmarks/, not here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simlib
import simlib.engine.array_backend as kernel
from simlib.engine.array_backend import QuantileSketch, fifo_stage, simpy_clock, sorted_quantiles, _Services
from simlib.results import METRICS, RECORD_DTYPE
from simlib.scenario import Scenario


def run_fast(scenario: Scenario, **options):
    """The array backend, pinned (simlib.run's engine="fast")."""
    return simlib.run(scenario, engine="fast", **options)


def assert_same_run(a, b) -> None:
    """Every record field, monthly cost component, busy time and timeline event equal."""
    assert len(a.replications) == len(b.replications)
    assert a.feasibility == b.feasibility
    for ra, rb in zip(a.replications, b.replications):
        assert set(ra.strategies) == set(rb.strategies)
        assert ra.span_s == rb.span_s
        for name, sa in ra.strategies.items():
            sb = rb.strategies[name]
            for f in RECORD_DTYPE.names:
                x, y = sa.records[f], sb.records[f]
                same = (x == y) | (np.isnan(x) & np.isnan(y)) if x.dtype.kind == "f" else (x == y)
                bad = np.flatnonzero(~same)
                assert bad.size == 0, f"{name}.{f}: {bad.size} queries differ, first {bad[:3]}: {x[bad[:3]]} vs {y[bad[:3]]}"
            for table in ("cost_components_usd", "quality_factors"):  # kept beside the records by engine.records
                x, y = getattr(sa, table), getattr(sb, table)
                for f in x.dtype.names:
                    np.testing.assert_array_equal(x[f], y[f], err_msg=f"{name}.{table}.{f}")
            assert sa.busy_s == sb.busy_s, name
            assert sa.capacity == sb.capacity
            for comp, value in sa.monthly_components_usd.items():
                # cache storage sums entry lifetimes: equal up to summation order
                assert sb.monthly_components_usd[comp] == pytest.approx(value, rel=1e-12, abs=0), (name, comp)
        for kind, times in ra.timeline.items():
            np.testing.assert_array_equal(times, rb.timeline[kind], err_msg=kind)


def both(scenario: Scenario, chunk: int = kernel.CHUNK_QUERIES):
    return simlib.run(scenario, engine="simpy"), run_fast(scenario, records="full", chunk_queries=chunk)


@pytest.mark.parametrize("preset", [name for name, _ in simlib.list_presets()])
def test_kernel_equals_simpy_on_every_preset(preset):
    """Each preset, two replications, a warm-up, chunks small enough to carry state across."""
    s = simlib.load_preset(preset).with_changes(
        {"simulation.queries": 600, "simulation.replications": 2, "simulation.warmup_share": 0.1})
    if s.sessions.kind != "none":
        # sessions run on the simpy backend only (docs/sweeps.md): the array backend says so and falls back ...
        fallen = run_fast(s, records="full")
        assert fallen.engine == "simpy" and any("sessions" in n for n in fallen.notes)
        # ... and everything else of the preset is still followed record for record
        s = s.with_changes({"sessions.kind": "none"})
    a, b = both(s, chunk=97)
    assert b.engine == "fast" and a.engine == "simpy"
    assert_same_run(a, b)


def test_kernel_equals_simpy_under_congestion_and_ties(tmp_path):
    """Queues that wait, and a replayed trace with whole-second arrivals in bursts and
    constant latencies: ties at both stages (so the order of queries with equal retrieval
    completions decides which one writes the cache and which one hits), and cache uses
    exactly one TTL after the last (a miss: the entry lives until, not through, t + TTL)."""
    from simlib.traces import with_trace

    rng = np.random.default_rng(3)
    t = np.cumsum(rng.choice([0, 0, 0, 1, 2, 2], 2_000))
    path = tmp_path / "ties.csv"
    rows = ["timestamp_s,input_tokens,output_tokens"] + [
        f"{ti},{rng.choice([50, 100])},{rng.choice([10, 20])}" for ti in t]
    path.write_text("\n".join(rows) + "\n")
    base = with_trace(simlib.load_preset("shared-manual"), str(path))
    for retrieval_c, model_c, latency in ((64, 64, 0.5), (1, 1, 0.0), (3, 2, 0.5), (64, 2, 0.0)):
        s = base.with_changes({
            "retrieval.concurrency_limit": retrieval_c, "model.concurrency_limit": model_c,
            "fine_tuning.concurrency_limit": model_c, "retrieval.latency_cv": 0.0,
            "retrieval.embed_latency_s": latency, "retrieval.search_latency_s": 0.0, "model.network_rtt_s": 0.0,
            "prompt_cache.ttl_s": 2.0, "prompt_cache.min_cacheable_tokens": 0,
            "model.decode_tokens_per_s": 10.0, "fine_tuning.decode_tokens_per_s": 10.0,
            "knowledge.changes_per_day": 20_000, "workload.tenants_count": 3,
        })
        a, b = both(s, chunk=700)
        assert_same_run(a, b)
        if model_c == 64:  # the case is as built: ties decide hits and misses
            hits = (b.records("rag_prompt_cache")["flags"] & 32) != 0
            assert 0 < hits.mean() < 1


SCENARIO_CHOICES = {
    "simulation.queries": [1, 2, 40, 250],
    "simulation.warmup_share": [0.0, 0.2],
    "workload.queries_per_day": [200.0, 20_000.0, 2e6],
    "workload.arrival_process": ["poisson", "daily_profile"],
    "workload.token_length_cv": [0.0, 0.6, 2.0],
    "workload.query_tokens_mean": [10.0, 3_000.0],
    "workload.fact_popularity": ["uniform", "zipf"],
    "workload.tenants_count": [1, 3, 50],
    "knowledge.facts_count": [1, 40, 300],
    "knowledge.changes_per_day": [0.0, 50.0, 50_000.0],
    "knowledge.change_burst_size_mean": [1.0, 4.0],
    "knowledge.changes_follow_popularity": [False, True],
    "knowledge.index_refresh": ["streaming", "batch"],
    "knowledge.index_lag_s": [0.0, 3_000.0],
    "knowledge.reindex_interval_s": [60.0, 86_400.0],
    "retrieval.top_k": [0, 5, 20],
    "retrieval.latency_cv": [0.0, 2.0],
    "retrieval.rerank": [False, True],
    "retrieval.concurrency_limit": [1, 64],
    "model.concurrency_limit": [1, 3, 32],
    "model.context_window_tokens": [4_000, 200_000],
    "model.service_time_distribution": ["deterministic", "exponential"],
    "fine_tuning.retrain_interval_days": [0.01, 30.0],
    "fine_tuning.concurrency_limit": [1, 32],
    "prompt.few_shot_tokens": [0, 2_000],
    "prompt_cache.mode": ["explicit", "automatic"],
    "prompt_cache.ttl_s": [0.0, 5.0, 3_600.0],
    "prompt_cache.min_cacheable_tokens": [0, 1_024],
    "prompt_cache.rebuild_policy": ["on_change", "periodic"],
    "prompt_cache.rebuild_interval_s": [10.0, 86_400.0],
    "prompt_cache.prefix_scope": ["global", "per_tenant"],
    "prompt_cache.storage_usd_per_mtok_hour": [0.0, 1.0],
    "prompt_cache.overflow_requests_per_minute": [None, 0.5, 15.0],  # best-effort routing: spills both backends must agree on
    "prompt_cache.breakpoints_limit": [None, 1, 4],
    "prompt.short_system_tokens": [150, 1_500],
    "fine_tuning.cache_mode": [None, "automatic"],  # a fine-tuned model on another provider
    "fine_tuning.cache_overflow_requests_per_minute": [None, 2.0],
}


@st.composite
def scenarios(draw):
    changes = {path: draw(st.sampled_from(values)) for path, values in SCENARIO_CHOICES.items()}
    changes["simulation.seed"] = draw(st.integers(0, 10_000))
    return Scenario().with_changes(changes), draw(st.sampled_from([3, 17, 64, 65_536]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_kernel_equals_simpy_on_random_scenarios(case):
    """Random scenarios: saturated queues, rejections, truncation, caches of every kind,
    batch and periodic snapshots, bursts, tenants, and chunk sizes down to 3 queries."""
    scenario, chunk = case
    assert_same_run(*both(scenario, chunk=chunk))


def test_summary_mode_equals_full_records():
    """Streaming aggregates give replication_metrics' and batch_metrics' numbers (one and two
    replications, warm-up, queries finishing out of order across chunks)."""
    for preset in ("coaching-app", "shared-manual", "codebase-agent"):
        for reps in (1, 2):
            s = simlib.load_preset(preset).with_changes(
                {"simulation.queries": 800, "simulation.replications": reps, "simulation.warmup_share": 0.1})
            full = run_fast(s, records="full", chunk_queries=113).summary()
            summ = run_fast(s, records="summary", chunk_queries=113).summary()
            for name in full:
                for metric in METRICS:
                    for key in ("mean", "ci95"):
                        x, y = full[name][metric][key], summ[name][metric][key]
                        if x is None or y is None:
                            assert x is None and y is None, (preset, name, metric, key, x, y)
                        else:
                            np.testing.assert_allclose(y, x, rtol=1e-9, atol=1e-12, err_msg=f"{preset} {name} {metric}")


def test_every_metric_has_an_exact_and_a_streaming_reducer():
    """One metrics table (results.METRICS): the exact reducer (replication_metrics, over records)
    and the streaming one (array_backend.STREAMING_REDUCERS, over folded sums) each give exactly
    its metrics, so a metric added to the table without both fails here, not in a run."""
    from simlib.engine.array_backend import STREAMING_REDUCERS
    from simlib.results import replication_metrics

    assert set(STREAMING_REDUCERS) == set(METRICS), sorted(set(METRICS) ^ set(STREAMING_REDUCERS))
    s = simlib.load_preset("shared-manual").with_changes({"simulation.queries": 300})
    full = run_fast(s, records="full")
    rep = full.replications[0]
    for name, sr in rep.strategies.items():
        assert set(replication_metrics(s, name, sr, rep.span_s)) == set(METRICS), name
    streamed = run_fast(s, records="summary").metrics_by_replication()[0]
    assert all(set(m) == set(METRICS) for m in streamed.values())


def test_simpy_clock_is_simpys_clock():
    """The clock simpy reaches at each drawn arrival (now + (t - now)), read from simpy itself."""
    rng = np.random.default_rng(0)
    # now + (t - now) can miss t only when now < t / 2 (the start of a run, a long idle
    # gap): times that often more than double, with repeats
    t = np.repeat(np.cumprod(rng.uniform(1.0, 3.0, 300)) * 1e-3, rng.integers(1, 3, 300))
    assert (simpy_clock(t) != t).any()  # the case is as built
    seen = []
    env = simpy.Environment()

    def source():
        for ti in t.tolist():
            if ti > env.now:
                yield env.timeout(ti - env.now)
            seen.append(env.now)

    env.process(source())
    env.run()
    assert simpy_clock(t).tolist() == seen


def simpy_fifo(req, service, servers):
    """Start times at a simpy.Resource fed in request order (the reference)."""
    env = simpy.Environment()
    res = simpy.Resource(env, servers)
    starts = [None] * len(req)

    def job(i):
        with res.request() as r:
            yield r
            starts[i] = env.now
            yield env.timeout(service[i])

    def source():
        for i, t in enumerate(req):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(job(i))

    env.process(source())
    env.run()
    return starts


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=80),
       st.integers(1, 80))
def test_fifo_stage_matches_a_simpy_resource(servers, steps, split):
    """Integer gaps and services (many ties, idle and busy spells): the heap recursion and its
    vectorised no-wait windows equal simpy's FIFO Resource, also when the state is carried
    across two calls."""
    gaps, services = zip(*steps)
    req = np.cumsum(np.asarray(gaps, float))
    svc = np.asarray(services, float)
    expected = simpy_fifo(req.tolist(), svc.tolist(), servers)
    dep = np.full(servers, -np.inf)
    start, _, _ = fifo_stage(dep, servers, req, _Services(svc))
    assert start.tolist() == expected
    k = min(split, len(req))
    s1, _, dep1 = fifo_stage(np.full(servers, -np.inf), servers, req[:k], _Services(svc[:k]))
    s2, _, _ = fifo_stage(dep1, servers, req[k:], _Services(svc[k:]))
    assert np.concatenate([s1, s2]).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False, width=32), min_size=1, max_size=60), st.floats(0, 1))
def test_sorted_quantiles_equal_numpy(values, q):
    x = np.sort(np.asarray(values, float))
    qs = (0.5, 0.95, 0.99, q)
    assert sorted_quantiles(x, qs) == [float(v) for v in np.quantile(x, qs)]


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.1, 3.0), st.sampled_from([0.5, 0.95, 0.99, 0.0, 1.0]))
def test_quantile_sketch_stays_within_its_relative_error(seed, sigma, q):
    """Each order statistic within a (the documented relative error), so any interpolated
    quantile is within a of the larger of its two order statistics."""
    x = np.random.default_rng(seed).lognormal(0, sigma, 5_000)
    sketch = QuantileSketch(1e-3)
    for part in np.array_split(x, 7):
        sketch.add(part)
    xs = np.sort(x)
    h = (len(xs) - 1) * q
    hi_stat = xs[min(len(xs) - 1, math.floor(h) + 1)]
    assert abs(sketch.quantile(q) - np.quantile(x, q)) <= 1e-3 * hi_stat * (1 + 1e-9)


def test_long_runs_switch_to_a_sketch_and_sample_records(monkeypatch):
    """Past the exact limit, percentiles come from the sketch (within its error), the means
    stay exact, the records are a sample, and the notes say so."""
    monkeypatch.setattr(kernel, "EXACT_QUANTILE_VALUES", 500)
    monkeypatch.setattr(kernel, "SAMPLE_RECORDS", 300)
    s = simlib.load_preset("docs-assistant").with_changes({"simulation.queries": 3_000})
    full = run_fast(s, records="full").summary()
    streamed = run_fast(s, records="summary")
    summ = streamed.summary()
    assert any("quantile sketch" in n for n in streamed.notes)
    assert any("1-in-10 sample" in n for n in streamed.notes)
    assert len(streamed.records("rag")) == 300
    np.testing.assert_array_equal(streamed.records("rag")["arrival_at_s"],
                                  run_fast(s, records="full").records("rag")["arrival_at_s"][::10])
    for metric in ("latency_p50_s", "latency_p99_s", "ttft_p95_s"):
        assert summ["rag"][metric]["mean"] == pytest.approx(full["rag"][metric]["mean"], rel=2e-3)
    for metric in ("cost_per_query_usd", "latency_mean_s", "fresh_share"):
        assert summ["rag"][metric]["mean"] == pytest.approx(full["rag"][metric]["mean"], rel=1e-9)


def test_prefix_hash_traces_fall_back_to_simpy():
    """The per-block prompt cache of prefix-hash traces is simpy's alone: the run says so."""
    from simlib.traces import with_trace

    s = with_trace(simlib.load_preset("shared-manual"), "mooncake-conversation", queries=200)
    result = simlib.run(s, engine="fast")
    assert result.engine == "simpy"
    assert any("fast kernel cannot follow" in n for n in result.notes)


def test_cli_run_engine_flag(capsys):
    """`simlib run --engine fast|simpy` runs the named engine; both print the same summary."""
    import json

    from simlib.cli import main

    args = ["run", "--preset", "code-apply", "--queries", "300", "--json", "--no-progress"]
    assert main(args + ["--engine", "fast"]) == 0
    fast = json.loads(capsys.readouterr().out)
    assert main(args + ["--engine", "simpy"]) == 0
    slow = json.loads(capsys.readouterr().out)
    assert (fast["engine"], slow["engine"]) == ("fast", "simpy")
    assert fast["strategies"] == slow["strategies"]


def test_quality_metrics_are_the_means_of_the_factors_kept_beside_the_records():
    """300 chunks in every RAG prompt: quality_distraction is (1 - d)^(300 - 1) on both backends, in
    summary and full mode. A record's chunks_used is capped at 255, so results that re-derived the
    factors from the records said (1 - d)^254 where the engine's own quality proxy used 300."""
    s = simlib.load_preset("docs-assistant").with_changes({
        "simulation.queries": 300, "simulation.strategies": ["rag"], "retrieval.top_k": 300, "retrieval.chunk_tokens": 20,
        "model.context_window_tokens": 200_000, "retrieval.distraction_per_extra_chunk_share": 0.001})
    want = (1 - 0.001) ** 299
    for run in (simlib.run(s, engine="simpy"), run_fast(s, records="full"), run_fast(s, records="summary")):
        rec = run.replications[0].strategies["rag"].records
        assert (rec["chunks_used"][(rec["flags"] & kernel.CITABLE) != 0] == 255).all()  # the record's cap
        assert run.summary()["rag"]["quality_distraction"]["mean"] == pytest.approx(want, rel=1e-12)
