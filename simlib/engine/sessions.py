"""Conversations and agent tasks (docs/model.md, Sessions): the draws and the history arithmetic.

Nothing here is time-ordered, so both backends share it: which session and turn each query
is, when it arrives, and how many history tokens its prompt carries and may read from the
prompt cache. The backends only follow time (which cache entries are alive).

A session is a conversation (``sessions.kind: conversation``: each turn a user message and
an answer) or an agent task (``agent_task``: a chain of calls, each call's new input the
previous call's tool result). Sessions start at rate queries_per_day / turns_mean per day
(Poisson or the daily profile, as ``workload.arrival_process``), so the call rate stays
``workload.queries_per_day``. Each has m turns (fixed, or geometric on 1, 2, ... with mean
turns_mean, capped at turns_max_count); turn j + 1 is sent a think time G after turn j's answer
arrived (G fixed, exponential or lognormal with think_time_mean_s): the user reading and
typing, or the agent's tool running. When the answer arrives is time-ordered (it depends on
the queues), so the simpy engine sends the next turn; the draws here give G.

History, for turn j of a session with new input q_j (the user message, or for j > 1 of an
agent task the tool result) and answer a_j, and C the chunks of the first turn when
retrieval runs once per session:

    H_1 = 0,   H_{j+1} = H_j + q_j + a_j (+ C when j = 1 and retrieval is per session)

capped: when H_j > history_cap_tokens the oldest whole turns are dropped until it fits
(a sliding window). The prompt of turn j is [static prefix P][H_j][q_j][chunks], with a
cache breakpoint after q_j (the session level of the cached prefix, keyed by session), so
turn j + 1 can read P + H_j + q_j = P + H_{j+1} - a_j (- C) from the cache: everything but the
previous answer (and chunks), which were never part of a prompt. A turn whose history was
truncated has a new history prefix (a new version of its session entry) and reads none of
it. With a hit on the chain, read = c(P + R_j) and write = c(P + H_j + q_j) - read, where
R_j is the readable history and c(.) the provider's minimum and increments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simlib.engine.distributions import daily_profile_arrivals, lognormal, poisson_arrivals
from simlib.scenario import Scenario


@dataclass(frozen=True)
class SessionDraws:
    """Per-query session structure, in arrival order (arrays of length n)."""

    session: np.ndarray  # int64: session id (0, 1, ... in start order)
    turn: np.ndarray  # int64: 0 for a session's first turn
    complete: np.ndarray  # bool: the query's session has all its turns in the run
    arrival_at_s: np.ndarray  # float64, non-decreasing: a first turn's arrival; for later turns the arrival with answers taking no time
    order: np.ndarray  # int64: query i is turn (session, turn) number order[i] in session-major order
    think_s: np.ndarray  # float64: the think time before this turn (0 for a first turn)

    @property
    def sessions_count(self) -> int:
        return int(self.session.max()) + 1 if self.session.size else 0


@dataclass(frozen=True)
class History:
    """History tokens of each query's prompt (see the module docstring)."""

    tokens: np.ndarray  # int64: H_j carried in the prompt
    readable_tokens: np.ndarray  # int64: R_j, the part an alive session entry holds (0 on a new version)
    breakpoint_tokens: np.ndarray  # int64: H_j + q_j, the session prefix this turn writes
    version: np.ndarray  # int64: the session entry's version (moves on when the history is truncated)
    retrieves: np.ndarray  # bool: the turn runs retrieval (every turn, or a session's first)


def sessions_on(scenario: Scenario) -> bool:
    return scenario.sessions.kind != "none"


def draw_turn_counts(rng: np.random.Generator, scenario: Scenario, size: int) -> np.ndarray:
    """Turns per session: fixed round(turns_mean), or geometric on {1, 2, ...} with mean turns_mean (p = 1 / mean)."""
    s = scenario.sessions
    if s.turns_distribution == "fixed":
        m = np.full(size, int(round(s.turns_mean)), np.int64)
    else:
        m = rng.geometric(1.0 / s.turns_mean, size).astype(np.int64)
    return np.clip(m, 1, s.turns_max_count)


def draw_think_times(rng: np.random.Generator, scenario: Scenario, size: int) -> np.ndarray:
    """Gaps between a session's requests: fixed, exponential, or lognormal (mean, cv), in seconds."""
    s = scenario.sessions
    if s.think_time_distribution == "fixed":
        return np.full(size, s.think_time_mean_s)
    if s.think_time_distribution == "exponential":
        return rng.exponential(s.think_time_mean_s, size)
    return lognormal(rng, s.think_time_mean_s, s.think_time_cv, size)


def draw_sessions(scenario: Scenario, rng: np.random.Generator, n: int) -> SessionDraws:
    """Sessions in start order until n turns; the last kept session is cut to make exactly n.

    Session starts follow workload.arrival_process at queries_per_day / turns_mean sessions a day.
    """
    w = scenario.workload
    expected_turns = _expected_turns(scenario)
    sessions_per_day = w.queries_per_day / expected_turns
    counts = draw_turn_counts(rng, scenario, int(n / expected_turns * 1.2) + 16)
    while counts.sum() < n:
        counts = np.concatenate([counts, draw_turn_counts(rng, scenario, len(counts))])
    kept = int(np.searchsorted(np.cumsum(counts), n)) + 1
    counts = counts[:kept].copy()
    complete = np.ones(kept, bool)
    over = int(counts.sum()) - n
    if over > 0:
        counts[-1] -= over
        complete[-1] = False
    if w.arrival_process == "daily_profile":
        starts = daily_profile_arrivals(rng, sessions_per_day, w.hourly_weights, kept)
    else:
        starts = poisson_arrivals(rng, sessions_per_day / 86_400.0, kept)
    session = np.repeat(np.arange(kept), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    turn = np.arange(n) - np.repeat(first, counts)
    gaps = draw_think_times(rng, scenario, n)
    gaps[turn == 0] = 0.0
    # nominal arrival (answers taking no time) = session start + the gaps before this turn: it orders the queries
    csum = np.cumsum(gaps)
    arrival = starts[session] + csum - np.repeat(csum[first], counts)
    order = np.argsort(arrival, kind="stable")
    return SessionDraws(session[order], turn[order], complete[session][order], arrival[order], order, gaps[order])


def session_turns(sd: SessionDraws) -> list[list[int]]:
    """Each session's queries (indices in arrival order), in turn order, sessions in start order."""
    by_session = np.lexsort((sd.turn, sd.session))
    cuts = np.flatnonzero(np.diff(sd.session[by_session])) + 1
    return [chunk.tolist() for chunk in np.split(by_session, cuts)]


def _expected_turns(scenario: Scenario) -> float:
    """E[turns per session] with the cap: fixed m, or for a geometric capped at M, (1 - (1 - p)^M) / p."""
    s = scenario.sessions
    if s.turns_distribution == "fixed":
        return float(min(max(1, int(round(s.turns_mean))), s.turns_max_count))
    p = 1.0 / s.turns_mean
    return (1.0 - (1.0 - p) ** s.turns_max_count) / p


def session_history(scenario: Scenario, sd: SessionDraws, new_input_tokens: np.ndarray, output_tokens: np.ndarray,
                    first_turn_chunk_tokens: int) -> History:
    """H_j, R_j, H_j + q_j and the entry version of every query (module docstring), in arrival order.

    ``first_turn_chunk_tokens``: C, the chunks a session's first turn retrieves when retrieval
    runs once per session (0 otherwise).
    """
    s = scenario.sessions
    per_session = s.retrieval == "per_session"
    cap = s.history_cap_tokens
    n = len(sd.session)
    tokens = np.zeros(n, np.int64)
    readable = np.zeros(n, np.int64)
    version = np.zeros(n, np.int64)
    # walk each session's turns in order: arrival order is time order, and a session's turns arrive in turn order
    by_session = np.lexsort((sd.turn, sd.session))
    q, a = new_input_tokens.tolist(), output_tokens.tolist()
    sess = sd.session[by_session].tolist()
    prev_session = -1
    parts: list[int] = []  # growth of each turn still in the window
    held = 0
    ver = 0
    prev_breakpoint = 0
    for i, sid in zip(by_session.tolist(), sess):
        if sid != prev_session:
            prev_session, parts, held, ver, prev_breakpoint = sid, [], 0, 0, 0
            first = True
        else:
            first = False
        truncated = False
        while held > cap and parts:
            held -= parts.pop(0)
            truncated = True
        if truncated:
            ver += 1
        tokens[i] = held
        version[i] = ver
        readable[i] = 0 if (first or truncated) else min(prev_breakpoint, held)
        prev_breakpoint = held + q[i]
        growth = q[i] + a[i] + (first_turn_chunk_tokens if (first and per_session) else 0)
        parts.append(growth)
        held += growth
    return History(tokens, readable, tokens + new_input_tokens.astype(np.int64), version, retrieves_mask(scenario, sd, n))


def retrieves_mask(scenario: Scenario, sd: SessionDraws | None, n: int) -> np.ndarray:
    """Which queries run retrieval (and pay for it): all, or with sessions.retrieval per_session a session's first turn."""
    if sd is None or scenario.sessions.retrieval != "per_session":
        return np.ones(n, bool)
    return sd.turn == 0

