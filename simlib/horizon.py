"""The horizon of a dashboard run, and of a deck exported from a preset (issue 19.5).

Long enough for the freshness timeline to show real changes and a retraining: the longer of
a week and one retraining interval, within a query budget that keeps a dashboard redraw
interactive. ``simlib.widgets.dashboard`` sizes its runs by it; ``simlib export --preset``
too, so the CLI's deck of a preset is the dashboard's.
"""

from __future__ import annotations

import math

from simlib.scenario import Scenario

HORIZON_MIN_DAYS = 7.0  # a week at least: docs-assistant's weekly doc release falls inside
# Queries per full run (all replications together): docs-assistant's week (20,000 a day, so
# 140,000 queries) fits. Inside the kernel such a run takes ~0.55 s and its six charts ~0.15 s
# (2026-12-02, 2 cores), so the dashboard draws a 30,000-query preview first (PREVIEW_QUERY_BUDGET).
HORIZON_QUERY_BUDGET = 150_000
# Queries per run when the scenario needs the simpy backend (sessions, agent tasks, hourly-scaled dedicated
# serving: simlib.engine.run.simpy_only_reason): that backend simulates ~5,000 queries of six
# strategies in about a second on the same machine, so its runs keep the earlier 5,000-query
# size (and need no preview).
SIMPY_HORIZON_QUERY_BUDGET = 5_000


def horizon_queries(scenario: Scenario, budget: int | None = None) -> int:
    """Queries per replication for a dashboard run (or a preset's exported deck) of ``scenario``.

    horizon_days = max(HORIZON_MIN_DAYS, fine_tuning.retrain_interval_days)
    queries      = min(ceil(queries_per_day x horizon_days), budget // replications), at least 100
    budget       = HORIZON_QUERY_BUDGET, or SIMPY_HORIZON_QUERY_BUDGET when only the simpy backend can run it

    so the run covers the longer of a week and one retraining interval unless that would
    take more than ``budget`` queries; then the horizon is what the budget buys
    (budget / queries_per_day days).
    """
    from simlib.engine.run import simpy_only_reason

    if budget is None:
        budget = HORIZON_QUERY_BUDGET if simpy_only_reason(scenario) is None else SIMPY_HORIZON_QUERY_BUDGET
    days = max(HORIZON_MIN_DAYS, scenario.fine_tuning.retrain_interval_days)
    wanted = math.ceil(scenario.workload.queries_per_day * days)
    return max(100, min(wanted, budget // max(1, scenario.simulation.replications)))
