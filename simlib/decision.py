"""The reference article's decision tree, as code, and a check of its rules of thumb
against a simulated scenario.

    answers = Answers(changing_data=True, citations=True, per_user_data=False, specialised_behaviour=False)
    rec = recommend(answers)                    # "rag", and the path taken through the tree
    scenario = scenario_for(answers, simlib.load_preset("docs-assistant"))
    checks = rule_checks(simlib.run(scenario), rec)   # where the numbers agree, where they do not

The tree (article, "A Decision Tree"), with the article's other RAG triggers folded into the
first question: citations and per-user data are reasons to retrieve even when the data is
stable ("RAG is the right choice when ... you need to cite specific sources ... the data
is per-user or per-tenant").

    needs specific, changing data (or citations, or per-user data)?
    ├── yes -> RAG at minimum; specialised behaviour too? yes -> RAG + fine-tuning, no -> RAG + good prompting
    └── no  -> specialised behaviour? yes -> fine-tuning (or very strong prompting first)
                                      no  -> just prompt well (a stable, shared context: cache it)

``scenario_for`` turns the answers into scenario changes the simulator understands (docs/model.md:
"A scenario with no specialised behaviour sets both [behaviour shares] to 1", stable data
changes rarely, per-user data is split among tenants), so the evidence follows the answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from simlib.results import RunResult
from simlib.scenario import Scenario


@dataclass(frozen=True)
class Answers:
    """The questionnaire: what the system needs (each a yes or no)."""

    changing_data: bool = True
    citations: bool = False
    per_user_data: bool = False
    specialised_behaviour: bool = False


@dataclass(frozen=True)
class Recommendation:
    """The strategy the tree lands on, the alternatives it names, and the path taken."""

    strategy: str
    also_consider: tuple[str, ...]
    path: tuple[str, ...]
    rule: str


def recommend(answers: Answers) -> Recommendation:
    """Walk the article's decision tree."""
    retrieval_reasons = [why for why, yes in (("the data changes", answers.changing_data),
                                              ("answers must cite sources", answers.citations),
                                              ("the data is per user or tenant", answers.per_user_data)) if yes]
    if retrieval_reasons:
        path = [f"Needs specific, changing data? Yes: {', '.join(retrieval_reasons)}. You need RAG (at minimum)."]
        if answers.specialised_behaviour:
            path.append("Also needs specialised behaviour or style? Yes: RAG + fine-tuning.")
            return Recommendation("rag_fine_tune", ("rag",), tuple(path),
                                  "Fine-tune for behaviour, RAG for facts.")
        path.append("Also needs specialised behaviour or style? No: RAG + good prompting.")
        return Recommendation("rag", ("rag_prompt_cache",), tuple(path),
                              "Start with RAG: cheaper, faster to iterate, no lock-in.")
    path = ["Needs specific, changing data? No."]
    if answers.specialised_behaviour:
        path.append("Needs to reason or behave differently than its defaults? Yes: fine-tuning "
                    "(or very strong prompting first).")
        return Recommendation("fine_tune", ("prompt_only",), tuple(path),
                              "Fine-tune when the behaviour needs hundreds of examples to show.")
    path.append("Needs to reason or behave differently than its defaults? No: you might not need "
                "either; just prompt well (and cache a stable, shared context).")
    return Recommendation("prompt_only", ("prompt_cache",), tuple(path),
                          "Exhaust prompting before you fine-tune.")


STABLE_CHANGES_PER_DAY = 0.1  # "no changing data": a fact changes about every 10 days across the base
PER_USER_TENANTS = 1_000  # "per-user data" on a preset with one shared base: split it among 1,000 users
# assumption: behaviour "needs" fine-tuning when prompting gets at least 5 points less of it right
SPECIALISED_GAP_SHARE = 0.05


def answers_for(scenario: Scenario) -> Answers:
    """The questionnaire's answers a scenario already gives, so it starts from the preset:

    - changing data: more than ``STABLE_CHANGES_PER_DAY`` knowledge changes a day;
    - citations: ``requirements.citations_required`` (docs-assistant requires them);
    - per-user data: more than one tenant;
    - specialised behaviour: fine-tuned behaviour share at least ``SPECIALISED_GAP_SHARE``
      above the prompted one.
    """
    q = scenario.quality
    return Answers(
        changing_data=scenario.knowledge.changes_per_day > STABLE_CHANGES_PER_DAY,
        citations=bool(scenario.requirements.citations_required),
        per_user_data=scenario.workload.tenants_count > 1,
        specialised_behaviour=q.behaviour_fine_tuned_share - q.behaviour_prompted_share >= SPECIALISED_GAP_SHARE - 1e-9,
    )


def scenario_for(answers: Answers, base: Scenario) -> Scenario:
    """``base`` with the answers applied, so the simulation describes the system asked about.

    - no specialised behaviour: prompted and fine-tuned behaviour shares both 1 (docs/model.md);
      specialised behaviour on a base that has none: the article's defaults (0.75 prompted,
      0.95 fine-tuned, from ``simlib.scenario.Quality``);
    - no changing data: knowledge.changes_per_day at most ``STABLE_CHANGES_PER_DAY``;
    - per-user data on a shared base: ``PER_USER_TENANTS`` tenants; not per user: 1 tenant;
    - answers must cite their sources: requirements.citations_required, so the verdict
      (simlib.verdict) judges citations too.
    """
    from simlib.scenario import Quality

    changes: dict[str, Any] = {}
    q = base.quality
    if not answers.specialised_behaviour:
        changes["quality.behaviour_prompted_share"] = 1.0
        changes["quality.behaviour_fine_tuned_share"] = 1.0
    elif q.behaviour_prompted_share >= 0.99 and q.behaviour_fine_tuned_share >= 0.99:
        changes["quality.behaviour_prompted_share"] = Quality.model_fields["behaviour_prompted_share"].default
        changes["quality.behaviour_fine_tuned_share"] = Quality.model_fields["behaviour_fine_tuned_share"].default
    if not answers.changing_data:
        changes["knowledge.changes_per_day"] = min(base.knowledge.changes_per_day, STABLE_CHANGES_PER_DAY)
    if answers.citations and not base.requirements.citations_required:
        changes["requirements.citations_required"] = True
    # per-user data lives in the retrieved chunks or a tenant's knowledge snapshot; the cached
    # [system][instructions][few-shot] stays one shared entry (docs/model.md, cache levels)
    if answers.per_user_data and base.workload.tenants_count == 1:
        changes["workload.tenants_count"] = PER_USER_TENANTS
    elif not answers.per_user_data and base.workload.tenants_count > 1:
        changes["workload.tenants_count"] = 1
    return base.with_changes(changes) if changes else base


@dataclass
class Check:
    """One rule of thumb against the simulated numbers.

    ``claim``: the rule as the article states it; ``evidence``: the numbers used;
    ``contrary``: what the numbers show when the rule fails here (a clause). ``sentence``
    says it all in plain words.
    """

    claim: str
    holds: bool | None  # None: the numbers cannot say (a strategy infeasible)
    evidence: str
    contrary: str = ""

    @property
    def sentence(self) -> str:
        """'The rule of thumb says X, but here Y: numbers.' or 'As the rule of thumb says, X: numbers.'"""
        # mid-sentence the claim's first word loses its capital, unless it is an acronym
        # ("RAG is as fresh as the index", not "rAG is ...")
        claim = self.claim if self.claim[:2].isupper() else self.claim[0].lower() + self.claim[1:]
        if self.holds is False:
            but = f", but here {self.contrary}" if self.contrary else ", but the numbers here say otherwise"
            return f"The rule of thumb says {claim}{but}: {self.evidence}."
        if self.holds is None:
            return f"The numbers here cannot check that {claim}: {self.evidence}."
        return f"As the rule of thumb says, {claim}: {self.evidence}."


@dataclass
class Verdict:
    recommendation: Recommendation
    checks: list[Check] = field(default_factory=list)

    @property
    def disagreements(self) -> list[Check]:
        return [c for c in self.checks if c.holds is False]


def _m(result: RunResult, strategy: str, metric: str) -> float | None:
    entry = result.summary().get(strategy)
    if entry is None or not entry["feasible"]:
        return None
    v = entry[metric]["mean"]
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"${v:.4f}"


def rule_checks(result: RunResult, recommendation: Recommendation) -> Verdict:
    """The article's practical-comparison claims, and the tree's pick, against the numbers.

    Claims checked (each says which numbers it used): fine-tuning costs less per query than
    RAG; fine-tuning answers faster (p95 latency); RAG answers are fresher than fine-tuned
    ones; only retrieval gives citable answers; the recommended strategy is within 10% of
    the best quality proxy and within 25% of the cheapest feasible strategy's cost.
    """
    from simlib.engine.strategies import display_name as label

    checks: list[Check] = []
    ft_cost, rag_cost = _m(result, "fine_tune", "cost_per_query_usd"), _m(result, "rag", "cost_per_query_usd")
    if ft_cost is not None and rag_cost is not None:
        checks.append(Check("Fine-tuning costs less per query than RAG (no retrieval, shorter prompts)",
                            ft_cost < rag_cost, f"fine-tuning {_usd(ft_cost)} against RAG {_usd(rag_cost)} per query, "
                            "training amortised", "fine-tuning costs more per query"))
    ft_lat, rag_lat = _m(result, "fine_tune", "latency_p95_s"), _m(result, "rag", "latency_p95_s")
    if ft_lat is not None and rag_lat is not None:
        checks.append(Check("Fine-tuning answers faster than RAG (no retrieval round trip)",
                            ft_lat < rag_lat, f"p95 latency {ft_lat:.2f} s against {rag_lat:.2f} s",
                            "fine-tuning answers no faster"))
    ft_fresh, rag_fresh = _m(result, "fine_tune", "fresh_share"), _m(result, "rag", "fresh_share")
    if ft_fresh is not None and rag_fresh is not None:
        checks.append(Check("RAG is as fresh as the index; fine-tuning is frozen at training time",
                            rag_fresh >= ft_fresh, f"fresh answers: RAG {rag_fresh:.1%}, fine-tuning {ft_fresh:.1%}",
                            "fine-tuning gives fresher answers than RAG"))
    ft_cite, rag_cite = _m(result, "fine_tune", "citable_share"), _m(result, "rag", "citable_share")
    if ft_cite is not None and rag_cite is not None:
        checks.append(Check("Only retrieval can cite its sources", rag_cite > ft_cite,
                            f"citable answers: RAG {rag_cite:.1%}, fine-tuning {ft_cite:.1%}",
                            "RAG cites no more answers than fine-tuning"))
    pick = recommendation.strategy
    name = label(pick)
    feasible = [s for s in result.strategies if result.feasibility.get(s) is None]
    if pick not in feasible:
        checks.append(Check(f"The tree's pick ({name}) can run here", False,
                            f"infeasible: {result.feasibility.get(pick)}", f"{name} cannot run"))
        return Verdict(recommendation, checks)
    quality = {s: _m(result, s, "quality_proxy") for s in feasible}
    quality = {s: v for s, v in quality.items() if v is not None}
    best_q = max(quality, key=quality.get)
    checks.append(Check(f"The tree's pick ({name}) is among the best on the quality proxy (within 10%)",
                        quality[pick] >= 0.9 * quality[best_q],
                        f"{name} {quality[pick]:.1%}; best {label(best_q)} {quality[best_q]:.1%}",
                        f"{name} falls more than 10% short of the best"))
    costs = {s: _m(result, s, "cost_per_query_usd") for s in feasible}
    cheapest = min(costs, key=costs.get)
    checks.append(Check(f"The tree's pick ({name}) is not much dearer than the cheapest (within 25%)",
                        costs[pick] <= 1.25 * costs[cheapest],
                        f"{name} {_usd(costs[pick])}; cheapest {label(cheapest)} {_usd(costs[cheapest])} per query",
                        f"{name} costs more than 25% above the cheapest"))
    return Verdict(recommendation, checks)


def tree_vs_verdict(result: RunResult, recommendation: Recommendation) -> str:
    """The rule of thumb beside the simulation's verdict, in plain words (display names).

    Agree: one sentence saying so. Disagree: why the tree's pick is not the verdict (the
    requirement it misses, its saturation, or how much more it costs than the verdict).
    """
    from simlib.engine.strategies import display_name as label
    from simlib.verdict import verdict

    v = verdict(result)
    tree = label(recommendation.strategy)
    if v.winner is None:
        return (f"The tree says {tree}; the simulation finds no strategy that meets every requirement "
                "here, so neither can be taken as is.")
    pick = label(v.winner)
    if v.winner == recommendation.strategy or recommendation.strategy in v.tied_with:
        return f"The tree and the simulation agree: {tree}."
    met = v.meets.get(recommendation.strategy)
    if met is None:
        why = f"{tree} cannot run here ({result.feasibility.get(recommendation.strategy)})"
    elif met is False:
        why = f"{tree} misses a requirement: " + "; ".join(v.unmet[recommendation.strategy])
    else:
        extra = v.monthly_cost_usd[recommendation.strategy] - v.monthly_cost_usd[v.winner]
        why = (f"{tree} meets every requirement too, but costs ${extra:,.0f}/month more than {pick}")
    return f"The tree says {tree}, the simulation picks {pick}: {why}."
