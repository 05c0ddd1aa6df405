"""The knowledge world: facts change, and each knowledge store follows with its own delay.

Every store answers with a *snapshot*: the knowledge as it was at some instant s. An
answer read at time t about fact f is fresh when f did not change in (s, t]; otherwise its
staleness age is t minus the first change it missed (docs/model.md, Knowledge and freshness).

| store | snapshot s(t) at read time t |
|---|---|
| streaming index, lag d | t - d |
| batch index, every R taking b | latest start phase + kR with start + b <= t |
| fine-tuned weights, every T, training D, deploy E | latest start phase + kT with start + D + E <= t |
| cached prefix, rebuilt on change | t (always fresh; every change invalidates the entry) |
| cached prefix, rebuilt every R | latest rebuild phase + kR <= t |

Closed forms the tests check, with change rate u per fact (Poisson):
streaming lag d gives P(stale) = 1 - exp(-u d); a snapshot taken every T and serving
after a lag L gives P(fresh) = (exp(-u L) - exp(-u (L + T))) / (u T).

The simpy processes here (``knowledge_changes``, ``periodic_snapshots``) move the world's
state through time; queries read it with :meth:`KnowledgeWorld.staleness_age_s`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
import simpy

from simlib.engine.draws import ChangeStream, Phases
from simlib.engine.injection import retrain_interval_days
from simlib.engine.strategies import STRATEGIES
from simlib.scenario import SECONDS_PER_DAY, Scenario


@dataclass(frozen=True)
class Schedule:
    """Snapshots taken at phase + k * period (all integers k), each serving from start + lag."""

    period_s: float
    lag_s: float
    phase_s: float

    def serving_snapshot_at(self, t_s):
        """Start time of the snapshot serving at t (scalar or numpy array)."""
        k = np.floor((np.asarray(t_s) - self.lag_s - self.phase_s) / self.period_s)
        return self.phase_s + k * self.period_s

    def first_start_serving_after(self, t_s: float) -> float:
        """Earliest start whose snapshot begins serving after t."""
        return float(self.serving_snapshot_at(t_s)) + self.period_s


def schedules(scenario: Scenario, phases: Phases) -> dict[str, Schedule]:
    """The periodic schedules of this scenario (batch index, retraining, cache rebuild)."""
    k, ft, pc = scenario.knowledge, scenario.fine_tuning, scenario.prompt_cache
    return {
        "reindex": Schedule(k.reindex_interval_s, k.reindex_duration_s, phases.reindex_s),
        "retrain": Schedule(retrain_interval_days(scenario) * SECONDS_PER_DAY, ft.training_duration_s + ft.deploy_delay_s, phases.retrain_s),
        "cache_rebuild": Schedule(pc.rebuild_interval_s, 0.0, phases.rebuild_s),
    }


def periodic_processes(scenario: Scenario, names: list[str]) -> list[str]:
    """The periodic snapshot processes a run starts for these strategies, in start order.

    A batch index re-builds only if some strategy retrieves, retraining only if some
    strategy is fine-tuned, a periodic cache rebuild only if some strategy caches its
    knowledge in the prefix. Both backends start exactly these (the simpy backend as
    processes, in this order, which fixes simpy's order of simultaneous events; the array
    backend as lookups of the same schedules).
    """
    strategies = [STRATEGIES[n] for n in names]
    started = []
    if scenario.knowledge.index_refresh == "batch" and any(s.uses_retrieval for s in strategies):
        started.append("reindex")
    if any(s.fine_tuned for s in strategies):
        started.append("retrain")
    if scenario.prompt_cache.rebuild_policy == "periodic" and any(s.cached_prefix == "knowledge" for s in strategies):
        started.append("cache_rebuild")
    return started


def history_start_s(scenario: Scenario, phases: Phases) -> float:
    """How far before time 0 the change history must reach (the oldest snapshot in use at 0)."""
    oldest = min(
        [-scenario.knowledge.index_lag_s]
        + [float(s.serving_snapshot_at(0.0)) for s in schedules(scenario, phases).values()]
    )
    return oldest - 1.0


class KnowledgeWorld:
    """Shared state of the knowledge base and of every store that follows it."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, changes: ChangeStream, phases: Phases):
        self.env = env
        self.scenario = scenario
        self.changes = changes
        self.tenants_count = scenario.workload.tenants_count
        self.schedules = schedules(scenario, phases)
        self.history: dict[int, list[float]] = {}  # fact -> its change times so far (sorted)
        self.tenant_changes = [0] * self.tenants_count  # changes so far per tenant (prefix version)
        self.snapshot_at_s = {name: float(s.serving_snapshot_at(0.0)) for name, s in self.schedules.items()}
        self.cache_rebuilds = 0  # periodic rebuilds so far (prefix version)
        self.timeline: dict[str, list[float]] = {"change": [], "reindex": [], "retrain": [], "cache_rebuild": []}
        times, facts = changes.arrays(0.0)
        for t, f in zip(times.tolist(), facts.tolist()):
            self.history.setdefault(f, []).append(t)

    # -- what a query reads ----------------------------------------------------------
    def staleness_age_s(self, fact: int, snapshot_at_s: float) -> float:
        """NaN if the fact did not change in (snapshot, now]; else now minus the first such change."""
        h = self.history.get(fact)
        if not h:
            return math.nan
        i = bisect_right(h, snapshot_at_s)
        return self.env.now - h[i] if i < len(h) else math.nan

    def index_snapshot_at_s(self) -> float:
        k = self.scenario.knowledge
        if k.index_refresh == "streaming":
            return self.env.now - k.index_lag_s
        return self.snapshot_at_s["reindex"]

    # -- processes -------------------------------------------------------------------
    def knowledge_changes(self):
        """Process: apply each knowledge change at its time (history and prefix versions)."""
        env, stream = self.env, self.changes
        block_end = 0.0
        pending_t: list[float] = []
        pending_f: list[int] = []
        i = 0
        while True:
            if i >= len(pending_t):
                # next block of the stream, strictly after what was applied
                times, facts = stream.arrays(block_end + 86_400.0, after_s=block_end)
                pending_t, pending_f, i = times.tolist(), facts.tolist(), 0
                block_end += 86_400.0
                if not pending_t:
                    yield env.timeout(block_end - env.now)
                    continue
            t = pending_t[i]
            if t > env.now:
                yield env.timeout(t - env.now)
            f = pending_f[i]
            self.history.setdefault(f, []).append(t)
            self.tenant_changes[f % self.tenants_count] += 1
            self.timeline["change"].append(t)
            i += 1

    def periodic_snapshots(self, name: str):
        """Process: every period take a snapshot; it serves after the schedule's lag."""
        schedule = self.schedules[name]
        start = schedule.first_start_serving_after(0.0)
        while True:
            serve_at = start + schedule.lag_s
            if serve_at > self.env.now:
                yield self.env.timeout(serve_at - self.env.now)
            self.snapshot_at_s[name] = max(self.snapshot_at_s[name], start)
            if name == "cache_rebuild":
                self.cache_rebuilds += 1
            self.timeline[name].append(self.env.now)
            start += schedule.period_s
