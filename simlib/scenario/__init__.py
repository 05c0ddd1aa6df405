"""The scenario layer: schema (the groups of fields), build (the Scenario and build_scenario,
with the one catalog fill), load (files, presets, ``base:``).

The modules depend one way, ``schema <- catalog <- build <- load``, and nothing here imports
the engine. The public names are re-exported, so ``from simlib.scenario import Scenario,
load_scenario, load_preset, build_scenario`` keeps working.
"""

from simlib.scenario.build import Scenario, build_scenario, check_run_size, deep_merge
from simlib.scenario.load import load_preset, load_scenario, scenario_from_mapping
from simlib.scenario.schema import (
    DAYS_PER_MONTH,
    INFINITE_OK,
    MAX_CHANGES_PER_RUN,
    MAX_CONCURRENCY,
    MAX_DURATION_S,
    MAX_HORIZON_S,
    MAX_PERIODIC_EVENTS_PER_RUN,
    MAX_USD_PER_MTOK,
    SECONDS_PER_DAY,
    STRATEGY_NAMES,
    FineTuning,
    Knowledge,
    Model,
    Prices,
    Prompt,
    PromptCache,
    Quality,
    Requirements,
    Retrieval,
    Sessions,
    Simulation,
    StrategyName,
    Workload,
    _is_number_annotation,
)

__all__ = [
    "DAYS_PER_MONTH", "INFINITE_OK", "MAX_CHANGES_PER_RUN", "MAX_CONCURRENCY", "MAX_DURATION_S", "MAX_HORIZON_S",
    "MAX_PERIODIC_EVENTS_PER_RUN", "MAX_USD_PER_MTOK", "SECONDS_PER_DAY", "STRATEGY_NAMES", "FineTuning",
    "Knowledge", "Model", "Prices", "Prompt", "PromptCache", "Quality", "RateLimitGroup", "Requirements", "Retrieval", "Scenario", "Serving", "Sessions",
    "Simulation", "StrategyName", "Workload", "_is_number_annotation", "build_scenario", "check_run_size",
    "deep_merge", "load_preset", "load_scenario", "scenario_from_mapping",
]
