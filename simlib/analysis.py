"""Decisions from many runs: break-even points, the cheapest strategy, and sensitivity.

    be = break_even(scenario, "rag", "fine_tune", axis="workload.queries_per_day", bounds=(1e3, 1e6))
    be.at, be.ci95                  # queries/day where their monthly costs cross, 95% interval
    cheapest(sweep_result)          # the cheapest strategy at each point of a sweep
    sensitivity(scenario)           # one-at-a-time swings of cost per query and fresh share

Break-even. For strategies a and b and a scenario field x (queries per day, change rate,
retraining interval...), let D_r(x) = m_a(x) - m_b(x) be the difference of a metric
(monthly cost by default) simulated in replication r. Every x of a replication sees the
same draws (common random numbers), so D_r is a deterministic function of x; with costs
linear in traffic (no cache) it is exactly linear in queries per day. The mean difference
is scanned on a grid (log-spaced for positive bounds) to find where it changes sign;
then each replication's own crossing x_r is found by Brent's method
(``scipy.optimize.brentq``) inside that bracket. The break-even is the mean of the x_r,
with a 95% Student-t interval over replications: x_bar +- t_{0.975, R-1} s / sqrt(R).

Sensitivity (a tornado): each parameter of ``SENSITIVITY_RANGES`` is moved alone to the low
and the high end of its documented range (the others at the base), and the swing of each
metric is recorded; parameters are ranked by |m(high) - m(low)|.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from simlib.errors import Problem, ScenarioError
from simlib.scenario import Scenario

if TYPE_CHECKING:
    from simlib.results import RunResult


# --- one replication at one x ------------------------------------------------------------

class _Evaluator:
    """Metric values of every strategy for (x, replication), simulated once and memoised."""

    def __init__(self, scenario: Scenario, axis: str, metric: str, engine: str = "auto"):
        from simlib.sweep import check_path
        from simlib.results import METRICS

        bad = check_path(axis, "axis")
        if bad:
            raise ScenarioError([bad])
        if metric not in METRICS:
            raise ScenarioError([Problem("metric", f"unknown metric {metric!r}")])
        self.scenario, self.axis, self.metric, self.engine = scenario, axis, metric, engine
        self.memo: dict[tuple[float, int], dict[str, float]] = {}
        self.evaluations = 0

    def at(self, x: float, replication: int) -> dict[str, float]:
        key = (float(x), replication)
        if key not in self.memo:
            self.memo[key] = self._simulate(float(x), replication)
        return self.memo[key]

    def _simulate(self, x: float, replication: int) -> dict[str, float]:
        """One replication at x, through the run interface (streaming summaries where the array
        backend follows the scenario; replications are independent, so only this one runs)."""
        from simlib.engine.run import run_replications

        s = self.scenario.with_changes({self.axis: x})
        self.evaluations += 1
        result = run_replications(s, [replication], engine=self.engine, records="summary")
        metrics = result.metrics_by_replication()[0]
        return {name: (math.nan if m.get(self.metric) is None else float(m[self.metric]))
                for name, m in metrics.items()}


# --- break-even -------------------------------------------------------------------------

@dataclass(frozen=True)
class BreakEven:
    """Where the metric of strategies a and b cross along one scenario field."""

    a: str
    b: str
    axis: str
    metric: str
    at: float | None  # mean crossing over replications (None: no crossing in the bounds)
    ci95: tuple[float, float] | None  # 95% interval over replications (None with fewer than 2 roots)
    roots: tuple[float, ...]  # each replication's crossing
    bracket: tuple[float, float] | None  # scan points around the crossing
    cheaper_below: str | None  # cheaper just below the crossing (or over all the bounds if none)
    cheaper_above: str | None
    crossings: tuple[tuple[float, float], ...] = ()  # every bracket where the mean difference changes sign
    scan: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # x, a, b, difference (means)

    def describe(self) -> str:
        """One sentence for a notebook or a slide."""
        if self.at is None:
            who = self.cheaper_below
            return (f"{self.a} and {self.b} do not cross on {self.axis} within the bounds"
                    + (f"; {who} is cheaper throughout" if who else ""))
        ci = f" (95% interval {self.ci95[0]:,.4g} to {self.ci95[1]:,.4g})" if self.ci95 else ""
        return (f"{self.a} and {self.b} break even at {self.axis} = {self.at:,.4g}{ci}: "
                f"{self.cheaper_below} is cheaper below, {self.cheaper_above} above")


def _scan_points(bounds: tuple[float, float], points: int, log: bool | None) -> np.ndarray:
    lo, hi = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ScenarioError([Problem("bounds", f"must be two finite numbers, low < high, got {bounds!r}")])
    if points < 2:
        raise ScenarioError([Problem("scan_points", f"must be at least 2, got {points}")])
    use_log = (lo > 0) if log is None else log
    if use_log and lo <= 0:
        raise ScenarioError([Problem("bounds", "a log scan needs positive bounds")])
    return np.geomspace(lo, hi, points) if use_log else np.linspace(lo, hi, points)


def _replications(scenario: Scenario, replications: int | None) -> int:
    r = scenario.simulation.replications if replications is None else replications
    return max(1, int(r))


def break_even(scenario: Scenario, a: str, b: str, *, axis: str = "workload.queries_per_day",
               bounds: tuple[float, float] | None = None, metric: str = "monthly_cost_usd",
               replications: int | None = 5, scan_points: int = 9, log: bool | None = None,
               rtol: float = 1e-6, engine: str = "auto", _evaluator: _Evaluator | None = None) -> BreakEven:
    """The value of ``axis`` at which strategies a and b have the same ``metric`` (see the module doc).

    ``bounds`` default to the base value / 30 and x 30. ``replications``: the crossing is
    found in each (default 5), for an interval; None uses the scenario's.
    """
    from simlib.scenario import STRATEGY_NAMES

    for s in (a, b):
        if s not in STRATEGY_NAMES:
            raise ScenarioError([Problem("strategy", f"unknown strategy {s!r} (known: {', '.join(STRATEGY_NAMES)})")])
    if a == b:
        raise ScenarioError([Problem("strategy", "give two different strategies")])
    base = scenario.with_changes({"simulation.strategies": list(dict.fromkeys([a, b]))}) \
        if _evaluator is None else scenario
    ev = _evaluator or _Evaluator(base, axis, metric, engine)
    if bounds is None:
        from simlib.sweep import base_value

        v = float(base_value(scenario, axis))
        bounds = (v / 30.0, v * 30.0) if v > 0 else (0.0, 1.0)
    xs = _scan_points(bounds, scan_points, log)
    reps = _replications(scenario, replications)

    def diff(x: float, r: int) -> float:
        m = ev.at(x, r)
        return m.get(a, math.nan) - m.get(b, math.nan)

    per_rep = np.array([[diff(x, r) for x in xs] for r in range(reps)])
    if np.isnan(per_rep).any():
        raise ScenarioError([Problem(axis, f"{a} or {b} is infeasible (or its {metric} undefined) somewhere in "
                                           f"[{xs[0]:,.4g}, {xs[-1]:,.4g}]")])
    mean = per_rep.mean(axis=0)
    scan = pd.DataFrame({"x": xs, a: [np.mean([ev.at(x, r)[a] for r in range(reps)]) for x in xs],
                         b: [np.mean([ev.at(x, r)[b] for r in range(reps)]) for x in xs], "difference": mean})
    sign = np.sign(mean)
    brackets = [(float(xs[i]), float(xs[i + 1])) for i in range(len(xs) - 1)
                if sign[i] == 0 or sign[i] != sign[i + 1] and sign[i + 1] != 0]
    cheaper = lambda d: a if d < 0 else (b if d > 0 else None)  # noqa: E731
    if not brackets:
        who = cheaper(mean[0])
        return BreakEven(a, b, axis, metric, None, None, (), None, who, who, (), scan)
    lo, hi = brackets[0]
    from scipy.optimize import brentq

    roots = []
    for r in range(reps):
        f_lo, f_hi = diff(lo, r), diff(hi, r)
        if f_lo == 0:
            roots.append(lo)
        elif f_hi == 0:
            roots.append(hi)
        elif np.sign(f_lo) != np.sign(f_hi):
            roots.append(float(brentq(lambda x: diff(x, r), lo, hi, rtol=rtol, xtol=1e-12 * max(1.0, abs(hi)))))
    at = float(np.mean(roots)) if roots else None
    ci = None
    if len(roots) >= 2:
        from scipy import stats

        half = float(stats.t.ppf(0.975, len(roots) - 1) * np.std(roots, ddof=1) / math.sqrt(len(roots)))
        ci = (at - half, at + half)
    i = int(np.searchsorted(xs, lo))
    below = cheaper(mean[i]) if mean[i] != 0 else cheaper(mean[max(0, i - 1)])
    above = cheaper(mean[i + 1])
    return BreakEven(a, b, axis, metric, at, ci, tuple(roots), (lo, hi), below, above, tuple(brackets), scan)


def fixed_variable_break_even_queries_per_month(result: "RunResult", a: str, b: str) -> float | None:
    """Q*, the queries per month at which strategies a and b cost the same, from one run's costs.

    Each strategy's monthly cost is modelled as fixed + variable x Q, with F the sum of its
    monthly components (training, re-indexing, storage, hosting, data preparation,
    evaluation, engineering, index build, plan minimum, adapters) and v its variable cost
    per query (tokens, cache, retrieval), both means over the run's replications:

        Q* = (F_a - F_b) / (v_b - v_a)

    Returns None when the variable costs are equal (the lines never cross) or when Q* is
    not positive (one strategy is cheaper at every volume). Unlike :func:`break_even`, no
    re-simulation: a straight-line reading of one operating point (components that depend
    on volume, such as the vector store's plan minimum or cache hit rates, are taken as
    they are at the simulated volume).
    """
    from simlib.results import MONTHLY_COMPONENTS

    summary = result.summary()
    for s in (a, b):
        if s not in summary:
            raise ScenarioError([Problem("strategy", f"strategy {s!r} was not simulated (simulated: {', '.join(summary)})")])
        if not summary[s]["feasible"]:
            raise ScenarioError([Problem("strategy", f"strategy {s!r} is infeasible: {summary[s]['reason']}")])

    def fixed(s: str) -> float:
        return sum(summary[s][f"cost_{c}_monthly_usd"]["mean"] for c in MONTHLY_COMPONENTS)

    dv = summary[b]["variable_cost_per_query_usd"]["mean"] - summary[a]["variable_cost_per_query_usd"]["mean"]
    if dv == 0:
        return None
    q = (fixed(a) - fixed(b)) / dv
    return q if q > 0 else None


def break_evens(scenario: Scenario, strategies: Sequence[str] | None = None, *,
                axis: str = "workload.queries_per_day", bounds: tuple[float, float] | None = None,
                metric: str = "monthly_cost_usd", replications: int | None = 5, scan_points: int = 9,
                log: bool | None = None, engine: str = "auto") -> list[BreakEven]:
    """Break-even of every pair of (feasible) strategies that cross within the bounds; one
    simulation per (x, replication) serves every pair."""
    from simlib.engine.run import feasibility

    names = [s for s in (strategies or scenario.simulation.strategies) if feasibility(scenario).get(s) is None]
    base = scenario.with_changes({"simulation.strategies": names})
    ev = _Evaluator(base, axis, metric, engine)
    out = []
    for a, b in combinations(names, 2):
        be = break_even(base, a, b, axis=axis, bounds=bounds, metric=metric, replications=replications,
                        scan_points=scan_points, log=log, _evaluator=ev)
        if be.at is not None:
            out.append(be)
    return out


def break_even_table(found: Sequence[BreakEven]) -> pd.DataFrame:
    """Tidy view: one row per crossing."""
    return pd.DataFrame([
        {"a": be.a, "b": be.b, "axis": be.axis, "metric": be.metric, "at": be.at,
         "ci_low": be.ci95[0] if be.ci95 else None, "ci_high": be.ci95[1] if be.ci95 else None,
         "replications_crossing": len(be.roots), "cheaper_below": be.cheaper_below, "cheaper_above": be.cheaper_above}
        for be in found
    ], columns=["a", "b", "axis", "metric", "at", "ci_low", "ci_high", "replications_crossing",
                "cheaper_below", "cheaper_above"])


# --- the cheapest strategy --------------------------------------------------------------

def cheapest(table: Any, metric: str = "monthly_cost_usd", strategies: Sequence[str] | None = None,
             lower_is_better: bool = True) -> pd.DataFrame:
    """The best strategy at each point of a sweep table (a SweepResult or its ``table``).

    Columns: point, the axes, best, best_value, runner_up, runner_up_value, margin_share
    ((runner-up - best) / |best|), and clear (the best's 95% interval lies entirely on the
    better side of the runner-up's; False when intervals overlap or are unknown).
    """
    t = getattr(table, "table", table)
    t = t[(t["metric"] == metric) & t["feasible"].astype(bool) & t["mean"].notna()]
    if strategies is not None:
        t = t[t["strategy"].isin(list(strategies))]
    meta = ["point", "strategy", "metric", "mean", "ci_low", "ci_high", "unit", "feasible"]
    axes = [c for c in t.columns if c not in meta]
    rows = []
    for point, g in t.groupby("point", sort=True):
        g = g.sort_values("mean", ascending=lower_is_better, kind="stable")
        best = g.iloc[0]
        row = {"point": point, **{ax: best[ax] for ax in axes}, "best": best["strategy"], "best_value": best["mean"]}
        if len(g) > 1:
            nxt = g.iloc[1]
            row.update(runner_up=nxt["strategy"], runner_up_value=nxt["mean"],
                       margin_share=abs(nxt["mean"] - best["mean"]) / abs(best["mean"]) if best["mean"] else math.nan)
            if lower_is_better:
                row["clear"] = bool(pd.notna(best["ci_high"]) and pd.notna(nxt["ci_low"]) and best["ci_high"] < nxt["ci_low"])
            else:
                row["clear"] = bool(pd.notna(best["ci_low"]) and pd.notna(nxt["ci_high"]) and best["ci_low"] > nxt["ci_high"])
        else:
            row.update(runner_up=None, runner_up_value=math.nan, margin_share=math.nan, clear=False)
        rows.append(row)
    return pd.DataFrame(rows)


# --- sensitivity ------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """Where one parameter is moved: a factor of the base value, or absolute values."""

    kind: Literal["factor", "absolute"]
    low: float
    high: float
    why: str

    def values(self, base: float) -> tuple[float, float]:
        if self.kind == "factor":
            return base * self.low, base * self.high
        return self.low, self.high


SENSITIVITY_RANGES: dict[str, Range] = {
    "workload.queries_per_day": Range("factor", 0.25, 4.0, "a quarter to four times the expected traffic"),
    "workload.query_tokens_mean": Range("factor", 0.5, 2.0, "half to twice the query length"),
    "workload.output_tokens_mean": Range("factor", 0.5, 2.0, "half to twice the answer length"),
    "knowledge.facts_count": Range("factor", 0.5, 2.0, "half to twice the knowledge base"),
    "knowledge.changes_per_day": Range("factor", 0.1, 10.0, "a tenth to ten times the churn"),
    "knowledge.index_lag_s": Range("factor", 0.1, 10.0, "a faster or slower indexing pipeline"),
    "retrieval.top_k": Range("factor", 0.5, 2.0, "half to twice the chunks retrieved"),
    "retrieval.chunk_tokens": Range("factor", 0.5, 2.0, "smaller or larger chunks"),
    "prices.input_usd_per_mtok": Range("factor", 0.5, 2.0, "input price halved or doubled (list prices move)"),
    "prices.output_usd_per_mtok": Range("factor", 0.5, 2.0, "output price halved or doubled"),
    "fine_tuning.retrain_interval_days": Range("factor", 0.25, 4.0, "retraining four times as often, or a quarter"),
    "fine_tuning.paraphrases_per_fact": Range("absolute", 1.0, 10.0, "one form of each fact to ten paraphrases (training set and recall)"),
    "prompt_cache.ttl_s": Range("absolute", 300.0, 3600.0, "5-minute vs 1-hour cache entries"),
    "prompt_cache.read_multiplier": Range("absolute", 0.1, 0.5, "Anthropic-like (0.1x) to OpenAI-like (0.5x) cache reads"),
    "model.concurrency_limit": Range("factor", 0.5, 2.0, "half to twice the provider's concurrency"),
}


def sensitivity(scenario: Scenario, parameters: Mapping[str, Range] | Sequence[str] | None = None, *,
                metrics: Sequence[str] = ("cost_per_query_usd", "fresh_share"), backend: str = "inprocess",
                workers: int | None = None, progress: bool | Callable[[int, int], None] = False,
                engine: str = "auto") -> pd.DataFrame:
    """One-at-a-time sensitivity over documented ranges (SENSITIVITY_RANGES by default).

    Returns a tidy table: parameter, side (low/high), value, base_value, strategy, metric,
    mean, ci_low, ci_high, base_mean, swing (|high - low| for the parameter, strategy and
    metric). A side whose value the scenario rejects (beyond a field's constraint) is
    clipped to the constraint where one is documented, else left out with its reason in
    ``table.attrs['skipped']``. All runs go through simlib.sweep (any backend).
    """
    from simlib.sweep import base_value as field_value
    from simlib.sweep import build_sweep, check_path, is_int_field, run_sweep

    if parameters is None:
        ranges = dict(SENSITIVITY_RANGES)
    elif isinstance(parameters, Mapping):
        ranges = dict(parameters)
    else:
        ranges = {p: SENSITIVITY_RANGES[p] if p in SENSITIVITY_RANGES else None for p in parameters}
        unknown = [p for p, r in ranges.items() if r is None]
        if unknown:
            raise ScenarioError([Problem(p, "no documented range: pass a mapping path -> Range") for p in unknown])
    problems = [bad for bad in (check_path(p, p) for p in ranges) if bad]
    if problems:
        raise ScenarioError(problems)
    points: list[dict[str, Any]] = [{}]
    labels: list[tuple[str | None, str | None, Any, Any]] = [(None, None, None, None)]
    skipped: dict[str, str] = {}
    for path, rng in ranges.items():
        base_value = field_value(scenario, path)
        if base_value is None:
            skipped[path] = "no base value"
            continue
        for side, value in zip(("low", "high"), rng.values(float(base_value))):
            if is_int_field(path):
                value = max(1, int(round(value)))
            try:
                scenario.with_changes({path: value})
            except ScenarioError as exc:
                skipped[f"{path} ({side})"] = str(exc)
                continue
            if value == base_value:
                continue
            points.append({path: value})
            labels.append((path, side, value, base_value))
    spec = build_sweep(scenario, points=points, metrics=list(metrics), engine=engine, name="sensitivity")
    result = run_sweep(spec, backend=backend, workers=workers, progress=progress)
    t = result.table
    base = t[t["point"] == 0].set_index(["strategy", "metric"])["mean"]
    rows = []
    for point, (path, side, value, base_value) in enumerate(labels):
        if path is None:
            continue
        g = t[t["point"] == point]
        for rec in g.itertuples(index=False):
            rows.append({"parameter": path, "side": side, "value": value, "base_value": base_value,
                         "strategy": rec.strategy, "metric": rec.metric, "mean": rec.mean, "ci_low": rec.ci_low,
                         "ci_high": rec.ci_high, "base_mean": base.get((rec.strategy, rec.metric), math.nan),
                         "why": ranges[path].why})
    out = pd.DataFrame(rows)
    if len(out):
        wide = out.pivot_table(index=["parameter", "strategy", "metric"], columns="side", values="mean", aggfunc="first")
        for side in ("low", "high"):
            if side not in wide:
                wide[side] = math.nan
        base_mean = out.groupby(["parameter", "strategy", "metric"])["base_mean"].first()
        lo = wide["low"].fillna(base_mean)
        hi = wide["high"].fillna(base_mean)
        swing = (hi - lo).abs().rename("swing")
        out = out.merge(swing.reset_index(), on=["parameter", "strategy", "metric"], how="left")
    out.attrs["skipped"] = skipped
    return out
