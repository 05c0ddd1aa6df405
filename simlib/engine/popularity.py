"""Fact popularity: how often each fact is asked about (uniform, or Zipf by rank).

Shared by the query draws (which fact a query needs) and the knowledge-injection model
(how often a fact appears in a training set that follows query popularity).
"""

from __future__ import annotations

import numpy as np

from simlib.scenario import Scenario


def popularity_cdf(scenario: Scenario) -> np.ndarray | None:
    """Cumulative popularity of facts by index (None for uniform)."""
    w = scenario.workload
    if w.fact_popularity == "uniform":
        return None
    ranks = np.arange(1, scenario.knowledge.facts_count + 1, dtype=float)
    weights = ranks ** -w.zipf_exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]
