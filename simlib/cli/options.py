"""Flags declared once: the parser class, number types, and where a scenario comes from.

Every subcommand that takes a scenario declares it with :func:`add_scenario_arguments`
(--preset/--scenario, --set, and the run-size overrides) and reads it with
:func:`scenario_from_args`; output flags (--force, --json, --no-progress) come from
:func:`add_output_arguments`. Exit codes: 0 ok, 2 bad input (a located message, never a
traceback), 1 internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from simlib.errors import Problem, ScenarioError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 2 with the usage line (never a traceback)."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


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

SET_HELP = ("change one scenario field: PATH=VALUE, e.g. workload.queries_per_day=50000 (VALUE is read as YAML: "
            "a number, true/false, null, a word, or a list [a, b]); repeat for more fields")


def add_scenario_arguments(p: argparse.ArgumentParser, *, required: bool = True, trace: bool = True) -> None:
    """--preset/--scenario, --set and the run-size overrides (--queries, --replications, --seed, --strategies,
    and --trace unless ``trace`` is False)."""
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--preset", help="a shipped preset (see 'simlib presets')")
    src.add_argument("--scenario", metavar="FILE", help="a scenario file (YAML or JSON; may say 'base: PRESET')")
    add_set_argument(p)
    p.add_argument("--queries", type=positive_int, help="queries per replication (overrides simulation.queries)")
    p.add_argument("--replications", type=positive_int, help="replications (overrides simulation.replications)")
    p.add_argument("--seed", type=non_negative_int, help="root random seed (overrides simulation.seed)")
    p.add_argument("--strategies", help="comma-separated strategies to run (default: all six)")
    if trace:
        p.add_argument("--trace", metavar="NAME|FILE",
                       help="replay a trace: azure-code, azure-conv, mooncake-conversation, mooncake-synthetic, or a "
                            "CSV/JSONL file (docs/traces.md); every request in it unless --queries, at its mean rate")


def add_set_argument(p: argparse.ArgumentParser) -> None:
    """--set PATH=VALUE (repeatable), for a subcommand that reads a scenario some other way (validate)."""
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", dest="set", help=SET_HELP)


def add_output_arguments(p: argparse.ArgumentParser, *, force: str | None = None, json: str | None = None,
                         progress: bool = False) -> None:
    """--force, --json and --no-progress, each with its one wording; ``force``/``json`` give what they mean here."""
    if force is not None:
        p.add_argument("--force", action="store_true", help=force)
    if json is not None:
        p.add_argument("--json", action="store_true", help=json)
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def parse_set(items: list[str]) -> dict[str, Any]:
    """``--set PATH=VALUE`` options as {path: value}; each value read as YAML (bounded, errors located)."""
    from simlib.loading import parse_text

    changes: dict[str, Any] = {}
    for item in items:
        path, eq, text = item.partition("=")
        path = path.strip()
        if not eq or not path:
            raise ScenarioError([Problem(f"--set {item}", "expected PATH=VALUE, e.g. --set workload.queries_per_day=50000")])
        if path in changes:  # a dict would silently keep the last one
            raise ScenarioError([Problem(f"--set {path}", "given more than once; set each field once")])
        changes[path] = parse_text(text, f"--set {path}", as_json=False)
    return changes


def run_size_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The run-size flags given (--queries, --replications, --seed, --strategies) as scenario changes."""
    changes: dict[str, Any] = {}
    if getattr(args, "queries", None) is not None:
        changes["simulation.queries"] = args.queries
    if getattr(args, "replications", None) is not None:
        changes["simulation.replications"] = args.replications
    if getattr(args, "seed", None) is not None:
        changes["simulation.seed"] = args.seed
    if getattr(args, "strategies", None):
        changes["simulation.strategies"] = [s.strip() for s in args.strategies.split(",") if s.strip()]
    return changes


def apply_set(scenario, items: list[str]):
    """The scenario with the ``--set`` changes applied; a bad path or value is located at the
    option the user typed (``--set workload.queries_per_day: ...``), by every subcommand alike."""
    changes = parse_set(items)
    if not changes:
        return scenario
    try:
        return scenario.with_changes(changes)
    except ScenarioError as exc:
        raise ScenarioError([_at_set(p, list(changes)) for p in exc.problems]) from None


def _at_set(problem: Problem, paths: list[str]) -> Problem:
    """A scenario problem located at the ``--set PATH`` it comes from.

    The problem's own location is kept in the message when it is not the path typed
    (``--set workloads.queries_per_day: workloads: unknown field; did you mean 'workload'?``);
    a problem no single ``--set`` explains (two fields that disagree) is located at ``--set``.
    """
    loc = problem.location
    mine = [p for p in paths if loc == p or loc.startswith((p + ".", p + "[")) or p.startswith(loc + ".")]
    if len(mine) != 1:
        return Problem("--set", str(problem))
    return Problem(f"--set {mine[0]}", problem.message if loc == mine[0] else str(problem))


def scenario_from_args(args: argparse.Namespace, *, overrides: bool = True):
    """The scenario named by --preset/--scenario, with --set applied, then the run-size flags and --trace
    (``overrides`` False: --set only)."""
    from simlib.scenario import load_preset, load_scenario

    scenario = load_preset(args.preset) if args.preset else load_scenario(args.scenario)
    scenario = apply_set(scenario, getattr(args, "set", []))
    if not overrides:
        return scenario
    changes = run_size_changes(args)
    scenario = scenario.with_changes(changes) if changes else scenario
    if getattr(args, "trace", None):
        from simlib.traces import with_trace

        scenario = with_trace(scenario, args.trace, queries=getattr(args, "queries", None))
    return scenario
