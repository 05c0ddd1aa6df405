"""Invariants over random scenarios (hypothesis): conservation, signs, monotonicity.

Common random numbers make the monotonicity checks exact: two runs that differ in one
price, in top_k or in load see the same arrivals (scaled), lengths and draws.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simlib
from simlib.results import COMPLETED, REJECTED
from simlib.scenario import Scenario

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenarios(draw) -> Scenario:
    return Scenario().with_changes({
        "workload.queries_per_day": draw(st.floats(100, 500_000)),
        "workload.token_length_cv": draw(st.floats(0, 2)),
        "workload.query_tokens_mean": draw(st.floats(1, 3000)),
        "workload.tenants_count": draw(st.integers(1, 20)),
        "workload.fact_popularity": draw(st.sampled_from(["uniform", "zipf"])),
        "knowledge.facts_count": draw(st.integers(1, 500)),
        "knowledge.changes_per_day": draw(st.floats(0, 5000)),
        "knowledge.change_burst_size_mean": draw(st.floats(1, 5)),
        "knowledge.index_refresh": draw(st.sampled_from(["streaming", "batch"])),
        "retrieval.top_k": draw(st.integers(0, 30)),
        "retrieval.chunk_tokens": draw(st.integers(50, 3000)),
        "retrieval.rerank": draw(st.booleans()),
        "model.context_window_tokens": draw(st.sampled_from([8_000, 32_000, 200_000])),
        "model.concurrency_limit": draw(st.integers(1, 64)),
        "model.service_time_distribution": draw(st.sampled_from(["deterministic", "exponential"])),
        "prompt_cache.mode": draw(st.sampled_from(["explicit", "automatic"])),
        "prompt_cache.rebuild_policy": draw(st.sampled_from(["on_change", "periodic"])),
        "prompt_cache.ttl_s": draw(st.floats(0, 7200)),
        "simulation.queries": draw(st.integers(1, 300)),
        "simulation.seed": draw(st.integers(0, 2**31)),
    })


@SETTINGS
@given(scenarios())
def test_no_query_lost_and_costs_non_negative(scenario):
    result = simlib.run(scenario)
    for name in result.strategies:
        if result.feasibility[name] is not None:
            continue
        rec = result.records(name)
        done = (rec["flags"] & COMPLETED) != 0
        rejected = (rec["flags"] & REJECTED) != 0
        assert len(rec) == scenario.simulation.queries
        assert np.all(done ^ rejected)  # every arrival completed or reported rejected, never both
        assert np.all(rec["cost_usd"] >= 0)
        assert np.all(rec["latency_s"][done] >= rec["ttft_s"][done])
        assert np.all(rec["ttft_s"][done] >= rec["queue_wait_s"][done])
        summary = result.summary()[name]
        assert summary["monthly_cost_usd"]["mean"] >= 0
        fresh = summary["fresh_share"]["mean"]
        assert fresh is None or 0 <= fresh <= 1


@SETTINGS
@given(scenarios(), st.sampled_from(["prices.input_usd_per_mtok", "prices.output_usd_per_mtok",
                                     "fine_tuning.input_usd_per_mtok", "prices.embedding_usd_per_mtok",
                                     "fine_tuning.training_usd_per_mtok", "prompt_cache.write_multiplier"]),
       st.floats(1.01, 10))
def test_a_higher_price_never_lowers_cost(scenario, price_field, factor):
    group, field = price_field.split(".")
    current = getattr(getattr(scenario, group), field)
    dearer = scenario.with_changes({price_field: current * factor + 0.01})
    before, after = simlib.run(scenario).summary(), simlib.run(dearer).summary()
    for name, entry in before.items():
        if entry["feasible"]:
            assert after[name]["cost_per_query_usd"]["mean"] >= entry["cost_per_query_usd"]["mean"] * (1 - 1e-9)


@SETTINGS
@given(scenarios(), st.integers(1, 10))
def test_more_chunks_never_lower_retrieval_strategies_cost(scenario, extra):
    more = scenario.with_changes({"retrieval.top_k": scenario.retrieval.top_k + extra})
    before, after = simlib.run(scenario).summary(), simlib.run(more).summary()
    for name in ("rag", "rag_fine_tune", "rag_prompt_cache"):
        if before[name]["feasible"] and after[name]["feasible"]:
            assert after[name]["variable_cost_per_query_usd"]["mean"] >= before[name]["variable_cost_per_query_usd"]["mean"] * (1 - 1e-6)


@SETTINGS
@given(scenarios(), st.floats(1.1, 10))
def test_more_load_never_lowers_monthly_cost_without_a_cache(scenario, factor):
    """Strategies without a prompt cache pay the same per query at any load, so monthly cost
    grows with load. (Cached strategies are excluded on purpose: with a TTL, more load turns
    expensive misses into cheap hits, and the monthly bill can genuinely fall.)"""
    busier = scenario.with_changes({"workload.queries_per_day": scenario.workload.queries_per_day * factor})
    before, after = simlib.run(scenario).summary(), simlib.run(busier).summary()
    for name in ("prompt_only", "rag", "fine_tune", "rag_fine_tune"):
        if before[name]["feasible"]:
            assert after[name]["monthly_cost_usd"]["mean"] >= before[name]["monthly_cost_usd"]["mean"] * (1 - 1e-9)


def test_same_seed_same_numbers_other_seed_other_draws():
    s = simlib.load_preset("docs-assistant").with_changes({"simulation.queries": 400})
    a, b = simlib.run(s), simlib.run(s)
    for name in a.strategies:
        ra, rb = a.records(name), b.records(name)
        for field in ra.dtype.names:
            assert np.array_equal(ra[field], rb[field], equal_nan=ra[field].dtype.kind == "f"), (name, field)
    c = simlib.run(s.with_changes({"simulation.seed": 1}))
    assert not np.array_equal(a.records("rag")["arrival_at_s"], c.records("rag")["arrival_at_s"])
    assert a.summary()["rag"]["latency_p95_s"]["mean"] != c.summary()["rag"]["latency_p95_s"]["mean"]


def test_strategies_share_common_random_numbers():
    """All strategies see the same arrivals and query lengths in one run."""
    result = simlib.run(simlib.load_preset("docs-assistant").with_changes({"simulation.queries": 300}))
    rag = result.records("rag")
    for name in ("prompt_only", "fine_tune", "rag_fine_tune"):
        rec = result.records(name)
        assert np.array_equal(rec["arrival_at_s"], rag["arrival_at_s"])
        assert np.array_equal(rec["query_tokens"], rag["query_tokens"])


def test_littles_law_on_the_model_stage():
    """Little's law: mean number in system = arrival rate x mean time in system (L = lambda W)."""
    s = Scenario().with_changes({"simulation.strategies": ["fine_tune"], "simulation.queries": 20_000,
                                 "workload.queries_per_day": 100_000, "fine_tuning.concurrency_limit": 8,  # rho ~ 0.87
                                 "fine_tuning.network_rtt_s": 0.0})
    rec = simlib.run(s).records("fine_tune")
    start, end = rec["arrival_at_s"], rec["arrival_at_s"] + rec["latency_s"].astype(float)
    # time-average number in system over [t0, t1], counted from the events themselves
    t0, t1 = start[2000], start[-2000]
    grid = np.linspace(t0, t1, 4000)
    in_system = np.searchsorted(np.sort(start), grid, "right") - np.searchsorted(np.sort(end), grid, "right")
    rate = s.arrival_rate_per_s
    mean_latency = float(rec["latency_s"][2000:-2000].mean())
    assert abs(in_system.mean() - rate * mean_latency) < 0.05 * rate * mean_latency
