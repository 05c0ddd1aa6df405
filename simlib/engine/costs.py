"""Costs (MODEL.md, Costs): per query from tokens and prices, per month for the rest.

Per query, in USD (p_in, p_out: the model's input and output prices per token; fine-tuned
strategies use the fine-tuned model's prices; a prompt above the long-context threshold
is billed entirely at the long-context prices):

- input       = (prompt - cache_read - cache_write) x p_in
- cache_read  = cache_read x p_in x read_multiplier
- cache_write = cache_write x p_in x write_multiplier (automatic caches: multiplier 1)
- output      = output x p_out
- retrieval   = query x p_embed + vector read + rerank (retrieval strategies)

Per month (M = 30.4375 days; Q = queries_per_day x M):

- reindex     = re-embedding changed facts: chunks_per_fact x chunk_tokens x p_embed for
                every change (streaming), or for every distinct fact changed between two
                batch re-indexes, expected N (1 - exp(-u R)) per batch with uniform changes
- training    = training_tokens x epochs x p_train x (M / retrain_interval_days)
- storage     = vectors (facts x chunks x dimensions x 4 bytes) x p_GB_month
- hosting     = hosting_usd_per_hour x 24 M (dedicated fine-tuned model)
- cache_storage = entry-hours alive x prefix tokens x p_storage (priced caches only)

monthly_cost = mean per-query cost x Q + the monthly components; cost per query is
monthly_cost / Q, so training and fixed costs are amortised over the queries served.
"""

from __future__ import annotations

import numpy as np

from simlib.engine.strategies import Strategy
from simlib.scenario import DAYS_PER_MONTH, SECONDS_PER_DAY, Scenario

PER_QUERY_COMPONENTS = ("input", "cache_read", "cache_write", "output", "retrieval")
MONTHLY_COMPONENTS = ("reindex", "training", "storage", "hosting", "cache_storage")


def token_prices_per_token(strategy: Strategy, scenario: Scenario, prompt_tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Input and output price per token for each query (long-context cliff included)."""
    if strategy.fine_tuned:
        ft = scenario.fine_tuning
        n = len(prompt_tokens)
        return np.full(n, ft.input_usd_per_mtok / 1e6), np.full(n, ft.output_usd_per_mtok / 1e6)
    p = scenario.prices
    p_in = np.full(len(prompt_tokens), p.input_usd_per_mtok / 1e6)
    p_out = np.full(len(prompt_tokens), p.output_usd_per_mtok / 1e6)
    if p.long_context_threshold_tokens is not None:
        long = prompt_tokens > p.long_context_threshold_tokens
        p_in[long] = p.long_context_input_usd_per_mtok / 1e6
        p_out[long] = p.long_context_output_usd_per_mtok / 1e6
    return p_in, p_out


def per_query_costs(
    strategy: Strategy,
    scenario: Scenario,
    *,
    prompt_tokens: np.ndarray,
    cache_read_tokens: np.ndarray,
    cache_write_tokens: np.ndarray,
    output_tokens: np.ndarray,
    query_tokens: np.ndarray,
    sent: np.ndarray,
) -> dict[str, np.ndarray]:
    """Cost components of each query in USD (zero for queries never sent to the model)."""
    pc, pr = scenario.prompt_cache, scenario.prices
    p_in, p_out = token_prices_per_token(strategy, scenario, prompt_tokens)
    prompt = prompt_tokens.astype(float)
    read = cache_read_tokens.astype(float)
    write = cache_write_tokens.astype(float)
    write_mult = pc.write_multiplier if pc.mode == "explicit" else 1.0
    out = {
        "input": (prompt - read - write) * p_in,
        "cache_read": read * p_in * pc.read_multiplier,
        "cache_write": write * p_in * write_mult,
        "output": output_tokens.astype(float) * p_out,
    }
    if strategy.uses_retrieval:
        retrieval = query_tokens * pr.embedding_usd_per_mtok / 1e6 + pr.vector_read_usd_per_query
        if scenario.retrieval.rerank:
            retrieval = retrieval + pr.rerank_usd_per_query
    else:
        retrieval = np.zeros(len(prompt))
    out["retrieval"] = retrieval
    return {k: np.where(sent, v, 0.0) for k, v in out.items()}


def monthly_components(strategy: Strategy, scenario: Scenario, *, cache_entry_hours_per_month: float = 0.0) -> dict[str, float]:
    """The costs that are not per query, per month, in USD."""
    k, r, pr, ft, pc = scenario.knowledge, scenario.retrieval, scenario.prices, scenario.fine_tuning, scenario.prompt_cache
    out = dict.fromkeys(MONTHLY_COMPONENTS, 0.0)
    if strategy.uses_retrieval:
        embed_per_fact = k.chunks_per_fact * r.chunk_tokens * pr.embedding_usd_per_mtok / 1e6
        if k.index_refresh == "streaming":
            out["reindex"] = k.changes_per_day * DAYS_PER_MONTH * embed_per_fact
        else:
            batches_per_month = DAYS_PER_MONTH * SECONDS_PER_DAY / k.reindex_interval_s
            out["reindex"] = batches_per_month * expected_distinct_changed(scenario) * embed_per_fact
        vectors = k.facts_count * k.chunks_per_fact
        out["storage"] = vectors * pr.embedding_dimensions * 4 / 1e9 * pr.vector_storage_usd_per_gb_month
    if strategy.fine_tuned:
        per_training = ft.training_tokens * ft.epochs * ft.training_usd_per_mtok / 1e6
        out["training"] = per_training * DAYS_PER_MONTH / ft.retrain_interval_days
        out["hosting"] = ft.hosting_usd_per_hour * 24 * DAYS_PER_MONTH
    if strategy.caches(scenario):
        prefix = strategy.cached_prefix_tokens(scenario)
        out["cache_storage"] = cache_entry_hours_per_month * prefix / 1e6 * pc.storage_usd_per_mtok_hour
    return out


def expected_distinct_changed(scenario: Scenario) -> float:
    """Expected facts changed at least once between two batch re-indexes.

    With change rate u_f per fact over a period R: sum_f (1 - exp(-u_f R)); each burst
    counts its facts, so u_f = changes_per_day x P(f) / 86,400.
    """
    from simlib.engine.draws import popularity_cdf

    k = scenario.knowledge
    total_rate = k.changes_per_day / SECONDS_PER_DAY
    if k.changes_follow_popularity and scenario.workload.fact_popularity != "uniform":
        cdf = popularity_cdf(scenario)
        p = np.diff(np.concatenate([[0.0], cdf]))
    else:
        p = np.full(k.facts_count, 1.0 / k.facts_count)
    return float(np.sum(1.0 - np.exp(-total_rate * p * k.reindex_interval_s)))
