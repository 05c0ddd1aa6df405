"""Each preset tells the reference article's lesson for its case (seed-article.txt).

These are qualitative outcomes, asserted so that a change to the engine, the prices or a
preset that breaks a story fails loudly. Runs use 3 replications of 2,000 queries.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest

import simlib


@lru_cache(maxsize=None)
def summary(preset: str, **changes):
    s = simlib.load_preset(preset).with_changes({"simulation.queries": 2_000, "simulation.replications": 3, **changes})
    return simlib.run(s).summary()


def mean(entry, metric):
    return entry[metric]["mean"]


def feasible(result):
    return {name: e for name, e in result.items() if e["feasible"]}


def test_coaching_app_fine_tuning_alone_is_stale_within_a_day():
    """WHOOP Coach: per-user data changing nightly and after workouts; fine-tuning cannot keep up."""
    r = summary("coaching-app")
    assert mean(r["fine_tune"], "fresh_share") < 0.05
    # even retraining every day (serving 8 h after the snapshot) leaves most answers stale
    daily = summary("coaching-app", **{"fine_tuning.retrain_interval_days": 1.0})
    assert mean(daily["fine_tune"], "fresh_share") < 0.25
    assert mean(r["rag"], "fresh_share") > 0.95
    assert mean(r["rag"], "citable_share") > 0.8 and mean(r["fine_tune"], "citable_share") == 0
    # a user's level of the prefix (their knowledge snapshot) is cold when a conversation starts (asked a few times
    # a day), and warm for the later turns: share of turns reading it = (1 - 1 / E[turns]) x P(think time < TTL),
    # for lognormal think times of mean m and cv c (changed with issue 18: before conversations every question was
    # a lone call and the rate was below 5%). Changed with issue 15 (nested levels): the global level
    # [system][instructions][few-shot] in front of it is shared by all 5,000 users, so nearly every turn reads
    # that part (cache_hit_rate counts a turn reading any cached tokens): before, one entry per user held both.
    preset = simlib.load_preset("coaching-app")
    s = preset.sessions
    sd = math.sqrt(math.log(1 + s.think_time_cv ** 2))
    p_gap = 0.5 * (1 + math.erf((math.log(300) - math.log(s.think_time_mean_s) + sd * sd / 2) / (sd * math.sqrt(2))))
    assert mean(r["prompt_cache"], "cache_hit_rate") > 0.95
    from simlib.engine.cache import chain_read_tokens
    from simlib.engine.strategies import STRATEGIES

    run = preset.with_changes({"simulation.queries": 6_000})
    pc = run.prompt_cache
    whole_chain = chain_read_tokens(STRATEGIES["prompt_cache"].cache_levels(run), pc.mode, pc.min_cacheable_tokens,
                                    pc.increment_tokens)[-1]
    rec = simlib.run(run).records("prompt_cache")
    user_share = float(np.mean(rec["cache_read_tokens"] >= whole_chain))
    assert user_share == pytest.approx((1 - 1 / s.turns_mean) * p_gap, abs=0.03)
    assert mean(r["prompt_cache"], "fresh_share") > 0.99 and mean(r["prompt_cache"], "citable_share") == 1.0


def test_code_apply_fine_tuning_wins_on_latency_and_cost():
    """Cursor Fast Apply: a stable, latency-critical task; the fine-tuned model decodes ~1,000 tok/s."""
    r = feasible(summary("code-apply"))
    cheapest = min(r, key=lambda n: mean(r[n], "cost_per_query_usd"))
    fastest = min(r, key=lambda n: mean(r[n], "latency_p95_s"))
    assert cheapest == "fine_tune" and fastest == "fine_tune"
    assert mean(r["fine_tune"], "latency_p95_s") * 3 < mean(r["prompt_only"], "latency_p95_s")


@pytest.mark.parametrize("preset", ["language-tutor", "codebase-agent"])
def test_rag_plus_fine_tuning_is_the_only_strategy_good_on_quality_and_freshness(preset):
    """Duolingo and Cursor Composer: behaviour from fine-tuning, knowledge from retrieval."""
    r = feasible(summary(preset))
    best_quality = max(mean(e, "quality_proxy") for e in r.values())
    good = [n for n, e in r.items()
            if mean(e, "quality_proxy") >= best_quality - 0.05 and (mean(e, "fresh_share") or 0) >= 0.85]
    assert good == ["rag_fine_tune"], {n: (mean(e, "quality_proxy"), mean(e, "fresh_share")) for n, e in r.items()}


def test_shared_manual_prompt_caching_beats_rag_on_cost_at_high_load():
    """A big, stable manual asked by many: the cached prefix is read at 0.1x; at low load it mostly misses."""
    busy = summary("shared-manual")
    assert mean(busy["prompt_cache"], "cost_per_query_usd") < mean(busy["rag"], "cost_per_query_usd")
    assert mean(busy["prompt_cache"], "cache_hit_rate") > 0.95
    # ... but a hit still reads the whole manual: 150 sections x 400 tokens at 0.1x is ~6,000
    # full-price tokens a question, more than RAG + fine-tuning's 10 retrieved sections (4,000)
    # on a shorter fine-tuned prompt: the story says so (and the verdict is not prompt caching)
    assert mean(busy["rag_fine_tune"], "cost_per_query_usd") < mean(busy["prompt_cache"], "cost_per_query_usd")
    quiet = summary("shared-manual", **{"workload.queries_per_day": 100})
    # at low load every query pays (mostly) a cache write of the whole manual: per query the
    # cache costs more than RAG's chunks. (Per month RAG's fixed ownership costs, index upkeep
    # and build, outweigh that at 100 queries a day: the variable cost carries the story.)
    assert mean(quiet["prompt_cache"], "variable_cost_per_query_usd") > mean(quiet["rag"], "variable_cost_per_query_usd")
    assert mean(quiet["prompt_cache"], "cache_hit_rate") < 0.5


def test_docs_assistant_rag_is_fresh_and_citable_where_fine_tuning_is_not():
    """Product docs that change weekly and need citations: the article's case for RAG."""
    r = summary("docs-assistant")
    assert r["prompt_cache"]["feasible"] is False  # 2,000 pages do not fit a context window
    assert mean(r["rag"], "fresh_share") > mean(r["fine_tune"], "fresh_share") + 0.1
    assert mean(r["rag"], "citable_share") > 0.9 and mean(r["fine_tune"], "citable_share") == 0
    assert mean(r["rag"], "quality_proxy") > mean(r["fine_tune"], "quality_proxy")
