"""Sweeps: one scenario, many points, with replications and common random numbers.

    spec = build_sweep(simlib.load_preset("docs-assistant"),
                       grid={"workload.queries_per_day": {"log_range": [1e3, 1e6], "points": 7},
                             "knowledge.changes_per_day": [1, 30, 1000]},
                       changes={"simulation.queries": 2000})
    result = run_sweep(spec)                     # backend="processes" or "dask" for more cores
    result.table                                 # tidy: point x strategy x metric, with intervals
    result.write("results.parquet")              # or .csv

or from a file, ``simlib sweep my_sweep.yaml --backend dask --out results.parquet``::

    base: docs-assistant              # a preset, or  scenario: my.yaml  (relative to this file)
    changes:                          # fixed overrides of the base (optional)
      simulation.queries: 2000
    grid:                             # every combination of these values ...
      workload.queries_per_day: {log_range: [1000, 1000000], points: 7}
      knowledge.changes_per_day: [1, 30, 1000]
    # random: {samples: 50, seed: 1, fields: {retrieval.top_k: {int_uniform: [2, 12]}}}
    # points: [{workload.queries_per_day: 5000}, ...]         # ... or a sample, or a list
    replications: 3
    metrics: [monthly_cost_usd, cost_per_query_usd, fresh_share]   # default: every metric
    engine: auto

Every point is the base scenario with the point's fields changed and re-validated; all
points share the base's seed, so they see the same draws (common random numbers: two
points differ only by what was changed). Values are checked when the sweep is built:
a bad name or value is a ScenarioError naming the file, the line and the entry
(``my_sweep.yaml:7: grid.workload.queries_per_dya: unknown field; did you mean
'queries_per_day'?``), and the CLI exits with code 2.

The result is the same table whatever the backend (in-process, local processes, Dask):
each point is a pure function of its scenario. A sweep is cancellable: Ctrl-C, a Jupyter
interrupt, or an ``on_point`` callback returning False stops it, and the finished points
are kept (``SweepResult.complete`` is False).
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel

from simlib.errors import Problem, ScenarioError
from simlib.scenario import Scenario

Backend = Literal["inprocess", "processes", "dask"]
BACKENDS: tuple[str, ...] = ("inprocess", "processes", "dask")
ENGINES: tuple[str, ...] = ("auto", "fast", "simpy")
TABLE_COLUMNS = ("point", "strategy", "metric", "mean", "ci_low", "ci_high", "unit", "feasible")
_SPEC_KEYS = ("base", "scenario", "changes", "grid", "random", "points", "replications", "seed", "metrics",
              "engine", "name")
_DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")


# --- field paths and values -------------------------------------------------------------

def field_paths() -> list[str]:
    """Every leaf field of a scenario as a dotted path (what a sweep can vary)."""
    out = []
    for group, f in Scenario.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += [f"{group}.{name}" for name in ann.model_fields]
        else:
            out.append(group)
    return out


def check_path(path: Any, where: str) -> Problem | None:
    """A located problem if ``path`` is not a scenario field, with the closest names."""
    from simlib.loading import did_you_mean

    if not isinstance(path, str):
        return Problem(where, f"a field is named by a dotted path such as 'workload.queries_per_day', got {path!r}")
    paths = field_paths()
    if path in paths:
        return None
    head = path.split(".")[0]
    groups = [p.split(".")[0] for p in paths]
    if head in groups and "." in path:
        names = [p for p in paths if p.startswith(head + ".")]
        hint = did_you_mean(path, names, cutoff=0.6)
    elif head in groups:
        names = [p for p in paths if p.startswith(head + ".")]
        return Problem(where, f"'{path}' is a group; name one of its fields ({', '.join(n.split('.')[1] for n in names[:8])}, ...)")
    else:
        hint = did_you_mean(path, paths, cutoff=0.6)
    return Problem(where, f"unknown field{hint}")


def _is_int_field(path: str) -> bool:
    group, _, name = path.partition(".")
    ann = Scenario.model_fields[group].annotation
    f = ann.model_fields.get(name) if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return f is not None and f.annotation is int


def _grid_values(path: str, spec: Any, where: str) -> tuple[list[Any], list[Problem]]:
    """The values of one grid axis: a list, or {range|log_range: [lo, hi], points: n}."""
    if isinstance(spec, (list, tuple)):
        if not spec:
            return [], [Problem(where, "an empty list of values")]
        return list(spec), []
    if isinstance(spec, Mapping):
        kinds = [k for k in ("range", "log_range") if k in spec]
        extra = set(spec) - {"range", "log_range", "points"}
        if len(kinds) != 1 or extra:
            return [], [Problem(where, "give a list of values, or {range: [lo, hi], points: n} or "
                                       "{log_range: [lo, hi], points: n}" + (f" (unknown: {', '.join(map(str, extra))})" if extra else ""))]
        kind = kinds[0]
        bounds, n = spec[kind], spec.get("points", 5)
        if not (isinstance(bounds, (list, tuple)) and len(bounds) == 2 and all(_number(b) for b in bounds)):
            return [], [Problem(f"{where}.{kind}", f"must be [low, high], two numbers, got {bounds!r}")]
        if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
            return [], [Problem(f"{where}.points", f"must be a whole number of at least 1, got {n!r}")]
        lo, hi = float(bounds[0]), float(bounds[1])
        if kind == "log_range" and not (lo > 0 and hi > 0):
            return [], [Problem(f"{where}.log_range", f"bounds must be positive, got [{lo:g}, {hi:g}]")]
        values = np.geomspace(lo, hi, n) if kind == "log_range" else np.linspace(lo, hi, n)
        out = [float(v) for v in values]
        if _is_int_field(path):
            out = list(dict.fromkeys(int(round(v)) for v in out))
        return out, []
    return [], [Problem(where, f"give a list of values, or a range mapping; got {spec!r}")]


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def _random_points(spec: Any, where: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    """{samples: n, seed: s, fields: {path: {uniform|log_uniform|int_uniform: [lo, hi]} | {choice: [...]}}}."""
    if not isinstance(spec, Mapping):
        return [], [Problem(where, "must be a mapping with samples, seed and fields")]
    problems = [Problem(f"{where}.{k}", "unknown key (expected samples, seed, fields)")
                for k in spec if k not in ("samples", "seed", "fields")]
    n, seed, fields = spec.get("samples"), spec.get("seed", 0), spec.get("fields")
    if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
        problems.append(Problem(f"{where}.samples", f"must be a whole number of at least 1, got {n!r}"))
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        problems.append(Problem(f"{where}.seed", f"must be a whole number >= 0, got {seed!r}"))
    if not isinstance(fields, Mapping) or not fields:
        problems.append(Problem(f"{where}.fields", "must map field paths to distributions"))
    if problems:
        return [], problems
    rng = np.random.default_rng(seed)
    draws: dict[str, list[Any]] = {}
    for path, dist in fields.items():
        w = f"{where}.fields.{path}"
        bad = check_path(path, w)
        if bad:
            problems.append(bad)
            continue
        if not (isinstance(dist, Mapping) and len(dist) == 1 and next(iter(dist)) in _DISTRIBUTIONS):
            problems.append(Problem(w, f"must be one of {{{' | '.join(d + ': ...' for d in _DISTRIBUTIONS)}}}, got {dist!r}"))
            continue
        kind, arg = next(iter(dist.items()))
        if kind == "choice":
            if not isinstance(arg, (list, tuple)) or not arg:
                problems.append(Problem(f"{w}.choice", "must be a non-empty list"))
                continue
            draws[path] = [arg[i] for i in rng.integers(0, len(arg), n)]
            continue
        if not (isinstance(arg, (list, tuple)) and len(arg) == 2 and all(_number(b) for b in arg) and arg[0] <= arg[1]):
            problems.append(Problem(f"{w}.{kind}", f"must be [low, high] with low <= high, got {arg!r}"))
            continue
        lo, hi = float(arg[0]), float(arg[1])
        if kind == "uniform":
            v = rng.uniform(lo, hi, n)
        elif kind == "log_uniform":
            if lo <= 0:
                problems.append(Problem(f"{w}.log_uniform", f"bounds must be positive, got [{lo:g}, {hi:g}]"))
                continue
            v = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
        else:
            v = rng.integers(int(math.ceil(lo)), int(math.floor(hi)) + 1, n)
        values = [int(x) for x in v] if kind == "int_uniform" or _is_int_field(path) else [float(x) for x in v]
        if _is_int_field(path):
            values = [int(round(x)) for x in values]
        draws[path] = values
    if problems:
        return [], problems
    return [{p: draws[p][i] for p in draws} for i in range(n)], []


# --- the spec ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the base scenario and the changes that make each point."""

    base: Scenario
    points: tuple[dict[str, Any], ...]  # each: dotted path -> value (applied to base)
    axes: tuple[str, ...]  # the paths varied, in order (the table's axis columns)
    metrics: tuple[str, ...] | None = None  # None: every metric of simlib.results.METRICS
    engine: str = "auto"
    name: str = "sweep"
    source: str | None = None
    scenarios: tuple[Scenario, ...] | None = field(default=None, repr=False, compare=False)  # built points

    def scenario(self, point: int) -> Scenario:
        """The scenario of one point (the base with the point's changes, re-validated)."""
        if self.scenarios is not None:
            return self.scenarios[point]
        changes = self.points[point]
        return self.base.with_changes(changes) if changes else self.base

    def __len__(self) -> int:
        return len(self.points)


def build_sweep(base: Scenario, *, grid: Mapping[str, Any] | None = None, random: Mapping[str, Any] | None = None,
                points: Sequence[Mapping[str, Any]] | None = None, changes: Mapping[str, Any] | None = None,
                replications: int | None = None, seed: int | None = None, metrics: Sequence[str] | None = None,
                engine: str = "auto", name: str = "sweep", source: str | None = None,
                lines: Mapping[str, int] | None = None) -> SweepSpec:
    """Validate a sweep and build its points; raise ScenarioError listing every problem, located.

    Exactly one of ``grid`` (every combination), ``random`` (a sample) and ``points`` (a
    list of changes) names the points. ``changes``, ``replications`` and ``seed`` apply
    to every point. ``lines`` maps entry paths to file lines (load_sweep fills it).
    """
    problems: list[Problem] = []
    modes = [k for k, v in (("grid", grid), ("random", random), ("points", points)) if v is not None]
    if len(modes) != 1:
        problems.append(Problem("", "give exactly one of grid, random and points"
                                + (f" (got {' and '.join(modes)})" if modes else "")))
    fixed: dict[str, Any] = dict(changes or {})
    for path in fixed:
        bad = check_path(path, f"changes.{path}")
        if bad:
            problems.append(bad)
    if replications is not None:
        fixed["simulation.replications"] = replications
    if seed is not None:
        fixed["simulation.seed"] = seed
    if engine not in ENGINES:
        problems.append(Problem("engine", f"must be one of {', '.join(ENGINES)}, got {engine!r}"))
    if metrics is not None:
        from simlib.loading import did_you_mean
        from simlib.results import METRICS

        if isinstance(metrics, str) or not isinstance(metrics, Sequence):
            problems.append(Problem("metrics", f"must be a list of metric names, got {metrics!r}"))
        else:
            for i, m in enumerate(metrics):
                if m not in METRICS:
                    hint = did_you_mean(m, METRICS, n=2)
                    problems.append(Problem(f"metrics[{i}]", f"unknown metric {m!r}{hint}"))

    # the points' names and value forms (before any value is tried on the scenario)
    point_list: list[dict[str, Any]] = []
    axes: list[str] = []
    values: dict[str, list[Any]] = {}
    if grid is not None and len(modes) == 1:
        if not isinstance(grid, Mapping) or not grid:
            problems.append(Problem("grid", "must map field paths to values"))
        else:
            for path, spec in grid.items():
                bad = check_path(path, f"grid.{path}")
                if bad:
                    problems.append(bad)
                    continue
                vals, probs = _grid_values(path, spec, f"grid.{path}")
                problems += probs
                values[path] = vals
            axes = list(values)
    elif random is not None and len(modes) == 1:
        point_list, probs = _random_points(random, "random")
        problems += probs
        axes = list(point_list[0]) if point_list else []
    elif points is not None and len(modes) == 1:
        if isinstance(points, (str, bytes)) or not isinstance(points, Sequence) or not points:
            problems.append(Problem("points", "must be a non-empty list of mappings (field path -> value)"))
        else:
            for i, p in enumerate(points):
                if not isinstance(p, Mapping):
                    problems.append(Problem(f"points[{i}]", f"must be a mapping of field paths to values, got {p!r}"))
                    continue
                for path in p:
                    bad = check_path(path, f"points[{i}].{path}")
                    if bad:
                        problems.append(bad)
                point_list.append(dict(p))
            axes = list(dict.fromkeys(k for p in point_list for k in p))
    if problems:
        raise ScenarioError(_locate(problems, lines), source=source)

    # the values
    try:
        base = base.with_changes(fixed) if fixed else base
    except ScenarioError as exc:
        raise ScenarioError(_locate([Problem(f"changes.{p.location}" if p.location else "changes", p.message)
                                     for p in exc.problems], lines), source=source) from None
    for path, vals in values.items():
        for i, v in enumerate(vals):  # each value on its own: the error names the entry
            try:
                base.with_changes({path: v})
            except ScenarioError as exc:
                problems += [Problem(f"grid.{path}[{i}]", p.message) for p in exc.problems]
    if grid is not None and not problems:
        point_list = [dict(zip(axes, combo)) for combo in itertools.product(*values.values())]
    built: list[Scenario] = []
    if not problems:
        for i, p in enumerate(point_list):  # a combination may fail where each value passed
            try:
                built.append(base.with_changes(p) if p else base)
            except ScenarioError as exc:
                label = ", ".join(f"{k}={v!r}" for k, v in p.items())
                problems += [Problem(f"point {i} ({label})", str(q)) for q in exc.problems]
            if len(problems) >= 20:
                problems.append(Problem("", "(stopped after 20 problems)"))
                break
    if problems:
        raise ScenarioError(_locate(problems, lines), source=source)
    return SweepSpec(base=base, points=tuple(point_list), axes=tuple(axes),
                     metrics=tuple(metrics) if metrics is not None else None, engine=engine, name=name,
                     source=source, scenarios=tuple(built))


def _locate(problems: list[Problem], lines: Mapping[str, int] | None) -> list[Problem]:
    """Prefix each problem with the file line of its entry (the deepest entry known)."""
    if not lines:
        return problems
    out = []
    for p in problems:
        loc = p.location.split(" (")[0]
        key = loc
        line = None
        while key:
            line = lines.get(key)
            if line is not None:
                break
            key = key.rsplit("[", 1)[0] if key.endswith("]") else (key.rsplit(".", 1)[0] if "." in key else "")
        out.append(Problem(f"line {line}: {p.location}" if line else p.location, p.message))
    return out


def _yaml_lines(text: str) -> dict[str, int]:
    """Entry path -> 1-based line of a YAML document's keys and list items."""
    import yaml

    out: dict[str, int] = {}

    def walk(node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = f"{path}.{k.value}" if path else str(k.value)
                out[key] = k.start_mark.line + 1
                walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                key = f"{path}[{i}]"
                out[key] = v.start_mark.line + 1
                walk(v, key)

    try:
        walk(yaml.compose(text), "")
    except yaml.YAMLError:
        pass
    return out


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a sweep file (YAML or JSON; see the module docstring) into a validated SweepSpec."""
    from simlib.loading import MAX_MAPPING_BYTES, did_you_mean, read_mapping, read_text
    from simlib.scenario import load_scenario

    path = Path(path)
    data = read_mapping(path, what="sweep file")
    text = read_text(path, max_bytes=MAX_MAPPING_BYTES, what="sweep file")
    lines = _yaml_lines(text) if path.suffix.lower() != ".json" else {}
    problems = []
    for key in data:
        if key not in _SPEC_KEYS:
            hint = did_you_mean(key, _SPEC_KEYS, n=2, otherwise=f" (expected: {', '.join(_SPEC_KEYS)})")
            problems.append(Problem(str(key), f"unknown key{hint}"))
    if ("base" in data) == ("scenario" in data):
        problems.append(Problem("base", "give the scenario to sweep: 'base: PRESET' or 'scenario: FILE' (one of them)"))
    for key in ("replications", "seed"):
        v = data.get(key)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= (1 if key == "replications" else 0)):
            problems.append(Problem(key, f"must be a whole number {'>= 1' if key == 'replications' else '>= 0'}, got {v!r}"))
    if data.get("changes") is not None and not isinstance(data["changes"], Mapping):
        problems.append(Problem("changes", "must map field paths to values"))
    if problems:
        raise ScenarioError(_locate(problems, lines), source=str(path))
    try:
        if "base" in data:
            from simlib.scenario import load_preset

            if not isinstance(data["base"], str):
                raise ScenarioError([Problem("base", f"must be a preset name, got {data['base']!r}")])
            base = load_preset(data["base"])
        else:
            file = Path(str(data["scenario"]))
            base = load_scenario(file if file.is_absolute() else path.parent / file)
    except ScenarioError as exc:
        key = "base" if "base" in data else "scenario"
        raise ScenarioError(_locate([Problem(key, str(exc))], lines), source=str(path)) from None
    return build_sweep(
        base, grid=data.get("grid"), random=data.get("random"), points=data.get("points"),
        changes=data.get("changes"), replications=data.get("replications"), seed=data.get("seed"),
        metrics=data.get("metrics"), engine=data.get("engine", "auto"), name=str(data.get("name", path.stem)),
        source=str(path), lines=lines,
    )


# --- evaluating one point ---------------------------------------------------------------

def evaluate_point(scenario: Scenario, metrics: Sequence[str] | None = None, engine: str = "auto") -> dict[str, list]:
    """Run one point; its tidy rows as columns (strategy, metric, mean, ci_low, ci_high, unit, feasible).

    The run's notes travel under the key "notes" (a list of strings, not a column).

    Uses the fast kernel's streaming summaries (records="summary") where it follows simpy.
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


# --- results ----------------------------------------------------------------------------

@dataclass
class SweepResult:
    """The tidy table of a sweep (finished points only if it was stopped)."""

    spec: SweepSpec
    table: pd.DataFrame  # point, <axes>, strategy, metric, mean, ci_low, ci_high, unit, feasible
    complete: bool
    points_done: int
    elapsed_s: float
    backend: str
    notes: list[str] = field(default_factory=list)

    @property
    def points_total(self) -> int:
        return len(self.spec)

    def points_per_s(self) -> float:
        return self.points_done / self.elapsed_s if self.elapsed_s > 0 else math.nan

    def wide(self, metric: str = "monthly_cost_usd") -> pd.DataFrame:
        """One row per point (its axis values), one column per strategy: the metric's mean."""
        t = self.table[self.table["metric"] == metric]
        index = ["point", *self.spec.axes]
        wide = t.set_index([*index, "strategy"])["mean"].unstack("strategy").reset_index()
        wide.columns.name = None
        return wide

    def write(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the table as Parquet (.parquet, needs pyarrow) or CSV (.csv), atomically.

        An existing file is replaced only with ``force`` (simlib.writing: a reader or a
        kill never sees a truncated table).
        """
        from simlib.writing import check_destination, write_atomic

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".csv", ".parquet", ".pq"):
            check_destination(path, force=force)
        if suffix == ".csv":
            write_atomic(path, lambda f: self.table.to_csv(f, index=False), force=force)
        elif suffix in (".parquet", ".pq"):
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise ScenarioError([Problem(str(path), "writing Parquet needs pyarrow (pip install 'llm-knowledge-sim[scale]'); "
                                                        "or write .csv")]) from None
            table = self.table.copy()
            for axis in self.spec.axes:  # mixed-type axis columns (a list of choices) as text
                if table[axis].map(type).nunique() > 1:
                    table[axis] = table[axis].astype(str)
            write_atomic(path, lambda f: table.to_parquet(f, index=False), force=force)
        else:
            raise ScenarioError([Problem(str(path), f"unknown output format {suffix or '(none)'}: use .parquet or .csv")])
        return path


def _frame(spec: SweepSpec, parts: dict[int, dict[str, list]]) -> pd.DataFrame:
    """The tidy table of the finished points, sorted by point (so every backend gives the same)."""
    frames = []
    for point in sorted(parts):
        cols = parts[point]
        n = len(cols["strategy"])
        data: dict[str, Any] = {"point": np.full(n, point, np.int64)}
        for axis in spec.axes:
            data[axis] = [spec.points[point].get(axis, _base_value(spec.base, axis))] * n
        data.update(cols)
        frames.append(pd.DataFrame(data))
    if not frames:
        return pd.DataFrame(columns=["point", *spec.axes, *TABLE_COLUMNS[1:]])
    table = pd.concat(frames, ignore_index=True)
    for c in ("mean", "ci_low", "ci_high"):
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(float)
    return table


def _base_value(base: Scenario, path: str) -> Any:
    group, _, name = path.partition(".")
    node = getattr(base, group)
    return getattr(node, name) if name else node


# --- running ----------------------------------------------------------------------------

def run_sweep(spec: SweepSpec, *, backend: Backend = "inprocess", workers: int | None = None,
              scheduler: str | None = None, progress: bool | Callable[[int, int], None] = True,
              on_point: Callable[[int, pd.DataFrame], bool | None] | None = None) -> SweepResult:
    """Run every point of a sweep; the tidy table, in point order.

    backend: 'inprocess' (no set-up), 'processes' (a local process pool of ``workers``,
    default one per core) or 'dask' (a ``dask.distributed`` LocalCluster of ``workers``,
    or the cluster at ``scheduler``, e.g. 'tcp://10.0.0.5:8786'). ``progress``: a bar
    (tqdm: a widget in notebooks, text in a terminal), or a callable(done, total).
    ``on_point(point, rows)`` is called as each point finishes; returning False stops the
    sweep. Stopped or interrupted (Ctrl-C), the result keeps the finished points.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    total = len(spec)
    parts: dict[int, dict[str, list]] = {}
    bar = _bar(progress, total, spec.name)
    t0 = time.perf_counter()
    stopped = False
    notes: list[str] = []

    note_points: dict[str, list[int]] = {}

    def finished(point: int, cols: dict[str, list]) -> bool:
        cols = dict(cols)
        for note in cols.pop("notes", []):
            note_points.setdefault(note, []).append(point)
        parts[point] = cols
        if bar is not None:
            bar(len(parts), total)
        if on_point is not None and on_point(point, _frame(spec, {point: cols})) is False:
            return False
        return True

    try:
        if backend == "inprocess":
            for point in range(total):
                if not finished(point, evaluate_point(spec.scenario(point), spec.metrics, spec.engine)):
                    stopped = True
                    break
        elif backend == "processes":
            stopped = _run_processes(spec, workers, finished)
        else:
            stopped = _run_dask(spec, workers, scheduler, finished, notes)
    except KeyboardInterrupt:
        stopped = True
        notes.append("interrupted: the finished points are kept")
    finally:
        if bar is not None:
            bar(len(parts), total, close=True)
    elapsed = time.perf_counter() - t0
    for note, where in note_points.items():  # each run note once, with the points it holds at
        shown = ", ".join(str(p) for p in sorted(where)[:10]) + (" ..." if len(where) > 10 else "")
        notes.append(f"{note} (point{'s' if len(where) > 1 else ''} {shown})")
    if stopped and not any(n.startswith("interrupted") for n in notes):
        notes.append("stopped: the finished points are kept")
    return SweepResult(spec=spec, table=_frame(spec, parts), complete=len(parts) == total, points_done=len(parts),
                       elapsed_s=elapsed, backend=backend, notes=notes)


def sweep(base: Scenario, grid: Mapping[str, Any] | None = None, *, random: Mapping[str, Any] | None = None,
          points: Sequence[Mapping[str, Any]] | None = None, changes: Mapping[str, Any] | None = None,
          replications: int | None = None, seed: int | None = None, metrics: Sequence[str] | None = None,
          engine: str = "auto", backend: Backend = "inprocess", workers: int | None = None,
          scheduler: str | None = None, progress: bool | Callable[[int, int], None] = True,
          on_point: Callable[[int, pd.DataFrame], bool | None] | None = None) -> SweepResult:
    """build_sweep then run_sweep, in one call (see both)."""
    spec = build_sweep(base, grid=grid, random=random, points=points, changes=changes, replications=replications,
                       seed=seed, metrics=metrics, engine=engine)
    return run_sweep(spec, backend=backend, workers=workers, scheduler=scheduler, progress=progress,
                     on_point=on_point)


def _payloads(spec: SweepSpec) -> Iterable[tuple[int, Scenario, tuple[str, ...] | None, str]]:
    for point in range(len(spec)):
        yield point, spec.scenario(point), spec.metrics, spec.engine


def _run_processes(spec: SweepSpec, workers: int | None, finished) -> bool:
    """A local process pool; at most 2 x workers points in flight (so a stop is prompt)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    workers = workers or os.cpu_count() or 1
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    pending: set = set()
    todo = iter(_payloads(spec))
    stopped = False
    try:
        for payload in itertools.islice(todo, 2 * workers):
            pending.add(pool.submit(_task, payload))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                point, cols = fut.result()
                if not finished(point, cols):
                    stopped = True
            if stopped:
                break
            for payload in itertools.islice(todo, len(done)):
                pending.add(pool.submit(_task, payload))
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
    return stopped


def _run_dask(spec: SweepSpec, workers: int | None, scheduler: str | None, finished, notes: list[str]) -> bool:
    """Dask distributed: a LocalCluster (one single-threaded worker process per core) or a scheduler."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ScenarioError([Problem("backend", "the dask backend needs dask.distributed "
                                                "(pip install 'llm-knowledge-sim[scale]')")]) from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
        notes.append(f"dask scheduler {scheduler}")
    else:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    stopped = False
    futures = []
    try:
        futures = [client.submit(_task, payload, pure=False) for payload in _payloads(spec)]
        for fut in as_completed(futures):
            point, cols = fut.result()
            if not finished(point, cols):
                stopped = True
                break
    finally:
        if stopped or any(not f.done() for f in futures):
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()
    return stopped


def _bar(progress: bool | Callable[[int, int], None], total: int, name: str):
    """A progress callback (done, total, close=False); tqdm.auto when progress is True."""
    if progress is False or progress is None:
        return None
    if callable(progress):
        return lambda done, total, close=False: progress(done, total)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="point", desc=name, file=sys.stderr, leave=False)

    def update(done: int, total: int, close: bool = False) -> None:
        bar.n = done
        bar.refresh()
        if close:
            bar.close()

    return update
