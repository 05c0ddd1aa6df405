"""Knowledge injection, private tenants, the cost of ownership and the quality proxy (issue 17).

Expected numbers are worked out by hand from the documented formulas (docs/model.md) and
the published figures they are calibrated to, not read from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import simlib
from simlib.analysis import fixed_variable_break_even_queries_per_month
from simlib.engine.budget import recall_at_k
from simlib.engine.costs import monthly_components
from simlib.engine.injection import (
    decayed_prior_share, fact_recall_share, training_tokens_per_model, weights_knowledge_share,
)
from simlib.engine.quality import long_context_use_share, quality_factors
from simlib.engine.strategies import STRATEGIES
from simlib.scenario import DAYS_PER_MONTH, Scenario

M = DAYS_PER_MONTH

# every ownership component zeroed: each test switches on the one it checks
NO_OWNERSHIP = {
    "prices.engineer_usd_per_hour": 0.0,
    "prices.vector_store_minimum_usd_per_month": 0.0,
    "fine_tuning.synthetic_data_share": 0.0,
    "fine_tuning.eval_questions_count": 0,
    "retrieval.index_build_engineering_hours": 0.0,
    "prices.embedding_usd_per_mtok": 0.0,
}


def scenario(**changes) -> Scenario:
    return Scenario().with_changes(changes)


# --- the injection curve ---------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(e=hs.floats(0, 1e4), de=hs.floats(0, 1e3), p=hs.integers(1, 30), dp=hs.integers(0, 10),
       ceiling=hs.floats(0, 1), half=hs.floats(0.1, 1e3), x1=hs.floats(0, 1))
def test_recall_rises_with_exposures_and_paraphrases_and_stays_below_its_ceiling(e, de, p, dp, ceiling, half, x1):
    kw = dict(half_exposures=half, ceiling_share=ceiling, single_form_share=x1)
    r = float(fact_recall_share(e, p, **kw))
    assert float(fact_recall_share(e + de, p, **kw)) >= r - 1e-12
    assert float(fact_recall_share(e, p + dp, **kw)) >= r - 1e-12
    assert 0.0 <= r <= ceiling + 1e-12


def test_injection_curve_at_a_hand_point_and_allen_zhu_calibration():
    # ceiling 0.9, e = e_half = 30, one form with x1 = 0.1: 0.9 (1 - 1/e) 0.1
    assert float(fact_recall_share(30, 1, half_exposures=30, ceiling_share=0.9, single_form_share=0.1)) == \
        pytest.approx(0.9 * (1 - math.exp(-1)) * 0.1)
    # Allen-Zhu & Li 2023: about 10% extractable from one form, above 90% from five
    one = fact_recall_share(1e9, 1, half_exposures=1, ceiling_share=1, single_form_share=0.097)
    five = fact_recall_share(1e9, 5, half_exposures=1, ceiling_share=1, single_form_share=0.097)
    assert float(one) == pytest.approx(0.097) and float(five) > 0.9


def test_default_training_set_follows_the_corpus():
    s = scenario(**{"knowledge.facts_count": 1_000, "knowledge.chunks_per_fact": 2, "retrieval.chunk_tokens": 300,
                    "fine_tuning.paraphrases_per_fact": 4, "fine_tuning.behaviour_training_tokens": 10_000})
    assert training_tokens_per_model(s) == 10_000 + 1_000 * 2 * 300 * 4
    bigger = s.with_changes({"knowledge.facts_count": 2_000})
    assert training_tokens_per_model(bigger) == 10_000 + 2_000 * 2 * 300 * 4


def test_doubling_the_training_tokens_raises_recall_and_training_cost():
    base = {"fine_tuning.behaviour_training_tokens": 0.0, "knowledge.facts_count": 1_000, **NO_OWNERSHIP}
    one = scenario(**{**base, "fine_tuning.training_tokens": 2_000_000})
    two = scenario(**{**base, "fine_tuning.training_tokens": 4_000_000})
    ft = STRATEGIES["fine_tune"]
    assert weights_knowledge_share(two) > weights_knowledge_share(one)
    c1, c2 = monthly_components(ft, one)["training"], monthly_components(ft, two)["training"]
    # tokens x epochs x price x M / interval, defaults 3 epochs, $25/M, every 30 days
    assert c1 == pytest.approx(2.0 * 3 * 25 * M / 30)
    assert c2 == pytest.approx(2 * c1)


def test_new_facts_are_learned_less_than_half_known_ones():
    # no prior, no change: every fact half-known; every fact changed since the cut-off: every fact new
    half = scenario(**{"quality.prior_knowledge_share": 0.0, "knowledge.changes_per_day": 0.0})
    new = scenario(**{"quality.prior_knowledge_share": 0.0, "knowledge.changes_per_day": 1e5})
    assert weights_knowledge_share(new) < weights_knowledge_share(half)
    # e = 5 paraphrases x 3 epochs = 15 exposures; ceiling 0.9; extractability 1 - 0.903^25
    x = 1 - (1 - 0.097) ** 25
    assert weights_knowledge_share(half) == pytest.approx(0.9 * (1 - math.exp(-15 / 3)) * x)
    assert weights_knowledge_share(new) == pytest.approx(0.9 * (1 - math.exp(-15 / 30)) * x)


def test_prior_decays_with_the_facts_changed_since_the_cut_off():
    s = scenario(**{"quality.prior_knowledge_share": 0.4, "knowledge.changes_per_day": 2.0,
                    "knowledge.facts_count": 1_000, "knowledge.base_cutoff_age_days": 100})
    # uniform changes: each fact changes 2/1000 a day, for 100 days
    assert decayed_prior_share(s) == pytest.approx(0.4 * math.exp(-0.2))
    churn = s.with_changes({"knowledge.changes_per_day": 100_000.0})
    assert decayed_prior_share(churn) < 1e-6


# --- private tenants and per-tenant adapters ---------------------------------------------

TENANTS = {"workload.tenants_count": 50, "knowledge.facts_count": 500, "knowledge.tenant_knowledge": "private",
           "workload.fact_popularity": "uniform"}


def test_shared_fine_tune_over_private_tenants_answers_from_the_prior():
    s = scenario(**TENANTS)
    assert weights_knowledge_share(s) == decayed_prior_share(s)
    shared = scenario(**{**TENANTS, "knowledge.tenant_knowledge": "shared"})
    assert weights_knowledge_share(shared) > decayed_prior_share(shared)
    fresh = np.ones(4, bool)
    k = quality_factors(STRATEGIES["fine_tune"], s, fresh=fresh, retrieved=~fresh)["knowledge"]
    assert np.allclose(k, decayed_prior_share(s) * (1 - s.quality.forgetting_penalty_share))
    result = simlib.run(s.with_changes({"simulation.queries": 200, "simulation.strategies": ["fine_tune"]}))
    assert any("private" in note and "fine_tune" in note for note in result.notes)


def test_per_tenant_adapters_cost_n_trainings_storage_and_servers():
    s = scenario(**{
        **TENANTS, **NO_OWNERSHIP,
        "fine_tuning.adapters": "per_tenant", "fine_tuning.adapter_retrain_interval_days": 7.0,
        "fine_tuning.behaviour_training_tokens": 0.0, "fine_tuning.training_usd_per_mtok": 10.0,
        "fine_tuning.adapter_storage_usd_per_month": 0.5, "fine_tuning.adapters_per_server": 20,
        "fine_tuning.adapter_server_usd_per_hour": 3.0,
    })
    m = monthly_components(STRATEGIES["fine_tune"], s)
    # one adapter: its 10 facts x 4 chunks x 400 tokens x 5 paraphrases = 80,000 tokens, x 3 epochs x $10/M
    per_adapter = 80_000 * 3 * 10 / 1e6
    assert m["training"] == pytest.approx(50 * per_adapter * M / 7)
    assert m["adapter_storage"] == pytest.approx(50 * 0.5)
    assert m["adapter_serving"] == pytest.approx(3 * 3.0 * 24 * M)  # ceil(50 / 20) = 3 servers
    assert weights_knowledge_share(s) > decayed_prior_share(s)  # the adapters hold the tenants' facts
    # behaviour examples are trained once a round (in the shared model), not once per adapter
    with_behaviour = s.with_changes({"fine_tuning.behaviour_training_tokens": 100_000})
    assert monthly_components(STRATEGIES["fine_tune"], with_behaviour)["training"] == pytest.approx(
        (50 * per_adapter + 100_000 * 3 * 10 / 1e6) * M / 7)


# --- cost of ownership, by hand ------------------------------------------------------------

def test_each_ownership_component_by_hand():
    base = {**NO_OWNERSHIP, "knowledge.facts_count": 100, "knowledge.chunks_per_fact": 2, "retrieval.chunk_tokens": 500,
            "fine_tuning.paraphrases_per_fact": 3, "fine_tuning.behaviour_training_tokens": 0.0,
            "fine_tuning.retrain_interval_days": 10.0, "prices.input_usd_per_mtok": 2.0,
            "prices.output_usd_per_mtok": 8.0, "fine_tuning.input_usd_per_mtok": 3.0,
            "fine_tuning.output_usd_per_mtok": 12.0, "workload.queries_per_day": 1_000}
    rounds = M / 10
    ft, rag = STRATEGIES["fine_tune"], STRATEGIES["rag"]

    full = {"fine_tuning.training_work_via_batch_api": False}
    s = scenario(**{**base, **full, "fine_tuning.synthetic_data_share": 1.0, "fine_tuning.data_prep_prompt_tokens": 200})
    # 300 calls, each reading 1,000 fact tokens + 200 instructions at $2/M; writing 300,000 tokens at $8/M
    prep = 300 * 1_200 * 2 / 1e6 + 300_000 * 8 / 1e6
    assert monthly_components(ft, s)["data_preparation"] == pytest.approx(rounds * prep)
    # through the batch API (the default): the base model's calls at its batch discount, here 50% off
    batch = {"fine_tuning.training_work_via_batch_api": True, "prices.batch_discount_share": 0.5,
             "fine_tuning.batch_discount_share": 0.25}
    assert monthly_components(ft, s.with_changes(batch))["data_preparation"] == pytest.approx(rounds * prep * 0.5)

    s = scenario(**{**base, **full, "fine_tuning.eval_questions_count": 100, "fine_tuning.eval_judge_calls_per_question": 2,
                            "fine_tuning.eval_call_input_tokens": 1_000, "fine_tuning.eval_call_output_tokens": 100})
    answer = (1_000 * 3 + 100 * 12) / 1e6
    judge = 2 * (1_000 * 2 + 100 * 8) / 1e6
    assert monthly_components(ft, s)["evaluation"] == pytest.approx(rounds * 100 * (answer + judge))
    # batch: the fine-tuned answers at the fine-tuned model's discount (25% here), the judge calls at the base's (50%)
    assert monthly_components(ft, s.with_changes(batch))["evaluation"] == pytest.approx(
        rounds * 100 * (answer * 0.75 + judge * 0.5))

    s = scenario(**{**base, "prices.engineer_usd_per_hour": 100.0, "fine_tuning.engineering_hours_per_retraining": 4.0,
                            "fine_tuning.pipeline_upkeep_hours_per_month": 8.0, "retrieval.index_upkeep_hours_per_month": 6.0})
    assert monthly_components(ft, s)["engineering"] == pytest.approx(100 * (rounds * 4 + 8))
    assert monthly_components(rag, s)["engineering"] == pytest.approx(100 * 6)
    assert monthly_components(STRATEGIES["rag_fine_tune"], s)["engineering"] == pytest.approx(100 * (rounds * 4 + 8 + 6))
    assert monthly_components(STRATEGIES["prompt_only"], s)["engineering"] == 0

    s = scenario(**{**base, "prices.embedding_usd_per_mtok": 0.1, "prices.engineer_usd_per_hour": 50.0,
                            "retrieval.index_build_engineering_hours": 24.0, "retrieval.index_build_amortisation_months": 12.0,
                            "retrieval.index_upkeep_hours_per_month": 0.0})
    # 200 chunks x 500 tokens at $0.1/M, plus 24 h x $50, over 12 months
    assert monthly_components(rag, s)["index_build"] == pytest.approx((100_000 * 0.1 / 1e6 + 24 * 50) / 12)

    s = scenario(**{**base, "prices.vector_store_minimum_usd_per_month": 50.0, "prices.vector_read_usd_per_query": 0.0004,
                            "prices.vector_storage_usd_per_gb_month": 0.0})
    # reads: 1,000 a day x M x $0.0004 = $12.175; topped up to $50
    assert monthly_components(rag, s)["vector_minimum"] == pytest.approx(50 - 1_000 * M * 0.0004)
    busy = s.with_changes({"workload.queries_per_day": 10_000})
    assert monthly_components(rag, busy)["vector_minimum"] == 0.0


def test_ownership_components_enter_the_monthly_cost():
    s = scenario(**{**NO_OWNERSHIP, "prices.engineer_usd_per_hour": 100.0, "simulation.queries": 300,
                                    "simulation.strategies": ["rag"], "retrieval.index_upkeep_hours_per_month": 5.0})
    e = simlib.run(s).summary()["rag"]
    fixed = sum(v["mean"] for k, v in e.items() if k.startswith("cost_") and k.endswith("_monthly_usd"))
    assert e["cost_engineering_monthly_usd"]["mean"] == pytest.approx(500.0)
    q_month = s.workload.queries_per_day * M
    assert e["monthly_cost_usd"]["mean"] == pytest.approx(e["variable_cost_per_query_usd"]["mean"] * q_month + fixed)


def test_break_even_q_star_against_the_formula():
    s = Scenario().with_changes({
        **NO_OWNERSHIP,
        "workload.token_length_cv": 0.0, "workload.query_tokens_mean": 100, "workload.output_tokens_mean": 200,
        "prompt.system_tokens": 400, "prompt.instructions_tokens": 1_000, "prompt.few_shot_tokens": 2_000,
        "prompt.short_system_tokens": 150, "knowledge.facts_count": 2, "knowledge.chunks_per_fact": 1,
        "knowledge.changes_per_day": 0, "retrieval.chunk_tokens": 500, "retrieval.top_k": 4,
        "prices.input_usd_per_mtok": 2.0, "prices.output_usd_per_mtok": 10.0, "prices.vector_read_usd_per_query": 0.001,
        "prices.vector_storage_usd_per_gb_month": 0.0, "fine_tuning.input_usd_per_mtok": 4.0,
        "fine_tuning.output_usd_per_mtok": 16.0, "fine_tuning.training_tokens": 1_000_000,
        "fine_tuning.training_usd_per_mtok": 10.0, "fine_tuning.retrain_interval_days": 10.0,
        "retrieval.index_upkeep_hours_per_month": 0.0, "fine_tuning.pipeline_upkeep_hours_per_month": 0.0,
        "simulation.queries": 300, "simulation.strategies": ["rag", "fine_tune", "prompt_only"],
    })
    result = simlib.run(s)
    # one prompt layout: rag carries system + instructions + few-shot + chunks + query (explicit provider: no cache)
    v_rag = (400 + 1_000 + 2_000 + 4 * 500 + 100) * 2e-6 + 200 * 10e-6 + 0.001  # query embedding is free here
    v_ft = (150 + 100) * 4e-6 + 200 * 16e-6
    f_ft = 1_000_000 * 3 * 10 / 1e6 * M / 10  # training, the only fixed cost left
    expected = f_ft / (v_rag - v_ft)
    assert fixed_variable_break_even_queries_per_month(result, "fine_tune", "rag") == pytest.approx(expected, rel=1e-6)
    assert fixed_variable_break_even_queries_per_month(result, "rag", "fine_tune") == pytest.approx(expected, rel=1e-6)
    # prompt_only has no fixed cost and a lower variable cost than rag: no crossing
    assert fixed_variable_break_even_queries_per_month(result, "prompt_only", "rag") is None


# --- a quality proxy that responds to its inputs -------------------------------------------

def test_long_context_curve_matches_nolima():
    s = scenario()
    # NoLiMa, GPT-4o: 99.3% at short context, 69.7% at 32k tokens
    assert long_context_use_share(32_000, s) == pytest.approx(69.7 / 99.3, rel=1e-3)


def test_distraction_and_corpus_size_by_hand():
    s = scenario(**{"retrieval.distraction_per_extra_chunk_share": 0.02, "quality.context_use_share": 0.9})
    u = quality_factors(STRATEGIES["rag"], s, fresh=np.ones(3, bool), retrieved=np.ones(3, bool),
                        chunks=np.array([1, 5, 10]))["use"]
    assert np.allclose(u, 0.9 * 0.98 ** np.array([0, 4, 9]))
    small = scenario(**{"knowledge.facts_count": 2_500, "knowledge.chunks_per_fact": 4, "retrieval.rerank": False})
    large = small.with_changes({"knowledge.facts_count": 25_000})
    r = small.retrieval
    assert float(recall_at_k(small, np.array([1]))[0]) == pytest.approx(r.recall_ceiling_share * r.recall_at_1_share)
    assert float(recall_at_k(large, np.array([1]))[0]) == pytest.approx(
        r.recall_ceiling_share * r.recall_at_1_share * 10 ** -r.corpus_size_exponent)


STRATEGY_NAMES = list(STRATEGIES)


@settings(max_examples=40, deadline=None)
@given(name=hs.sampled_from(STRATEGY_NAMES), changes=hs.floats(0, 1e5), more=hs.floats(0, 1e5),
       fresh=hs.lists(hs.booleans(), min_size=4, max_size=4), retrieved=hs.lists(hs.booleans(), min_size=4, max_size=4))
def test_more_changes_never_raise_quality(name, changes, more, fresh, retrieved):
    st = STRATEGIES[name]
    f, r = np.array(fresh), np.array(retrieved)

    def quality(c: float) -> np.ndarray:
        q = quality_factors(st, scenario(**{"knowledge.changes_per_day": c}), fresh=f, retrieved=r)
        return q["knowledge"] * q["use"] * q["behaviour"]

    assert np.all(quality(changes + more) <= quality(changes) + 1e-12)


@settings(max_examples=40, deadline=None)
@given(k=hs.integers(0, 200), dk=hs.integers(0, 200), facts=hs.integers(1, 10**6), rerank=hs.booleans())
def test_larger_k_never_lowers_retrieval_recall(k, dk, facts, rerank):
    s = scenario(**{"knowledge.facts_count": facts, "retrieval.rerank": rerank})
    a, b = recall_at_k(s, np.array([k, k + dk]))
    assert b >= a - 1e-12 and b <= s.retrieval.recall_ceiling_share


@settings(max_examples=40, deadline=None)
@given(facts=hs.integers(1, 400), more=hs.integers(0, 400))
def test_longer_cached_context_never_raises_its_use_factor(facts, more):
    st = STRATEGIES["prompt_cache"]

    def use(n: int) -> float:
        q = quality_factors(st, scenario(**{"knowledge.facts_count": n}), fresh=np.ones(1, bool), retrieved=np.zeros(1, bool))
        return float(q["use"][0])

    assert use(facts + more) <= use(facts) + 1e-12
