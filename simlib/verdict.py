"""The verdict: the cheapest strategy that meets the team's requirements, ties, and what would flip it.

    v = verdict(result)                  # from a RunResult; flips=True scans the axes below
    v.winner, v.tied_with, v.sentence    # 'rag' | None, ['rag_prompt_cache'], one sentence
    v.meets, v.unmet, v.flips            # per strategy; the points where the verdict changes
    v.to_json()                          # the documented "verdict" object (docs/json.md)

Rules (docs/model.md, "The verdict"):

- A strategy is a candidate when it is feasible and no stage of it is saturated at the
  busiest hour (``results.saturation``): a saturated strategy's latency is not steady-state,
  so it never wins.
- Each requirement of ``scenario.requirements`` is judged on the metric's 95% interval
  (``ci95``; the mean alone when there is none): met when the whole interval is on the right
  side of the bound, failed when the whole interval is on the wrong side, "uncertain" when it
  straddles the bound. Uncertain is not met (the strategy is not the verdict) and the sentence
  says so. A metric that does not apply (the fresh share of ``prompt_only``, ungrounded) fails.
- The winner is the candidate meeting every requirement with the lowest mean monthly cost.
  Another such strategy is tied with it when their monthly-cost intervals overlap, or, with
  no interval, when the costs differ by at most TIE_RELATIVE_TOLERANCE of the winner's.
- When none meets every requirement, the winner is None, ``unmet`` says what each strategy
  misses and by how much, and the sentence names the closest: the smallest sum of relative
  shortfalls |value - bound| / bound over its failed requirements.

Flips: the verdict is recomputed along queries per day, changes per day and (when a
fine-tuned strategy is simulated) the retraining interval, on a log grid over FLIP_RANGES,
and every change of winner is narrowed by bisection (FLIP_BISECTIONS halvings, geometric).
Each point is a fresh run of the same scenario and seed (common random numbers), one
replication, of at most FLIP_MAX_QUERIES queries (a million-query scenario made the search
~60 runs of a million queries: 260 s from the CLI), with summary records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simlib.results import RunResult
from simlib.scenario import DAYS_PER_MONTH

TIE_RELATIVE_TOLERANCE = 0.02  # monthly costs within 2% are a tie when there is no interval
FLIP_RANGES: dict[str, tuple[float, float]] = {
    "workload.queries_per_day": (100.0, 1_000_000.0),
    "knowledge.changes_per_day": (0.1, 100_000.0),
    "fine_tuning.retrain_interval_days": (1.0, 180.0),
}
FLIP_GRID_POINTS = 7
FLIP_BISECTIONS = 4
FLIP_MAX_QUERIES = 20_000  # queries per flip run: the winner is a cost ranking, stable at this size

# requirement field -> (metric, "max" | "min", short label for sentences)
REQUIREMENTS: dict[str, tuple[str, str, str]] = {
    "latency_p95_max_s": ("latency_p95_s", "max", "p95 latency"),
    "ttft_p95_max_s": ("ttft_p95_s", "max", "p95 time to first token"),
    "fresh_share_min": ("fresh_share", "min", "fresh answers"),
    "quality_min": ("quality_proxy", "min", "quality proxy"),
    "citable_share_min": ("citable_share", "min", "citable answers"),
    "monthly_budget_max_usd": ("monthly_cost_usd", "max", "monthly cost"),
}


def display_name(strategy: str) -> str:
    from simlib.engine.strategies import display_name as label

    return label(strategy)


def _num(x: float) -> str:
    """1,000,000 / 25.7 / 0.35: readable in a sentence."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _fmt(metric: str, v: float) -> str:
    if metric.endswith("_share") or metric == "quality_proxy":
        return f"{v:.0%}" if metric != "quality_proxy" else f"{v:.2f}"
    if metric.endswith("_usd"):
        return f"${v:,.0f}"
    return f"{v:.2f} s"


@dataclass(frozen=True)
class Judgement:
    """One requirement against one strategy's metric."""

    requirement: str
    metric: str
    bound: float
    value: float | None
    outcome: str  # "met" | "failed" | "uncertain"
    reason: str
    shortfall: float  # relative distance to the bound when failed or uncertain, else 0


def active_requirements(result: RunResult) -> dict[str, float]:
    """requirement field -> bound, for the requirements the scenario sets."""
    req = result.scenario.requirements
    out = {}
    for name in REQUIREMENTS:
        if name == "citable_share_min":
            if req.citations_required:
                out[name] = req.citable_share_min
            continue
        bound = getattr(req, name)
        if bound is not None:
            out[name] = float(bound)
    return out


def judge(result: RunResult, strategy: str) -> list[Judgement]:
    """Every active requirement judged on the strategy's interval (see the module doc)."""
    entry = result.summary()[strategy]
    out = []
    for name, bound in active_requirements(result).items():
        metric, side, what = REQUIREMENTS[name]
        v = entry[metric]
        mean, ci = v["mean"], v["ci95"]
        shown = f"{'at most' if side == 'max' else 'at least'} {_fmt(metric, bound)}"
        offline = (entry.get("offline_share") or {}).get("mean") or 0.0
        if mean is None and metric in ("latency_p95_s", "ttft_p95_s") and offline >= 1.0:
            # no live answer to be late: every query went through the batch API (its completion window instead)
            out.append(Judgement(name, metric, bound, None, "met",
                                 f"{what}: no live answers, every query goes through the batch API (required: {shown})", 0.0))
            continue
        if mean is None or (isinstance(mean, float) and math.isnan(mean)):
            failed = (entry.get("failed_share") or {}).get("mean") or 0.0
            if failed > 0 and offline + failed >= 1.0 - 1e-12:
                # every live request failed after its rate-limit retries: nothing answered, so nothing to measure
                why = (f"{what}: no live answer, every live request failed after its rate-limit retries "
                       f"(failed_share {failed:.0%}; raise rate_limits or its tier)")
            else:
                why = ("its answers are ungrounded (not drawn from the knowledge base), so none is known to be fresh"
                       if metric == "fresh_share" else f"{what} does not apply to it")
            out.append(Judgement(name, metric, bound, None, "failed", f"{why} (required: {what} {shown})", 1.0))
            continue
        lo, hi = (ci if ci else (mean, mean))
        # every requirement's metric is >= 0 (and a share <= 1): a t-interval over few replications can cross
        # those bounds ("-49.96 s to 164.55 s"); it is read and printed within them
        lo = max(0.0, lo)
        if metric.endswith("_share") or metric == "quality_proxy":
            hi = min(1.0, hi)
        good_all = hi <= bound if side == "max" else lo >= bound
        bad_all = lo > bound if side == "max" else hi < bound
        scale = abs(bound) if bound else 1.0
        gap = max(0.0, (mean - bound) if side == "max" else (bound - mean)) / scale
        if good_all:
            out.append(Judgement(name, metric, bound, mean, "met", f"{what} {_fmt(metric, mean)} (required: {shown})", 0.0))
        elif bad_all:
            out.append(Judgement(name, metric, bound, mean, "failed",
                                 f"{what} {_fmt(metric, mean)} (required: {shown})", gap))
        else:
            out.append(Judgement(name, metric, bound, mean, "uncertain",
                                 f"{what} {_fmt(metric, mean)} is uncertain: its 95% interval "
                                 f"{_fmt(metric, lo)} to {_fmt(metric, hi)} straddles the bound (required: {shown})", gap))
    return out


@dataclass
class Verdict:
    """The verdict of one run; ``to_json()`` is the documented ``--json`` object."""

    winner: str | None
    tied_with: list[str]
    sentence: str
    meets: dict[str, bool | None]
    unmet: dict[str, list[str]]
    uncertain: dict[str, list[str]]
    monthly_cost_usd: dict[str, float | None]
    closest: str | None = None
    flips: list[dict[str, Any]] = field(default_factory=list)
    flip_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    break_even: list[dict[str, Any]] = field(default_factory=list)
    queries_per_month: float = 0.0

    def break_even_sentence(self) -> str:
        """Each break-even Q* of the winner in words, with today's volume beside it."""
        parts = []
        for b in self.break_even:
            misses = "" if self.meets.get(b["versus"]) else f" (but {display_name(b['versus'])} misses a requirement)"
            parts.append(f"{display_name(self.winner)} and {display_name(b['versus'])} cost the same at "
                         f"{_num(b['queries_per_month'])} queries/month (now {_num(self.queries_per_month)}); "
                         f"above it {display_name(b['cheaper_above'])} is cheaper{misses}")
        return "; ".join(parts) + ("." if parts else "")

    def flips_sentence(self) -> str:
        """The flip points in words (or that the verdict holds over each range scanned)."""
        parts = []
        for axis, (lo, hi) in self.flip_ranges.items():
            here = [f for f in self.flips if f["parameter"] == axis]
            what = axis.split(".")[-1].replace("_", " ")
            if not here:
                parts.append(f"the verdict does not change from {_num(lo)} to {_num(hi)} {what}")
            else:
                steps = "; ".join(f"at {_num(f['value'])} it becomes "
                                  f"{display_name(f['winner']) if f['winner'] else 'no strategy meeting every requirement'}" for f in here)
                parts.append(f"along {what} ({_num(lo)} to {_num(hi)}): {steps}")
        return ". ".join(p[0].upper() + p[1:] for p in parts) + ("." if parts else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "winner": self.winner, "tied_with": list(self.tied_with), "sentence": self.sentence,
            "meets": dict(self.meets), "unmet": {k: list(v) for k, v in self.unmet.items()},
            "uncertain": {k: list(v) for k, v in self.uncertain.items()}, "closest": self.closest,
            "flips": [dict(f) for f in self.flips],
            "flip_ranges": {k: list(v) for k, v in self.flip_ranges.items()},
            "break_even": [dict(b) for b in self.break_even],
            "queries_per_month": self.queries_per_month,
        }


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ca, cb = a["ci95"], b["ci95"]
    if ca and cb:
        return ca[0] <= cb[1] and cb[0] <= ca[1]
    base = abs(a["mean"]) or 1.0
    return abs(a["mean"] - b["mean"]) <= TIE_RELATIVE_TOLERANCE * base


def verdict(result: RunResult, *, flips: bool = False) -> Verdict:
    """The verdict of ``result`` (see the module doc); ``flips=True`` also scans FLIP_RANGES."""
    summary = result.summary()
    meets: dict[str, bool | None] = {}
    unmet: dict[str, list[str]] = {}
    uncertain: dict[str, list[str]] = {}
    shortfall: dict[str, float] = {}
    cost: dict[str, float | None] = {}
    for name in result.strategies:
        entry = summary[name]
        if not entry["feasible"]:
            meets[name], cost[name] = None, None
            unmet[name] = [f"infeasible: {entry['reason']}"]
            continue
        cost[name] = entry["monthly_cost_usd"]["mean"]
        reasons, unsure, gap = [], [], 0.0
        if entry["saturated"]:
            util = entry["peak_hour_utilisation"][entry["saturated_stage"]]
            reasons.append(f"saturated: its {entry['saturated_stage']} stage runs at {util:.0%} of capacity "
                           "in the busiest hour")
            gap += util - 1.0 + 0.01
        for j in judge(result, name):
            if j.outcome == "failed":
                reasons.append(j.reason)
            elif j.outcome == "uncertain":
                unsure.append(j.reason)
                reasons.append(j.reason)
            gap += j.shortfall
        meets[name] = not reasons
        unmet[name], shortfall[name] = reasons, gap
        if unsure:
            uncertain[name] = unsure
    ok = [n for n in result.strategies if meets.get(n)]
    winner = min(ok, key=lambda n: cost[n]) if ok else None
    tied = [n for n in ok if n != winner and _overlap(summary[winner]["monthly_cost_usd"], summary[n]["monthly_cost_usd"])]
    closest = None
    if winner is None:
        feasible = [n for n in result.strategies if meets.get(n) is not None]
        closest = min(feasible, key=lambda n: (shortfall[n], cost[n])) if feasible else None
    v = Verdict(winner, tied, "", meets, unmet, uncertain, cost, closest)
    v.sentence = _sentence(result, v)
    v.queries_per_month = result.scenario.workload.queries_per_day * DAYS_PER_MONTH
    v.break_even = break_evens(result, winner)
    if flips:
        v.flip_ranges, v.flips = _flips(result, winner)
    return v


def break_evens(result: RunResult, winner: str | None) -> list[dict[str, Any]]:
    """The winner's break-even volume against every other feasible strategy whose cost line
    crosses it: Q* = (F_winner - F_other) / (v_other - v_winner) queries per month, with F the
    fixed monthly cost and v the variable cost per query (simlib.analysis,
    ``fixed_variable_break_even_queries_per_month``). ``cheaper_above`` is the strategy with the
    lower variable cost: the cheaper one above Q*."""
    from simlib.analysis import fixed_variable_break_even_queries_per_month as q_star

    if winner is None:
        return []
    summary = result.summary()
    out = []
    for other in result.strategies:
        if other == winner or not summary[other]["feasible"]:
            continue
        q = q_star(result, winner, other)
        if q is None:
            continue
        v_win, v_other = (summary[n]["variable_cost_per_query_usd"]["mean"] for n in (winner, other))
        out.append({"versus": other, "queries_per_month": float(q), "cheaper_above": winner if v_win < v_other else other})
    return out


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"${v:,.0f}/month"


def _sentence(result: RunResult, v: Verdict) -> str:
    """One sentence: the pick and its cost, ties, and the cheaper strategies it beat and why."""
    any_req = bool(active_requirements(result))
    if v.winner is None:
        if v.closest is None:
            return "No strategy can run in this scenario: every one is infeasible."
        why = "; ".join(v.unmet[v.closest])
        return (f"No strategy meets every requirement; the closest is {display_name(v.closest)} "
                f"({_usd(v.monthly_cost_usd[v.closest])}), which misses: {why}.")
    w = display_name(v.winner)
    head = (f"{w} meets every requirement at {_usd(v.monthly_cost_usd[v.winner])}" if any_req
            else f"{w} is the cheapest at {_usd(v.monthly_cost_usd[v.winner])} (no requirements set)")
    if v.tied_with:
        ties = ", ".join(f"{display_name(t)} ({_usd(v.monthly_cost_usd[t])})" for t in v.tied_with)
        head += f", tied on cost (95% intervals overlap) with {ties}"
    wc = v.monthly_cost_usd[v.winner]
    cheaper = sorted((n for n, c in v.monthly_cost_usd.items() if c is not None and c < wc and not v.meets.get(n)
                      and n not in v.tied_with), key=lambda n: v.monthly_cost_usd[n])
    if cheaper:
        n = cheaper[0]
        head += f"; {display_name(n)} is cheaper ({_usd(v.monthly_cost_usd[n])}) but {v.unmet[n][0]}"
        if len(cheaper) > 1:
            head += f" ({len(cheaper) - 1} more cheaper strateg{'y' if len(cheaper) == 2 else 'ies'} also fail{'s' if len(cheaper) == 2 else ''} a requirement)"
    unsure = [n for n in v.uncertain if n != v.winner]
    if unsure:
        head += "; uncertain (not counted as meeting): " + ", ".join(display_name(n) for n in unsure)
    return head + "."


def _winner_at(result: RunResult, axis: str, x: float) -> str | None:
    from simlib.engine.run import run

    queries = min(result.scenario.simulation.queries, FLIP_MAX_QUERIES)
    s = result.scenario.with_changes({axis: float(x), "simulation.replications": 1, "simulation.queries": queries})
    return verdict(run(s, records="summary")).winner


def _flips(result: RunResult, base_winner: str | None) -> tuple[dict[str, tuple[float, float]], list[dict[str, Any]]]:
    """Scan FLIP_RANGES on a log grid and bisect each change of winner (see the module doc)."""
    from simlib.engine.strategies import STRATEGIES

    axes = dict(FLIP_RANGES)
    if not any(STRATEGIES[n].fine_tuned for n in result.strategies):
        axes.pop("fine_tuning.retrain_interval_days")
    found: list[dict[str, Any]] = []
    for axis, (lo, hi) in axes.items():
        xs = np.geomspace(lo, hi, FLIP_GRID_POINTS)
        winners = [_winner_at(result, axis, x) for x in xs]
        for i in range(1, len(xs)):
            if winners[i] == winners[i - 1]:
                continue
            a, b, wa, wb = float(xs[i - 1]), float(xs[i]), winners[i - 1], winners[i]
            for _ in range(FLIP_BISECTIONS):
                mid = math.sqrt(a * b)
                wm = _winner_at(result, axis, mid)
                if wm == wa:
                    a = mid
                else:
                    b, wb = mid, wm
            found.append({"parameter": axis, "value": float(f"{b:.3g}"), "winner": wb, "from": wa})
    return axes, found


def verdict_map(scenario, x_axis: str, x_values, y_axis: str, y_values):
    """The verdict at every (x, y) of a grid, requirements applied: a tidy DataFrame with
    columns x_axis, y_axis, ``winner`` (None when no strategy meets every requirement),
    ``tied_with`` (comma-separated) and ``sentence``. One run of the scenario per cell (same seed)."""
    import pandas as pd

    from simlib.engine.run import run

    rows = []
    for y in y_values:
        for x in x_values:
            v = verdict(run(scenario.with_changes({x_axis: float(x), y_axis: float(y)})))
            rows.append({x_axis: float(x), y_axis: float(y), "winner": v.winner,
                         "tied_with": ", ".join(v.tied_with), "sentence": v.sentence})
    return pd.DataFrame(rows)
