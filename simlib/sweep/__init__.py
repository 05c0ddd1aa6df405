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

One module per job: ``paths`` (what can vary), ``spec`` (the points, validated and built),
``evaluate`` (one point), ``result`` (the table and its file), ``pools`` (in process,
processes, Dask). ``simlib sweep`` is in ``simlib.cli.sweep``.
"""

from simlib.sweep.evaluate import TABLE_COLUMNS, evaluate_point
from simlib.sweep.paths import base_value, check_path, field_paths, is_int_field
from simlib.sweep.pools import BACKENDS, Backend, run_sweep, sweep
from simlib.sweep.result import SweepResult
from simlib.sweep.spec import ENGINES, SweepSpec, build_sweep, load_sweep

__all__ = [
    "BACKENDS", "Backend", "ENGINES", "TABLE_COLUMNS", "SweepResult", "SweepSpec", "base_value", "build_sweep",
    "check_path", "evaluate_point", "field_paths", "is_int_field", "load_sweep", "run_sweep", "sweep",
]
