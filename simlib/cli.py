"""The ``simlib`` command line.

    simlib presets                                   every preset, with its one-line story
    simlib run --preset docs-assistant               a table: one row per strategy
    simlib run --scenario my.yaml --queries 200000 --replications 5 --seed 7 --json
    simlib run --preset docs-assistant --queries 1000000 --engine fast   the array backend, streaming summaries
    simlib sweep my_sweep.yaml --backend dask --out results.parquet    a sweep (see simlib.sweep)
    simlib run --preset docs-assistant --trace azure-conv   replay a shipped trace (or --trace my.csv)
    simlib validate my.yaml                          check a scenario file, explain every problem
    simlib prices anthropic/claude-sonnet-4-5        the prices the simulator will use
    simlib prices --search sonnet                    catalog models matching a word
    simlib fit calls.otlp.json --out my.yaml        a scenario fitted to your call log (docs/fit.md)
    simlib capacity --preset code-apply              the rate-limit tier or GPUs the peak needs (simlib.capacity)

Exit codes: 0 ok, 2 bad input (with a located message, never a traceback), 1 internal error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Sequence

from simlib.errors import ScenarioError
from simlib.progress import progress_bar as _progress_bar
from simlib.scenario_source import add_scenario_arguments, scenario_from_args

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2

TABLE_COLUMNS = [
    ("cost_per_query_usd", "cost/query $", "{:.5f}"),
    ("monthly_cost_usd", "monthly $", "{:,.0f}"),
    ("latency_p50_s", "p50 s", "{:.2f}"),
    ("latency_p95_s", "p95 s", "{:.2f}"),
    ("latency_p99_s", "p99 s", "{:.2f}"),
    ("ttft_p50_s", "TTFT p50 s", "{:.2f}"),
    ("fresh_share", "fresh", "{:.1%}"),
    ("cache_hit_rate", "cache hits", "{:.1%}"),
    ("cache_hit_token_share", "cached tokens", "{:.1%}"),
    ("quality_proxy", "quality", "{:.2f}"),
    ("cost_per_correct_answer_usd", "$/correct", "{:.5f}"),
    ("citable_share", "citable", "{:.0%}"),
    ("truncated_share", "truncated", "{:.0%}"),
    ("queries_rejected", "rejected", "{:,.0f}"),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with usage, as argparse does, but never a traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    import simlib

    parser = _Parser(prog="simlib", description="Cost, latency and freshness of LLM knowledge strategies.")
    parser.add_argument("--version", action="version", version=f"simlib {simlib.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("presets", help="list the shipped presets with their stories")

    run = sub.add_parser("run", help="simulate a scenario and print one row per strategy")
    add_scenario_arguments(run)
    run.add_argument("--json", action="store_true", help="print one JSON object (see docs/json.md)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    run.add_argument("--engine", choices=("auto", "fast", "simpy"), default="auto",
                     help="auto (default): the array backend where it follows the simpy engine, else simpy; "
                          "fast: the array backend (falls back to simpy, with a note, where it cannot follow); "
                          "simpy: the discrete-event engine of record")
    run.add_argument("--records", choices=("auto", "full", "summary"), default="auto",
                     help="array backend: keep every per-query record (full), or stream summary statistics in "
                          "less memory (summary: no per-query records kept, but the draws of a replication, ~80 B/query, still are; benchmarks/bench_summary_memory.py); auto: full up to 256 MiB of records")
    run.add_argument("--no-flips", action="store_true",
                     help="skip the search for the points where the verdict changes (a few seconds of extra runs)")

    val = sub.add_parser("validate", help="check a scenario file and explain every problem")
    val.add_argument("file", help="scenario file (YAML or JSON)")

    pr = sub.add_parser("prices", help="show the prices the simulator uses for a catalog model")
    pr.add_argument("model", nargs="?", help="catalog name, e.g. anthropic/claude-sonnet-4-5")
    pr.add_argument("--search", metavar="TEXT", help="list catalog models whose name contains TEXT")

    for extension in _extensions():
        extension.add_parser(sub)
    return parser


def _extensions() -> list[Any]:
    """Subcommands defined beside their feature (each module has add_parser(sub) and handles(args))."""
    import importlib

    mods = []
    for name in ("simlib.export", "simlib.sweep", "simlib.fit", "simlib.capacity"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(mod, "add_parser"):
            mods.append(mod)
    return mods


def _fmt(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return pattern.format(value)


def format_table(result, verdict=None) -> str:
    """The run table: the verdict first, then one row per strategy, infeasible ones with their reason."""
    summary = result.summary()
    if verdict is None:
        from simlib.verdict import verdict as find_verdict

        verdict = find_verdict(result)
    headers = ["strategy"] + [h for _, h, _ in TABLE_COLUMNS]
    rows = []
    for name, entry in summary.items():
        if not entry["feasible"]:
            rows.append([name, "infeasible"] + [""] * (len(TABLE_COLUMNS) - 1))
            continue
        rows.append([name] + [_fmt(entry[m]["mean"], f) for m, _, f in TABLE_COLUMNS])
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = lambda cells: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    s = result.scenario
    mark = {verdict.winner: "*"} if verdict.winner else {}
    mark.update({t: "=" for t in verdict.tied_with})
    for r in rows:
        r[0] = f"{r[0]} {mark[r[0]]}" if r[0] in mark else r[0]
        if summary[r[0].split()[0]]["saturated"]:
            r[0] += " (saturated)"
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    out = [
        f"verdict: {verdict.sentence}",
    ]
    if verdict.flip_ranges:
        out.append(f"what would flip it: {verdict.flips_sentence()}")
    if verdict.break_even:
        out.append(f"break-even (fixed vs per-query cost): {verdict.break_even_sentence()}")
    out += [
        "",
        f"{s.name}: {s.story}" if s.story else s.name,
        f"{s.simulation.queries:,} queries x {len(result.replications)} replication(s), seed {s.simulation.seed}, "
        f"{s.workload.queries_per_day:,.0f} queries/day, engine {result.engine}"
        + (f", trace {s.workload.trace} (time x{s.workload.trace_time_scale:g})" if s.workload.arrival_process == "trace" else ""),
        f"prices: {s.prices.source} (as of {s.prices.as_of}); fine-tuning: {s.fine_tuning.source} (as of {s.fine_tuning.as_of})",
        "",
        line(headers),
        line(["-" * w for w in widths]),
    ]
    out += [line(r) for r in rows]
    out += session_lines(result.scenario, summary)
    for note in result.notes:
        out.append(f"note: {note}")
    for name, entry in summary.items():
        rejected = (entry.get("queries_rejected") or {}).get("mean") if entry["feasible"] else None
        if rejected:
            out.append(f"note: {name}: {rejected:,.0f} request(s) per replication rejected (too long for the context "
                       "window); they cost $0 and have no latency, so per-query figures cover the accepted ones only")
    out.append("* = the verdict, = = tied with it on monthly cost (95% intervals overlap); "
               "'-' = does not apply (fresh share of prompt_only, cache hits without a cache). Metrics: docs/metrics.md")
    return "\n".join(out)


def session_lines(scenario, summary: dict[str, Any]) -> list[str]:
    """Per-session figures below the per-turn table (conversations and agent tasks; docs/metrics.md)."""
    kind = scenario.sessions.kind
    if kind == "none":
        return []
    unit = "task" if kind == "agent_task" else "session"
    turns = "calls" if kind == "agent_task" else "turns"
    out = ["", f"per {unit} ({kind.replace('_', ' ')}s; the table above is per {turns[:-1]}):"]
    for name, entry in summary.items():
        if not entry["feasible"]:
            continue
        m = {k: (entry.get(k) or {}).get("mean") for k in (
            "turns_per_session_mean", "cost_per_session_usd", "tokens_per_session_mean", "session_latency_mean_s",
            "history_cache_read_share")}
        out.append(
            f"  {name}: {_fmt(m['turns_per_session_mean'], '{:.1f}')} {turns}, {_fmt(m['cost_per_session_usd'], '${:.4f}')}, "
            f"{_fmt(m['tokens_per_session_mean'], '{:,.0f}')} tokens, {_fmt(m['session_latency_mean_s'], '{:.1f}')} s of calls, "
            f"history read from cache {_fmt(m['history_cache_read_share'], '{:.0%}')}")
    return out


def _cmd_presets(args: argparse.Namespace) -> int:
    from simlib.presets import list_presets

    presets = list_presets()
    width = max(len(n) for n, _ in presets)
    for name, story in presets:
        print(f"{name.ljust(width)}  {story}")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    import simlib

    scenario = scenario_from_args(args)
    show = not args.no_progress and sys.stderr.isatty()
    result = simlib.run(scenario, progress=_progress_bar(show), engine=args.engine, records=args.records)
    from simlib.verdict import verdict as find_verdict

    found = find_verdict(result, flips=not args.no_flips)
    if args.json:
        print(json.dumps(result.to_json_dict(verdict=found), indent=2, allow_nan=False))
    else:
        print(format_table(result, verdict=found))
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from simlib.engine.run import feasibility
    from simlib.scenario import load_scenario

    scenario = load_scenario(args.file)
    print(f"{args.file}: valid scenario '{scenario.name}'")
    for name, reason in feasibility(scenario).items():
        if reason:
            print(f"  note: {name} is infeasible: {reason}")
    return EXIT_OK


def _cmd_prices(args: argparse.Namespace) -> int:
    from simlib import prices

    if args.search:
        matches = prices.search_models(args.search)
        if not matches:
            print(f"no catalog model matches {args.search!r}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print("\n".join(matches))
        return EXIT_OK
    if not args.model:
        print("simlib prices: give a model (e.g. anthropic/claude-sonnet-4-5) or --search TEXT", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        print(prices.describe_model_prices(args.model))
    except prices.UnknownModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


COMMANDS = {"presets": _cmd_presets, "run": _cmd_run, "validate": _cmd_validate, "prices": _cmd_prices}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler = COMMANDS.get(args.command)
        if handler is None:
            handler = next(m.run_command for m in _extensions() if m.handles(args.command))
        return handler(args)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
