"""Scenarios from traces: a scenario replaying a trace, its Poisson twin, the retimed twin (writes a trace file)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simlib.errors import Problem, ScenarioError
from simlib.traces.replay import Replay, replay, window_requests
from simlib.traces.trace import SECONDS_PER_DAY

if TYPE_CHECKING:  # pragma: no cover

    from simlib.scenario import Scenario


# --- scenarios from traces ------------------------------------------------------------

def with_trace(scenario: "Scenario", trace: str | Path, *, time_scale: float | None = None,
               start_s: float | None = None, duration_s: float | None = None, loop: bool | None = None,
               queries: int | None = None) -> "Scenario":
    """The scenario replaying a trace, with its mean rate as ``workload.queries_per_day``.

    Options left as None keep the scenario's own ``trace_*`` settings. ``queries`` defaults
    to every request in the window (or, when looping, to ``simulation.queries``). Monthly
    figures scale with queries_per_day, so it is set to the replayed requests' mean rate
    x 86,400 (see :attr:`Replay.mean_rate_per_s`).
    """
    changes: dict[str, Any] = {"workload.arrival_process": "trace", "workload.trace": str(trace),
                               "simulation.queries": 1}
    for field, value in (("trace_time_scale", time_scale), ("trace_start_s", start_s),
                         ("trace_duration_s", duration_s), ("trace_loop", loop)):
        if value is not None:
            changes[f"workload.{field}"] = value
    probe = scenario.with_changes(changes)  # validates the options and the window
    if queries is None:
        queries = window_requests(probe) if not probe.workload.trace_loop else scenario.simulation.queries
    rate = replay(probe, queries).mean_rate_per_s
    final = {"simulation.queries": queries}
    if math.isfinite(rate) and rate > 0:
        final["workload.queries_per_day"] = rate * SECONDS_PER_DAY
    return probe.with_changes(final)


def poisson_twin(scenario: "Scenario") -> "Scenario":
    """A Poisson stream with the same mean load as the scenario's trace replay.

    Same number of queries, the same mean arrival rate ((n - 1) / span of the replayed
    arrivals) and the same mean input and output tokens; lengths are lognormal with the
    coefficient of variation of the trace's output tokens (decode dominates latency), and
    there are no shared prefixes. What a user would have simulated without the trace.
    """
    if scenario.workload.arrival_process != "trace":
        raise ScenarioError([Problem("workload.arrival_process", "poisson_twin needs a trace replay scenario")])
    r = replay(scenario)
    out = r.output_tokens.astype(float)
    cv = float(out.std() / out.mean()) if out.mean() > 0 else 0.0
    return scenario.with_changes({
        "workload.arrival_process": "poisson",
        "workload.trace": None,
        "workload.queries_per_day": r.mean_rate_per_s * SECONDS_PER_DAY,
        "workload.query_tokens_mean": max(1.0, float(r.input_tokens.mean())),
        "workload.output_tokens_mean": max(1.0, float(out.mean())),
        "workload.token_length_cv": min(5.0, cv),
    })


def write_trace(replayed: Replay, path: str | Path, arrival_at_s: np.ndarray | None = None, *,
                force: bool = False) -> Path:
    """Write replayed requests as a JSONL trace in simlib's own schema (an explicit export).

    One object per request: timestamp_s, input_tokens, output_tokens and, when the trace has
    them, hash_ids (as replayed, renamed per pass). ``arrival_at_s`` replaces the times.
    Written atomically (simlib.writing); an existing file is replaced only with ``force``.
    """
    from simlib.writing import check_destination, write_atomic

    path = Path(path)
    times = replayed.arrival_at_s if arrival_at_s is None else np.asarray(arrival_at_s, float)
    if len(times) != replayed.n:
        raise ValueError(f"arrival_at_s has {len(times)} times for {replayed.n} requests")
    check_destination(path, force=force)

    def write(f) -> None:
        for i, (t, x, y) in enumerate(zip(times.tolist(), replayed.input_tokens.tolist(), replayed.output_tokens.tolist())):
            row: dict[str, Any] = {"timestamp_s": t, "input_tokens": x, "output_tokens": y}
            if replayed.prefix_hashes is not None:
                row["hash_ids"] = list(replayed.prefix_hashes[i])
            f.write((json.dumps(row) + "\n").encode("utf-8"))

    return write_atomic(path, write, force=force)


def retimed_twin(scenario: "Scenario", path: str | Path, *, force: bool = False) -> "Scenario":
    """The same replayed requests at Poisson arrival times: burstiness removed, nothing else.

    Writes the scenario's replayed requests (tokens and prefix blocks, in order) to ``path``
    at the times of a Poisson process conditioned on the replay's count and span T: the
    first at 0, the last at T, the n - 2 between them sorted uniform on (0, T) (given its
    count, a Poisson process's points are uniform), so the mean rate is exactly the
    replay's. Seeded by simulation.seed; returns a scenario replaying the file. One Poisson
    realisation, the same in every replication (like the trace itself).
    """
    if scenario.workload.arrival_process != "trace":
        raise ScenarioError([Problem("workload.arrival_process", "retimed_twin needs a trace replay scenario")])
    r = replay(scenario)
    span = float(r.arrival_at_s[-1] - r.arrival_at_s[0])
    rng = np.random.default_rng([scenario.simulation.seed, 0x7ACE])
    inner = np.sort(rng.uniform(0.0, span, max(r.n - 2, 0)))
    times = np.concatenate([[0.0], inner, [span]])[: r.n]
    out = write_trace(r, path, times, force=force)
    return scenario.with_changes({
        "workload.trace": str(out), "workload.trace_time_scale": 1.0, "workload.trace_start_s": 0.0,
        "workload.trace_duration_s": None, "workload.trace_loop": False, "simulation.queries": r.n,
    })


def rate_note(scenario: "Scenario") -> str | None:
    """A note when queries_per_day (which scales monthly figures) is off the replayed rate."""
    if scenario.workload.arrival_process != "trace":
        return None
    rate = replay(scenario).mean_rate_per_s * SECONDS_PER_DAY
    qpd = scenario.workload.queries_per_day
    if not math.isfinite(rate) or rate <= 0:
        return (f"the replayed trace has no measurable rate (one request, or every request at one instant), so "
                f"workload.queries_per_day ({qpd:,.0f}) is not the trace's; monthly figures use that value")
    if abs(qpd - rate) <= 0.02 * rate:
        return None
    return (f"workload.queries_per_day ({qpd:,.0f}) is not the replayed trace's rate ({rate:,.0f}/day); "
            "monthly figures use queries_per_day (simlib.traces.with_trace sets it from the trace)")
