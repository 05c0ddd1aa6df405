"""Per-query and monthly costs against hand arithmetic from the prices (docs/model.md, Costs).

Constant token lengths make every query's cost a closed form; the expected numbers below
are worked out by hand from the scenario's prices, not taken from the code.
"""

from __future__ import annotations

import numpy as np
import pytest

import simlib
from simlib.scenario import DAYS_PER_MONTH, Scenario, build_scenario

PRICED = {
    "workload.token_length_cv": 0.0,
    "workload.query_tokens_mean": 100,
    "workload.output_tokens_mean": 200,
    "workload.queries_per_day": 10_000,
    "prompt.system_tokens": 400,
    "prompt.instructions_tokens": 1_000,
    "prompt.few_shot_tokens": 2_000,
    "prompt.short_system_tokens": 150,
    "knowledge.facts_count": 2,
    "knowledge.chunks_per_fact": 1,
    "knowledge.changes_per_day": 0,
    "retrieval.chunk_tokens": 500,
    "retrieval.top_k": 4,
    "retrieval.rerank": False,
    "prices.input_usd_per_mtok": 2.0,
    "prices.output_usd_per_mtok": 10.0,
    "prices.embedding_usd_per_mtok": 0.1,
    "prices.vector_read_usd_per_query": 0.001,
    "fine_tuning.input_usd_per_mtok": 4.0,
    "fine_tuning.output_usd_per_mtok": 16.0,
    "prompt_cache.ttl_s": 3_600,
    "prompt_cache.write_multiplier": 1.25,
    "prompt_cache.read_multiplier": 0.1,
    "simulation.queries": 300,
    # the ownership components (engineering, data preparation, evaluation, plan minimum) are
    # zeroed here so each test checks one mechanism; tests/test_injection.py checks them by hand
    "prices.engineer_usd_per_hour": 0.0,
    "prices.vector_store_minimum_usd_per_month": 0.0,
    "fine_tuning.synthetic_data_share": 0.0,
    "fine_tuning.eval_questions_count": 0,
}


def priced(**extra) -> Scenario:
    return Scenario().with_changes({**PRICED, **extra})


def costs(result, strategy):
    return result.records(strategy)["cost_usd"].astype(float)


def test_per_query_costs_by_hand():
    result = simlib.run(priced())
    # prompt_only: (400 + 1000 + 2000 + 100) x $2/M + 200 x $10/M
    assert costs(result, "prompt_only") == pytest.approx(np.full(300, 0.007 + 0.002), rel=1e-6)
    # rag, same few-shot as every prompted strategy: (400 + 1000 + 2000 + 4 x 500 + 100) x $2/M
    # + output + 100 x $0.1/M embedding + $0.001 search (explicit provider: no breakpoint, no cache)
    assert costs(result, "rag") == pytest.approx(np.full(300, 0.011 + 0.002 + 0.00001 + 0.001), rel=1e-6)
    # fine_tune: (150 + 100) x $4/M + 200 x $16/M
    assert costs(result, "fine_tune") == pytest.approx(np.full(300, 0.001 + 0.0032), rel=1e-6)
    # rag_fine_tune: (150 + 4 x 500 + 100) x $4/M + 200 x $16/M + retrieval
    assert costs(result, "rag_fine_tune") == pytest.approx(np.full(300, 0.009 + 0.0032 + 0.00101), rel=1e-6)
    # prompt_cache: prefix 400 + 1000 + 2000 + 2 facts x 500 = 4400 tokens.
    # first query writes it: 4400 x $2/M x 1.25 + 100 x $2/M + output = 0.011 + 0.0002 + 0.002
    # later queries (rate 10,000/day, TTL 1 h, no changes) read it: 4400 x $2/M x 0.1 + ...
    pc = costs(result, "prompt_cache")
    assert pc[0] == pytest.approx(0.0132, rel=1e-6)
    assert pc[1:] == pytest.approx(np.full(299, 0.00088 + 0.0002 + 0.002), rel=1e-6)


def test_automatic_cache_counts_whole_increments_without_write_premium():
    """OpenAI-style: min 1,024 then steps of 128: 4,400 -> 1,024 + 26 x 128 = 4,352 cached."""
    result = simlib.run(priced(**{"prompt_cache.mode": "automatic", "prompt_cache.read_multiplier": 0.5,
                                  "prompt_cache.min_cacheable_tokens": 1024, "prompt_cache.increment_tokens": 128}))
    pc = costs(result, "prompt_cache")
    assert pc[0] == pytest.approx((4400 + 100) * 2e-6 + 0.002, rel=1e-6)  # miss: plain input price
    hit = (4400 - 4352) * 2e-6 + 4352 * 2e-6 * 0.5 + 100 * 2e-6 + 0.002
    assert pc[1:] == pytest.approx(np.full(299, hit), rel=1e-6)


def test_long_context_tier_is_a_cliff():
    """Above the threshold every token (input and output) is billed at the long-context price."""
    result = simlib.run(priced(**{"prices.long_context_threshold_tokens": 3_000,
                                  "prices.long_context_input_usd_per_mtok": 4.0,
                                  "prices.long_context_output_usd_per_mtok": 20.0}))
    # prompt_only sends 3,500 tokens > 3,000: 3500 x $4/M + 200 x $20/M
    assert costs(result, "prompt_only") == pytest.approx(np.full(300, 0.014 + 0.004), rel=1e-6)
    # fine_tune sends 250 tokens: its own prices, no tier
    assert costs(result, "fine_tune") == pytest.approx(np.full(300, 0.0042), rel=1e-6)


def test_monthly_costs_amortise_training_and_storage():
    s = priced(**{"fine_tuning.training_tokens": 1_000_000, "fine_tuning.epochs": 3,
                  "fine_tuning.training_usd_per_mtok": 10.0, "fine_tuning.retrain_interval_days": 10,
                  "fine_tuning.hosting_usd_per_hour": 2.0,
                  "prices.embedding_dimensions": 1000, "prices.vector_storage_usd_per_gb_month": 0.5})
    summary = simlib.run(s).summary()
    ft = summary["fine_tune"]
    # $30 a training (1M x 3 epochs x $10/M), 30.4375 / 10 trainings a month
    assert ft["cost_training_monthly_usd"]["mean"] == pytest.approx(30 * 3.04375)
    assert ft["cost_hosting_monthly_usd"]["mean"] == pytest.approx(2.0 * 24 * 30.4375)
    queries_per_month = 10_000 * DAYS_PER_MONTH
    expected = 0.0042 * queries_per_month + 30 * 3.04375 + 2.0 * 24 * 30.4375
    assert ft["monthly_cost_usd"]["mean"] == pytest.approx(expected, rel=1e-6)
    assert ft["cost_per_query_usd"]["mean"] == pytest.approx(expected / queries_per_month, rel=1e-6)
    # rag stores 2 facts x 1 chunk x 1000 dims x 4 bytes = 8e-6 GB at $0.5/GB-month
    assert summary["rag"]["cost_storage_monthly_usd"]["mean"] == pytest.approx(8e-6 * 0.5)


def test_reindex_cost_streaming_and_batch():
    """Streaming re-embeds every change; batch re-embeds each changed fact once per batch."""
    base = {"knowledge.facts_count": 100, "knowledge.chunks_per_fact": 2, "knowledge.changes_per_day": 50,
            "prices.embedding_usd_per_mtok": 1.0, "simulation.strategies": ["rag"], "simulation.queries": 50}
    streaming = simlib.run(priced(**base)).summary()["rag"]["cost_reindex_monthly_usd"]["mean"]
    # 50 changes a day x 2 chunks x 500 tokens x $1/M x 30.4375 days
    assert streaming == pytest.approx(50 * 1000 * 1e-6 * 30.4375)
    batch = simlib.run(priced(**base, **{"knowledge.index_refresh": "batch",
                                         "knowledge.reindex_interval_s": 86_400})).summary()["rag"]
    # 30.4375 batches; each re-embeds the distinct facts changed in a day: 100 (1 - exp(-0.5))
    distinct = 100 * (1 - np.exp(-50 / 100))
    assert batch["cost_reindex_monthly_usd"]["mean"] == pytest.approx(30.4375 * distinct * 1000 * 1e-6)


def test_zero_hit_rate_costs_as_much_as_no_cache():
    """With TTL 0 and no write premium the cache strategy pays plain input prices."""
    s = priced(**{"prompt_cache.ttl_s": 0, "prompt_cache.write_multiplier": 1.0})
    pc = costs(simlib.run(s), "prompt_cache")
    assert pc == pytest.approx(np.full(300, (4400 + 100) * 2e-6 + 0.002), rel=1e-6)  # prefix incl. few-shot


AUTOMATIC = {"prompt_cache.mode": "automatic", "prompt_cache.read_multiplier": 0.5,
             "prompt_cache.min_cacheable_tokens": 1024, "prompt_cache.increment_tokens": 128}


def test_automatic_provider_caches_rag_and_fine_tuned_prefixes_explicit_does_not():
    """OpenAI caches the static prefix of every prompt of 1,024+ tokens (prompt-caching docs,
    2025): rag's [system][instructions][few-shot] = 3,400 tokens -> 1,024 + 18 x 128 = 3,328
    read at 0.5x on a hit. An explicit provider (Anthropic) caches only at breakpoints."""
    auto = simlib.run(priced(**AUTOMATIC))
    rag = auto.records("rag")
    assert (rag["cache_read_tokens"][1:] == 3328).all() and rag["cache_write_tokens"][0] == 3328
    hit = (5500 - 3328) * 2e-6 + 3328 * 2e-6 * 0.5 + 0.002 + 0.00001 + 0.001
    assert costs(auto, "rag")[1:] == pytest.approx(np.full(299, hit), rel=1e-6)
    assert auto.summary()["rag"]["cache_hit_rate"]["mean"] == pytest.approx(299 / 300)
    # fine-tuned with a long enough system prompt: cached too, read at the fine-tuned price x 0.5
    ft = simlib.run(priced(**AUTOMATIC, **{"prompt.short_system_tokens": 1_100})).records("fine_tune")
    assert (ft["cache_read_tokens"][1:] == 1024).all()
    explicit = simlib.run(priced())
    assert explicit.records("rag")["cache_read_tokens"].sum() == 0
    assert explicit.summary()["rag"]["cache_hit_rate"]["mean"] is None


def test_fine_tuned_cache_hits_pay_the_fine_tuned_cached_price():
    """OpenAI fine-tuned gpt-4.1: input 3.00, cached input 0.75, output 12.00 USD per M tokens
    (pricing page, fine-tuning table, 2025; data/prices/fine_tuning.csv). A fine_tune prompt of
    1,100 + 100 tokens on an automatic cache hits 1,024 tokens after the first query:
    cost = 1,024 x 0.75e-6 + 176 x 3e-6 + 200 x 12e-6. Hand-set fine-tuned prices without a
    cached price fall back to input x read multiplier."""
    s = priced(**AUTOMATIC, **{"prompt.short_system_tokens": 1_100, "simulation.strategies": ["fine_tune"]})
    unpriced = {k: v for k, v in PRICED.items() if not k.startswith("fine_tuning.") or "usd_per_mtok" not in k}
    tuned = Scenario().with_changes({**unpriced, **AUTOMATIC, "prompt.short_system_tokens": 1_100,
                                     "simulation.strategies": ["fine_tune"], "fine_tuning.model": "openai/gpt-4.1"})
    assert tuned.fine_tuning.cache_read_usd_per_mtok == pytest.approx(0.75)
    rec = simlib.run(tuned).records("fine_tune")
    assert (rec["cache_read_tokens"][1:] == 1024).all()
    hit = 1024 * 0.75e-6 + 176 * 3e-6 + 200 * 12e-6
    assert rec["cost_usd"][1:].astype(float) == pytest.approx(np.full(299, hit), rel=1e-6)
    plain = simlib.run(s).records("fine_tune")  # hand-set 4.00 in, no cached price: 4.00 x 0.5
    assert plain["cost_usd"][1:].astype(float) == pytest.approx(np.full(299, 1024 * 2e-6 + 176 * 4e-6 + 200 * 16e-6), rel=1e-6)


def test_rag_and_rag_prompt_cache_cost_the_same_when_nothing_can_cache():
    """One layout and one few-shot choice: with the minimum above every prompt, the two differ in nothing."""
    result = simlib.run(priced(**{**AUTOMATIC, "prompt_cache.min_cacheable_tokens": 100_000}))
    assert np.array_equal(costs(result, "rag"), costs(result, "rag_prompt_cache"))
    assert result.summary()["rag"]["quality_proxy"]["mean"] == result.summary()["rag_prompt_cache"]["quality_proxy"]["mean"]


def test_explicit_breakpoints_limit_caches_only_where_breakpoints_fit():
    """Anthropic allows 4 cache_control breakpoints per request, Gemini explicit caching one cached
    content (data/prices/cache_rules.csv). Only strategies that place breakpoints cache on an
    explicit provider; prompt_cache's chain [global][tenant] needs two: with one, both levels are
    cached as one entry at the deepest (tenant) key, the same tokens; with none, nothing caches and
    rag_prompt_cache costs exactly what rag costs."""
    from simlib.engine.strategies import STRATEGIES

    s = priced(**{"workload.tenants_count": 2})
    two = STRATEGIES["prompt_cache"].cache_levels(s)
    assert [lv.scope for lv in two] == ["global", "tenant"] and s.prompt_cache.breakpoints_limit == 4
    one = STRATEGIES["prompt_cache"].cache_levels(s.with_changes({"prompt_cache.breakpoints_limit": 1}))
    assert [(lv.scope, lv.tokens, lv.per_tenant_key) for lv in one] == [("tenant", two[0].tokens + two[1].tokens, True)]
    assert STRATEGIES["rag"].cache_levels(s) == ()  # no breakpoint, no cache on an explicit provider
    none = simlib.run(s.with_changes({"prompt_cache.breakpoints_limit": 0, "simulation.strategies": ["rag", "rag_prompt_cache"]}))
    assert none.records("rag_prompt_cache")["cache_read_tokens"].sum() == 0
    assert np.array_equal(costs(none, "rag"), costs(none, "rag_prompt_cache"))
    gemini = simlib.scenario.build_scenario({"prices": {"model": "google/gemini-2.5-pro"}, "prompt_cache": {"mode": "explicit"}})
    assert gemini.prompt_cache.breakpoints_limit == 1


@pytest.mark.parametrize("engine", ["simpy", "fast"])
def test_fine_tuned_model_on_another_provider_caches_by_its_own_rules(engine):
    """shared-manual's pairing: Claude Sonnet 4.5 as base (Anthropic, explicit breakpoints) and a
    fine-tuned gpt-4.1 (served by OpenAI). The fine-tuned strategies follow OpenAI's automatic cache
    (no breakpoint needed, no write premium, 1,024 + 128-token steps; OpenAI prompt-caching guide)
    and read at the fine-tuned cached-input price, 0.75 USD/M (input 3.00, output 12.00; data/prices/
    fine_tuning.csv); the base model's strategies keep Anthropic's rules. With a 1,100-token short
    system prompt and a 100-token query: first query 1,200 x 3e-6 + 200 x 12e-6 (the write billed at
    input), later ones 1,024 x 0.75e-6 + 176 x 3e-6 + 200 x 12e-6. Before, the fine-tuned strategies
    took the base model's explicit cache and never cached."""
    mapping = {
        "prices": {"model": "anthropic/claude-sonnet-4-5", "catalog_date": "2026-11-26"},
        "fine_tuning": {"model": "openai/gpt-4.1", "synthetic_data_share": 0.0, "eval_questions_count": 0},
        "workload": {"token_length_cv": 0.0, "query_tokens_mean": 100, "output_tokens_mean": 200, "queries_per_day": 10_000},
        "prompt": {"short_system_tokens": 1_100},
        "knowledge": {"facts_count": 2, "chunks_per_fact": 1, "changes_per_day": 0},
        "simulation": {"strategies": ["fine_tune", "rag"], "queries": 300},
    }
    s = build_scenario(mapping)
    assert s.prompt_cache.mode == "explicit"
    ft = s.fine_tuning
    assert (ft.cache_mode, ft.cache_min_cacheable_tokens, ft.cache_increment_tokens, ft.cache_ttl_s,
            ft.cache_overflow_requests_per_minute) == ("automatic", 1024, 128, 300.0, 15.0)
    assert ft.cache_read_usd_per_mtok == pytest.approx(0.75) and ft.input_usd_per_mtok == pytest.approx(3.0)
    result = simlib.run(s, engine=engine)
    rec = result.records("fine_tune")
    assert rec["cache_read_tokens"][0] == 0 and rec["cache_write_tokens"][0] == 1024
    assert (rec["cache_read_tokens"][1:] == 1024).all()
    cost = costs(result, "fine_tune")
    assert cost[0] == pytest.approx(1200 * 3e-6 + 200 * 12e-6, rel=1e-6)
    assert cost[1:] == pytest.approx(np.full(299, 1024 * 0.75e-6 + 176 * 3e-6 + 200 * 12e-6), rel=1e-6)
    assert result.records("rag")["cache_read_tokens"].sum() == 0  # the base model's explicit cache: no breakpoint
    # the same fine-tuned model beside an OpenAI base model: one provider, prompt_cache's rules
    same = build_scenario({**mapping, "prices": {"model": "openai/gpt-4.1", "catalog_date": "2026-11-26"}})
    assert same.fine_tuning.cache_mode is None and same.prompt_cache.mode == "automatic"
