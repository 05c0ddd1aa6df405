"""The scenario model: validated when built, immutable, every field documented with a unit."""

from __future__ import annotations

import math as _math
import re

import pydantic
import pytest

import simlib
from simlib.errors import ScenarioError as _ScenarioError
from simlib.scenario import Scenario, build_scenario
from simlib.scenario import build_scenario as _build

UNIT_SUFFIXES = ("_s", "_at_s", "_usd", "_tokens", "_per_s", "_per_day", "_share", "_days", "_count",
                 "_per_mtok", "_per_query", "_per_hour", "_per_gb_month", "_per_100k_tokens", "_per_mtok_hour",
                 "_multiplier", "_mean", "_cv", "_exponent", "_dimensions", "_limit", "_per_fact", "_scale",
                 "_chunks", "_hours", "_months", "_per_month", "_per_server", "_per_question", "_per_retraining",
                 "_exposures", "_per_minute", "_bytes")


def all_fields(model=Scenario, prefix=""):
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, pydantic.BaseModel):
            yield from all_fields(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def test_every_field_has_a_description():
    missing = [path for path, field in all_fields() if not (field.description or "").strip()]
    assert not missing, missing


def test_numeric_fields_carry_units_in_their_names():
    """A float field must say its unit (or be a documented dimensionless kind: share, cv...)."""
    offenders = []
    for path, field in all_fields():
        if field.annotation in (float, int, float | None, int | None):
            name = path.split(".")[-1]
            if path.startswith("requirements.") and name.endswith(("_min", "_max")):
                name = name[:-4]  # a bound on a metric: fresh_share_min is a share, quality_min the quality proxy (a share)
                name = "quality_share" if name == "quality" else name
            if not name.endswith(UNIT_SUFFIXES) and name not in ("queries", "replications", "seed", "epochs", "top_k"):
                offenders.append(path)
    assert not offenders, offenders


def test_scenarios_are_immutable_and_with_changes_revalidates():
    s = Scenario()
    with pytest.raises(pydantic.ValidationError):
        s.workload.queries_per_day = 5  # type: ignore[misc]
    t = s.with_changes({"workload.queries_per_day": 5})
    assert t.workload.queries_per_day == 5 and s.workload.queries_per_day != 5
    with pytest.raises(simlib.ScenarioError, match="workload.queries_per_day"):
        s.with_changes({"workload.queries_per_day": -1})
    assert s.with_changes(retrieval={"top_k": 9}).retrieval.top_k == 9


def test_all_problems_reported_at_once():
    with pytest.raises(simlib.ScenarioError) as info:
        build_scenario({"workload": {"queries_per_day": 0, "zipf_exponent": -1}, "retrieval": {"top_kk": 3}})
    paths = {p.location for p in info.value.problems}
    assert paths == {"workload.queries_per_day", "workload.zipf_exponent", "retrieval.top_kk"}


def test_hand_set_prices_ignore_the_catalog():
    s = build_scenario({"prices": {"model": "anthropic/claude-sonnet-4-5", "input_usd_per_mtok": 1.0}})
    assert s.prices.input_usd_per_mtok == 1.0  # the hand-set price wins
    assert s.prices.output_usd_per_mtok == 15.0  # the rest comes from the catalog (Sonnet 4.5: $15/M, 2025)
    hand = build_scenario({"prices": {"input_usd_per_mtok": 7.0, "output_usd_per_mtok": 8.0, "source": "our contract"}})
    assert (hand.prices.input_usd_per_mtok, hand.prices.output_usd_per_mtok, hand.prices.source) == (7.0, 8.0, "our contract")


def test_a_catalog_model_brings_its_provider_cache_rules():
    """OpenAI caches automatically with no write premium (docs, 2025); Anthropic charges 1.25x for 5-minute writes."""
    openai = build_scenario({"prices": {"model": "openai/gpt-4.1-mini"}})
    assert openai.prompt_cache.mode == "automatic" and openai.prompt_cache.write_multiplier == 1.0
    anthropic = build_scenario({"prices": {"model": "anthropic/claude-sonnet-4-5"}, "prompt_cache": {"ttl_s": 3600}})
    assert anthropic.prompt_cache.mode == "explicit" and anthropic.prompt_cache.write_multiplier == 2.0  # 1-hour entry
    # changing the model through with_changes looks the new model up, not the old one's values
    swapped = anthropic.with_changes({"prices.model": "openai/gpt-4.1-mini"})
    assert swapped.prices.input_usd_per_mtok == pytest.approx(0.4) and swapped.prompt_cache.mode == "automatic"


def test_presets_validate_and_run_small():
    for name, story in simlib.list_presets():
        assert story, name
        s = simlib.load_preset(name).with_changes({"simulation.queries": 200})
        result = simlib.run(s)
        feasible = [n for n, reason in result.feasibility.items() if reason is None]
        assert len(feasible) >= 5, (name, result.feasibility)
        assert all(re.match(r"\d{4}-\d{2}-\d{2}", s.prices.as_of) for _ in [0])


def test_scenario_reference_doc_matches_the_code():
    """docs/scenario.md is generated from the model: regenerate with `python -m simlib.reference > docs/scenario.md`."""
    from pathlib import Path

    from simlib.reference import scenario_reference_markdown

    doc = Path(__file__).parent.parent / "docs" / "scenario.md"
    assert doc.read_text() == scenario_reference_markdown()


# --- issue 13: bounded, strict fields -------------------------------------------------


@pytest.mark.parametrize("path,value", [
    ("workload.queries_per_day", True),           # a boolean is not a number (was 1/day)
    ("workload.query_tokens_mean", _math.inf),    # was 'valid', then OverflowError
    ("knowledge.facts_count", 10**12),            # was a 7 TiB allocation
    ("knowledge.index_lag_s", 1e308),
    ("model.concurrency_limit", 10**12),
    ("simulation.seed", 10**30),
])
def test_out_of_range_values_are_located_errors(path, value):
    group, name = path.split(".")
    with pytest.raises(_ScenarioError) as err:
        _build({group: {name: value}})
    assert err.value.problems[0].location == path


def test_nan_hourly_weights_are_rejected():
    weights = [1.0] * 24
    weights[3] = float("nan")
    with pytest.raises(_ScenarioError, match="hourly_weights"):
        _build({"workload": {"arrival_process": "daily_profile", "hourly_weights": weights}})


def test_horizon_and_event_counts_are_bounded():
    # 5,000 queries at 0.001/day span ~13,700 years; a 1 ms re-index fires 2e7 times in 6 h
    with pytest.raises(_ScenarioError) as err:
        _build({"workload": {"queries_per_day": 0.001}})
    assert err.value.problems[0].location == "workload.queries_per_day"
    with pytest.raises(_ScenarioError) as err:
        _build({"knowledge": {"index_refresh": "batch", "reindex_interval_s": 0.001}})
    assert err.value.problems[0].location == "knowledge.reindex_interval_s"


def test_catalog_fill_never_reads_raw_input():
    with pytest.raises(_ScenarioError) as err:
        _build({"prices": {"model": "anthropic/claude-sonnet-4-5"}, "prompt_cache": {"ttl_s": "5m"}})
    assert err.value.problems[0].location == "prompt_cache.ttl_s"
    with pytest.raises(_ScenarioError) as err:
        _build({"prices": {"model": "anthropic/claude-sonnet-4-5", "catalog_date": "2026-13-01x"}})
    assert err.value.problems[0].location == "prices.catalog_date"


def test_infinite_ttl_survives_json_and_loads_back():
    import json

    s = _build({"prompt_cache": {"ttl_s": _math.inf}})
    text = json.dumps(s.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert data["prompt_cache"]["ttl_s"] == "inf"
    assert _math.isinf(_build(data).prompt_cache.ttl_s)


def test_base_null_is_an_error():
    from simlib.scenario import scenario_from_mapping

    with pytest.raises(_ScenarioError, match="base"):
        scenario_from_mapping({"base": None})


def test_the_catalog_fills_the_context_window_and_hand_set_wins():
    """gpt-4.1 has a 1,000,000-token window (OpenAI model page, 2025-04): a 500k-token
    knowledge snapshot fits in the prompt-cache prefix, which the 200k default refused."""
    from simlib.engine.run import feasibility

    kb = {"knowledge": {"facts_count": 5_000, "chunks_per_fact": 1}, "retrieval": {"chunk_tokens": 100}}  # 500k tokens
    s = build_scenario({"prices": {"model": "openai/gpt-4.1"}, **kb})
    assert s.model.context_window_tokens == 1_000_000 and "model.context_window_tokens" in s.catalog_filled
    assert feasibility(s)["prompt_cache"] is None
    hand = build_scenario({"prices": {"model": "openai/gpt-4.1"}, "model": {"context_window_tokens": 200_000}, **kb})
    assert hand.model.context_window_tokens == 200_000
    assert feasibility(hand)["prompt_cache"] is not None  # the hand-set window wins, and 500k does not fit it


def test_the_catalog_fill_runs_once_per_build(monkeypatch):
    """Issue 12: the fill ran in build_scenario and again in the model's before-validator."""
    import simlib.scenario.build as build

    calls = []
    real = build.resolve_catalog
    monkeypatch.setattr(build, "resolve_catalog", lambda data: calls.append(1) or real(data))
    s = build.build_scenario({"prices": {"model": "openai/gpt-4.1-mini"}})
    assert len(calls) == 1 and "prices.input_usd_per_mtok" in s.catalog_filled
    s.with_changes({"workload.queries_per_day": 5})
    assert len(calls) == 2


def test_a_scenario_naming_a_catalog_model_cannot_skip_the_fill():
    """Scenario(prices={'model': ...}) would run on the default prices: a silent wrong number, so it is refused."""
    with pytest.raises(pydantic.ValidationError, match="build_scenario"):
        Scenario(prices={"model": "openai/gpt-4.1-mini"})
