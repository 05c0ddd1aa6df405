"""``simlib capacity``: which rate-limit tier or how many GPUs the peak needs, and the bill (simlib.capacity)."""

from __future__ import annotations

import argparse
import json

from simlib.capacity import capacity_report, format_report
from simlib.cli.options import add_output_arguments, add_scenario_arguments, scenario_from_args
from simlib.errors import Problem, ScenarioError
from simlib.prices import UnknownModelError
from simlib.prices import gpu as gpu_row


def add_parser(subparsers) -> None:
    """``simlib capacity``: the rate-limit tier or dedicated GPUs the scenario's peak needs."""
    p = subparsers.add_parser("capacity", help="which rate-limit tier or how many GPUs the peak needs, and the bill")
    add_scenario_arguments(p)
    # each flag sets a serving field before sizing (unset: the scenario's own), as a run would read it
    p.add_argument("--p95-target-s", type=float, default=None,
                   help="p95 latency target for sizing dedicated replicas (serving.p95_target_s; default: the scenario's, 10 s unless set)")
    p.add_argument("--speculative", action="store_true", default=None,
                   help="dedicated replicas use speculative decoding (serving.speculative) with the scenario's "
                        "serving.acceptance_share, draft_tokens and draft_cost_multiplier")
    p.add_argument("--gpu", default=None, help="GPU type from data/prices/gpus.csv (serving.gpu)")
    p.add_argument("--gpus-per-replica", type=int, default=None, help="GPUs per replica (serving.gpus_per_replica_count)")
    add_output_arguments(p, json="print the report as one JSON object")
    p.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    if args.p95_target_s is not None and (not (args.p95_target_s > 0) or args.p95_target_s == float("inf")):
        raise ScenarioError([Problem("--p95-target-s", f"must be a finite number > 0 (got {args.p95_target_s})")])
    if args.gpus_per_replica is not None and args.gpus_per_replica < 1:
        raise ScenarioError([Problem("--gpus-per-replica", "must be at least 1")])
    if args.gpu is not None:
        try:
            gpu_row(args.gpu)
        except UnknownModelError as exc:
            raise ScenarioError([Problem("--gpu", str(exc))]) from None
    scenario = scenario_from_args(args)
    report = capacity_report(scenario, p95_target_s=args.p95_target_s, speculative=args.speculative,
                             gpu=args.gpu, gpus_per_replica=args.gpus_per_replica)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
