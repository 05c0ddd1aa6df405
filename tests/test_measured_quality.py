"""Measured quality (issue 18 item 6): the proxy fits its recall curve and behaviour factor to a team's eval.

recall(k) = c (1 - (1 - r1)^k): points drawn from a known (r1, c) must give back (r1, c); the run's
retrieved share is then the fitted recall at top_k. Accuracy a for a strategy: B = a / E[K U] with
fresh knowledge, so with no knowledge changes the simulated quality proxy's mean is a.
"""

from __future__ import annotations

import numpy as np
import pytest

import simlib
from simlib.engine.budget import fitted_recall_curve, recall_at_k
from simlib.errors import ScenarioError
from simlib.results import COMPLETED, RETRIEVED
from simlib.scenario import Scenario


def _curve(r1: float, c: float, k: int) -> float:
    return c * (1 - (1 - r1) ** k)


@pytest.mark.parametrize("r1, c", [(0.4, 0.9), (0.7, 0.97), (0.15, 0.8)])
def test_fit_recovers_the_curve_that_made_the_points(r1, c):
    points = tuple((k, _curve(r1, c, k)) for k in (1, 3, 10, 20))
    fit = fitted_recall_curve(points)
    assert fit.top1_share == pytest.approx(r1, abs=1e-5)
    assert fit.ceiling_share == pytest.approx(c, abs=1e-5)
    assert fit.rmse_share < 1e-5


def test_fit_of_noisy_points_is_least_squares():
    """Perturbing the best fit's parameters never lowers the squared error (it is a minimum)."""
    points = ((1, 0.5), (5, 0.85), (20, 0.93))
    fit = fitted_recall_curve(points)

    def sse(r1, c):
        return sum((_curve(r1, c, k) - y) ** 2 for k, y in points)

    best = sse(fit.top1_share, fit.ceiling_share)
    assert fit.rmse_share == pytest.approx(np.sqrt(best / 3))
    for dr, dc in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3), (1e-3, 1e-3), (-1e-3, -1e-3)]:
        assert sse(fit.top1_share + dr, fit.ceiling_share + dc) >= best - 1e-12


def _scenario(**quality) -> Scenario:
    return Scenario().with_changes({
        "knowledge.changes_per_day": 0,  # every answer fresh: what an eval on current facts measures
        "retrieval.measured_recall_at_k": {1: _curve(0.3, 0.9, 1), 5: _curve(0.3, 0.9, 5), 20: _curve(0.3, 0.9, 20)},
        "retrieval.rerank": True,  # the measured curve replaces the rerank adjustment
        "simulation.strategies": ["rag", "fine_tune"],
        "simulation.queries": 20_000,
        **quality,
    })


def test_measured_recall_replaces_the_default_curve():
    sc = _scenario()
    assert float(recall_at_k(sc, np.array([5]))[0]) == pytest.approx(_curve(0.3, 0.9, 5), abs=1e-5)
    rec = simlib.run(sc).records("rag")
    done = (rec["flags"] & COMPLETED) != 0
    retrieved = ((rec["flags"] & RETRIEVED) != 0)[done].mean()
    p = _curve(0.3, 0.9, 5)
    assert retrieved == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / done.sum()))


@pytest.mark.parametrize("engine", ["simpy", "fast"])
def test_measured_accuracy_is_the_simulated_quality_with_fresh_knowledge(engine):
    sc = _scenario(**{"quality.measured_accuracy_share": {"rag": 0.7}})
    result = simlib.run(sc, engine=engine)
    q = result.records("rag")["quality"]
    # per query K U B is 1 x U x B on a hit, prior x (1 - penalty) x B on a miss: a two-point mixture
    sd = np.nanstd(q) / np.sqrt(np.isfinite(q).sum())
    assert np.nanmean(q) == pytest.approx(0.7, abs=4 * sd + 1e-9)
    assert any("rag: quality fitted to the measured accuracy 0.70" in n for n in result.notes)
    assert any(n.startswith("retrieval recall at k is fitted to the measured points") for n in result.notes)
    # the strategy without a measurement keeps its default behaviour factor and gets no note
    assert not any(n.startswith("fine_tune: quality fitted") for n in result.notes)


def test_accuracy_above_the_proxy_ceiling_is_said_not_hidden():
    sc = _scenario(**{"quality.measured_accuracy_share": {"fine_tune": 1.0}})
    result = simlib.run(sc)
    note = next(n for n in result.notes if n.startswith("fine_tune: quality fitted"))
    assert "B is 1 and the proxy stays below it" in note
    assert np.nanmean(result.records("fine_tune")["quality"]) < 1.0


@pytest.mark.parametrize("points, says", [
    ({5: 0.8}, "2 or more k"),
    ({1: 0.9, 5: 0.5}, "cannot fall as k grows"),
    ({0: 0.1, 5: 0.5}, "greater than or equal to 1"),
    ({1: 0.5, 5: 1.2}, "less than or equal to 1"),
])
def test_bad_recall_points_are_located(points, says):
    with pytest.raises(ScenarioError) as err:
        Scenario().with_changes({"retrieval.measured_recall_at_k": points})
    assert "retrieval.measured_recall_at_k" in str(err.value) and says in str(err.value)


def test_bad_accuracy_is_located():
    with pytest.raises(ScenarioError) as err:
        Scenario().with_changes({"quality.measured_accuracy_share": {"rgg": 0.5}})
    assert "quality.measured_accuracy_share" in str(err.value)


def test_measurements_survive_the_json_round_trip():
    sc = _scenario(**{"quality.measured_accuracy_share": {"rag": 0.7}})
    from simlib.scenario import build_scenario

    again = build_scenario(sc.to_dict())
    assert again.retrieval.measured_recall_at_k == sc.retrieval.measured_recall_at_k
    assert again.quality.measured_accuracy() == {"rag": 0.7}
