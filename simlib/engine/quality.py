"""The quality proxy (docs/model.md, Quality proxy): a documented, parameterised proxy.

P(answer right) = K x U x B, per query, where

- K, knowledge: did the needed fact reach the model, in its latest version?
  With q0 the base model's prior decayed by the facts changed since its cut-off and K_w the
  fine-tuned weights' recall of a fresh fact (both from simlib.engine.injection):
  - prompt_only: q0
  - rag, rag_prompt_cache: 1 if retrieved and fresh; 0 if retrieved but stale; on a
    retrieval miss the model answers from its prior, misled by the wrong context:
    q0 x (1 - wrong_context_penalty)
  - fine_tune: fresh x K_w (a shared model over private tenants: K_w = q0)
  - rag_fine_tune: retrieved ? fresh : fresh x K_w (the weights answer)
  - prompt_cache: fresh
  - fine-tuned strategies then lose (1 - forgetting_penalty) for general capability
- U, use, when the knowledge came from the context (else 1):
  - retrieved chunks: context_use x (1 - d)^(chunks - 1), the distraction of extra chunks
  - cached prefix of T knowledge tokens: context_use x exp(-T / long_context_decay_tokens),
    a long-context curve calibrated to NoLiMa (GPT-4o 99.3% -> 69.7% at 32k tokens)
- B, behaviour: behaviour_fine_tuned for fine-tuned strategies; otherwise
  min(1, behaviour_prompted + few_shot_uplift if few-shot examples are in the prompt).
  With a measured accuracy a for the strategy (``quality.measured_accuracy_share``), B is
  fitted instead: B = min(1, a / E[K U]), E[K U] the expected K U with fresh knowledge and
  top_k chunks retrieved (what an eval on current facts measures).

Citable: the answer is backed by a retrieved chunk or the cached source text.
Hallucination (fine-tuned strategies, answers from the weights): (1 - K) x
unlearned_hallucination_share, a confident wrong answer rather than a refusal.
"""

from __future__ import annotations

import math

import numpy as np

from simlib.engine.injection import decayed_prior_share, weights_knowledge_share
from simlib.engine.strategies import Strategy
from simlib.scenario import Scenario


def behaviour_share(strategy: Strategy, scenario: Scenario) -> float:
    """B: the fitted one where the scenario carries a measured accuracy for this strategy, else the default."""
    if strategy.name in scenario.quality.measured_accuracy():
        return measured_behaviour_share(strategy, scenario)[0]
    return default_behaviour_share(strategy, scenario)


def default_behaviour_share(strategy: Strategy, scenario: Scenario) -> float:
    q = scenario.quality
    if strategy.fine_tuned:
        return q.behaviour_fine_tuned_share
    uplift = q.few_shot_uplift_share if strategy.few_shot and scenario.prompt.few_shot_tokens > 0 else 0.0
    return min(1.0, q.behaviour_prompted_share + uplift)


def long_context_use_share(tokens: float, scenario: Scenario) -> float:
    """L(T) = exp(-T / long_context_decay_tokens): share of in-context knowledge still used at T tokens."""
    return math.exp(-tokens / scenario.quality.long_context_decay_tokens)


def distraction_share(chunks, scenario: Scenario):
    """(1 - d)^(chunks - 1): what is left of context use with this many retrieved chunks (1 for 0 or 1)."""
    d = scenario.retrieval.distraction_per_extra_chunk_share
    return (1.0 - d) ** np.maximum(np.asarray(chunks, float) - 1.0, 0.0)


def expected_fresh_knowledge_use(strategy: Strategy, scenario: Scenario) -> float:
    """E[K U] with every fact fresh (an eval on current knowledge) and top_k chunks retrieved.

    E[K U] = p (K U | retrieved) + (1 - p) (K U | missed), p = recall at top_k (one chunk
    count for every query: truncation by the context window is ignored here).
    """
    from simlib.engine.budget import recall_at_k

    k = scenario.retrieval.top_k if strategy.uses_retrieval else 0
    p = float(recall_at_k(scenario, np.array([k]))[0]) if strategy.uses_retrieval else 1.0
    f = _knowledge_and_use(strategy, scenario, fresh=np.array([True, True]), retrieved=np.array([True, False]),
                           chunks=np.array([k, k]))
    ku = f["knowledge"] * f["use"]
    return float(p * ku[0] + (1.0 - p) * ku[1])


def measured_behaviour_share(strategy: Strategy, scenario: Scenario) -> tuple[float, float]:
    """(B fitted to the measured accuracy a, E[K U]): B = min(1, a / E[K U]) so that E[K U] x B = a where it can."""
    a = scenario.quality.measured_accuracy()[strategy.name]
    ku = expected_fresh_knowledge_use(strategy, scenario)
    return (min(1.0, a / ku) if ku > 0 else 1.0), ku


def measured_quality_notes(scenario: Scenario, strategies) -> list[str]:
    """What the quality proxy fitted to the scenario's measurements (recall at k, accuracy), for the run's notes."""
    from simlib.engine.budget import fitted_recall_curve
    from simlib.engine.strategies import STRATEGIES

    notes = []
    points = scenario.retrieval.measured_recall_at_k
    if points and any(STRATEGIES[n].uses_retrieval for n in strategies):
        notes.append(fitted_recall_curve(points).note())
    for name in strategies:
        if name not in scenario.quality.measured_accuracy():
            continue
        st = STRATEGIES[name]
        a = scenario.quality.measured_accuracy()[name]
        b, ku = measured_behaviour_share(st, scenario)
        text = (f"{name}: quality fitted to the measured accuracy {a:.2f} (behaviour factor B {b:.3f} instead of "
                f"{default_behaviour_share(st, scenario):.3f}; fresh-knowledge E[K U] {ku:.3f})")
        if a > ku:
            text += ("; the measurement is above what the proxy's knowledge and use allow, so B is 1 and the proxy "
                     "stays below it: raise the knowledge or context-use parameters to match")
        notes.append(text)
    return notes


def quality_factors(strategy: Strategy, scenario: Scenario, *, fresh: np.ndarray, retrieved: np.ndarray,
                    chunks: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-query knowledge K, use U and behaviour B (arrays), their parts, citable and hallucination.

    ``chunks``: retrieved chunks in each prompt (for the distraction penalty); None = top_k.
    """
    f = _knowledge_and_use(strategy, scenario, fresh=fresh, retrieved=retrieved, chunks=chunks)
    f["behaviour"] = np.full(len(fresh), behaviour_share(strategy, scenario))
    return f


def _knowledge_and_use(strategy: Strategy, scenario: Scenario, *, fresh: np.ndarray, retrieved: np.ndarray,
                       chunks: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every factor of quality_factors except B."""
    q = scenario.quality
    n = len(fresh)
    src = strategy.knowledge_source
    fresh_f = fresh.astype(float)
    prior = decayed_prior_share(scenario)
    context = np.zeros(n, bool)
    from_weights = np.zeros(n, bool)
    distraction = np.ones(n)
    long_context = np.ones(n)
    if chunks is None:
        chunks = np.full(n, scenario.retrieval.top_k)
    if src == "none":
        k = np.full(n, prior)
    elif src == "index":
        k = np.where(retrieved, fresh_f, prior * (1 - q.wrong_context_penalty_share))
        context = retrieved.copy()
    elif src == "weights":
        k = fresh_f * weights_knowledge_share(scenario)
        from_weights[:] = True
    elif src == "index_then_weights":
        k = np.where(retrieved, fresh_f, fresh_f * weights_knowledge_share(scenario))
        context = retrieved.copy()
        from_weights = ~retrieved
    else:  # prefix
        k = fresh_f
        context = np.ones(n, bool)
        long_context = np.full(n, long_context_use_share(strategy.knowledge_tokens(scenario), scenario))
    if strategy.uses_retrieval:
        distraction = np.where(context, distraction_share(chunks, scenario), 1.0)
    if strategy.fine_tuned:
        k = k * (1.0 - q.forgetting_penalty_share)
    u = np.where(context, q.context_use_share * distraction * long_context, 1.0)
    hallucination = np.where(from_weights, (1.0 - k) * q.unlearned_hallucination_share, 0.0)
    return {"knowledge": k, "use": u, "citable": context, "distraction": distraction,
            "long_context": long_context, "hallucination": hallucination, "from_weights": from_weights}
