"""Every case of issue 13, one test id each, through the command line as a hostile user types it.

Each case states the outcome the issue requires: exit 2 with a message naming the field or
file ("error"), a note beside the numbers ("note"), or a correct result ("ok", checked by
the case's own function). ``simlib.cli.main`` runs in-process (an exception escaping it is
the traceback the issue forbids), on a few hundred queries, within a time limit.
/work/wt/robust-cases.md (the issue's closing note) is the table of these cases.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from simlib.cli import main

LIMIT_S = 30  # no case may take longer: the hangs ran for minutes


@dataclass
class Case:
    id: str
    argv: list[str]  # "{tmp}" is the case's folder
    expect: str  # "error" (exit 2, `match` in stderr), "note" (exit 0, `match` in the output), "ok"
    match: str = ""
    files: dict[str, str] = field(default_factory=dict)  # name -> text, written into {tmp}
    check: Callable[[str, str, Path], None] | None = None  # ok: (stdout, stderr, tmp) -> asserts
    before_run: bool = True  # error: refused before simlib.run is called (else inside it, before simulating)


def _run(argv: list[str], capsys) -> tuple[int, str, str, float]:
    start = time.monotonic()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err, time.monotonic() - start


def _yaml(text: str) -> dict[str, str]:
    return {"s.yaml": "base: docs-assistant\n" + text}


def _run_of(queries: int, *extra: str) -> list[str]:
    return ["run", "--scenario", "{tmp}/s.yaml", "--queries", str(queries), "--no-flips", "--no-progress", *extra]


RUN = _run_of(200)
RUN_JSON = _run_of(200, "--json")


def _strict_json(out: str) -> dict:
    """The --json output parsed strictly: every metric finite or null (json.loads alone accepts NaN)."""
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in --json"))
    for entry in data["strategies"].values():
        for metric, v in entry.items():
            if isinstance(v, dict) and "mean" in v:
                assert v["mean"] is None or math.isfinite(v["mean"]), metric
    return data


def _ttl_inf_survives_json(out: str, err: str, tmp: Path) -> None:
    data = _strict_json(out)
    assert data["scenario"]["prompt_cache"]["ttl_s"] == "inf"  # the documented value (docs/json.md)
    assert data["strategies"]["prompt_cache"]["feasible"] or data["strategies"]["rag_prompt_cache"]["feasible"]


# --- tracebacks (exit 1) instead of a located error ----------------------------------------

# every price, speed, queries_per_day and training_tokens at inf or 1e308 (the 45 cases)
PRICES_SPEEDS = [
    "prices.input_usd_per_mtok", "prices.output_usd_per_mtok", "prices.long_context_input_usd_per_mtok",
    "prices.long_context_output_usd_per_mtok", "prices.embedding_usd_per_mtok", "prices.vector_read_usd_per_query",
    "prices.vector_storage_usd_per_gb_month", "prices.vector_store_minimum_usd_per_month",
    "prices.engineer_usd_per_hour", "prices.rerank_usd_per_query",
    "fine_tuning.training_usd_per_mtok", "fine_tuning.input_usd_per_mtok", "fine_tuning.output_usd_per_mtok",
    "fine_tuning.hosting_usd_per_hour", "fine_tuning.adapter_storage_usd_per_month",
    "fine_tuning.adapter_server_usd_per_hour",
    "model.prefill_tokens_per_s", "model.cached_prefill_tokens_per_s", "model.decode_tokens_per_s",
    "fine_tuning.prefill_tokens_per_s", "fine_tuning.decode_tokens_per_s",
    "workload.queries_per_day", "fine_tuning.training_tokens",
]
# inf or 1e308 in a duration, rate or period that sizes the run (MemoryError at 7.5 GB before)
SIZING = [
    "knowledge.index_lag_s", "knowledge.changes_per_day", "knowledge.reindex_duration_s",
    "retrieval.embed_latency_s", "retrieval.search_latency_s", "retrieval.rerank_latency_s",
    "fine_tuning.training_duration_s", "fine_tuning.deploy_delay_s", "workload.trace_time_scale",
    "prompt_cache.rebuild_interval_s",
]


def _field_cases(paths: list[str], prefix: str) -> list[Case]:
    cases = []
    for path in paths:
        group, name = path.split(".")
        for label, value in (("inf", ".inf"), ("1e308", "1.0e+308")):
            cases.append(Case(f"{prefix}-{path}-{label}", RUN_JSON, "error", path,
                              _yaml(f"{group}:\n  {name}: {value}\n")))
    return cases


def _alias_bomb(target: str) -> str:
    lines = ["x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n" + target + "\n"


TRACEBACKS = [
    Case("ttl-inf-json", RUN_JSON + ["--strategies", "prompt_cache,rag_prompt_cache"], "ok",
         files=_yaml("prompt_cache: {ttl_s: .inf}\n"), check=_ttl_inf_survives_json),
    *_field_cases(PRICES_SPEEDS, "inf-json"),
    Case("ttl-5m-on-catalog-base", RUN, "error", "prompt_cache.ttl_s", _yaml("prompt_cache: {ttl_s: 5m}\n")),
    Case("catalog-date-not-a-date", RUN, "error", "prices.catalog_date",
         _yaml("prices: {catalog_date: 2026-13-01x}\n")),
    Case("query-tokens-inf-validate", ["validate", "{tmp}/s.yaml"], "error", "workload.query_tokens_mean",
         _yaml("workload: {query_tokens_mean: .inf}\n")),
    Case("query-tokens-inf-run", RUN, "error", "workload.query_tokens_mean",
         _yaml("workload: {query_tokens_mean: .inf}\n")),
    Case("facts-count-1e12", RUN, "error", "knowledge.facts_count", _yaml("knowledge: {facts_count: 1000000000000}\n")),
    *[Case(f"{g}-concurrency-1e12", RUN, "error", f"{g}.concurrency_limit",
           _yaml(f"{g}: {{concurrency_limit: 1000000000000}}\n")) for g in ("model", "retrieval", "fine_tuning")],
    *_field_cases(SIZING, "sizing"),
    Case("queries-per-day-0.001", RUN, "error", "workload.queries_per_day",
         _yaml("workload: {queries_per_day: 0.001}\n")),
    Case("reindex-interval-0.001", _run_of(5000), "error",
         "knowledge.reindex_interval_s", _yaml("knowledge: {index_refresh: batch, reindex_interval_s: 0.001}\n")),
    Case("trace-timestamp-1e15", ["run", "--preset", "docs-assistant", "--trace", "{tmp}/t.csv", "--no-flips"],
         "error", "workload.trace", {"t.csv": "timestamp_s,input_tokens,output_tokens\n0,100,50\n1e15,100,50\n"}),
    Case("trace-timestamp-1e15-looped", RUN, "error", "workload.trace",
         {**_yaml("workload: {arrival_process: trace, trace: '{tmp}/t.csv', trace_loop: true}\n"),
          "t.csv": "timestamp_s,input_tokens,output_tokens\n0,100,50\n1e15,100,50\n"}),
    Case("trace-tokens-1e20", ["run", "--preset", "docs-assistant", "--trace", "{tmp}/t.csv", "--no-flips"],
         "error", "t.csv:3: input_tokens",
         {"t.csv": "timestamp_s,input_tokens,output_tokens\n0,100,50\n1,100000000000000000000,50\n"}),
    Case("alias-bomb-story", RUN, "error", "expands to more than", {"s.yaml": _alias_bomb("story: *a8")}),
    Case("alias-bomb-hourly-weights", RUN, "error", "expands to more than",
         {"s.yaml": _alias_bomb("workload: {hourly_weights: *a8}")}),
    Case("nesting-50000-levels", RUN, "error", "nested", {"s.yaml": "story: " + "[" * 50_000 + "]" * 50_000}),
    Case("integer-5000-digits", RUN, "error", "s.yaml", _yaml("simulation: {seed: " + "9" * 5000 + "}\n")),
    Case("validate-dev-zero", ["validate", "/dev/zero"], "error", "device"),
    Case("validate-proc-1-environ", ["validate", "/proc/1/environ"], "error", "/proc/1/environ"),
    Case("run-50M-full-records", ["run", "--preset", "docs-assistant", "--queries", "50000000", "--records", "full"],
         "error", "SIMLIB_MEMORY_LIMIT_GIB", before_run=False),
    Case("run-simpy-5M", ["run", "--preset", "docs-assistant", "--queries", "5000000", "--engine", "simpy"],
         "error", "SIMLIB_MEMORY_LIMIT_GIB", before_run=False),
]


# --- silent wrong numbers ------------------------------------------------------------------

def _weights(value: str) -> dict[str, str]:
    return _yaml("workload: {hourly_weights: [" + ", ".join([value] * 24) + "]}\n")


def _rejected_in_table(out: str, err: str, tmp: Path) -> None:
    header = next(line for line in out.splitlines() if line.startswith("strategy"))
    assert "rejected" in header
    assert "request(s) per replication rejected" in out


SILENT = [
    Case("hourly-weights-nan", RUN, "error", "workload.hourly_weights",
         _yaml("workload: {hourly_weights: [.nan" + ", 1" * 23 + "]}\n")),
    Case("hourly-weights-all-1e308", RUN, "error", "workload.hourly_weights", _weights("1.0e+308")),
    Case("trace-one-row", ["run", "--preset", "docs-assistant", "--trace", "{tmp}/t.csv", "--no-flips"], "note",
         "no measurable rate", {"t.csv": "timestamp_s,input_tokens,output_tokens\n0,100,50\n"}),
    Case("trace-equal-timestamps", ["run", "--preset", "docs-assistant", "--trace", "{tmp}/t.csv", "--no-flips"],
         "note", "no measurable rate", {"t.csv": "timestamp_s,input_tokens,output_tokens\n5,100,50\n5,90,40\n5,80,30\n"}),
    Case("rejected-request-in-table", RUN + ["--strategies", "rag,prompt_only"], "ok",
         files=_yaml("workload: {query_tokens_mean: 5000000, token_length_cv: 0}\n"), check=_rejected_in_table),
    Case("retrieval-concurrency-1-slow-embeddings", _run_of(2000, "--strategies", "rag"), "note",
         "retrieval stage is saturated", _yaml("retrieval: {concurrency_limit: 1, embed_latency_s: 5.0}\n")),
    Case("model-concurrency-2", _run_of(2000, "--strategies", "rag"), "note",
         "model stage is saturated", _yaml("model: {concurrency_limit: 2}\n")),
    Case("sweep-results-carry-notes", ["sweep", "--scenario", "{tmp}/s.yaml", "--grid", "simulation.seed=0,1",
                                       "--queries", "2000", "--strategies", "rag", "--no-progress"],
         "note", "saturated at the busiest hour (peak-hour utilisation", _yaml("model: {concurrency_limit: 2}\n")),
    Case("one-query", _run_of(1), "note", "too few queries", _yaml("")),
    Case("warmup-0.99", RUN, "note", "too few queries", _yaml("simulation: {warmup_share: 0.99}\n")),
    Case("top-k-100-on-one-chunk", RUN, "note", "retrieval.top_k (100)",
         _yaml("knowledge: {facts_count: 1, chunks_per_fact: 1}\nretrieval: {top_k: 100}\n")),
    Case("queries-per-day-true", RUN, "error", "workload.queries_per_day", _yaml("workload: {queries_per_day: true}\n")),
    Case("duplicate-key-yaml", RUN, "error", "duplicate key",
         _yaml("workload: {queries_per_day: 10}\nworkload: {queries_per_day: 20}\n")),
    Case("duplicate-key-json", ["run", "--scenario", "{tmp}/s.json", "--queries", "100", "--no-flips"], "error",
         "duplicate key", {"s.json": '{"workload": {"queries_per_day": 10, "queries_per_day": 20}}'}),
    Case("duplicate-key-sweep-grid-file", ["sweep", "{tmp}/sw.yaml", "--queries", "50", "--no-progress"], "error",
         "duplicate key", {"sw.yaml": "base: docs-assistant\ngrid:\n  workload.queries_per_day: [1000, 2000]\n"
                                      "  workload.queries_per_day: [3000]\n"}),
    Case("duplicate-axis-sweep-grid-cli", ["sweep", "--preset", "docs-assistant", "--grid", "simulation.seed=0",
                                           "--grid", "simulation.seed=1"], "error", "more than once"),
    Case("base-null", RUN, "error", "base", {"s.yaml": "base: null\n"}),
]


def test_library_misuse_is_an_error_not_an_empty_result():
    """records("foo"), summary_wide(["foo"]) and run(records="none") (the issue's library cases)."""
    import simlib
    from simlib.scenario import build_scenario

    s = build_scenario({"simulation": {"queries": 100, "strategies": ["rag"]}})
    result = simlib.run(s)
    with pytest.raises(ValueError, match="no strategy 'foo'"):
        result.records("foo")
    with pytest.raises(ValueError, match="unknown metric 'foo'"):
        result.summary_wide(["foo"])
    with pytest.raises(ValueError, match="records must be"):
        simlib.run(s, records="none")


# --- hang and data loss --------------------------------------------------------------------

SWEEP = ["sweep", "--preset", "docs-assistant", "--grid", "simulation.seed=0,1", "--queries", "50",
         "--strategies", "rag", "--no-progress"]


def _kept(out: str, err: str, tmp: Path) -> None:
    assert (tmp / "keep.csv").read_text() == "precious"


def _replaced(out: str, err: str, tmp: Path) -> None:
    import pandas as pd

    table = pd.read_csv(tmp / "keep.csv")
    assert set(table["point"]) == {0, 1} and not table.empty
    assert not [p.name for p in tmp.iterdir() if p.name.endswith(".tmp")]


HANGS = [
    Case("sweep-out-exists", SWEEP + ["--out", "{tmp}/keep.csv"], "error", "already exists",
         {"keep.csv": "precious"}),
    Case("sweep-out-exists-force", SWEEP + ["--out", "{tmp}/keep.csv", "--force"], "ok", files={"keep.csv": "precious"},
         check=_replaced),
    Case("sweep-out-missing-folder", SWEEP + ["--out", "{tmp}/missing/r.csv"], "error", "does not exist"),
    Case("export-deck-missing-folder", ["export", "--preset", "docs-assistant", "--out", "{tmp}/missing/deck.pptx"],
         "error", "does not exist"),
    Case("export-charts-missing-parent", ["export", "--preset", "docs-assistant", "--format", "html",
                                          "--out", "{tmp}/missing/charts"], "error", "does not exist"),
    Case("export-deck-exists", ["export", "--preset", "docs-assistant", "--out", "{tmp}/keep.pptx"], "error",
         "already exists", {"keep.pptx": "precious"}),
]


CASES = TRACEBACKS + SILENT + HANGS


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, tmp_path, capsys, monkeypatch):
    import simlib
    import simlib.sweep

    for name, text in case.files.items():
        (tmp_path / name).write_text(text.replace("{tmp}", str(tmp_path)))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case.argv]
    if case.expect == "error" and case.before_run:  # refused before any work: nothing may be simulated
        monkeypatch.setattr(simlib, "run", lambda *a, **k: pytest.fail("simulated before refusing"))
        monkeypatch.setattr(simlib.sweep, "run_sweep", lambda *a, **k: pytest.fail("swept before refusing"))
    code, out, err, elapsed = _run(argv, capsys)
    assert elapsed < LIMIT_S, f"{case.id} took {elapsed:.0f} s"
    if case.expect == "error":
        assert code == 2, (code, err[-2000:])
        assert case.match in err, err[-2000:]
        assert len(err.strip().splitlines()) <= 30  # a message, not a dump
    else:
        assert code == 0, err[-2000:]
        if case.expect == "note":
            notes = [line for line in (out + err).splitlines() if line.startswith("note:") or '"notes"' in line]
            assert any(case.match in line for line in notes), (out + err)[-3000:]
        if case.check is not None:
            case.check(out, err, tmp_path)
    for name, text in case.files.items():  # an input is never touched (unless a forced output)
        if case.check is not _replaced:
            assert (tmp_path / name).read_text() == text.replace("{tmp}", str(tmp_path))


def test_validate_on_a_fifo_returns_at_once(tmp_path, capsys):
    fifo = tmp_path / "s.yaml"
    os.mkfifo(fifo)
    code, _, err, elapsed = _run(["validate", str(fifo)], capsys)
    assert code == 2 and "FIFO" in err and elapsed < 5


def test_validate_an_unreadable_file(tmp_path, capsys, monkeypatch):
    """As root every file is readable, so the refusal is checked with os.access answering no."""
    path = tmp_path / "s.yaml"
    path.write_text("base: docs-assistant\n")
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == path else real(p, mode, **kw))
    else:
        path.chmod(0)
    code, _, err, _ = _run(["validate", str(path)], capsys)
    assert code == 2 and "permission denied" in err


def _unwritable_folder(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: os.access is what the tool asks
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == folder else real(p, mode, **kw))
    else:
        folder.chmod(0o555)
    return folder


@pytest.mark.parametrize("argv", [
    ["export", "--preset", "docs-assistant", "--out", "{ro}/deck.pptx"],
    ["export", "--preset", "docs-assistant", "--format", "html", "--out", "{ro}/charts"],
    ["export", "--preset", "docs-assistant", "--format", "html", "--out", "{ro}"],
    SWEEP + ["--out", "{ro}/r.csv"],
], ids=["export-deck-unwritable", "export-charts-unwritable-parent", "export-charts-unwritable", "sweep-unwritable"])
def test_unwritable_destination_is_refused_before_the_work(argv, tmp_path, capsys, monkeypatch):
    import simlib
    import simlib.sweep

    ro = _unwritable_folder(tmp_path, monkeypatch)
    monkeypatch.setattr(simlib, "run", lambda *a, **k: pytest.fail("simulated before refusing"))
    monkeypatch.setattr(simlib.sweep, "run_sweep", lambda *a, **k: pytest.fail("swept before refusing"))
    code, _, err, _ = _run([a.replace("{ro}", str(ro)) for a in argv], capsys)
    assert code == 2 and "not writable" in err, err


KILLED_WRITE = """
import os, signal, sys
import pandas as pd
from simlib.cli import main

def half_then_kill(self, f, **kw):  # the table half written, then kill -9
    f.write(b"point,strategy\\n0,rag\\n")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

pd.DataFrame.to_csv = half_then_kill
main(sys.argv[1:])
"""


def test_sweep_killed_mid_write_leaves_the_old_file_whole(tmp_path):
    """kill -9 while the table is written: the target is the old file, never a truncated one."""
    target = tmp_path / "keep.csv"
    target.write_text("precious")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in SWEEP + ["--out", "{tmp}/keep.csv", "--force"]]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITE, *argv], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert target.read_text() == "precious"


def test_interrupted_html_export_leaves_no_part_files(tmp_path, monkeypatch):
    """An interrupt while the second chart is written: no .part/.tmp left, the first chart removed."""
    import plotly.graph_objects as go

    import simlib.writing as writing
    from simlib import export

    calls = []
    real = writing.os.fsync

    def interrupt_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(fd)

    monkeypatch.setattr(writing.os, "fsync", interrupt_second)
    figures = {k: go.Figure(go.Bar(x=[1], y=[2])) for k in ("a", "b", "c")}
    with pytest.raises(KeyboardInterrupt):
        export.write_figures(figures, tmp_path / "charts", "html")
    assert [p.name for p in (tmp_path / "charts").iterdir()] == []


# --- statistics that do not hold -----------------------------------------------------------

def test_constant_cost_has_a_zero_width_interval_with_warmup(tmp_path, capsys):
    """One replication, warm-up 0.1, every query costing the same: the interval is a point, and
    queries_completed's interval is around the run total (the issue: 0.01256-0.01990 about 0.01623)."""
    (tmp_path / "s.yaml").write_text("workload: {token_length_cv: 0}\nsimulation: {warmup_share: 0.1}\n")
    code, out, err, _ = _run(["run", "--scenario", str(tmp_path / "s.yaml"), "--queries", "2000", "--strategies",
                              "prompt_only", "--json", "--no-flips"], capsys)
    assert code == 0, err
    entry = _strict_json(out)["strategies"]["prompt_only"]
    low, high = entry["cost_per_query_usd"]["ci95"]
    assert high - low <= 1e-12 * entry["cost_per_query_usd"]["mean"]
    qc = entry["queries_completed"]
    assert qc["mean"] == 1800 and qc["ci95"][0] <= 1800 <= qc["ci95"][1] and qc["ci95"][1] - qc["ci95"][0] < 18


def test_fresh_share_is_monotone_along_the_change_rate_in_a_sweep(tmp_path, capsys):
    """Common random numbers by thinning: on one seed, more changes never give fresher answers
    (the issue: fine-tuning 0.9370 at 10 changes/day, 0.9572 at 15, docs-assistant, weekly retraining)."""
    import pandas as pd

    (tmp_path / "s.yaml").write_text("base: docs-assistant\nfine_tuning: {retrain_interval_days: 7}\n"
                                     "simulation: {seed: 1}\n")
    code, _, err, _ = _run(["sweep", "--scenario", str(tmp_path / "s.yaml"), "--grid",
                            "knowledge.changes_per_day=2,10,15,40,120", "--queries", "2000", "--strategies",
                            "rag,fine_tune", "--metrics", "fresh_share", "--no-progress",
                            "--out", str(tmp_path / "r.csv")], capsys)
    assert code == 0, err
    table = pd.read_csv(tmp_path / "r.csv")
    for name, rows in table.groupby("strategy"):
        fresh = rows.sort_values("knowledge.changes_per_day")["mean"].tolist()
        assert all(b <= a + 1e-12 for a, b in zip(fresh, fresh[1:])), (name, fresh)


# --- the shipped presets through ``python -m simlib``: strict JSON, every number finite ------

def _presets() -> list[str]:
    from simlib.presets import list_presets

    return [name for name, _ in list_presets()]


@pytest.mark.parametrize("preset", _presets())
def test_python_m_simlib_prints_finite_or_null_json(preset):
    proc = subprocess.run([sys.executable, "-m", "simlib", "run", "--preset", preset, "--queries", "300", "--json",
                           "--no-flips"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = _strict_json(proc.stdout)

    def floats(v):
        if isinstance(v, float):
            yield v
        elif isinstance(v, dict):
            for x in v.values():
                yield from floats(x)
        elif isinstance(v, list):
            for x in v:
                yield from floats(x)

    assert all(math.isfinite(x) for x in floats(data))


# --- Issue 16 (capacity: rate limits, dedicated serving, the batch API) as a hostile user types it ---

RUN16 = ["run", "--queries", "300", "--no-flips", "--no-progress"]


def test_tier_typed_as_a_bare_number_is_read_as_the_tier(capsys):
    """`--set rate_limits.tier=4` (YAML reads 4 as an int) is Tier 4, as `tier: "4"` in a file.

    It used to be refused with 'Input should be a valid string (got 4)', a message that does
    not say to quote the number."""
    code, out, err, _ = _run([*RUN16, "--preset", "code-apply", "--set", "rate_limits.tier=4", "--json"], capsys)
    assert code == 0, err
    by_number = _strict_json(out)
    code, out, err, _ = _run([*RUN16, "--preset", "code-apply", "--set", "rate_limits.tier='4'", "--json"], capsys)
    assert code == 0, err
    assert _strict_json(out)["strategies"] == by_number["strategies"]


@pytest.mark.parametrize("preset, tier", [("docs-assistant", "anthropic/4"),  # openai/gpt-4.1
                                          ("docs-assistant", "4")])
def test_a_tier_for_another_models_class_is_refused(preset, tier, capsys):
    """Anthropic's Sonnet/Opus 4 limits are not gpt-4.1's: a tier whose class is not prices.model's is an
    error at rate_limits.tier, never applied silently (it used to run gpt-4.1 at Sonnet's Tier 4)."""
    code, out, err, _ = _run([*RUN16, "--preset", preset, "--set", f"rate_limits.tier={tier}"], capsys)
    assert code == 2, out
    assert "rate_limits.tier" in err and "requests_per_minute" in err


def test_offline_work_on_a_dedicated_model_is_carried_by_billed_gpus():
    """The GPUs billed must carry the day's work, live or offline: a replica completes at most
    batch_streams_limit requests per full-batch service time S (stage_capacities), so serving qpd
    queries a day needs sum_h r(h) x 3,600 s >= qpd x S / batch. 1M queries/day of docs-assistant's
    prompt_only on a dedicated base model, 99.9% offline: the run bills 1 replica all day (the live
    0.1%'s sizing) and costs $8,766/month against $105,192 with every query live."""
    import simlib
    from simlib.engine import dedicated

    s = simlib.load_preset("docs-assistant").with_changes({
        "serving.base_model": "dedicated", "workload.offline_share": 0.999, "workload.queries_per_day": 1e6,
        "simulation.queries": 400, "simulation.replications": 1, "simulation.strategies": ["prompt_only"]})
    result = simlib.run(s, engine="fast")
    rec = result.records("prompt_only")
    service_s = dedicated.stage_capacities(dedicated.deployment(s, fine_tuned=False), 1, float(rec["prompt_tokens"].mean()),
                                           float(rec["output_tokens"].mean()))["service_s_at_full_batch"]
    replica_s_per_day = sum(result.dedicated_serving()["prompt_only"]["replicas_per_hour"]) * 3600.0
    assert replica_s_per_day >= 1e6 * service_s / s.serving.batch_streams_limit


@pytest.mark.parametrize("sets, field_named", [
    # 70e9 x 2 bytes = 140 GB of weights on one 80 GB H100
    (["serving.gpus_per_replica_count=1", "serving.parameter_bytes=2", "serving.p95_target_s=600"],
     "serving.gpus_per_replica_count"),
    # 4,096 streams x 100,000 tokens x 163,840 bytes = 67 TB of KV cache on 4 x 80 GB
    (["serving.batch_streams_limit=4096", "serving.stream_context_tokens=100000"], "serving.batch_streams_limit"),
])
def test_a_replica_that_cannot_hold_its_model_and_batch_is_refused(sets, field_named, capsys):
    """A replica holds the weights W = parameters x bytes and its full batch's KV cache
    batch x context x KV bytes per token in its GPUs' memory (data/prices/gpus.csv memory_gb);
    one that cannot is a scenario error naming the field, not a run at a roofline speed of an
    impossible deployment (it used to simulate and bill both)."""
    argv = [*RUN16, "--preset", "docs-assistant", "--strategies", "fine_tune", "--set", "serving.fine_tuned_model=dedicated"]
    for s in sets:
        argv += ["--set", s]
    code, out, err, _ = _run(argv, capsys)
    assert code == 2, out
    assert field_named in err and "GB" in err


def test_the_default_replica_holds_its_model_and_batch():
    """4 x H100 (320 GB) hold 70 GB of FP8 weights + 32 x 4,000 x 163,840 B = 21 GB of KV: no error."""
    import simlib

    simlib.load_preset("code-apply").with_changes({"serving.base_model": "dedicated", "serving.replicas_count": 1})


def test_a_request_larger_than_its_bucket_is_said_to_never_fit(capsys):
    """1 ITPM holds 1 input token: code-apply's 2,655-token prompts can never be admitted, so the limiter
    fails them at once with no retry (retries 0.00 in the table). The capacity line used to say
    '100.0% failed after 20 retries' beside it; it says they never fit, and which limit to raise."""
    code, out, err, _ = _run([*RUN16, "--preset", "code-apply", "--strategies", "prompt_only",
                              "--set", "rate_limits.requests_per_minute=1000", "--set", "rate_limits.input_tokens_per_minute=1",
                              "--set", "rate_limits.output_tokens_per_minute=1e9", "--set", "rate_limits.retry_limit=20"], capsys)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("capacity: prompt_only"))
    assert "100.0% failed after 20 retries" not in line and "0.0% failed after 20 retries" in line
    assert "100.0% could never" in line and "input_tokens_per_minute" in line


def test_a_strategy_whose_every_request_failed_is_not_said_to_have_no_latency_requirement(capsys):
    """1 RPM, no retry: every prompt_only request fails at the rate limits, so no latency is measured.
    The verdict used to say 'p95 latency does not apply to it', as for a metric the strategy has not;
    it says no live request was answered and why."""
    code, out, err, _ = _run([*RUN16, "--preset", "code-apply", "--strategies", "prompt_only",
                              "--set", "rate_limits.requests_per_minute=1", "--set", "rate_limits.input_tokens_per_minute=1e9",
                              "--set", "rate_limits.output_tokens_per_minute=1e9", "--set", "rate_limits.retry_limit=0",
                              "--set", "rate_limits.burst_s=0.001"], capsys)
    assert code == 0, err
    verdict = next(x for x in out.splitlines() if x.startswith("verdict:"))
    assert "does not apply" not in verdict
    assert "failed after its rate-limit retries" in verdict


def test_saturated_fixed_replicas_say_what_to_change(capsys):
    """1 fixed replica for 5M queries/day of docs-assistant's fine_tune is 13x over its full-batch
    capacity: the note names serving.replicas_count and the factor (it used to say only 'the dedicated
    replicas is saturated')."""
    code, out, err, _ = _run([*RUN16, "--preset", "docs-assistant", "--strategies", "fine_tune",
                              "--set", "serving.fine_tuned_model=dedicated", "--set", "serving.replicas_count=1",
                              "--set", "workload.queries_per_day=5000000"], capsys)
    assert code == 0, err
    note = next(x for x in out.splitlines() if "saturated at the busiest hour" in x)
    assert "replicas are saturated" in note and "serving.replicas_count (1)" in note


@pytest.mark.xfail(strict=True, reason="dedicated sizing (dedicated.sizing_load / sizing_tokens) draws the strategy's "
                   "prompt without the sessions' history, so codebase-agent's calls (~38k tokens of history each) "
                   "are sized at a fraction of their real prompt: 1 replica 'sized to p95 <= 60 s' runs at 1.7x capacity")
def test_sized_replicas_of_a_sessions_preset_are_not_saturated():
    """The sized count is the smallest meeting the target at the busiest hour, so its peak-hour
    full-batch load (offered rate x service time / (replicas x batch)) is below 1."""
    import simlib

    s = simlib.load_preset("codebase-agent").with_changes({
        "serving.base_model": "dedicated", "serving.p95_target_s": 60, "simulation.queries": 600,
        "simulation.replications": 1, "simulation.strategies": ["prompt_only"]})
    summary = simlib.run(s).summary()["prompt_only"]
    assert summary["peak_hour_utilisation"]["dedicated_replicas"] < 1.0


def test_a_light_peak_is_not_printed_as_zero(capsys):
    """1 query/day on docs-assistant's daily profile peaks at 1 / 1,440 x max(w) / mean(w) requests/min, not 0."""
    code, out, err, _ = _run(["capacity", "--preset", "docs-assistant", "--set", "workload.queries_per_day=1", "--json"], capsys)
    assert code == 0, err
    peak = _strict_json(out)["peak_requests_per_minute"]
    assert 0 < peak < 0.01
    code, out, err, _ = _run(["capacity", "--preset", "docs-assistant", "--set", "workload.queries_per_day=1"], capsys)
    assert out.startswith(f"peak load: {peak:.3g} requests/min")


def test_the_verdict_never_prints_a_negative_latency(capsys):
    """code-apply at Tier 1 with 2 replications said 'p95 latency 57.30 s is uncertain: its 95% interval
    -49.96 s to 164.55 s' (a t-interval over two values, unclipped)."""
    code, out, err, _ = _run(["run", "--preset", "code-apply", "--queries", "3000", "--replications", "2", "--no-flips",
                              "--no-progress", "--strategies", "prompt_only", "--set", "rate_limits.tier=1"], capsys)
    assert code == 0, err
    verdict = next(x for x in out.splitlines() if x.startswith("verdict:"))
    assert "interval -" not in verdict


def test_a_zero_quality_is_zero_not_a_residue():
    """Either the strategy answers some queries correctly (a quality of at least a millionth) or none (exactly 0,
    and cost_per_correct_answer_usd None): never a residue that divides a cost into trillions."""
    import simlib

    s = simlib.load_preset("codebase-agent").with_changes({"simulation.queries": 300, "simulation.replications": 1,
                                                           "simulation.strategies": ["prompt_only"]})
    summary = simlib.run(s).summary()["prompt_only"]
    q = summary["quality_proxy"]["mean"]
    assert q == 0 or q > 1e-6
    if q == 0:
        assert summary["cost_per_correct_answer_usd"]["mean"] is None
