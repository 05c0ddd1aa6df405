"""The ``simlib`` command line: a thin layer of subcommands over the library.

    simlib presets                                   every preset, with its one-line story
    simlib run --preset docs-assistant               a table: one row per strategy
    simlib run --scenario my.yaml --queries 200000 --replications 5 --seed 7 --json
    simlib run --preset docs-assistant --set workload.queries_per_day=50000 --set retrieval.top_k=8
    simlib run --preset docs-assistant --queries 1000000 --engine fast   the array backend, streaming summaries
    simlib sweep my_sweep.yaml --backend dask --out results.parquet    a sweep (see simlib.sweep)
    simlib run --preset docs-assistant --trace azure-conv   replay a shipped trace (or --trace my.csv)
    simlib validate my.yaml                          check a scenario file, explain every problem
    simlib prices anthropic/claude-sonnet-4-5        the prices the simulator will use
    simlib prices --search sonnet                    catalog models matching a word
    simlib fit calls.otlp.json --out my.yaml        a scenario fitted to your call log (docs/fit.md)
    simlib capacity --preset code-apply              the rate-limit tier or GPUs the peak needs (simlib.capacity)

One module per group of subcommands (``run``: presets/run/validate/prices; ``export``,
``sweep``, ``fit``, ``capacity``), each binding its handler with ``set_defaults``; the
flags they share are declared once in ``options``. Nothing below the CLI imports it
(tests/test_layers.py). Exit codes: 0 ok, 2 bad input (with a located message, never a
traceback), 1 internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from simlib.cli import capacity, export, fit, run, sweep
from simlib.cli.options import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, Parser
from simlib.cli.run import TABLE_COLUMNS, format_table
from simlib.errors import ScenarioError

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_OK", "TABLE_COLUMNS", "build_parser", "format_table", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    from simlib import __version__

    parser = Parser(prog="simlib", description="Cost, latency and freshness of LLM knowledge strategies.")
    parser.add_argument("--version", action="version", version=f"simlib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    run.add_parsers(sub)
    for module in (export, sweep, fit, capacity):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a ScenarioError is printed (located) and exits 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
