"""The command line as a user meets it: every bad input gets a located message and exit 2.

The CLI runs in a subprocess (the installed console script's module), so what is tested
is what a user sees on stdout and stderr, traceback or not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simlib.results import METRICS
from simlib.scenario import STRATEGY_NAMES


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simlib.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def write(tmp_path: Path, text: str, name: str = "my.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def assert_bad_input(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


def test_presets_lists_every_preset_with_its_story():
    proc = cli("presets")
    assert proc.returncode == 0
    names = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert {"docs-assistant", "coaching-app", "code-apply", "language-tutor", "codebase-agent", "shared-manual"} <= names
    assert all(len(line.split(maxsplit=1)) == 2 for line in proc.stdout.splitlines() if line.strip())


def test_run_prints_one_row_per_strategy():
    proc = cli("run", "--preset", "docs-assistant", "--queries", "300")
    assert proc.returncode == 0, proc.stderr
    for name in STRATEGY_NAMES:
        assert any(line.startswith(name + " ") for line in proc.stdout.splitlines()), name
    assert "infeasible" in proc.stdout  # prompt_cache cannot hold 2,000 pages ...
    assert "context window" in proc.stdout  # ... and the reason is given


def test_run_json_has_the_documented_shape(tmp_path):
    scenario = write(tmp_path, "base: docs-assistant\nworkload:\n  queries_per_day: 5000\n")
    proc = cli("run", "--scenario", scenario, "--queries", "400", "--replications", "2", "--seed", "7", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("simlib_version", "scenario", "prices", "queries", "replications", "seed", "strategies"):
        assert key in out
    assert out["queries"] == 400 and out["replications"] == 2 and out["seed"] == 7
    assert out["scenario"]["workload"]["queries_per_day"] == 5000
    assert {"source", "as_of"} <= set(out["prices"])
    assert set(out["strategies"]) == set(STRATEGY_NAMES)
    rag = out["strategies"]["rag"]
    assert rag["feasible"] is True and rag["reason"] is None
    for metric in METRICS:
        assert set(rag[metric]) == {"mean", "ci95"}
    lo, hi = rag["cost_per_query_usd"]["ci95"]
    assert lo <= rag["cost_per_query_usd"]["mean"] <= hi
    # a metric that does not apply is null, not a number
    assert out["strategies"]["prompt_only"]["fresh_share"]["mean"] is None
    assert out["strategies"]["fine_tune"]["cache_hit_rate"]["mean"] is None  # 150-token prefix: below every minimum
    pc = out["strategies"]["prompt_cache"]
    assert pc["feasible"] is False and "context window" in pc["reason"]
    assert pc["cost_per_query_usd"]["mean"] is None


def test_json_metrics_are_documented():
    docs = Path(__file__).parent.parent / "docs"
    doc = (docs / "json.md").read_text() + (docs / "metrics.md").read_text()
    for metric in METRICS:
        assert f"`{metric}`" in doc, metric


def test_validate_accepts_a_good_file_and_notes_infeasible_strategies(tmp_path):
    proc = cli("validate", write(tmp_path, "base: docs-assistant\n"))
    assert proc.returncode == 0
    assert "valid" in proc.stdout and "prompt_cache is infeasible" in proc.stdout


@pytest.mark.parametrize(
    "text, needles",
    [
        ("workload:\n  queries_per_dya: 100\n", ["workload.queries_per_dya", "did you mean 'queries_per_day'"]),
        ("workloads:\n  queries_per_day: 100\n", ["workloads", "did you mean 'workload'"]),
        ("workload:\n  queries_per_day: lots\n", ["workload.queries_per_day", "'lots'"]),
        ("workload:\n  queries_per_day: 0\n", ["workload.queries_per_day", "greater than 0"]),
        ("knowledge:\n  changes_per_day: -3\n", ["knowledge.changes_per_day", "greater than or equal to 0"]),
        ("retrieval:\n  recall_at_1_share: 1.5\n", ["retrieval.recall_at_1_share", "less than or equal to 1"]),
        ("prompt_cache:\n  ttl_s: -5\n", ["prompt_cache.ttl_s", "greater than or equal to 0"]),
        ("base: docs-asistant\n", ["unknown preset 'docs-asistant'", "docs-assistant"]),
        ("prices:\n  model: anthropic/claude-sonet-4-5\n", ["prices.model", "anthropic/claude-sonnet-4-5"]),
        ("workload: [1, 2\n", ["my.yaml:", "not valid YAML"]),
        ("- just\n- a list\n", ["must be a mapping"]),
        ("", ["empty"]),
        ("workload:\n  queries_per_day: 0\nretrieval:\n  top_k: -1\n", ["2 problems", "workload.queries_per_day", "retrieval.top_k"]),
    ],
)
def test_bad_scenario_files_get_located_errors(tmp_path, text, needles):
    path = write(tmp_path, text)
    assert_bad_input(cli("validate", path), *needles)
    assert_bad_input(cli("run", "--scenario", path, "--queries", "10"), *needles)


def test_missing_file_unknown_preset_and_bad_options():
    assert_bad_input(cli("run", "--scenario", "/nonexistent/my.yaml"), "no such file")
    assert_bad_input(cli("validate", "/nonexistent/my.yaml"), "no such file")
    assert_bad_input(cli("run", "--preset", "docs-asistant"), "unknown preset", "did you mean 'docs-assistant'")
    assert_bad_input(cli("run", "--preset", "docs-assistant", "--queries", "-5"), "must be at least 1")
    assert_bad_input(cli("run", "--preset", "docs-assistant", "--seed", "-1"), "must be at least 0")
    assert_bad_input(cli("run", "--preset", "docs-assistant", "--strategies", "rag,rga"), "simulation.strategies")
    assert_bad_input(cli("run"), "--preset")
    assert_bad_input(cli("prices", "anthropic/claude-sonet-4-5"), "did you mean")


def test_json_file_errors_are_located(tmp_path):
    path = write(tmp_path, '{"workload": {"queries_per_day": 10,}}', "bad.json")
    assert_bad_input(cli("validate", path), "bad.json:1:", "not valid JSON")


def test_prices_shows_source_and_date():
    proc = cli("prices", "anthropic/claude-sonnet-4-5")
    assert proc.returncode == 0, proc.stderr
    assert "genai-prices" in proc.stdout and "3" in proc.stdout
    proc = cli("prices", "--search", "sonnet")
    assert proc.returncode == 0 and "anthropic/claude-sonnet-4-5" in proc.stdout.split()


def _scenario_of(*argv: str):
    from simlib.cli import build_parser
    from simlib.cli.options import scenario_from_args

    return scenario_from_args(build_parser().parse_args(["run", *argv]))


def test_set_changes_any_field_with_yaml_values_and_the_run_size_flags_win():
    s = _scenario_of("--preset", "docs-assistant", "--set", "workload.queries_per_day=50000",
                     "--set", "retrieval.rerank=true", "--set", "simulation.strategies=[rag, fine_tune]",
                     "--set", "simulation.queries=900", "--queries", "300")
    assert s.workload.queries_per_day == 50_000.0
    assert s.retrieval.rerank is True
    assert s.simulation.strategies == ("rag", "fine_tune")
    assert s.simulation.queries == 300  # --queries is applied after --set
    base = _scenario_of("--preset", "docs-assistant")
    assert base.retrieval.top_k == s.retrieval.top_k  # what was not set stays the preset's


def test_set_on_a_catalog_model_refills_its_prices():
    """--set prices.model feeds with_changes, so the new model's catalog prices replace the old ones."""
    from simlib.scenario import build_scenario

    s = _scenario_of("--preset", "docs-assistant", "--set", "prices.model=openai/gpt-4.1-mini")
    direct = build_scenario({"prices": {"model": "openai/gpt-4.1-mini"}})
    assert s.prices.input_usd_per_mtok == direct.prices.input_usd_per_mtok
    assert s.prices.output_usd_per_mtok == direct.prices.output_usd_per_mtok


def test_every_subcommand_that_takes_a_scenario_takes_set():
    from simlib.cli import build_parser

    parser = build_parser()
    for argv in (["run", "--preset", "x"], ["export", "--preset", "x", "--out", "d.pptx"], ["capacity", "--preset", "x"],
                 ["sweep", "--preset", "x"], ["validate", "f.yaml"]):
        assert parser.parse_args([*argv, "--set", "a.b=1", "--set", "c.d=2"]).set == ["a.b=1", "c.d=2"], argv


@pytest.mark.parametrize("option,needles", [
    ("workload.queries_per_dya=5", ["--set", "workload.queries_per_dya", "did you mean 'queries_per_day'"]),
    ("workloads.queries_per_day=5", ["--set", "workloads", "did you mean 'workload'"]),
    ("workload.queries_per_day=-1", ["--set", "workload.queries_per_day", "greater than 0"]),
    ("workload.queries_per_day", ["--set workload.queries_per_day", "expected PATH=VALUE"]),
    ("workload.queries_per_day=[1", ["--set workload.queries_per_day", "not valid YAML"]),
])
def test_a_bad_set_is_a_located_error_with_exit_2(tmp_path, option, needles):
    good = write(tmp_path, "base: docs-assistant\n")
    assert_bad_input(cli("validate", good, "--set", option), *needles)


def test_set_given_twice_for_one_field_is_an_error():
    assert_bad_input(cli("run", "--preset", "docs-assistant", "--set", "simulation.seed=1", "--set", "simulation.seed=2"),
                     "--set simulation.seed", "more than once")


@pytest.mark.parametrize("option,where,message", [
    ("workload.queries_per_dya=5", "--set workload.queries_per_dya", "unknown field; did you mean 'queries_per_day'"),
    ("workload.queries_per_day=-5", "--set workload.queries_per_day", "Input should be greater than 0 (got -5)"),
    ("workloads.queries_per_day=1", "--set workloads.queries_per_day", "workloads: unknown field; did you mean 'workload'"),
    ("simulation.strategies=[rag, x]", "--set simulation.strategies", "simulation.strategies[1]: Input should be"),
])
def test_every_subcommand_locates_a_bad_set_at_the_option_typed(tmp_path, capsys, option, where, message):
    """run, export, sweep (with --grid or a sweep file) and validate say one thing for one bad --set: the
    option the user typed, then what is wrong (sweep used to say 'changes.PATH', a key no file held)."""
    from simlib.cli import main

    sweep_file = write(tmp_path, "base: docs-assistant\ngrid:\n  workload.queries_per_day: [1000, 2000]\n", "sw.yaml")
    scenario = write(tmp_path, "base: docs-assistant\n")
    commands = {
        "run": ["run", "--preset", "docs-assistant"],
        "export": ["export", "--preset", "docs-assistant", "--out", str(tmp_path / "d.pptx")],
        "sweep --grid": ["sweep", "--preset", "docs-assistant", "--grid", "workload.queries_per_day=1000,2000"],
        "sweep FILE": ["sweep", sweep_file],
        "validate": ["validate", scenario],
    }
    said = {}
    for name, argv in commands.items():
        assert main([*argv, "--set", option]) == 2, name
        err = capsys.readouterr().err
        said[name] = err
        assert f"error: {where}: {message}" in err, (name, err)
        assert "changes." not in err, (name, err)
    assert len(set(said.values())) == 1, said  # word for word the same
    assert not (tmp_path / "d.pptx").exists()
