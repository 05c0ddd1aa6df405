"""A sweep's points: grid axes, random samples or a list, validated and built into scenarios (every problem located by file line).

Validation is two steps, both pydantic and both through ``simlib.loading.explain_validation``
(the one error path: located problems, "did you mean" for unknown keys, exit code 2 at the CLI):
the file's keys (:class:`SweepFile`), then what names the points (:class:`SweepEntries`: grid
axes, the random sample and its distributions, points, changes, metrics, engine). Only then
is each value tried on the scenario (``base.with_changes``), on its own and in combination.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence, get_args

import numpy as np
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, Strict, StrictInt, ValidationError, field_validator,
                      model_validator)

from simlib.errors import Problem, ScenarioError
from simlib.loading import did_you_mean, explain_validation
from simlib.scenario import Scenario
from simlib.sweep.paths import is_int_field, check_path


# --- the entries: pydantic models, checked before any value is tried on the scenario ----

Engine = Literal["auto", "fast", "simpy"]
ENGINES: tuple[str, ...] = get_args(Engine)

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]  # a finite int or float, not a bool or a string
Bounds = tuple[Number, Number]  # [low, high]


def _field_path(path: Any) -> Any:
    """A scenario field's dotted path (a key of grid, fields, points or changes), with the closest names."""
    bad = check_path(path, "")
    if bad is not None:
        raise ValueError(bad.message)
    return path


def _metric_name(name: str) -> str:
    """A metric of simlib.results.METRICS, with the closest names."""
    from simlib.results import METRICS

    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}{did_you_mean(name, METRICS, n=2)}")
    return name


FieldPath = Annotated[Any, AfterValidator(_field_path)]
MetricName = Annotated[str, AfterValidator(_metric_name)]


def _positive(bounds: Bounds | None) -> Bounds | None:
    """A log scale needs bounds > 0 (log 0 is -inf)."""
    if bounds is not None and not (bounds[0] > 0 and bounds[1] > 0):
        raise ValueError(f"bounds must be positive, got [{bounds[0]:g}, {bounds[1]:g}]")
    return bounds


def _one_of(entry: BaseModel, names: tuple[str, ...], what: str) -> None:
    """Exactly one of ``names`` is set in ``entry`` (raise with ``what``, the forms allowed)."""
    given = [n for n in names if getattr(entry, n) is not None]
    if len(given) != 1:
        raise ValueError(f"give {what}" + (f" (got {' and '.join(given)})" if given else ""))


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MAX_SWEEP_POINTS = 100_000
"""The most points a sweep may have (a grid's product of axes, a random sample): each point is a
whole simulation (~0.1-1 s), so 100,000 is already a day of CPU; beyond it, a typo
(``points: 1e9`` would first build a billion-value axis in memory)."""


class GridAxis(_Entry):
    """One grid axis: a list of values, or ``{range: [lo, hi], points: n}`` (evenly spaced) or
    ``{log_range: [lo, hi], points: n}`` (geometric: lo * (hi/lo)^(i/(n-1))); a range on a
    whole-number field is rounded and its repeats dropped."""

    values: list[Any] | None = Field(None, description="the axis's values, as written (a list in the file)")
    range: Bounds | None = Field(None, description="[lo, hi]: n evenly spaced values")
    log_range: Bounds | None = Field(None, description="[lo, hi], both > 0: n geometrically spaced values")
    points: StrictInt = Field(5, ge=1, le=MAX_SWEEP_POINTS, description="how many values a range gives")

    _positive_log = field_validator("log_range")(_positive)

    @model_validator(mode="before")
    @classmethod
    def _a_list_is_values(cls, data: Any) -> Any:
        if isinstance(data, (list, tuple)):
            if not data:
                raise ValueError("an empty list of values")
            return {"values": list(data)}
        if not isinstance(data, (Mapping, GridAxis)):
            raise ValueError(f"give {_AXIS_FORMS}")
        return data

    @model_validator(mode="after")
    def _one_form(self) -> "GridAxis":
        _one_of(self, ("values", "range", "log_range"), _AXIS_FORMS)
        return self

    def values_of(self, path: str) -> list[Any]:
        """The axis's values for the field at ``path``."""
        if self.values is not None:
            return list(self.values)
        lo, hi = self.range or self.log_range
        spaced = np.geomspace(lo, hi, self.points) if self.log_range else np.linspace(lo, hi, self.points)
        out = [float(v) for v in spaced]
        return list(dict.fromkeys(int(round(v)) for v in out)) if is_int_field(path) else out


_AXIS_FORMS = "a list of values, or {range: [lo, hi], points: n} or {log_range: [lo, hi], points: n}"


class Distribution(_Entry):
    """How a random sample draws one field: uniform on [lo, hi], log-uniform (exp of a uniform on
    [ln lo, ln hi]), a whole number uniform on [ceil lo, floor hi], or a choice among values."""

    uniform: Bounds | None = None
    log_uniform: Bounds | None = None
    int_uniform: Bounds | None = None
    choice: list[Any] | None = Field(None, min_length=1)

    @field_validator("uniform", "log_uniform", "int_uniform")
    @classmethod
    def _ordered(cls, bounds: Bounds | None) -> Bounds | None:
        if bounds is not None and bounds[0] > bounds[1]:
            raise ValueError(f"must be [low, high] with low <= high, got [{bounds[0]:g}, {bounds[1]:g}]")
        return bounds

    _positive_log = field_validator("log_uniform")(_positive)

    @model_validator(mode="after")
    def _one_kind(self) -> "Distribution":
        _one_of(self, ("uniform", "log_uniform", "int_uniform", "choice"),
                "one of {uniform | log_uniform | int_uniform: [low, high]} or {choice: [values]}")
        return self

    def draw(self, rng: np.random.Generator, n: int, path: str) -> list[Any]:
        """``n`` draws for the field at ``path`` (whole numbers for a whole-number field)."""
        if self.choice is not None:
            return [self.choice[i] for i in rng.integers(0, len(self.choice), n)]
        if self.uniform is not None:
            v = rng.uniform(*self.uniform, n)
        elif self.log_uniform is not None:
            lo, hi = self.log_uniform
            v = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
        else:
            lo, hi = self.int_uniform
            return [int(x) for x in rng.integers(int(math.ceil(lo)), int(math.floor(hi)) + 1, n)]
        # a whole-number field keeps the integer part (int_uniform is the even draw of whole numbers)
        return [int(x) for x in v] if is_int_field(path) else [float(x) for x in v]


class RandomSample(_Entry):
    """``{samples: n, seed: s, fields: {path: distribution}}``: n points, every field drawn from one generator."""

    samples: StrictInt = Field(ge=1, le=MAX_SWEEP_POINTS, description="how many points")
    seed: StrictInt = Field(0, ge=0, description="the sample's own seed (not the scenario's)")
    fields: dict[FieldPath, Distribution] = Field(min_length=1, description="field path -> distribution")

    def points(self) -> list[dict[str, Any]]:
        """The sample's points, drawn field by field in the order given."""
        rng = np.random.default_rng(self.seed)
        draws = {path: dist.draw(rng, self.samples, path) for path, dist in self.fields.items()}
        return [{p: draws[p][i] for p in draws} for i in range(self.samples)]


class SweepEntries(BaseModel):
    """What names a sweep's points and what applies to all of them (:func:`build_sweep`'s arguments)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grid: dict[FieldPath, GridAxis] | None = Field(None, min_length=1, description="axes: every combination")
    random: RandomSample | None = Field(None, description="a random sample")
    points: list[dict[FieldPath, Any]] | None = Field(None, min_length=1, description="a list of changes")
    changes: dict[FieldPath, Any] = Field({}, description="fixed changes of the base at every point")
    metrics: list[MetricName] | None = Field(None, description="metrics to keep (None: every metric)")
    engine: Engine = "auto"

    @model_validator(mode="before")
    @classmethod
    def _one_mode(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            given = [k for k in ("grid", "random", "points") if data.get(k) is not None]
            if len(given) != 1:
                raise ValueError("give exactly one of grid, random and points"
                                 + (f" (got {' and '.join(given)})" if given else ""))
        return data

    @model_validator(mode="after")
    def _not_too_many_points(self) -> "SweepEntries":
        if self.grid is not None:
            total = 1
            for axis in self.grid.values():
                total *= len(axis.values) if axis.values is not None else axis.points
            if total > MAX_SWEEP_POINTS:
                raise ValueError(f"the grid has {total:,} points (the product of its axes), more than the "
                                 f"{MAX_SWEEP_POINTS:,} a sweep may have: use fewer values, or a random sample")
        return self


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
    try:
        entries = SweepEntries.model_validate({"grid": grid, "random": random, "points": points,
                                               "changes": changes or {}, "metrics": metrics, "engine": engine})
    except ValidationError as exc:
        problems = explain_validation(exc, SweepEntries, unknown="unknown key", root="", otherwise=_expected)
        raise ScenarioError(_locate(problems, lines), source=source) from None
    fixed: dict[str, Any] = dict(entries.changes)
    if replications is not None:
        fixed["simulation.replications"] = replications
    if seed is not None:
        fixed["simulation.seed"] = seed
    values = {path: axis.values_of(path) for path, axis in (entries.grid or {}).items()}
    point_list = (entries.random.points() if entries.random is not None
                  else [dict(p) for p in entries.points] if entries.points is not None else [])
    axes = list(values) if entries.grid is not None else list(dict.fromkeys(k for p in point_list for k in p))
    problems: list[Problem] = []

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
    if entries.grid is not None and not problems:
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
                     metrics=tuple(entries.metrics) if entries.metrics is not None else None, engine=entries.engine, name=name,
                     source=source, scenarios=tuple(built))


def _expected(names: list[str]) -> str:
    """What an unknown key's message says when no valid name is close: every valid one."""
    return f" (expected: {', '.join(names)})"


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
    :class:`SweepEntries` in :func:`build_sweep`, which the Python API calls too; every error is
    located by file line.
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
        problems = explain_validation(exc, SweepFile, unknown="unknown key", root="base", otherwise=_expected)
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
