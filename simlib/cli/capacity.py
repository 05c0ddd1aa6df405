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
    p.add_argument("--p95-target-s", type=float, default=10.0, help="p95 latency target for sizing dedicated replicas")
    p.add_argument("--speculative", action="store_true",
                   help="dedicated replicas use speculative decoding (acceptance 0.95, draft 16, cost ratio 0.01)")
    p.add_argument("--gpu", default="nvidia-h100-sxm", help="GPU type from data/prices/gpus.csv")
    p.add_argument("--gpus-per-replica", type=int, default=4)
    add_output_arguments(p, json="print the report as one JSON object")
    p.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    if not (args.p95_target_s > 0) or args.p95_target_s == float("inf"):
        raise ScenarioError([Problem("--p95-target-s", f"must be a finite number > 0 (got {args.p95_target_s})")])
    if args.gpus_per_replica < 1:
        raise ScenarioError([Problem("--gpus-per-replica", "must be at least 1")])
    try:
        gpu_row(args.gpu)
    except UnknownModelError as exc:
        raise ScenarioError([Problem("--gpu", str(exc))]) from None
    scenario = scenario_from_args(args)
    report = capacity_report(scenario, p95_target_s=args.p95_target_s, speculative=args.speculative,
                             gpu=args.gpu, gpus_per_replica=args.gpus_per_replica)
    print(json.dumps(report, indent=2) if args.json else format_report(report, args.p95_target_s))
    return 0
