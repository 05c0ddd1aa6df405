"""One point: run its scenario and keep its tidy rows (what every backend's worker runs)."""

from __future__ import annotations

from typing import Sequence


from simlib.scenario import Scenario


TABLE_COLUMNS = ("point", "strategy", "metric", "mean", "ci_low", "ci_high", "unit", "feasible")


# --- evaluating one point ---------------------------------------------------------------

def evaluate_point(scenario: Scenario, metrics: Sequence[str] | None = None, engine: str = "auto") -> dict[str, list]:
    """Run one point; its tidy rows as columns (strategy, metric, mean, ci_low, ci_high, unit, feasible).

    The run's notes travel under the key "notes" (a list of strings, not a column).

    Uses the array backend's streaming summaries (records="summary") where it follows simpy.
    """
    import simlib
    from simlib.results import METRICS

    result = simlib.run(scenario, engine=engine, records="summary")
    summary = result.summary()
    names = list(metrics) if metrics is not None else list(METRICS)
    cols: dict[str, list] = {k: [] for k in TABLE_COLUMNS[1:]}
    for strategy, entry in summary.items():
        for m in names:
            v = entry[m]
            ci = v["ci95"] or (None, None)
            cols["strategy"].append(strategy)
            cols["metric"].append(m)
            cols["mean"].append(v["mean"])
            cols["ci_low"].append(ci[0])
            cols["ci_high"].append(ci[1])
            cols["unit"].append(METRICS[m].unit)
            cols["feasible"].append(entry["feasible"])
    cols["notes"] = list(result.notes)
    return cols


def _task(payload: tuple[int, Scenario, tuple[str, ...] | None, str]) -> tuple[int, dict[str, list]]:
    """What a worker runs: (point, its rows)."""
    point, scenario, metrics, engine = payload
    return point, evaluate_point(scenario, metrics, engine)
