"""simlib: how should an LLM system get its knowledge?

A discrete-event (simpy) simulator of the cost, latency, freshness and a quality proxy of
six knowledge strategies (prompting alone, RAG, fine-tuning, RAG + fine-tuning, provider
prompt caching, and caching on top of RAG), over one validated scenario.

    >>> import simlib
    >>> scenario = simlib.load_preset("docs-assistant").with_changes({"simulation.queries": 500})
    >>> result = simlib.run(scenario)
    >>> sorted(result.summary_table()["strategy"].unique())[:2]
    ['fine_tune', 'prompt_cache']
"""

from simlib._version import __version__

from simlib.errors import ScenarioError
from simlib.scenario import STRATEGY_NAMES, Scenario, load_preset, load_scenario
from simlib.presets import list_presets


def __getattr__(name: str):
    # The engine (and numpy/pandas behind it) loads on first use, so `simlib presets`
    # and `simlib validate` start fast.
    if name == "run":
        from simlib.engine.run import run

        return run
    raise AttributeError(f"module 'simlib' has no attribute {name!r}")

__all__ = [
    "__version__",
    "STRATEGY_NAMES",
    "Scenario",
    "ScenarioError",
    "list_presets",
    "load_preset",
    "load_scenario",
    "run",
]
