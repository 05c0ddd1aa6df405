"""``simlib fit``: a scenario fitted to a call log (OTLP GenAI spans or a CSV/JSONL trace), via simlib.fit."""

from __future__ import annotations

import json
from typing import Any

from simlib.cli.options import add_output_arguments
from simlib.fit import calibrate, fit_scenario, format_report, write_scenario
from simlib.writing import check_destination


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fit", help="fit a scenario to your call log (OTLP JSON GenAI spans, or a CSV/JSONL trace)")
    p.add_argument("file", help="OTLP JSON file (resourceSpans...) or a CSV / JSONL call log (docs/fit.md)")
    p.add_argument("--out", required=True, metavar="FILE", help="the scenario YAML to write")
    add_output_arguments(p, json='print {"measured", "simulated", "scenario"} as one JSON object',
                         force="overwrite --out if it exists")
    p.set_defaults(handler=run_command)


def run_command(args: Any) -> int:
    """``simlib fit``: the destination is checked before any work."""
    check_destination(args.out, force=args.force)
    report = calibrate(fit_scenario(args.file))
    out = write_scenario(report["scenario"], args.out, force=args.force)
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False, default=float))
    else:
        print(format_report(report, str(out)))
    return 0
