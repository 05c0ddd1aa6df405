"""Costs (docs/model.md, Costs): per query from tokens and prices, per month for the rest.

Per query, in USD (p_in, p_out: the model's input and output prices per token; fine-tuned
strategies use the fine-tuned model's prices; a prompt above the long-context threshold
is billed entirely at the long-context prices):

- input       = (prompt - cache_read - cache_write) x p_in
- cache_read  = cache_read x p_in x read_multiplier (fine-tuned strategies: cache_read x the
                fine-tuned model's cached-input price, where published)
- cache_write = cache_write x p_in x write_multiplier (automatic caches: multiplier 1)
- output      = output x p_out
- retrieval   = query x p_embed + vector read + rerank (retrieval strategies)

An offline query (workload.offline_share, the batch API) pays its four token components at
(1 - D), D = prices.batch_discount_share (fine_tuning.batch_discount_share for fine-tuned
strategies); a model served on dedicated GPUs (serving group) has token prices 0, its
cost being the GPU bill in ``hosting``. A query that failed after its last rate-limit
retry was never sent: it costs 0.

Per month (M = 30.4375 days; Q = queries_per_day x M):

- reindex     = re-embedding changed facts: chunks_per_fact x chunk_tokens x p_embed for
                every change (streaming), or for every distinct fact changed between two
                batch re-indexes, expected N (1 - exp(-u R)) per batch with uniform changes
- training    = (training tokens per model x models per round + shared behaviour tokens) x epochs x p_train
                x (M / retrain interval);
                training tokens default to behaviour examples + facts x chunk tokens x paraphrases
                (simlib.engine.injection), so training grows with the corpus; per-tenant adapters
                train one adapter per tenant on its facts only, on their own schedule, and the
                behaviour examples once a round in the shared model they sit on
- storage     = vectors (facts x chunks x dimensions x 4 bytes) x p_GB_month
- hosting     = hosting_usd_per_hour x 24 M (a hand-priced fine-tuned endpoint), or, for a model on
                dedicated GPUs, replicas x gpus per replica x price per GPU-hour x 24 M, or with
                hourly autoscaling sum over the 24 hours of replicas(h) x gpus x price x M
- cache_storage = entry-hours alive x prefix tokens x p_storage (priced caches only)

- ownership: data preparation, evaluation, engineering, index build, vector-store plan
                minimum, adapter storage and serving (see ownership_components)

monthly_cost = mean per-query cost x Q + the monthly components; cost per query is
monthly_cost / Q, so training and fixed costs are amortised over the queries served.
"""

from __future__ import annotations

import numpy as np

from simlib.engine.injection import (
    facts_per_tenant, knowledge_training_tokens, models_trained, per_tenant_adapters, retrain_interval_days,
    shared_behaviour_training_tokens, tokens_per_fact, training_tokens_per_model,
)
from simlib.engine.strategies import Strategy
from simlib.scenario import DAYS_PER_MONTH, SECONDS_PER_DAY, Scenario

PER_QUERY_COMPONENTS = ("input", "cache_read", "cache_write", "output", "retrieval")
MONTHLY_COMPONENTS = ("reindex", "training", "storage", "hosting", "cache_storage")
# total cost of ownership (ownership_components): also monthly, also in monthly_cost_usd
OWNERSHIP_COMPONENTS = (
    "data_preparation", "evaluation", "engineering", "index_build", "vector_minimum", "adapter_storage", "adapter_serving",
)


def token_prices_per_token(strategy: Strategy, scenario: Scenario, prompt_tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Input and output price per token for each query (long-context cliff included; 0 on dedicated GPUs)."""
    if scenario.serving.dedicated(strategy.fine_tuned):
        n = len(prompt_tokens)
        return np.zeros(n), np.zeros(n)
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


def cache_read_usd_per_token(strategy: Strategy, scenario: Scenario, p_in: np.ndarray) -> np.ndarray:
    """Price of a cached input token: p_in x read_multiplier, or the fine-tuned model's own
    published cached-input price for fine-tuned strategies (fine_tuning.cache_read_usd_per_mtok)."""
    ft_read = scenario.fine_tuning.cache_read_usd_per_mtok
    if strategy.fine_tuned and ft_read is not None:
        return np.full(len(p_in), ft_read / 1e6)
    return p_in * scenario.prompt_cache.read_multiplier


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
    retrieves: np.ndarray | None = None,
    offline: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Cost components of each query in USD (zero for queries never sent to the model).

    ``retrieves``: which queries ran retrieval (None: all; sessions that retrieve once per session).
    ``offline``: queries sent through the batch API, whose token components are x (1 - D).
    """
    pr = scenario.prices
    p_in, p_out = token_prices_per_token(strategy, scenario, prompt_tokens)
    prompt = prompt_tokens.astype(float)
    read = cache_read_tokens.astype(float)
    write = cache_write_tokens.astype(float)
    write_mult = strategy.cache_rules(scenario).write_multiplier_billed  # the serving provider's (fine-tuned: its own)
    out = {
        "input": (prompt - read - write) * p_in,
        "cache_read": read * cache_read_usd_per_token(strategy, scenario, p_in),
        "cache_write": write * p_in * write_mult,
        "output": output_tokens.astype(float) * p_out,
    }
    if offline is not None and offline.any():
        discount = scenario.fine_tuning.batch_discount_share if strategy.fine_tuned else pr.batch_discount_share
        scale = np.where(offline, 1.0 - discount, 1.0)
        out = {k: v * scale for k, v in out.items()}
    if strategy.uses_retrieval:
        retrieval = query_tokens * pr.embedding_usd_per_mtok / 1e6 + pr.vector_read_usd_per_query
        if scenario.retrieval.rerank:
            retrieval = retrieval + pr.rerank_usd_per_query
        if retrieves is not None:
            retrieval = np.where(retrieves, retrieval, 0.0)
    else:
        retrieval = np.zeros(len(prompt))
    out["retrieval"] = retrieval
    return {k: np.where(sent, v, 0.0) for k, v in out.items()}


def monthly_components(strategy: Strategy, scenario: Scenario, *, cache_entry_hours_per_month: float = 0.0) -> dict[str, float]:
    """The costs that are not per query, per month, in USD (a dedicated model's replicas: simlib.engine.dedicated)."""
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
        behaviour = shared_behaviour_training_tokens(scenario) * ft.epochs * ft.training_usd_per_mtok / 1e6
        out["training"] = (training_usd_per_model(scenario) * models_trained(scenario) + behaviour) * retrainings_per_month(scenario)
        out["hosting"] = ft.hosting_usd_per_hour * 24 * DAYS_PER_MONTH
    if scenario.serving.dedicated(strategy.fine_tuned):
        from simlib.engine.dedicated import hosting_monthly_usd

        # replicas x GPUs x 730.5 h x price (hourly: summed over the day's schedule): what `simlib capacity` reports too
        out["hosting"] = hosting_monthly_usd(scenario, strategy)
    if strategy.caches(scenario) and not (strategy.fine_tuned and scenario.fine_tuning.cache_mode is not None):
        # (a fine-tuned model on another provider: its automatic cache has no storage fee)
        prefix = strategy.cached_prefix_tokens(scenario)
        out["cache_storage"] = cache_entry_hours_per_month * prefix / 1e6 * pc.storage_usd_per_mtok_hour
    out.update(ownership_components(strategy, scenario, usage_usd_per_month=out["storage"]))
    return out


def retrainings_per_month(scenario: Scenario) -> float:
    """Retraining rounds per month: M / retrain interval (the adapters' own interval per tenant)."""
    return DAYS_PER_MONTH / retrain_interval_days(scenario)


def training_usd_per_model(scenario: Scenario) -> float:
    """One model's (adapter's) training: training tokens x epochs x p_train."""
    ft = scenario.fine_tuning
    return training_tokens_per_model(scenario) * ft.epochs * ft.training_usd_per_mtok / 1e6


def batch_price_factors(scenario: Scenario) -> tuple[float, float]:
    """(base model, fine-tuned model) price factors of offline training work: 1 - D through the batch API
    (``fine_tuning.training_work_via_batch_api``; D = prices.batch_discount_share, fine_tuning.batch_discount_share), else 1."""
    if not scenario.fine_tuning.training_work_via_batch_api:
        return 1.0, 1.0
    return 1.0 - scenario.prices.batch_discount_share, 1.0 - scenario.fine_tuning.batch_discount_share


def data_preparation_usd_per_model(scenario: Scenario) -> float:
    """Generating one model's training set with base-model calls (at the batch API's price where used).

    share s of the training tokens is generated: calls = s x facts x paraphrases (one per fact
    and paraphrase, each reading the fact and the generation instructions), so
    cost = [calls x (tokens_per_fact + data_prep_prompt_tokens) x p_in + s x training_tokens x p_out] x (1 - D),
    D the base model's batch discount when the work goes through the batch API (else 0).
    """
    ft, p = scenario.fine_tuning, scenario.prices
    s = ft.synthetic_data_share
    facts = facts_per_tenant(scenario) if per_tenant_adapters(scenario) else scenario.knowledge.facts_count
    if knowledge_training_tokens(scenario) == 0:
        facts = 0
    calls = s * facts * ft.paraphrases_per_fact
    read = calls * (tokens_per_fact(scenario) + ft.data_prep_prompt_tokens) * p.input_usd_per_mtok / 1e6
    written = s * training_tokens_per_model(scenario) * p.output_usd_per_mtok / 1e6
    return (read + written) * batch_price_factors(scenario)[0]


def evaluation_usd_per_model(scenario: Scenario) -> float:
    """Evaluating one retrained model: questions x (one answer at fine-tuned prices + judge calls at base prices).

    cost = n x [(t_in p_in_ft + t_out p_out_ft) (1 - D_ft) + j (t_in p_in + t_out p_out) (1 - D)]
    with the batch discounts D_ft, D where the evaluation goes through the batch API (else 0).
    """
    ft, p = scenario.fine_tuning, scenario.prices
    base_factor, tuned_factor = batch_price_factors(scenario)
    t_in, t_out = ft.eval_call_input_tokens, ft.eval_call_output_tokens
    answer = (t_in * ft.input_usd_per_mtok + t_out * ft.output_usd_per_mtok) / 1e6 * tuned_factor
    judge = ft.eval_judge_calls_per_question * (t_in * p.input_usd_per_mtok + t_out * p.output_usd_per_mtok) / 1e6 * base_factor
    return ft.eval_questions_count * (answer + judge)


def index_build_usd(scenario: Scenario) -> float:
    """The first index: embedding every chunk + the build's engineering hours (before amortising)."""
    k, r, p = scenario.knowledge, scenario.retrieval, scenario.prices
    embed = k.facts_count * k.chunks_per_fact * r.chunk_tokens * p.embedding_usd_per_mtok / 1e6
    return embed + r.index_build_engineering_hours * p.engineer_usd_per_hour


def ownership_components(strategy: Strategy, scenario: Scenario, *, usage_usd_per_month: float = 0.0) -> dict[str, float]:
    """Total-cost-of-ownership components per month, in USD (each zeroable through its fields).

    With R retrainings per month, N models per round (tenants with per-tenant adapters, else 1)
    and h the engineer's hourly rate:

    - data_preparation = R x N x data_preparation_usd_per_model        (fine-tuned)
    - evaluation       = R x N x evaluation_usd_per_model              (fine-tuned)
    - engineering      = h x (R x hours_per_retraining + fine-tuning upkeep hours)   (fine-tuned)
                         + h x index upkeep hours                     (retrieval)
    - index_build      = index_build_usd / amortisation months         (retrieval)
    - vector_minimum   = max(0, plan minimum - (vector reads x Q + vector storage)), Q = queries_per_day x M  (retrieval)
    - adapter_storage  = N x adapter storage per month                 (per-tenant adapters)
    - adapter_serving  = ceil(N / adapters_per_server) x server per hour x 24 M  (per-tenant adapters)
    """
    ft, r, p = scenario.fine_tuning, scenario.retrieval, scenario.prices
    out = dict.fromkeys(OWNERSHIP_COMPONENTS, 0.0)
    hours = 0.0
    if strategy.fine_tuned:
        rounds, n = retrainings_per_month(scenario), models_trained(scenario)
        out["data_preparation"] = rounds * n * data_preparation_usd_per_model(scenario)
        out["evaluation"] = rounds * n * evaluation_usd_per_model(scenario)
        hours += rounds * ft.engineering_hours_per_retraining + ft.pipeline_upkeep_hours_per_month
        if per_tenant_adapters(scenario):
            out["adapter_storage"] = n * ft.adapter_storage_usd_per_month
            servers = -(-n // ft.adapters_per_server)
            out["adapter_serving"] = servers * ft.adapter_server_usd_per_hour * 24 * DAYS_PER_MONTH
    if strategy.uses_retrieval:
        hours += r.index_upkeep_hours_per_month
        out["index_build"] = index_build_usd(scenario) / r.index_build_amortisation_months
        reads = p.vector_read_usd_per_query * scenario.workload.queries_per_day * DAYS_PER_MONTH
        out["vector_minimum"] = max(0.0, p.vector_store_minimum_usd_per_month - (reads + usage_usd_per_month))
    out["engineering"] = hours * p.engineer_usd_per_hour
    return out


def expected_distinct_changed(scenario: Scenario) -> float:
    """Expected facts changed at least once between two batch re-indexes.

    With change rate u_f per fact over a period R: sum_f (1 - exp(-u_f R)); each burst
    counts its facts, so u_f = changes_per_day x P(f) / 86,400.
    """
    from simlib.engine.popularity import popularity_cdf

    k = scenario.knowledge
    total_rate = k.changes_per_day / SECONDS_PER_DAY
    if k.changes_follow_popularity and scenario.workload.fact_popularity != "uniform":
        cdf = popularity_cdf(scenario)
        p = np.diff(np.concatenate([[0.0], cdf]))
    else:
        p = np.full(k.facts_count, 1.0 / k.facts_count)
    return float(np.sum(1.0 - np.exp(-total_rate * p * k.reindex_interval_s)))
