"""Replay windows: the requests one replication replays (a window of a trace, scaled and looped), checked at build time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simlib.errors import Problem, ScenarioError
from simlib.traces.parser import load_trace
from simlib.traces.registry import SHIPPED
from simlib.traces.trace import Trace

if TYPE_CHECKING:  # pragma: no cover

    from simlib.scenario import Scenario


# --- replay ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Replay:
    """The requests one replication replays: a window of a trace, scaled and looped."""

    trace: Trace
    arrival_at_s: np.ndarray  # float64, from 0
    input_tokens: np.ndarray  # int64
    output_tokens: np.ndarray  # int64
    rows: np.ndarray  # int64: the trace row of each request
    passes: np.ndarray  # int64: which pass through the window (0 without looping)
    prefix_hashes: list[tuple[int, ...]] | None  # block ids per request (renamed per pass)
    window_requests: int  # requests in one pass of the window
    period_s: float  # replayed seconds of one pass (after the time scale)

    @property
    def n(self) -> int:
        return len(self.arrival_at_s)

    @property
    def mean_rate_per_s(self) -> float:
        """Mean arrival rate of the replayed requests, (n - 1) / span; the window's if n < 2."""
        span = float(self.arrival_at_s[-1] - self.arrival_at_s[0]) if self.n else 0.0
        if self.n > 1 and span > 0:
            return (self.n - 1) / span
        return self.window_requests / self.period_s if self.period_s > 0 else math.nan


@dataclass(frozen=True)
class _Window:
    lo: int
    hi: int
    start_s: float
    period_s: float  # in trace time


def _window(trace: Trace, start_s: float, duration_s: float | None) -> _Window:
    t = trace.timestamp_s
    lo = int(np.searchsorted(t, start_s, side="left"))
    hi = trace.n if duration_s is None else int(np.searchsorted(t, start_s + duration_s, side="left"))
    if duration_s is not None:
        period = duration_s
    else:
        period = trace.span_s - start_s + trace.mean_gap_s
    return _Window(lo, hi, start_s, period)


def _check(scenario: "Scenario", n: int | None = None) -> tuple[Trace, _Window, int]:
    """Load the scenario's trace and check its window against the run; raise ScenarioError."""
    w = scenario.workload
    if w.trace is None:
        raise ScenarioError([Problem("workload.trace", "arrival_process is 'trace', so a trace must be named "
                                     f"(shipped: {', '.join(SHIPPED)}; or a CSV / JSONL file)")])
    trace = load_trace(w.trace)
    n = scenario.simulation.queries if n is None else n
    win = _window(trace, w.trace_start_s, w.trace_duration_s)
    m = win.hi - win.lo
    end = "the end" if w.trace_duration_s is None else f"{w.trace_start_s + w.trace_duration_s:,.1f} s"
    problems = []
    if m == 0:
        problems.append(Problem(
            "workload.trace_start_s",
            f"the window from {w.trace_start_s:,.1f} s to {end} holds no requests "
            f"(trace {trace.name!r} runs from 0 to {trace.span_s:,.1f} s)",
        ))
    elif n > m and not w.trace_loop:
        problems.append(Problem(
            "simulation.queries",
            f"{n:,} queries asked, but the trace window holds {m:,} requests; ask for at most {m:,} "
            "or set workload.trace_loop to replay the window again",
        ))
    elif w.trace_loop and n > m and not win.period_s > 0:
        problems.append(Problem(
            "workload.trace_loop",
            "cannot loop a window of a single instant; set workload.trace_duration_s to give its period",
        ))
    if problems:
        raise ScenarioError(problems)
    return trace, win, n


def replay(scenario: "Scenario", n: int | None = None) -> Replay:
    """The first n (default simulation.queries) requests of the scenario's trace replay."""
    w = scenario.workload
    trace, win, n = _check(scenario, n)
    m = win.hi - win.lo
    passes = np.arange(n, dtype=np.int64) // m
    rows = win.lo + np.arange(n, dtype=np.int64) % m
    t = (trace.timestamp_s[rows] - win.start_s + passes * win.period_s) * w.trace_time_scale
    hashes = None
    if trace.has_blocks:
        ids, off = trace.block_ids.tolist(), trace.block_offsets.tolist()
        rename = trace.block_id_count  # pass k uses ids + k x (distinct ids): no reuse across passes
        hashes = []
        for r, k in zip(rows.tolist(), passes.tolist()):
            blocks = ids[off[r]:off[r + 1]]
            hashes.append(tuple(blocks) if k == 0 else tuple(b + k * rename for b in blocks))
    return Replay(
        trace=trace,
        arrival_at_s=t,
        input_tokens=trace.input_tokens[rows].copy(),
        output_tokens=trace.output_tokens[rows].copy(),
        rows=rows,
        passes=passes,
        prefix_hashes=hashes,
        window_requests=m,
        period_s=win.period_s * w.trace_time_scale,
    )


def replay_arrays(scenario: "Scenario", n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list | None]:
    """(arrival_at_s, input_tokens, output_tokens, prefix_hashes) of n replayed requests.

    What ``simlib.engine.draws.draw_queries`` uses for ``arrival_process: trace``;
    prefix_hashes is None when the trace has no block hashes.
    """
    r = replay(scenario, n)
    return r.arrival_at_s, r.input_tokens, r.output_tokens, r.prefix_hashes


def check_replay(scenario: "Scenario") -> None:
    """Raise a located ScenarioError if the scenario's trace replay cannot run (build-time check)."""
    if scenario.workload.arrival_process == "trace":
        _check(scenario)


def window_requests(scenario: "Scenario") -> int:
    """Requests in one pass of the scenario's trace window."""
    _, win, _ = _check(scenario, n=1)
    return win.hi - win.lo
