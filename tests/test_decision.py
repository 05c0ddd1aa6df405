"""The article's decision tree, its scenario mapping, and the rule-of-thumb checks."""

from __future__ import annotations

import pytest

import simlib
from simlib.charts.tradeoffs import closed_form_hit_rate, hit_rate_chart, tradeoff_chart
from simlib.decision import Answers, recommend, rule_checks, scenario_for


@pytest.mark.parametrize("answers, strategy", [
    (Answers(changing_data=True, specialised_behaviour=True), "rag_fine_tune"),
    (Answers(changing_data=True, specialised_behaviour=False), "rag"),
    (Answers(changing_data=False, citations=True), "rag"),           # citations alone call for retrieval
    (Answers(changing_data=False, per_user_data=True), "rag"),       # so does per-user data
    (Answers(changing_data=False, specialised_behaviour=True), "fine_tune"),
    (Answers(changing_data=False, specialised_behaviour=False), "prompt_only"),
])
def test_the_tree_follows_the_article(answers, strategy):
    rec = recommend(answers)
    assert rec.strategy == strategy
    assert rec.path and rec.path[0].startswith("Needs specific, changing data?")


def test_answers_reach_the_scenario():
    base = simlib.load_preset("docs-assistant")
    plain = scenario_for(Answers(changing_data=False, specialised_behaviour=False), base)
    assert plain.quality.behaviour_prompted_share == plain.quality.behaviour_fine_tuned_share == 1.0
    assert plain.knowledge.changes_per_day <= 0.1
    per_user = scenario_for(Answers(per_user_data=True), base)
    # per-user data splits the knowledge, not the tenant-independent cached prefix (issue 15.3)
    assert per_user.workload.tenants_count > 1 and per_user.prompt_cache.prefix_scope == "global"


def test_rule_checks_read_the_numbers():
    """docs-assistant: fine-tuning is cheaper per query than RAG and staler; the checks say so."""
    result = simlib.run(simlib.load_preset("docs-assistant").with_changes({"simulation.queries": 1500}))
    verdict = rule_checks(result, recommend(Answers(changing_data=True)))
    by_claim = {c.claim.split(" (")[0]: c for c in verdict.checks}
    s = result.summary()
    cheaper = s["fine_tune"]["cost_per_query_usd"]["mean"] < s["rag"]["cost_per_query_usd"]["mean"]
    assert by_claim["Fine-tuning costs less per query than RAG"].holds is cheaper
    fresher = s["rag"]["fresh_share"]["mean"] >= s["fine_tune"]["fresh_share"]["mean"]
    assert by_claim["RAG is as fresh as the index; fine-tuning is frozen at training time"].holds is fresher
    assert all(c.evidence for c in verdict.checks)


def test_an_infeasible_pick_is_a_disagreement():
    result = simlib.run(simlib.load_preset("docs-assistant").with_changes({"simulation.queries": 300}))
    from simlib.decision import Recommendation

    verdict = rule_checks(result, Recommendation("prompt_cache", (), ("",), ""))
    assert verdict.disagreements and "infeasible" in verdict.disagreements[-1].evidence


def test_hit_rate_chart_puts_simulation_on_the_closed_form():
    from simlib.sweep import sweep

    scenario = simlib.Scenario().with_changes({"simulation.queries": 2000, "simulation.strategies": ["rag_prompt_cache"]})
    result = sweep(scenario, {"workload.queries_per_day": [50, 500], "prompt_cache.ttl_s": [300]},
                   metrics=["cache_hit_rate"], replications=2, progress=False)
    fig = hit_rate_chart(result)
    points = [t for t in fig.data if str(t.meta).startswith("ttl:")][0]
    for x, y in zip(points.x, points.y):
        assert y == pytest.approx(100 * closed_form_hit_rate(x), abs=8)  # within a few points of 1 - exp(-LT)
    assert tradeoff_chart(result, "workload.queries_per_day", ["cache_hit_rate"]).data


def test_answers_start_from_the_preset():
    """docs-assistant requires citations and changes weekly; code-apply is a stable, specialised
    rewrite task; coaching-app is per-user data (5,000 users) with a coaching behaviour."""
    from simlib.decision import answers_for

    assert answers_for(simlib.load_preset("docs-assistant")) == Answers(
        changing_data=True, citations=True, per_user_data=False, specialised_behaviour=False)
    assert answers_for(simlib.load_preset("code-apply")) == Answers(
        changing_data=False, citations=False, per_user_data=False, specialised_behaviour=True)
    coach = answers_for(simlib.load_preset("coaching-app"))
    assert coach.per_user_data and coach.citations and coach.specialised_behaviour
    assert recommend(answers_for(simlib.load_preset("code-apply"))).strategy == "fine_tune"


def test_questionnaire_starts_from_the_preset_and_follows_a_new_one():
    from simlib.widgets import Questionnaire

    q = Questionnaire("docs-assistant", changes={"simulation.queries": 600}, background=False)
    assert q.questions["citations"].value is True  # the preset requires citations
    assert q.scenario().requirements.citations_required
    q.preset_picker.value = "code-apply"
    assert q.questions["changing_data"].value is False and q.questions["specialised_behaviour"].value is True
    assert "The tree says: Fine-tuning" in q.recommendation.value.replace("fine-tuning", "Fine-tuning")


def test_checks_name_strategies_by_display_name_in_plain_sentences():
    from simlib.decision import Check, Recommendation
    from simlib.engine.strategies import display_name

    result = simlib.run(simlib.load_preset("docs-assistant").with_changes({"simulation.queries": 600}))
    verdict = rule_checks(result, Recommendation("rag_prompt_cache", (), ("",), ""))
    ids = set(result.strategies)
    for c in verdict.checks:
        words = set(c.sentence.replace("(", " ").replace(")", " ").replace(";", " ").replace(",", " ").split())
        assert not words & ids, c.sentence  # "RAG + prompt cache", never "rag_prompt_cache"
        assert c.sentence.endswith(".") and c.sentence[0].isupper()
    assert display_name("rag_prompt_cache") in " ".join(c.claim for c in verdict.checks)
    wrong = Check("Fine-tuning costs less per query than RAG", False, "fine-tuning $0.0040 against RAG $0.0031",
                  "fine-tuning costs more per query")
    assert wrong.sentence == ("The rule of thumb says fine-tuning costs less per query than RAG, but here "
                              "fine-tuning costs more per query: fine-tuning $0.0040 against RAG $0.0031.")


def test_a_claim_starting_with_an_acronym_keeps_its_capitals():
    """Issue 19 item 9: notebook 05 printed "As the rule of thumb says, rAG is as fresh as the index"."""
    from simlib.decision import Check

    fresh = Check("RAG is as fresh as the index", True, "fresh answers: RAG 100%")
    assert fresh.sentence == "As the rule of thumb says, RAG is as fresh as the index: fresh answers: RAG 100%."
    stale = Check("RAG is as fresh as the index", False, "fresh answers: RAG 61%", "RAG lags the index")
    assert stale.sentence.startswith("The rule of thumb says RAG is as fresh as the index, but here RAG lags")
    assert Check("Only retrieval can cite", None, "n/a").sentence.startswith("The numbers here cannot check that only")
