"""``simlib sweep``: run a sweep file, or vary a preset or scenario along --grid axes (simlib.sweep).

``--set`` and the run-size flags apply to every point, as fixed changes of the sweep.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from simlib.cli.options import (
    add_output_arguments,
    add_scenario_arguments,
    apply_set,
    positive_int,
    run_size_changes,
)
from simlib.errors import Problem, ScenarioError
from simlib.sweep import BACKENDS, ENGINES, SweepSpec, build_sweep, load_sweep, run_sweep
from simlib.writing import check_destination


def add_parser(subparsers) -> None:
    """``simlib sweep``: a sweep file, or a preset/scenario varied along --grid axes."""
    p = subparsers.add_parser(
        "sweep", help="run a sweep (a grid or a sample of scenarios) and write a tidy table",
        description="Run a sweep file (see simlib.sweep), or vary one preset/scenario with --grid.",
    )
    p.add_argument("file", nargs="?", help="sweep file (YAML or JSON): base or scenario, grid | random | points, ...")
    add_scenario_arguments(p, required=False, trace=False)
    p.add_argument("--grid", action="append", default=[], metavar="PATH=V1,V2,...",
                   help="an axis: values, or lo:hi:n (linear) or lo:hi:n:log; repeat for more axes")
    p.add_argument("--metrics", help="comma-separated metrics to keep (default: all)")
    p.add_argument("--engine", choices=ENGINES, help="engine at every point (default: the file's, else auto)")
    p.add_argument("--backend", choices=BACKENDS, default="inprocess", help="where the points run (default: inprocess)")
    p.add_argument("--workers", type=positive_int, help="processes or Dask workers (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (with --backend dask)")
    p.add_argument("--out", metavar="FILE", help="write the tidy table to FILE (.parquet or .csv), atomically; checked before the sweep runs")
    add_output_arguments(p, force="replace --out if it already exists", progress=True)
    p.set_defaults(handler=run_command)


def _parse_axis(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ScenarioError([Problem(f"--grid {text}", "expected PATH=V1,V2,... or PATH=lo:hi:n[:log]")])
    path, _, values = text.partition("=")
    parts = values.split(":")
    if len(parts) in (3, 4) and "," not in values:
        try:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ScenarioError([Problem(f"--grid {text}", "a range is lo:hi:n[:log], numbers")]) from None
        kind = "log_range" if len(parts) == 4 and parts[3] == "log" else "range"
        if len(parts) == 4 and parts[3] != "log":
            raise ScenarioError([Problem(f"--grid {text}", f"the fourth part of a range can only be 'log', got {parts[3]!r}")])
        return path.strip(), {kind: [lo, hi], "points": n}
    import yaml

    return path.strip(), [yaml.safe_load(v) for v in values.split(",") if v.strip()]


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    """The sweep named on the command line (a file, or --preset/--scenario with --grid)."""

    changes = run_size_changes(args)  # every point: --set (applied to the base first), then the run-size flags
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    if args.file:
        if args.preset or args.scenario or args.grid:
            raise ScenarioError([Problem("simlib sweep", "give a sweep file, or --preset/--scenario with --grid, not both")])
        spec = load_sweep(args.file)
        if not args.set and not changes and not metrics and not args.engine:
            return spec
        rebuilt = build_sweep(apply_set(spec.base, args.set), points=[dict(p) for p in spec.points], changes=changes,
                              metrics=metrics or spec.metrics, engine=args.engine or spec.engine, name=spec.name,
                              source=spec.source)
        return SweepSpec(base=rebuilt.base, points=rebuilt.points, axes=spec.axes, metrics=rebuilt.metrics,
                         engine=rebuilt.engine, name=spec.name, source=spec.source, scenarios=rebuilt.scenarios)
    if not (args.preset or args.scenario):
        raise ScenarioError([Problem("simlib sweep", "give a sweep file, or --preset NAME / --scenario FILE with --grid")])
    if not args.grid:
        raise ScenarioError([Problem("--grid", "give at least one axis, e.g. --grid workload.queries_per_day=1e3:1e6:7:log")])
    from simlib.scenario import load_preset, load_scenario

    base = apply_set(load_preset(args.preset) if args.preset else load_scenario(args.scenario), args.set)
    changes.pop("simulation.replications", None)  # given to build_sweep by name
    changes.pop("simulation.seed", None)
    axes = [_parse_axis(a) for a in args.grid]
    seen = [path for path, _ in axes]
    twice = sorted({p for p in seen if seen.count(p) > 1})
    if twice:  # a dict would silently keep the last one
        raise ScenarioError([Problem(f"--grid {twice[0]}", "given more than once; give each axis once")])
    grid = dict(axes)
    return build_sweep(base, grid=grid, changes=changes, replications=args.replications, seed=args.seed,
                       metrics=metrics, engine=args.engine or "auto", name=args.preset or Path(args.scenario).stem)


def run_command(args: argparse.Namespace) -> int:
    """``simlib sweep``: 0 done, 2 bad input, 130 interrupted (finished points written)."""
    spec = spec_from_args(args)
    if args.out:
        out = Path(args.out)
        if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise ScenarioError([Problem(str(out), f"unknown output format {out.suffix or '(none)'}: use .parquet or .csv")])
        check_destination(out, force=args.force)  # before the sweep, not after it
    show = not args.no_progress and sys.stderr.isatty()
    result = run_sweep(spec, backend=args.backend, workers=args.workers, scheduler=args.scheduler, progress=show)
    print(f"{spec.name}: {result.points_done:,} of {len(spec):,} points, {result.elapsed_s:.1f} s "
          f"({result.points_per_s():.1f} points/s, backend {result.backend})", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.out:
        path = result.write(args.out, force=args.force)
        print(f"wrote {len(result.table):,} rows to {path}", file=sys.stderr)
    else:
        wide = result.wide("monthly_cost_usd" if spec.metrics is None or "monthly_cost_usd" in spec.metrics
                           else spec.metrics[0])
        print(wide.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    return 0 if result.complete else 130
