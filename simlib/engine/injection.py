"""Knowledge injection: what a fine-tuned model actually learns, and what the base model still knows.

Everything here depends on the scenario only (not on time-ordered events), so both
backends share it and it is computed once per run.

Facts and their prior (docs/model.md, Knowledge injection):

- changed since the base model's cut-off: fact f changes at rate u_f per day
  (changes_per_day x P_change(f)); the share changed in the base_cutoff_age_days A since
  the cut-off is c_f = 1 - exp(-u_f A). The base model's prior on f decays to
  q_prior x (1 - c_f): it knows only the old version of a changed fact.
- three kinds of fact for a fine-tune: known to the base model ((1 - c_f) q_prior; answered
  right, training or not), half-known (unchanged but not known, (1 - c_f)(1 - q_prior)),
  and new or updated (c_f), which is learned more slowly (Gekhman et al. 2024).

Recall of a fact after training (the injection curve):

    r(e, p) = ceiling x (1 - exp(-e / e_half)) x (1 - (1 - x1)^(p^2))

- e, exposures of the fact: knowledge training tokens x epochs x w_f / tokens per fact,
  with w_f = N P(f) when the training set follows query popularity, else 1;
- e_half: known_fact_half_exposures for half-known facts, new_fact_half_exposures for new
  or updated ones (Gekhman et al. 2024: unknown facts are fitted much later);
- p, paraphrases per fact; x1 the extractability of a fact seen in one form only. A fact
  stored in one form is rarely extractable; in five varied forms mostly (Allen-Zhu & Li
  2023, "Physics of Language Models 3.1"); the p^2 form is a fit through those points.

The query-weighted knowledge factor of the weights is

    K_w = sum_f P_q(f) [ (1 - c_f) q_prior + (1 - c_f)(1 - q_prior) r_half(e_f) + c_f r_new(e_f) ]

and when tenants' knowledge is private and one shared model serves them all, the weights
hold no tenant fact, so K_w = the decayed prior (the reason is put in the run's notes).
A fine-tuned model that did not learn a fact answers it wrong (not "I don't know") with
probability unlearned_hallucination_share.
"""

from __future__ import annotations

import numpy as np

from simlib.scenario import Scenario


def tokens_per_fact(scenario: Scenario) -> int:
    """Tokens of one fact's text (its chunks)."""
    return scenario.knowledge.chunks_per_fact * scenario.retrieval.chunk_tokens


def facts_per_tenant(scenario: Scenario) -> int:
    """Facts each tenant owns (facts are split evenly among tenants; ceil)."""
    return -(-scenario.knowledge.facts_count // scenario.workload.tenants_count)


def private_tenants(scenario: Scenario) -> bool:
    """True when tenants' knowledge is private and there is more than one tenant."""
    return scenario.knowledge.tenant_knowledge == "private" and scenario.workload.tenants_count > 1


def per_tenant_adapters(scenario: Scenario) -> bool:
    """True when each tenant gets its own adapter (one training per tenant)."""
    return scenario.fine_tuning.adapters == "per_tenant" and scenario.workload.tenants_count > 1


def shared_model_lacks_tenant_facts(scenario: Scenario) -> bool:
    """A shared fine-tune cannot hold private tenant facts (it would answer one tenant with another's)."""
    return private_tenants(scenario) and not per_tenant_adapters(scenario)


def models_trained(scenario: Scenario) -> int:
    """Fine-tuned models (adapters) trained per retraining round: 1, or one per tenant."""
    return scenario.workload.tenants_count if per_tenant_adapters(scenario) else 1


def knowledge_training_tokens(scenario: Scenario) -> float:
    """Knowledge tokens in one model's training set (before epochs).

    Default: the facts the model must teach x paraphrases per fact (its tenant's facts for
    a per-tenant adapter; none for a shared model over private tenants). An explicit
    fine_tuning.training_tokens counts behaviour_training_tokens first, the rest as knowledge.
    """
    ft = scenario.fine_tuning
    if ft.training_tokens is not None:
        behaviour = 0.0 if per_tenant_adapters(scenario) else ft.behaviour_training_tokens
        return max(0.0, ft.training_tokens - behaviour)
    if shared_model_lacks_tenant_facts(scenario):
        return 0.0
    facts = facts_per_tenant(scenario) if per_tenant_adapters(scenario) else scenario.knowledge.facts_count
    return float(facts * tokens_per_fact(scenario) * ft.paraphrases_per_fact)


def training_tokens_per_model(scenario: Scenario) -> float:
    """Tokens in one model's training set per retraining (before epochs).

    training_tokens if set, else behaviour_training_tokens + knowledge_training_tokens; a
    per-tenant adapter learns only its tenant's facts (the behaviour is trained once, in the
    shared model the adapters sit on: see shared_behaviour_training_tokens).
    """
    ft = scenario.fine_tuning
    if ft.training_tokens is not None:
        return float(ft.training_tokens)
    if per_tenant_adapters(scenario):
        return knowledge_training_tokens(scenario)
    return ft.behaviour_training_tokens + knowledge_training_tokens(scenario)


def shared_behaviour_training_tokens(scenario: Scenario) -> float:
    """Behaviour examples trained once a round under per-tenant adapters (0 otherwise)."""
    ft = scenario.fine_tuning
    if per_tenant_adapters(scenario) and ft.training_tokens is None:
        return ft.behaviour_training_tokens
    return 0.0


def retrain_interval_days(scenario: Scenario) -> float:
    """Days between retrainings: the adapters' own schedule when there is one per tenant."""
    ft = scenario.fine_tuning
    return ft.adapter_retrain_interval_days if per_tenant_adapters(scenario) else ft.retrain_interval_days


def extractability_share(paraphrases: float, single_form_share: float) -> float:
    """P(a learned fact can be extracted) after training on p forms: 1 - (1 - x1)^(p^2)."""
    return 1.0 - (1.0 - single_form_share) ** (paraphrases ** 2)


def fact_recall_share(exposures, paraphrases: float, *, half_exposures: float, ceiling_share: float,
                      single_form_share: float):
    """Injection curve r(e, p) = ceiling x (1 - exp(-e / e_half)) x (1 - (1 - x1)^(p^2)) (scalar or array)."""
    e = np.asarray(exposures, float)
    learned = 1.0 - np.exp(-e / half_exposures)
    return ceiling_share * learned * extractability_share(paraphrases, single_form_share)


def query_popularity(scenario: Scenario) -> np.ndarray:
    """P_q(f): the share of queries asking about each fact."""
    from simlib.engine.popularity import popularity_cdf

    cdf = popularity_cdf(scenario)
    n = scenario.knowledge.facts_count
    if cdf is None:
        return np.full(n, 1.0 / n)
    return np.diff(np.concatenate([[0.0], cdf]))


def changed_since_cutoff_shares(scenario: Scenario) -> np.ndarray:
    """c_f = 1 - exp(-u_f A): each fact's chance of having changed since the base model's cut-off."""
    k = scenario.knowledge
    p_change = query_popularity(scenario) if k.changes_follow_popularity else np.full(k.facts_count, 1.0 / k.facts_count)
    return 1.0 - np.exp(-k.changes_per_day * p_change * k.base_cutoff_age_days)


def _injection(scenario: Scenario) -> tuple[float, float, float]:
    """(decayed prior, K_w, exposures per fact), cached on the groups they depend on."""
    key = (scenario.workload, scenario.knowledge, scenario.retrieval, scenario.fine_tuning, scenario.quality)
    return _injection_cached(key, scenario)


_CACHE: dict = {}


def _injection_cached(key, scenario: Scenario) -> tuple[float, float, float]:
    if key not in _CACHE:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[key] = _compute_injection(scenario)
    return _CACHE[key]


def _compute_injection(scenario: Scenario) -> tuple[float, float, float]:
    q, ft = scenario.quality, scenario.fine_tuning
    p_q = query_popularity(scenario)
    c = changed_since_cutoff_shares(scenario)
    prior = float(np.sum(p_q * (1.0 - c) * q.prior_knowledge_share))
    if shared_model_lacks_tenant_facts(scenario):
        return prior, prior, 0.0  # the weights hold no tenant fact: the base prior answers
    facts = facts_per_tenant(scenario) if per_tenant_adapters(scenario) else scenario.knowledge.facts_count
    exposures = knowledge_training_tokens(scenario) * ft.epochs / (facts * tokens_per_fact(scenario))
    if ft.training_follows_popularity and scenario.workload.fact_popularity != "uniform":
        e_f = exposures * p_q * len(p_q)
    else:
        e_f = np.full(len(p_q), exposures)
    common = dict(ceiling_share=q.injection_recall_ceiling_share, single_form_share=q.single_form_extractability_share)
    r_half = fact_recall_share(e_f, ft.paraphrases_per_fact, half_exposures=q.known_fact_half_exposures, **common)
    r_new = fact_recall_share(e_f, ft.paraphrases_per_fact, half_exposures=q.new_fact_half_exposures, **common)
    known = (1.0 - c) * q.prior_knowledge_share
    half = (1.0 - c) * (1.0 - q.prior_knowledge_share)
    k_w = float(np.sum(p_q * (known + half * r_half + c * r_new)))
    return prior, k_w, float(exposures)


NEGLIGIBLE_SHARE = 1e-9  # a prior below one answer in a billion is none (no correct answer to price)


def decayed_prior_share(scenario: Scenario) -> float:
    """The base model's prior on the facts asked: sum_f P_q(f) (1 - c_f) q_prior, 0 below NEGLIGIBLE_SHARE.

    With many changes since the cut-off the sum is a vanishing exp(-rate x age) (codebase-agent:
    4.2e-14), which priced prompt_only's cost per correct answer at $1.36 trillion.
    """
    prior = _injection(scenario)[0]
    return 0.0 if prior < NEGLIGIBLE_SHARE else prior


def weights_knowledge_share(scenario: Scenario) -> float:
    """K_w: P(the fine-tuned weights answer a fresh fact right), query-weighted (before forgetting); 0 below
    NEGLIGIBLE_SHARE, as the prior it falls back on for facts the weights do not hold."""
    share = _injection(scenario)[1]
    return 0.0 if share < NEGLIGIBLE_SHARE else share


def exposures_per_fact(scenario: Scenario) -> float:
    """Mean exposures of a fact in one model's training (knowledge tokens x epochs / tokens of the facts)."""
    return _injection(scenario)[2]
