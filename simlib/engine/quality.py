"""The quality proxy (docs/model.md, Quality proxy): a documented, parameterised proxy.

P(answer right) = K x U x B, per query, where

- K, knowledge: did the needed fact reach the model, in its latest version?
  - prompt_only: q_prior (the base model's prior knowledge of the domain)
  - rag, rag_prompt_cache: 1 if retrieved and fresh; 0 if retrieved but stale; on a
    retrieval miss the model answers from its prior, misled by the wrong context:
    q_prior x (1 - wrong_context_penalty)
  - fine_tune: fresh x fine_tuned_fact_recall
  - rag_fine_tune: retrieved ? fresh : fresh x fine_tuned_fact_recall (the weights answer)
  - prompt_cache: fresh x max(0, 1 - degradation_per_100k x prefix_tokens / 100,000)
  - fine-tuned strategies then lose (1 - forgetting_penalty) for general capability
- U, use: context_use_share when the knowledge came from the context (retrieved chunk or
  cached prefix), else 1.
- B, behaviour: behaviour_fine_tuned for fine-tuned strategies; otherwise
  min(1, behaviour_prompted + few_shot_uplift if few-shot examples are in the prompt).

Citable: the answer is backed by a retrieved chunk or the cached source text.
"""

from __future__ import annotations

import numpy as np

from simlib.engine.strategies import Strategy
from simlib.scenario import Scenario


def behaviour_share(strategy: Strategy, scenario: Scenario) -> float:
    q = scenario.quality
    if strategy.fine_tuned:
        return q.behaviour_fine_tuned_share
    uplift = q.few_shot_uplift_share if strategy.few_shot and scenario.prompt.few_shot_tokens > 0 else 0.0
    return min(1.0, q.behaviour_prompted_share + uplift)


def quality_factors(strategy: Strategy, scenario: Scenario, *, fresh: np.ndarray, retrieved: np.ndarray) -> dict[str, np.ndarray]:
    """Per-query knowledge K, use U and behaviour B (arrays), and citable flags."""
    q = scenario.quality
    n = len(fresh)
    src = strategy.knowledge_source
    fresh_f = fresh.astype(float)
    context = np.zeros(n, bool)
    if src == "none":
        k = np.full(n, q.prior_knowledge_share)
    elif src == "index":
        k = np.where(retrieved, fresh_f, q.prior_knowledge_share * (1 - q.wrong_context_penalty_share))
        context = retrieved.copy()
    elif src == "weights":
        k = fresh_f * q.fine_tuned_fact_recall_share
    elif src == "index_then_weights":
        k = np.where(retrieved, fresh_f, fresh_f * q.fine_tuned_fact_recall_share)
        context = retrieved.copy()
    else:  # prefix
        tokens = strategy.knowledge_tokens(scenario)
        k = fresh_f * max(0.0, 1.0 - q.long_context_degradation_per_100k_tokens * tokens / 100_000)
        context = np.ones(n, bool)
    if strategy.fine_tuned:
        k = k * (1.0 - q.forgetting_penalty_share)
    u = np.where(context, q.context_use_share, 1.0)
    b = np.full(n, behaviour_share(strategy, scenario))
    return {"knowledge": k, "use": u, "behaviour": b, "citable": context}
