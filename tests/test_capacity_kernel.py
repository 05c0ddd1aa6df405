"""The array backend follows fixed-replica dedicated serving and the batch API share record for record (issue 16).

The simpy engine of record serves a dedicated model as a FIFO simpy.Resource of replicas x
max_batch slots; at its start a request joins the replica with the fewest streams (lowest
index on a tie), b = its streams with it, service = prompt / p(b) x scale + output / d(b) x
scale, and the stream leaves when its service ends (engine/serving.py). The kernel runs the
same stage as engine.dedicated.ReplicaStage, chunk by chunk with the replica loads and the
in-flight ends carried; sizing (simulate_replicas, size_replicas) runs the very same loop.
Offline (batch API) queries are answered at arrival, off the live path. Equality is bit for
bit on every record field, cost component, busy time and timeline (tests.test_kernel's
assert_same_run); theory checks are closed forms (one stream at the batch-1 speeds, the batch
discount exactly), never output copied from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import simlib
from simlib.engine.array_backend import capacity_gap, kernel_gap
from simlib.engine.dedicated import DedicatedServing, ReplicaStage, deployment, simulate_replicas
from simlib.results import CACHE_HIT, COMPLETED, OFFLINE
from tests.test_kernel import assert_same_run, run_fast


def both(s, chunk: int = 97):
    a = simlib.run(s, engine="simpy")
    b = run_fast(s, records="full", chunk_queries=chunk)
    assert a.engine == "simpy" and b.engine == "fast", b.notes
    assert not any("engine: simpy" in n for n in b.notes)
    return a, b


def assert_same_summary(a, s, chunk: int = 97) -> None:
    """The kernel's streaming summary (records='summary') equals the summary of simpy's full records."""
    streamed = run_fast(s, records="summary", chunk_queries=chunk).summary()
    for name, entry in a.summary().items():
        for metric in ("latency_p95_s", "latency_mean_s", "ttft_p50_s", "queue_wait_mean_s", "queue_share",
                       "offline_share", "cache_hit_rate", "cost_per_query_usd", "queries_completed"):
            want, got = entry[metric]["mean"], streamed[name][metric]["mean"]
            assert (got is None) if want is None else got == pytest.approx(want, rel=1e-9), (name, metric, want, got)


# --- presets -------------------------------------------------------------------------

PRESET_CASES = {
    # the fine-tuned model on dedicated GPUs with speculative edits (docs/capacity.md), replicas sized
    "code-apply fine-tuned dedicated": ("code-apply", {"serving.fine_tuned_model": "dedicated"}),
    # every strategy dedicated, caching ones included: the prompt cache still flags hits and tokens
    "code-apply base and fine-tuned dedicated": ("code-apply", {"serving.base_model": "dedicated",
                                                                "serving.fine_tuned_model": "dedicated"}),
    # one small replica: a long queue, waits decide every start
    "docs-assistant base dedicated, congested": ("docs-assistant", {
        "serving.base_model": "dedicated", "serving.replicas_count": 1, "serving.batch_streams_limit": 2}),
    # rate limits on the serverless strategies, the fine-tuned ones dedicated, 30% through the batch API
    "docs-assistant rate limits + dedicated + offline": ("docs-assistant", {
        "workload.offline_share": 0.3, "serving.fine_tuned_model": "dedicated", "serving.replicas_count": 2,
        "rate_limits.requests_per_minute": 2, "rate_limits.input_tokens_per_minute": 200_000,
        "rate_limits.output_tokens_per_minute": 40_000}),
    "shared-manual offline": ("shared-manual", {"workload.offline_share": 0.5}),
}


@pytest.mark.parametrize("case", list(PRESET_CASES))
def test_the_kernel_equals_simpy_on_dedicated_and_offline_presets(case):
    """Two replications, a warm-up, chunks of 97 so the replica state crosses chunk boundaries."""
    preset, changes = PRESET_CASES[case]
    s = simlib.load_preset(preset).with_changes(
        {"simulation.queries": 1_200, "simulation.replications": 2, "simulation.warmup_share": 0.1, **changes})
    a, b = both(s)
    assert_same_run(a, b)
    assert_same_summary(a, s)
    if s.workload.offline_share:
        rec = b.records(s.simulation.strategies[0])
        off = (rec["flags"] & OFFLINE) != 0
        assert 0 < off.sum() < off.size and np.isnan(rec["latency_s"][off]).all()
    if s.serving.base_model == "dedicated":
        hits = (b.records("rag_prompt_cache")["flags"] & CACHE_HIT) != 0
        assert hits.any()  # the cache is used on dedicated GPUs too (its speed is not)


def test_one_chunk_and_many_chunks_give_the_same_records():
    """The carried state (loads, in-flight ends, the last start) hands over exactly: chunks of 1, 7, all."""
    s = simlib.load_preset("code-apply").with_changes(
        {"simulation.queries": 800, "serving.fine_tuned_model": "dedicated", "serving.replicas_count": 1,
         "simulation.strategies": ["fine_tune", "rag_fine_tune"]})
    whole = run_fast(s, records="full", chunk_queries=10_000)
    for chunk in (1, 7):
        assert_same_run(whole, run_fast(s, records="full", chunk_queries=chunk))
    assert_same_run(simlib.run(s, engine="simpy"), whole)


def test_a_run_longer_than_one_default_chunk_equals_simpy():
    """More queries than CHUNK_QUERIES at the default chunk size: the state crosses the real boundary."""
    from simlib.engine.array_backend import CHUNK_QUERIES

    s = simlib.load_preset("code-apply").with_changes(
        {"simulation.queries": CHUNK_QUERIES + 4_000, "serving.fine_tuned_model": "dedicated",
         "simulation.strategies": ["fine_tune"]})
    a = simlib.run(s, engine="simpy")
    b = run_fast(s, records="full")
    assert b.engine == "fast"
    assert_same_run(a, b)


# --- closed forms and ties ------------------------------------------------------------

BASE = {
    "workload": {"queries_per_day": 86_400.0, "query_tokens_mean": 100, "output_tokens_mean": 200,
                 "token_length_cv": 0},
    "model": {"service_time_distribution": "deterministic"},
    "knowledge": {"changes_per_day": 0},
    "serving": {"base_model": "dedicated", "replicas_count": 1, "batch_streams_limit": 2},
    "simulation": {"queries": 2, "strategies": ["prompt_only"], "warmup_share": 0.0},
}


def trace_scenario(tmp_path, times, **groups):
    from simlib.traces import with_trace

    path = tmp_path / "t.csv"
    path.write_text("timestamp_s,input_tokens,output_tokens\n" + "".join(f"{t!r},100,200\n" for t in times))
    data = {k: dict(v) for k, v in BASE.items()}
    for group, values in groups.items():
        data[group] = {**data.get(group, {}), **values}
    return with_trace(simlib.scenario.build_scenario(data), str(path))


def test_a_request_arriving_as_a_stream_ends_joins_after_it_has_left(tmp_path):
    """One replica of 2: query 1 arrives exactly when query 0 ends. simpy reads the loads when the
    grant is processed, after the end (scheduled earlier), so query 1 runs alone at the batch-1
    speeds, b = 1, on both engines (joining first would have given b = 2, slower)."""
    probe = trace_scenario(tmp_path, [0.0, 1e6])
    dep = deployment(probe, fine_tuned=False)
    prompt = float(simlib.run(probe, engine="simpy").records("prompt_only")["prompt_tokens"][0])
    p1, d1 = float(dep.prefill_tokens_per_s(1)), float(dep.decode_tokens_per_s(1))
    s1 = prompt / p1 * 1.0 + 200.0 / d1 * 1.0  # the batch-1 service time, as the engines compute it
    s = trace_scenario(tmp_path, [0.0, s1])
    a, b = both(s)
    assert_same_run(a, b)
    lat = b.records("prompt_only")["latency_s"]
    rtt = s.model.network_rtt_s
    np.testing.assert_allclose(lat, [rtt + s1, rtt + s1], rtol=1e-6)
    d2 = float(dep.decode_tokens_per_s(2))
    assert rtt + prompt / float(dep.prefill_tokens_per_s(2)) + 200.0 / d2 > lat[1] * 1.01  # b = 2 is distinguishable


def test_bursts_of_equal_arrivals_and_equal_ends(tmp_path):
    """Whole-second arrivals in bursts and constant tokens: equal arrival times queue in query order,
    equal service times end together and all leave before the next start."""
    rng = np.random.default_rng(5)
    times = np.cumsum(rng.choice([0, 0, 0, 1, 2], 600)).astype(float)
    for replicas, batch in ((1, 1), (2, 2), (3, 4)):
        s = trace_scenario(tmp_path, times.tolist(), serving={"replicas_count": replicas, "batch_streams_limit": batch},
                           simulation={"strategies": ["prompt_only", "prompt_cache"]})
        a, b = both(s, chunk=50)
        assert_same_run(a, b)
        waits = b.records("prompt_only")["queue_wait_s"]
        assert (waits > 0).any()  # the bursts queue


def test_one_stream_at_a_time_runs_at_the_batch_1_speeds_on_the_kernel():
    """10 queries a day never overlap: latency = rtt + prompt / p(1) + output / d(1) (the roofline figures)."""
    s = simlib.scenario.build_scenario({**BASE, "workload": {**BASE["workload"], "queries_per_day": 10},
                                        "simulation": {**BASE["simulation"], "queries": 30}})
    rec = run_fast(s, records="full").records("prompt_only")
    dep = deployment(s, fine_tuned=False)
    expected = (s.model.network_rtt_s + rec["prompt_tokens"] / float(dep.prefill_tokens_per_s(1))
                + rec["output_tokens"] / float(dep.decode_tokens_per_s(1)))
    np.testing.assert_allclose(rec["latency_s"], expected, rtol=1e-6)


def test_the_batch_share_halves_its_token_cost_exactly_on_the_kernel():
    """All offline at a 50% discount: each record's cost is the live run's x 0.5, and no latency."""
    s = simlib.scenario.build_scenario({**BASE, "serving": {}, "prices": {"batch_discount_share": 0.5},
                                        "simulation": {**BASE["simulation"], "queries": 500}})
    live = run_fast(s, records="full").records("prompt_only")
    off_s = s.with_changes({"workload.offline_share": 1.0})
    a, b = both(off_s)
    assert_same_run(a, b)
    rec = b.records("prompt_only")
    assert ((rec["flags"] & OFFLINE) != 0).all() and ((rec["flags"] & COMPLETED) != 0).all()
    np.testing.assert_array_equal(rec["cost_usd"], live["cost_usd"] * np.float32(0.5))
    assert np.isnan(rec["latency_s"]).all()
    summary = run_fast(off_s, records="summary").summary()["prompt_only"]
    assert summary["latency_p95_s"]["mean"] is None and summary["offline_share"]["mean"] == 1.0


# --- random scenarios -----------------------------------------------------------------

@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replicas=st.integers(1, 4), batch=st.integers(1, 4), rate=st.sampled_from([0.05, 0.5, 3.0]),
       service=st.sampled_from(["deterministic", "exponential"]), cv=st.sampled_from([0.0, 0.8]),
       offline=st.sampled_from([0.0, 0.3]), which=st.sampled_from(["base", "fine_tuned", "both"]),
       limited=st.booleans(), chunk=st.sampled_from([13, 64, 5_000]), seed=st.integers(0, 10_000))
def test_random_small_dedicated_scenarios_equal_simpy(replicas, batch, rate, service, cv, offline, which, limited,
                                                       chunk, seed):
    """Random replicas, batch sizes, rates and service laws; an offline share; rate limits on the
    serverless strategies (a few per minute: 429s and retries beside the dedicated ones)."""
    limits = {"requests_per_minute": 20, "input_tokens_per_minute": 1e6, "output_tokens_per_minute": 1e6} if limited else {}
    s = simlib.scenario.build_scenario({
        "rate_limits": limits,
        "workload": {"queries_per_day": rate * 86_400, "token_length_cv": cv, "offline_share": offline},
        "model": {"service_time_distribution": service},
        "serving": {"base_model": "dedicated" if which != "fine_tuned" else "serverless",
                    "fine_tuned_model": "dedicated" if which != "base" else "serverless",
                    "replicas_count": replicas, "batch_streams_limit": batch},
        "simulation": {"queries": 300, "seed": seed, "warmup_share": 0.1,
                       "strategies": ["prompt_only", "rag", "prompt_cache", "fine_tune"]},
    })
    a, b = both(s, chunk=chunk)
    assert_same_run(a, b)


# --- the shared loop --------------------------------------------------------------------

def test_the_plain_python_loop_equals_the_compiled_one_and_carries_state_exactly():
    """ReplicaStage compiled (numba) and as plain Python on lists, in one call and in pieces: equal bit for bit."""
    from simlib.engine import dedicated

    assert dedicated._kernel()[1]  # numba is a dependency: the default stage is compiled
    rng = np.random.default_rng(2)
    n = 3_000
    req = np.cumsum(rng.choice([0.0, 0.0, 0.05, 0.4], n))  # ties included
    prompt, out, scale = rng.integers(100, 5_000, n).astype(float), rng.integers(10, 600, n).astype(float), rng.exponential(1.0, n)
    serving = DedicatedServing(max_batch=3)
    whole = ReplicaStage(serving, 2).serve(req, prompt, out, scale)
    plain = ReplicaStage(serving, 2, compiled=False)
    assert not plain.compiled
    pieces = [plain.serve(req[a:a + 500], prompt[a:a + 500], out[a:a + 500], scale[a:a + 500]) for a in range(0, n, 500)]
    for x, y in zip(whole, (np.concatenate(p) for p in zip(*pieces))):
        np.testing.assert_array_equal(x, y)
    assert (whole[0] > req).any()  # some wait
    np.testing.assert_array_equal(simulate_replicas(serving, 2, req, prompt, out),
                                  simulate_replicas(serving, 2, req, prompt, out, compiled=False))


def test_a_run_on_the_plain_python_loop_equals_the_compiled_run(monkeypatch):
    from simlib.engine import dedicated

    s = simlib.load_preset("code-apply").with_changes(
        {"simulation.queries": 500, "serving.fine_tuned_model": "dedicated", "serving.replicas_count": 1,
         "simulation.strategies": ["fine_tune"]})
    compiled = run_fast(s, records="full", chunk_queries=97)
    original = dedicated.ReplicaStage.__init__
    modes = []

    def plain(self, serving, replicas, compiled=None):
        original(self, serving, replicas, compiled=False)
        modes.append(self.compiled)

    monkeypatch.setattr(dedicated.ReplicaStage, "__init__", plain)
    assert_same_run(compiled, run_fast(s, records="full", chunk_queries=97))
    assert modes and not any(modes)


# --- what falls back --------------------------------------------------------------------

def test_only_hourly_autoscaling_falls_back_to_simpy():
    s = simlib.load_preset("code-apply")
    for changes in ({"serving.fine_tuned_model": "dedicated"}, {"serving.base_model": "dedicated"},
                    {"workload.offline_share": 0.3}):
        assert capacity_gap(s.with_changes(changes)) is None and kernel_gap(s.with_changes(changes)) is None
    hourly = s.with_changes({"serving.fine_tuned_model": "dedicated", "serving.autoscaling": "hourly"})
    assert "hourly autoscaling" in capacity_gap(hourly)
    run = simlib.run(hourly.with_changes({"simulation.queries": 300}))
    assert run.engine == "simpy" and any("hourly autoscaling" in n for n in run.notes)


def test_everything_offline_prints_its_capacity_and_meets_a_latency_requirement(capsys):
    """workload.offline_share 1 on code-apply (a dedicated fine-tuned model, a 5 s p95 requirement): no live
    query, so no busiest-hour load to print (the capacity lines crashed on None: a traceback from `simlib run`)
    and no live answer to be late (the verdict failed everyone on 'p95 latency does not apply')."""
    from simlib.cli import main
    from simlib.results import capacity_status
    from simlib.verdict import verdict

    s = simlib.load_preset("code-apply").with_changes({"workload.offline_share": 1.0, "simulation.queries": 600,
                                                "simulation.strategies": ["rag", "fine_tune"]})
    r = simlib.run(s)
    lines = capacity_status(r)
    from simlib.engine.dedicated import offline_work_replicas
    from simlib.engine.strategies import STRATEGIES

    carry = offline_work_replicas(s, STRATEGIES["fine_tune"])  # the offline work still needs GPUs
    assert carry >= 1 and any(f"fine_tune: dedicated {carry} replica(s)" in line and "no live load" in line
                              for line in lines), lines
    v = verdict(r)
    assert v.winner == "fine_tune", v.sentence  # cheapest; its latency requirement holds vacuously
    assert main(["run", "--preset", "code-apply", "--set", "workload.offline_share=1", "--queries", "300",
                 "--no-flips"]) == 0
    assert "verdict: Fine-tuning meets every requirement" in capsys.readouterr().out
