"""Summary mode in bounded memory (issue 13 item 7): the array backend draws a chunk at a time.

The pieces must be the very values one draw of the whole run gives (draw_queries, which the
simpy backend uses), or common random numbers and the backends' equality would break.
"""

from __future__ import annotations

import numpy as np
import pytest

import simlib
from simlib.engine import array_backend
from simlib.engine.draws import QueryDrawer, draw_queries, streams
from simlib.results import METRICS
from simlib.scenario import build_scenario, load_preset


@pytest.mark.parametrize("changes", [
    {"workload.arrival_process": "poisson", "model.service_time_distribution": "exponential"},
    {"workload.arrival_process": "daily_profile", "retrieval.rerank": True},
    {"workload.arrival_process": "poisson", "workload.token_length_cv": 0.0, "retrieval.latency_cv": 0.0},
    {"workload.arrival_process": "trace", "workload.trace": "azure-conv", "workload.trace_loop": True,
     "workload.trace_duration_s": 60.0},
], ids=["poisson-exponential-service", "daily-profile-rerank", "constant-lengths", "trace-looped"])
@pytest.mark.parametrize("pieces", [[1, 2, 997, 3000], [4000]])
def test_pieces_are_the_values_of_one_draw(changes, pieces):
    s = build_scenario({"simulation": {"queries": 4000}}).with_changes(changes)
    whole = draw_queries(s, streams(3, 1))
    drawer = QueryDrawer(s, streams(3, 1))
    parts = [drawer.next(k) for k in pieces]
    for name in ("arrival_at_s", "query_tokens", "output_tokens", "fact", "retrieval_s", "retrieval_u",
                 "service_scale"):
        joined = np.concatenate([getattr(p, name) for p in parts])
        assert np.array_equal(joined, getattr(whole, name)), name  # bit for bit, not approximately
    assert drawer.next(10).n == 0  # the run is drawn out


def test_chunked_summary_equals_the_simpy_backend_and_keeps_two_chunks(monkeypatch):
    """A 40-chunk summary run gives the metrics of the simpy backend's full records (drawn in one
    piece), and never holds the draws of more than two chunks plus the queries still in retrieval."""
    held = []
    real = array_backend._DrawWindow.draw

    def draw(self, k):
        real(self, k)
        held.append(self.top - self.base)

    monkeypatch.setattr(array_backend._DrawWindow, "draw", draw)
    s = load_preset("docs-assistant").with_changes({"simulation.queries": 8000, "simulation.warmup_share": 0.1})
    chunk = 200
    summ = simlib.run(s, engine="fast", records="summary", chunk_queries=chunk).summary()
    ref = simlib.run(s, engine="simpy").summary()
    assert len(held) == 8000 // chunk and max(held) <= 2 * chunk + 50, max(held)
    for name in ref:
        for metric in METRICS:
            for key in ("mean", "ci95"):
                x, y = ref[name][metric][key], summ[name][metric][key]
                if x is None or y is None:
                    assert x is None and y is None, (name, metric, key, x, y)
                else:
                    np.testing.assert_allclose(y, x, rtol=1e-9, atol=1e-12, err_msg=f"{name} {metric}")
