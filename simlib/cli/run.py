"""``simlib presets``, ``run``, ``validate`` and ``prices``: the commands that show a scenario's numbers."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from simlib.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_output_arguments,
    add_scenario_arguments,
    add_set_argument,
    apply_set,
    scenario_from_args,
)
from simlib.progress import progress_bar

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
# shown when the scenario sets rate limits (docs/capacity.md)
RATE_LIMIT_COLUMNS = [
    ("rate_limited_share", "429'd", "{:.0%}"),
    ("retries_mean", "retries", "{:.2f}"),
    ("failed_share", "failed", "{:.0%}"),
]


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
    columns = TABLE_COLUMNS + (RATE_LIMIT_COLUMNS if result.scenario.rate_limits.enabled else [])
    headers = ["strategy"] + [h for _, h, _ in columns]
    rows = []
    for name, entry in summary.items():
        if not entry["feasible"]:
            rows.append([name, "infeasible"] + [""] * (len(columns) - 1))
            continue
        rows.append([name] + [_fmt(entry[m]["mean"], f) for m, _, f in columns])
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
    from simlib.results import capacity_status

    out += [f"capacity: {c}" for c in capacity_status(result)]
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
    result = simlib.run(scenario, progress=progress_bar(show), engine=args.engine, records=args.records)
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

    scenario = apply_set(load_scenario(args.file), args.set)
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


def add_parsers(sub: Any) -> None:
    """The four subcommands, each bound to its handler."""
    p = sub.add_parser("presets", help="list the shipped presets with their stories")
    p.set_defaults(handler=_cmd_presets)

    run = sub.add_parser("run", help="simulate a scenario and print one row per strategy")
    add_scenario_arguments(run)
    add_output_arguments(run, json="print one JSON object (see docs/json.md)", progress=True)
    run.add_argument("--engine", choices=("auto", "fast", "simpy"), default="auto",
                     help="auto (default): the array backend where it follows the simpy engine, else simpy; "
                          "fast: the array backend (falls back to simpy, with a note, where it cannot follow); "
                          "simpy: the discrete-event engine of record")
    run.add_argument("--records", choices=("auto", "full", "summary"), default="auto",
                     help="array backend: keep every per-query record (full), or stream summary statistics in "
                          "memory that does not grow with the run (summary: queries drawn and folded a chunk at a time, a 100k-record sample kept per strategy; benchmarks/bench_summary_memory.py); auto: full up to 256 MiB of records")
    run.add_argument("--no-flips", action="store_true",
                     help="skip the search for the points where the verdict changes (a few seconds of extra runs)")
    run.set_defaults(handler=_cmd_run)

    val = sub.add_parser("validate", help="check a scenario file and explain every problem")
    val.add_argument("file", help="scenario file (YAML or JSON)")
    add_set_argument(val)
    val.set_defaults(handler=_cmd_validate)

    pr = sub.add_parser("prices", help="show the prices the simulator uses for a catalog model")
    pr.add_argument("model", nargs="?", help="catalog name, e.g. anthropic/claude-sonnet-4-5")
    pr.add_argument("--search", metavar="TEXT", help="list catalog models whose name contains TEXT")
    pr.set_defaults(handler=_cmd_prices)
