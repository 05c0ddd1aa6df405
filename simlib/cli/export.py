"""``simlib export``: simulate a preset or scenario and write its charts (deck, PNG, SVG, PDF, HTML) via simlib.export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simlib.cli.options import add_output_arguments, add_scenario_arguments, scenario_from_args
from simlib.export import (
    DECK_FORMAT,
    FORMATS,
    IMAGE_FORMATS,
    SLIDE_HEIGHT_PX,
    SLIDE_WIDTH_PX,
    BrowserNotFoundError,
    ExportError,
    export,
    find_browser,
)
from simlib.progress import progress_bar


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """``simlib export``: simulate a preset or scenario file and export its charts."""
    p = subparsers.add_parser(
        "export",
        help="simulate and export the dashboard charts (PowerPoint deck, PNG, SVG, PDF or HTML)",
        description="Simulate a scenario and export its dashboard charts: a PowerPoint deck "
        "(--format pptx --out deck.pptx) or one file per chart (--format png|svg|pdf|html --out FOLDER). "
        "A --preset runs at the dashboard's horizon (a week or one retraining interval, at most 150,000 "
        "queries; --queries sets another size), so its deck is the dashboard's. "
        "Images need Chromium (Debian: apt-get install chromium, or set BROWSER_PATH); HTML does not.",
    )
    add_scenario_arguments(p)
    p.add_argument("--format", choices=FORMATS, default=DECK_FORMAT, help="output format (default: pptx)")
    p.add_argument("--out", required=True, metavar="PATH", help="the .pptx file for a deck, else the folder for the charts")
    p.add_argument("--scale", type=_scale, help=f"pixel scale of images (default 1: {SLIDE_WIDTH_PX}x{SLIDE_HEIGHT_PX} PNG; deck pictures 2)")
    add_output_arguments(p, force="replace files that already exist", progress=True)
    p.set_defaults(handler=run_command)


def preset_at_dashboard_horizon(args: argparse.Namespace) -> bool:
    """Whether the run takes the dashboard's horizon (simlib.horizon): a --preset whose run size
    is not set by --queries, --set simulation.queries=... or --trace (a scenario file keeps its own)."""
    sized = any(str(item).split("=", 1)[0].strip() == "simulation.queries" for item in (getattr(args, "set", None) or []))
    return bool(args.preset) and getattr(args, "queries", None) is None and not sized and not getattr(args, "trace", None)


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (0 < value <= 10):
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 10, got {value:g}")
    return value


def run_command(args: argparse.Namespace) -> int:
    """``simlib export``: 0 written, 2 bad input or no browser (checked before simulating)."""
    import simlib

    out = Path(args.out)
    if args.format == DECK_FORMAT and out.suffix.lower() != ".pptx":
        print(f"error: --format pptx writes one file; give --out a name ending in .pptx (got {args.out!r})", file=sys.stderr)
        return 2
    if args.format != DECK_FORMAT and out.suffix.lower() in {f".{f}" for f in FORMATS}:
        print(f"error: --format {args.format} writes one file per chart into a folder; "
              f"{args.out!r} looks like a file name", file=sys.stderr)
        return 2
    if args.format != DECK_FORMAT and out.exists() and not out.is_dir():
        print(f"error: --format {args.format} writes one file per chart; --out must be a folder, and {args.out!r} is a file", file=sys.stderr)
        return 2
    from simlib.export import destination_error

    problem = destination_error(out, args.format, force=args.force)
    if problem is not None:  # checked before simulating, not after
        print(f"error: {problem}", file=sys.stderr)
        return problem.exit_code
    if args.format in IMAGE_FORMATS or args.format == DECK_FORMAT:
        try:  # fail before simulating, not after
            find_browser()
        except BrowserNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
    scenario = scenario_from_args(args)
    if preset_at_dashboard_horizon(args):  # the deck of a preset is the dashboard's: its horizon, not the preset's 5,000 queries
        from simlib.horizon import horizon_queries

        scenario = scenario.with_changes({"simulation.queries": horizon_queries(scenario)})
    show = not args.no_progress and sys.stderr.isatty()
    result = simlib.run(scenario, progress=progress_bar(show), records="summary")
    try:
        paths = export(result, out, args.format, scale=args.scale, force=args.force)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.format == DECK_FORMAT:
        print(f"wrote {paths[0]}")
    else:
        print(f"wrote {len(paths)} {args.format} file(s) to {out}/")
        for p in paths:
            print(f"  {p.name}")
    return 0
