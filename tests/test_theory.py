"""The engine against closed-form results: each test reduces a scenario to a textbook case.

Symbols: lambda arrival rate (1/s), S mean service time (s), c servers, rho = lambda S / c,
T cache TTL (s), u change rate per fact (1/s), d indexing lag (s), L serving lag after a
snapshot (s), P snapshot period (s).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simlib
from simlib.results import CACHE_HIT
from simlib.scenario import SECONDS_PER_DAY, Scenario, build_scenario

# Every check runs on both engines: the simpy engine of record and the fast kernel.
ENGINES = pytest.mark.parametrize("engine", ["simpy", "fast"])


def erlang_c_wait_s(arrival_rate_per_s: float, service_s: float, servers: int) -> float:
    """M/M/c mean wait in queue: Wq = C(c, a) / (c mu - lambda), a = lambda / mu.

    C(c, a) = [a^c / c! * c / (c - a)] / [sum_{k<c} a^k / k! + a^c / c! * c / (c - a)].
    """
    a = arrival_rate_per_s * service_s
    top = a**servers / math.factorial(servers) * servers / (servers - a)
    bottom = sum(a**k / math.factorial(k) for k in range(servers)) + top
    return (top / bottom) / (servers / service_s - arrival_rate_per_s)


def model_stage_scenario(rate_per_s: float, servers: int, distribution: str, queries: int, reps: int) -> Scenario:
    """Only the fine-tuned model stage: constant tokens, S = 100 output tokens / 100 tok/s = 1 s."""
    return Scenario().with_changes(
        {
            "workload.queries_per_day": rate_per_s * SECONDS_PER_DAY,
            "workload.token_length_cv": 0.0,
            "workload.output_tokens_mean": 100,
            "knowledge.changes_per_day": 0,
            "fine_tuning.decode_tokens_per_s": 100.0,
            "fine_tuning.prefill_tokens_per_s": 1e12,  # prefill takes no time
            "fine_tuning.network_rtt_s": 0.0,
            "fine_tuning.concurrency_limit": servers,
            "model.service_time_distribution": distribution,
            "simulation.strategies": ["fine_tune"],
            "simulation.queries": queries,
            "simulation.replications": reps,
            "simulation.warmup_share": 0.1,
        }
    )


@ENGINES
def test_mmc_mean_wait_matches_erlang_c(engine):
    """M/M/3 at rho = 0.8: the mean wait's 95% interval over replications covers Erlang C."""
    rate, servers = 2.4, 3
    result = simlib.run(model_stage_scenario(rate, servers, "exponential", 20_000, 8), engine=engine)
    wait = result.summary()["fine_tune"]["queue_wait_mean_s"]
    theory = erlang_c_wait_s(rate, 1.0, servers)  # 1.0 s mean service
    lo, hi = wait["ci95"]
    assert lo <= theory <= hi, (theory, wait)
    assert hi - lo < 0.25 * theory  # the interval is tight enough to mean something


@ENGINES
def test_md1_mean_wait_matches_pollaczek_khinchine(engine):
    """M/D/1: Wq = rho S / (2 (1 - rho)) (Pollaczek-Khinchine with zero service variance)."""
    rate = 0.7
    result = simlib.run(model_stage_scenario(rate, 1, "deterministic", 20_000, 8), engine=engine)
    wait = result.summary()["fine_tune"]["queue_wait_mean_s"]
    theory = rate * 1.0 / (2 * (1 - rate))
    lo, hi = wait["ci95"]
    assert lo <= theory <= hi, (theory, wait)
    # and it is not the M/M/1 answer, rho S / (1 - rho): the service distribution matters
    assert hi < rate / (1 - rate)


@ENGINES
def test_infinite_servers_never_wait(engine):
    """With more slots than queries, nobody waits and latency is exactly rtt + service."""
    s = model_stage_scenario(5.0, 10_000, "exponential", 2_000, 1)
    rec = simlib.run(s, engine=engine).records("fine_tune")
    assert np.all(rec["queue_wait_s"] == 0)


def cache_scenario(rate_per_s: float, ttl_s: float, queries: int) -> Scenario:
    """prompt_cache on one global prefix with no knowledge changes and no queueing.

    Prefill is made near-instant (1e9 tokens/s): an entry exists only once its first request's
    response starts, so 1 - exp(-L T) holds when prefill is short against T (as with real
    TTLs of minutes); the write delay has its own test."""
    return Scenario().with_changes(
        {
            "model.prefill_tokens_per_s": 1e9,
            "workload.queries_per_day": rate_per_s * SECONDS_PER_DAY,
            "knowledge.facts_count": 20,
            "knowledge.changes_per_day": 0,
            "model.concurrency_limit": 100_000,
            "prompt_cache.ttl_s": ttl_s,
            "simulation.strategies": ["prompt_cache"],
            "simulation.queries": queries,
        }
    )


@ENGINES
@pytest.mark.parametrize("rate_ttl", [0.1, 0.5, 1.0, 2.0, 4.0])
def test_cache_hit_rate_matches_poisson_formula(rate_ttl, engine):
    """Poisson requests at rate L on one prefix with refreshed TTL T hit with P = 1 - exp(-L T)."""
    rate, queries = 0.05, 20_000
    result = simlib.run(cache_scenario(rate, rate_ttl / rate, queries), engine=engine)
    hit = result.summary()["prompt_cache"]["cache_hit_rate"]["mean"]
    theory = 1 - math.exp(-rate_ttl)
    binomial_sd = math.sqrt(theory * (1 - theory) / queries)
    assert abs(hit - theory) < 4 * binomial_sd + 1e-9, (hit, theory)


@ENGINES
def test_prefix_below_minimum_never_caches(engine):
    s = cache_scenario(1.0, 3600, 500).with_changes(
        {"prompt.system_tokens": 10, "prompt.instructions_tokens": 10, "prompt.few_shot_tokens": 0, "knowledge.facts_count": 1,
         "retrieval.chunk_tokens": 10, "prompt_cache.min_cacheable_tokens": 1024}
    )
    rec = simlib.run(s, engine=engine).records("prompt_cache")
    assert rec["cache_read_tokens"].sum() == 0 and rec["cache_write_tokens"].sum() == 0


def freshness_scenario(**changes) -> Scenario:
    """Uniform facts and changes, 1,000 queries a day; u = changes_per_day / facts per day."""
    base = {
        "workload.queries_per_day": 1_000,
        "workload.fact_popularity": "uniform",
        "knowledge.facts_count": 50,
        "knowledge.changes_follow_popularity": False,
        "retrieval.concurrency_limit": 100_000,
        "model.concurrency_limit": 100_000,
        "fine_tuning.concurrency_limit": 100_000,
    }
    base.update(changes)
    return Scenario().with_changes(base)


@ENGINES
def test_streaming_index_staleness_matches_exponential(engine):
    """Streaming lag d: an answer is stale iff its fact changed in the last d: P = 1 - exp(-u d)."""
    u_per_day, d = 2.0, 6 * 3600.0
    s = freshness_scenario(**{
        "knowledge.changes_per_day": u_per_day * 50, "knowledge.index_refresh": "streaming",
        "knowledge.index_lag_s": d, "simulation.strategies": ["rag"], "simulation.queries": 20_000,
    })
    fresh = simlib.run(s, engine=engine).summary()["rag"]["fresh_share"]["mean"]
    theory = math.exp(-u_per_day / SECONDS_PER_DAY * d)
    assert abs(fresh - theory) < 4 * math.sqrt(theory * (1 - theory) / 20_000) + 0.01, (fresh, theory)


def snapshot_theory(u_per_s: float, lag_s: float, period_s: float) -> float:
    """P(fresh) for a snapshot taken every P, serving after lag L: (e^-uL - e^-u(L+P)) / (u P)."""
    return (math.exp(-u_per_s * lag_s) - math.exp(-u_per_s * (lag_s + period_s))) / (u_per_s * period_s)


@ENGINES
def test_retraining_freshness_matches_snapshot_formula(engine):
    """Weights snapshot every T = 1 day, serving after D + E = 6 h; 5 replications of 10 days."""
    u_per_day = 1.0
    s = freshness_scenario(**{
        "knowledge.changes_per_day": u_per_day * 50,
        "fine_tuning.retrain_interval_days": 1.0,
        "fine_tuning.training_duration_s": 4 * 3600.0,
        "fine_tuning.deploy_delay_s": 2 * 3600.0,
        "simulation.strategies": ["fine_tune"],
        "simulation.queries": 10_000,
        "simulation.replications": 5,
    })
    fresh = simlib.run(s, engine=engine).summary()["fine_tune"]["fresh_share"]
    theory = snapshot_theory(u_per_day / SECONDS_PER_DAY, 6 * 3600.0, SECONDS_PER_DAY)
    lo, hi = fresh["ci95"]
    assert lo - 0.01 <= theory <= hi + 0.01, (theory, fresh)


@ENGINES
def test_batch_index_freshness_matches_snapshot_formula(engine):
    """Batch re-index every R = 12 h taking b = 1 h: the snapshot formula with L = b, P = R."""
    u_per_day = 2.0
    s = freshness_scenario(**{
        "knowledge.changes_per_day": u_per_day * 50,
        "knowledge.index_refresh": "batch",
        "knowledge.reindex_interval_s": 12 * 3600.0,
        "knowledge.reindex_duration_s": 3600.0,
        "simulation.strategies": ["rag"],
        "simulation.queries": 10_000,
        "simulation.replications": 5,
    })
    fresh = simlib.run(s, engine=engine).summary()["rag"]["fresh_share"]
    theory = snapshot_theory(u_per_day / SECONDS_PER_DAY, 3600.0, 12 * 3600.0)
    lo, hi = fresh["ci95"]
    assert lo - 0.01 <= theory <= hi + 0.01, (theory, fresh)


@ENGINES
def test_periodic_cache_rebuild_freshness_and_on_change_always_fresh(engine):
    """A prefix rebuilt every R serves its snapshot (L = 0); rebuilt on change it is always fresh."""
    u_per_day = 3.0
    common = {
        "knowledge.changes_per_day": u_per_day * 50,
        "knowledge.chunks_per_fact": 1,
        "simulation.strategies": ["prompt_cache"],
        "simulation.queries": 10_000,
        "simulation.replications": 4,
    }
    periodic = freshness_scenario(**common, **{"prompt_cache.rebuild_policy": "periodic",
                                                "prompt_cache.rebuild_interval_s": 8 * 3600.0})
    fresh = simlib.run(periodic, engine=engine).summary()["prompt_cache"]["fresh_share"]
    theory = snapshot_theory(u_per_day / SECONDS_PER_DAY, 0.0, 8 * 3600.0)
    lo, hi = fresh["ci95"]
    assert lo - 0.01 <= theory <= hi + 0.01, (theory, fresh)
    on_change = freshness_scenario(**common, **{"prompt_cache.rebuild_policy": "on_change"})
    summary = simlib.run(on_change, engine=engine).summary()["prompt_cache"]
    assert summary["fresh_share"]["mean"] == 1.0
    # ... but every change invalidates the knowledge level of the prefix (the global level
    # [system][instructions][few-shot] lives on, so requests still hit it): fewer tokens read
    # than with no changes
    no_changes = on_change.with_changes({"knowledge.changes_per_day": 0})
    unchanged = simlib.run(no_changes, engine=engine).summary()["prompt_cache"]
    assert summary["cache_hit_token_share"]["mean"] < unchanged["cache_hit_token_share"]["mean"]


@ENGINES
def test_staleness_age_of_streaming_lag_is_bounded_by_the_lag(engine):
    """With streaming lag d, a stale answer missed a change less than d ago."""
    d = 3600.0
    s = freshness_scenario(**{"knowledge.changes_per_day": 500, "knowledge.index_lag_s": d,
                              "simulation.strategies": ["rag"], "simulation.queries": 3_000})
    rec = simlib.run(s, engine=engine).records("rag")
    ages = rec["staleness_age_s"][~np.isnan(rec["staleness_age_s"])]
    assert ages.size > 100
    assert np.all((ages > 0) & (ages <= d * (1 + 1e-6) + 30))  # + retrieval time before the read


def cached_vs_uncached(model: str, knowledge_tokens: int, engine: str) -> tuple[float, float, float, float]:
    """(TTFT, cost) of a cache hit and of the same prompt uncached, for a prompt_cache prompt
    of ``knowledge_tokens`` + a 60-token question, answered in 60 tokens, on a catalog model."""
    chunk = 400 if knowledge_tokens % 400 == 0 else 128
    base = {
        "prices": {"model": model},
        "prompt": {"system_tokens": 0, "instructions_tokens": 0, "few_shot_tokens": 0},
        "knowledge": {"facts_count": knowledge_tokens // chunk, "chunks_per_fact": 1, "changes_per_day": 0},
        "retrieval": {"chunk_tokens": chunk},
        "workload": {"queries_per_day": 86_400 / 20, "token_length_cv": 0.0, "query_tokens_mean": 60,
                     "output_tokens_mean": 60},
        "model": {"service_time_distribution": "deterministic", "concurrency_limit": 64},
        "simulation": {"strategies": ["prompt_cache"], "queries": 30, "replications": 1, "warmup_share": 0.0},
    }
    s = build_scenario(base)
    rec = simlib.run(s, engine=engine).records("prompt_cache")
    hit = (rec["flags"] & CACHE_HIT) != 0
    # one query every 20 s on a 300 s TTL: every query after the entry is written (the first
    # query's first token: up to 16.5 s of prefill at 150k tokens) hits
    written_at_s = rec["arrival_at_s"][0] + float(rec["ttft_s"][0]) - s.model.network_rtt_s
    assert hit[rec["arrival_at_s"] >= written_at_s].all() and hit.sum() >= 20
    uncached = build_scenario({**base, "prompt_cache": {"min_cacheable_tokens": 10**7}})  # caching impossible
    plain = simlib.run(uncached, engine=engine).records("prompt_cache")
    return (float(rec["ttft_s"][hit].mean()), float(plain["ttft_s"].mean()),
            float(rec["cost_usd"][hit].mean()), float(plain["cost_usd"].mean()))


@ENGINES
@pytest.mark.parametrize("tokens, ttft_miss_s, ttft_hit_s, cost_change", [
    (100_000, 11.5, 2.4, -0.90),  # "chat with a book": -79% time to first token
    (10_000, 1.6, 1.1, -0.86),  # many-shot prompting: -31%
])
def test_cached_prefill_reproduces_both_anthropic_rows(engine, tokens, ttft_miss_s, ttft_hit_s, cost_change):
    """Anthropic, 'Prompt caching with Claude' (2024-08-14): both rows of the launch table on
    Claude Sonnet (affine fit in data/prices/latency.csv). Tolerances: 0.05 s on each time
    to first token (the 60-token question adds 7 ms), 1 point on the cost change (a hit
    reads at 0.1x; the question and answer are billed in full)."""
    hit_s, miss_s, hit_usd, miss_usd = cached_vs_uncached("anthropic/claude-sonnet-4-5", tokens, engine)
    assert miss_s == pytest.approx(ttft_miss_s, abs=0.05)
    assert hit_s == pytest.approx(ttft_hit_s, abs=0.05)
    assert hit_usd / miss_usd - 1 == pytest.approx(cost_change, abs=0.01)


@ENGINES
@pytest.mark.parametrize("tokens, faster_share", [(1_024, 0.07), (150_000, 0.67)])
def test_cached_prefill_follows_the_openai_cookbook_shape(engine, tokens, faster_share):
    """OpenAI cookbook Prompt_Caching_201 (2,300 runs): cached TTFT 7% faster at 1,024 tokens,
    67% at 150k+. Tolerance: 2 points."""
    hit_s, miss_s, _, _ = cached_vs_uncached("openai/gpt-4.1", tokens, engine)
    assert 1 - hit_s / miss_s == pytest.approx(faster_share, abs=0.02)


@ENGINES
def test_global_and_tenant_cache_levels_each_follow_their_poisson_formula(engine):
    """Automatic caching, 5 tenants, Poisson rate L in all: rag's prefix [system][instructions]
    [few-shot] is one global entry (rate L), prompt_cache's knowledge snapshot one entry per
    tenant (rate L / 5; its whole chain is read when the tenant level hits, its global level alone
    hits as rag's does). Each hits with 1 - exp(-L_level T), T = 60 s, L T = 2."""
    rate, ttl, tenants, queries = 2 / 60, 60.0, 5, 20_000
    s = cache_scenario(rate, ttl, queries).with_changes({
        "prompt_cache.mode": "automatic", "prompt_cache.increment_tokens": 1, "workload.tenants_count": tenants,
        "workload.fact_popularity": "uniform",  # 20 facts dealt round-robin: each tenant gets L / 5
        "simulation.strategies": ["rag", "prompt_cache"], "retrieval.concurrency_limit": 100_000})
    result = simlib.run(s, engine=engine)
    summary = result.summary()
    whole = result.records("prompt_cache")["cache_read_tokens"]
    for name, hit, level_rate in (("rag", summary["rag"]["cache_hit_rate"]["mean"], rate),
                                  ("prompt_cache global", summary["prompt_cache"]["cache_hit_rate"]["mean"], rate),
                                  ("prompt_cache tenant", np.mean(whole == whole.max()), rate / tenants)):
        theory = 1 - math.exp(-level_rate * ttl)
        assert abs(hit - theory) < 4 * math.sqrt(theory * (1 - theory) / queries) + 1e-9, (name, hit, theory)


@ENGINES
def test_rag_prompt_cache_prefix_is_global_unless_keyed_per_tenant(engine):
    """rag_prompt_cache's chain is one global level, [system][instructions][few-shot] (the same for
    every tenant): with 5 tenants it hits at 1 - exp(-L T) on the whole rate L; keyed per tenant
    (prefix_scope: per_tenant, a cache key per user) each entry sees L / 5: 1 - exp(-L T / 5)."""
    from simlib.engine.strategies import STRATEGIES

    rate, ttl, tenants, queries = 1 / 60, 60.0, 5, 20_000
    base = cache_scenario(rate, ttl, queries).with_changes({
        "workload.tenants_count": tenants, "workload.fact_popularity": "uniform",
        "simulation.strategies": ["rag_prompt_cache"], "retrieval.concurrency_limit": 100_000})
    levels = STRATEGIES["rag_prompt_cache"].cache_levels(base)
    assert [lv.scope for lv in levels] == ["global"] and not levels[0].per_tenant_key
    assert [lv.scope for lv in STRATEGIES["prompt_cache"].cache_levels(base)] == ["global", "tenant"]
    for scope, level_rate in (("global", rate), ("per_tenant", rate / tenants)):
        s = base.with_changes({"prompt_cache.prefix_scope": scope})
        hit = simlib.run(s, engine=engine).summary()["rag_prompt_cache"]["cache_hit_rate"]["mean"]
        theory = 1 - math.exp(-level_rate * ttl)
        assert abs(hit - theory) < 4 * math.sqrt(theory * (1 - theory) / queries) + 1e-9, (scope, hit, theory)


@ENGINES
def test_an_entry_exists_only_once_its_first_request_has_started_answering(engine):
    """A cold 80,000-token prefix at 8,000 tokens/s is written ~10 s after its first request takes
    a slot (its first token): every request arriving before then misses (and writes), every later
    one within the TTL hits. The old rule (live from the first request's start) would hit them all."""
    s = cache_scenario(1.0, 3_600, 200).with_changes({
        "knowledge.facts_count": 200, "knowledge.chunks_per_fact": 1, "retrieval.chunk_tokens": 400,  # 80k-token snapshot
        "model.prefill_tokens_per_s": 8_000, "model.context_window_tokens": 200_000})
    rec = simlib.run(s, engine=engine).records("prompt_cache")
    hit = (rec["flags"] & CACHE_HIT) != 0
    t = rec["arrival_at_s"]
    written_at_s = t[0] + (float(rec["ttft_s"][0]) - s.model.network_rtt_s)  # no queue, no retrieval: start = arrival
    assert written_at_s - t[0] > 9.9  # 80,000 / 8,000 s of prefill
    burst = t < written_at_s - 1e-6
    assert burst.sum() >= 5  # ~10 arrivals at 1/s
    assert not hit[burst].any() and hit[~burst].all()
    assert (rec["cache_write_tokens"][burst] > 0).all()  # each of them paid a write


@ENGINES
def test_nested_levels_each_hit_on_their_own_clock(engine):
    """prompt_cache's chain in one scenario: a global level [system][instructions][few-shot] on
    one key (every request, rate L) and a tenant level (one tenant's knowledge snapshot, 5 tenants:
    L / 5 per key), each entry on its own clock. Poisson arrivals, T = 60 s, L T = 1: the global
    level is read with 1 - exp(-L T) = 0.632, the whole chain with 1 - exp(-L T / 5) = 0.181.
    A request whose tenant entry is dead reads the global prefix and writes only the tenant level.
    (Keyed by the deepest level alone, as before, the global prefix would be read only with the
    tenant's: 0.181.) Tolerance: 4 binomial standard deviations."""
    from simlib.engine.cache import chain_read_tokens
    from simlib.engine.strategies import STRATEGIES

    rate, ttl, tenants, queries = 1 / 60, 60.0, 5, 20_000
    s = cache_scenario(rate, ttl, queries).with_changes({
        "workload.tenants_count": tenants, "workload.fact_popularity": "uniform",  # 20 facts dealt round-robin
        "prompt.system_tokens": 400, "prompt.instructions_tokens": 1_200, "prompt.few_shot_tokens": 0})
    levels = STRATEGIES["prompt_cache"].cache_levels(s)
    assert [(lv.scope, lv.per_tenant_key) for lv in levels] == [("global", False), ("tenant", True)]
    h = chain_read_tokens(levels, "explicit", s.prompt_cache.min_cacheable_tokens, 1)
    assert h == [0, 1_600, 1_600 + levels[1].tokens]  # explicit reads are exact, both levels above the minimum
    rec = simlib.run(s, engine=engine).records("prompt_cache")
    read, write = rec["cache_read_tokens"], rec["cache_write_tokens"]
    assert set(np.unique(read)) <= set(h)
    for name, share, level_rate in (("global", np.mean(read >= h[1]), rate), ("tenant", np.mean(read == h[2]), rate / tenants)):
        theory = 1 - math.exp(-level_rate * ttl)
        assert abs(share - theory) < 4 * math.sqrt(theory * (1 - theory) / queries), (name, share, theory)
    partial = read == h[1]
    assert partial.sum() > 0.3 * queries
    assert np.all(write[partial] == h[2] - h[1])  # the tenant level alone is written
    assert np.all(write[read == 0] == h[2]) and np.all(write[read == h[2]] == 0)


@ENGINES
@pytest.mark.parametrize("strategy, scope, rate_per_min, cap_per_min, ttl_s", [
    ("prompt_cache", "global", 60.0, 15.0, 4.0),      # one routing key above the cap: 1/4 reach the warm machine
    ("prompt_cache", "global", 6.0, 15.0, 10.0),      # below the cap: no spill, 1 - exp(-L T)
    ("rag_prompt_cache", "per_tenant", 150.0, 15.0, 4.0),  # 5 keys of 30 a minute each: 1/2 warm
])
def test_best_effort_overflow_follows_its_closed_form(engine, strategy, scope, rate_per_min, cap_per_min, ttl_s):
    """OpenAI's best-effort routing (cookbook Prompt_Caching_201): above R requests a minute per
    prefix and key, traffic spills to other machines, each a fresh miss. The model routes a request
    to the warm machine with probability w = min(1, R / L), L the key's rate; the warm machine then
    sees Poisson arrivals at w L = min(L, R), so

        hit rate = min(1, R / L) x (1 - exp(-min(L, R) T)).

    Spilled requests write everything (no premium on an automatic cache) and read nothing.
    Tolerance: 4 binomial standard deviations."""
    tenants, queries = 5, 20_000
    s = cache_scenario(rate_per_min / 60, ttl_s, queries).with_changes({
        "prompt_cache.mode": "automatic", "prompt_cache.increment_tokens": 1,
        "prompt_cache.overflow_requests_per_minute": cap_per_min, "prompt_cache.prefix_scope": scope,
        "workload.tenants_count": tenants if scope == "per_tenant" else 1, "workload.fact_popularity": "uniform",
        "simulation.strategies": [strategy], "retrieval.concurrency_limit": 100_000})
    key_rate = rate_per_min / (tenants if scope == "per_tenant" else 1)
    warm = min(1.0, cap_per_min / key_rate)
    theory = warm * (1 - math.exp(-min(key_rate, cap_per_min) / 60 * ttl_s))
    result = simlib.run(s, engine=engine)
    hit = result.summary()[strategy]["cache_hit_rate"]["mean"]
    assert abs(hit - theory) < 4 * math.sqrt(theory * (1 - theory) / queries), (hit, theory)
    without = simlib.run(s.with_changes({"prompt_cache.overflow_requests_per_minute": None}), engine=engine)
    if warm < 1:
        assert without.summary()[strategy]["cache_hit_rate"]["mean"] > hit + 0.1
    else:  # below the cap nothing spills: the very same records
        assert np.array_equal(without.records(strategy)["cache_read_tokens"], result.records(strategy)["cache_read_tokens"])


def test_openai_rows_carry_overflow_and_retention_options():
    """data/prices/cache_rules.csv: OpenAI's overflow cap (15 a minute per prefix and key) and retention
    options (300 s in-memory idle, 3,600 s off-peak, 86,400 s extended) as dated data; Anthropic has none."""
    from simlib import prices

    for model in ("openai/gpt-4o", "openai/gpt-4.1", "openai/gpt-5"):
        rules = prices.cache_rules(model)
        assert rules["overflow_requests_per_minute"] == 15 and rules["ttl_options_s"] == [300, 3600, 86400]
        assert set(rules["write_multiplier_by_ttl"].values()) == {1.0}
    assert prices.cache_rules("anthropic/claude-sonnet-4-5")["overflow_requests_per_minute"] is None
    s = build_scenario({"prices": {"model": "openai/gpt-4.1", "catalog_date": "2026-11-26"}})
    assert s.prompt_cache.overflow_requests_per_minute == 15 and s.prompt_cache.ttl_s == 300
    assert build_scenario({"prices": {"model": "anthropic/claude-sonnet-4-5"}}).prompt_cache.overflow_requests_per_minute is None
