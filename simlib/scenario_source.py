"""Where a scenario comes from on a command line: --preset/--scenario plus the run-size
overrides (--queries, --replications, --seed, --strategies, --trace), declared once here and
shared by ``simlib run``, ``simlib export`` and ``simlib sweep``.

A library module below the CLI (``simlib.cli``, ``simlib.export`` and ``simlib.sweep`` import
it; it imports only the scenario layer), so no library module has to import the CLI.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_scenario_arguments(p: argparse.ArgumentParser) -> None:
    """--preset/--scenario and the run-size overrides, shared by run, export and sweep."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="a shipped preset (see 'simlib presets')")
    src.add_argument("--scenario", metavar="FILE", help="a scenario file (YAML or JSON; may say 'base: PRESET')")
    p.add_argument("--queries", type=positive_int, help="queries per replication (overrides simulation.queries)")
    p.add_argument("--replications", type=positive_int, help="replications (overrides simulation.replications)")
    p.add_argument("--seed", type=non_negative_int, help="root random seed (overrides simulation.seed)")
    p.add_argument("--strategies", help="comma-separated strategies to run (default: all six)")
    p.add_argument("--trace", metavar="NAME|FILE",
                   help="replay a trace: azure-code, azure-conv, mooncake-conversation, mooncake-synthetic, or a "
                        "CSV/JSONL file (docs/traces.md); every request in it unless --queries, at its mean rate")


def _int_at_least(minimum: int):
    """An argparse type: a whole number >= minimum, with a message that says so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


positive_int = _int_at_least(1)
non_negative_int = _int_at_least(0)


def scenario_from_args(args: argparse.Namespace):
    """The scenario named by --preset/--scenario with the command-line overrides applied."""
    from simlib.scenario import load_preset, load_scenario

    scenario = load_preset(args.preset) if args.preset else load_scenario(args.scenario)
    changes: dict[str, Any] = {}
    if getattr(args, "queries", None) is not None:
        changes["simulation.queries"] = args.queries
    if getattr(args, "replications", None) is not None:
        changes["simulation.replications"] = args.replications
    if getattr(args, "seed", None) is not None:
        changes["simulation.seed"] = args.seed
    if getattr(args, "strategies", None):
        changes["simulation.strategies"] = [s.strip() for s in args.strategies.split(",") if s.strip()]
    scenario = scenario.with_changes(changes) if changes else scenario
    if getattr(args, "trace", None):
        from simlib.traces import with_trace

        scenario = with_trace(scenario, args.trace, queries=getattr(args, "queries", None))
    return scenario
