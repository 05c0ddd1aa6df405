"""A sweep's points: grid axes, random samples or a list, validated and built into scenarios (every problem located by file line)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from simlib.errors import Problem, ScenarioError
from simlib.loading import explain_validation
from simlib.scenario import Scenario
from simlib.sweep.paths import is_int_field, check_path


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
        if is_int_field(path):
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
        values = [int(x) for x in v] if kind == "int_uniform" or is_int_field(path) else [float(x) for x in v]
        if is_int_field(path):
            values = [int(round(x)) for x in values]
        draws[path] = values
    if problems:
        return [], problems
    return [{p: draws[p][i] for p in draws} for i in range(n)], []


ENGINES: tuple[str, ...] = ("auto", "fast", "simpy")
_DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")


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


class SweepFile(BaseModel):
    """The keys of a sweep file (see the package docstring): their kinds, checked before anything is built.

    What the entries hold (field paths, values, ranges, distributions, metrics) is checked by
    :func:`build_sweep`, which the Python API calls too; every error is located by file line.
    """

    model_config = ConfigDict(extra="forbid")

    base: str | None = Field(None, description="a shipped preset to sweep")
    scenario: str | None = Field(None, description="a scenario file to sweep (relative to the sweep file)")
    changes: dict[Any, Any] | None = Field(None, description="fixed changes of the base: field path -> value")
    grid: Any = Field(None, description="axes: field path -> values or a range mapping")
    random: Any = Field(None, description="{samples, seed, fields}")
    points: Any = Field(None, description="a list of changes, one per point")
    replications: StrictInt | None = Field(None, ge=1, description="replications at every point")
    seed: StrictInt | None = Field(None, ge=0, description="root random seed shared by every point")
    metrics: Any = Field(None, description="metric names to keep (default: every metric)")
    engine: Any = Field("auto", description="engine at every point")
    name: Any = Field(None, description="the sweep's name (default: the file's stem)")

    @model_validator(mode="after")
    def _one_scenario(self) -> "SweepFile":
        if (self.base is None) == (self.scenario is None):
            raise ValueError("give the scenario to sweep: 'base: PRESET' or 'scenario: FILE' (one of them)")
        return self


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a sweep file (YAML or JSON; see the module docstring) into a validated SweepSpec."""
    from simlib.loading import MAX_MAPPING_BYTES, read_mapping, read_text
    from simlib.scenario import load_preset, load_scenario

    path = Path(path)
    data = read_mapping(path, what="sweep file")
    text = read_text(path, max_bytes=MAX_MAPPING_BYTES, what="sweep file")
    lines = _yaml_lines(text) if path.suffix.lower() != ".json" else {}
    try:
        spec = SweepFile.model_validate(data)
    except ValidationError as exc:
        problems = explain_validation(exc, SweepFile, unknown="unknown key", root="base",
                                      otherwise=lambda names: f" (expected: {', '.join(names)})")
        raise ScenarioError(_locate(problems, lines), source=str(path)) from None
    try:
        if spec.base is not None:
            base = load_preset(spec.base)
        else:
            file = Path(spec.scenario)
            base = load_scenario(file if file.is_absolute() else path.parent / file)
    except ScenarioError as exc:
        key = "base" if spec.base is not None else "scenario"
        raise ScenarioError(_locate([Problem(key, str(exc))], lines), source=str(path)) from None
    return build_sweep(
        base, grid=spec.grid, random=spec.random, points=spec.points, changes=spec.changes,
        replications=spec.replications, seed=spec.seed, metrics=spec.metrics, engine=spec.engine,
        name=str(spec.name if spec.name is not None else path.stem),
        source=str(path), lines=lines,
    )
