"""Sessions (issue 18 items 1, 2, 4): conversations and agent tasks against hand arithmetic and closed forms.

Symbols: T cache TTL (s), G the gap between two requests of a session, q a turn's new input,
a its answer, H the history a turn carries, R the part of H an alive session entry holds,
P the static prefix.
- History: H_1 = 0, H_{j+1} = H_j + q_j + a_j; R_{j+1} = H_j + q_j (docs/model.md, Sessions).
- Cache: with instant answers, turn j > 1 reads its history from the cache iff its think time G < T, so the
  share of such turns is P(G < T).
- Chains: a turn is sent a think time after the previous answer, so an agent task's calls never overlap.
- Mooncake: a session workload fitted to the trace's turns and gaps gives back its TTL reuse curve.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simlib
from simlib import fit, trace_reuse, traces
from simlib.engine.sessions import SessionDraws, session_history
from simlib.errors import ScenarioError
from simlib.scenario import Scenario, build_scenario


def _draws(turns: list[int]) -> SessionDraws:
    """Sessions of the given turn counts, one after the other (arrival order = session-major order)."""
    session = np.repeat(np.arange(len(turns)), turns)
    turn = np.concatenate([np.arange(m) for m in turns])
    n = len(session)
    return SessionDraws(session, turn, np.ones(n, bool), np.arange(n, dtype=float), np.arange(n), np.zeros(n))


def _scenario(**changes) -> Scenario:
    return Scenario().with_changes({"sessions.kind": "conversation", **changes})


def test_history_of_a_fixed_three_turn_conversation_by_hand():
    sd = _draws([3])
    q, a = np.array([100, 120, 80]), np.array([50, 60, 40])
    h = session_history(_scenario(), sd, q, a, first_turn_chunk_tokens=0)
    # H: 0, 100 + 50, 150 + 120 + 60
    assert h.tokens.tolist() == [0, 150, 330]
    # R: nothing on the first turn; then the previous prompt's history and message (not its answer)
    assert h.readable_tokens.tolist() == [0, 0 + 100, 150 + 120]
    assert h.breakpoint_tokens.tolist() == [100, 270, 410]
    assert h.version.tolist() == [0, 0, 0] and h.retrieves.all()


def test_history_cap_drops_the_oldest_turn_and_starts_a_new_entry():
    sd = _draws([4])
    q, a = np.full(4, 100), np.full(4, 50)
    h = session_history(_scenario(**{"sessions.history_cap_tokens": 200}), sd, q, a, 0)
    # raw H: 0, 150, 300 -> over 200: drop turn 1 -> 150; then 150 + 150 = 300 -> drop turn 2 -> 150
    assert h.tokens.tolist() == [0, 150, 150, 150]
    assert h.version.tolist() == [0, 0, 1, 2]
    assert h.readable_tokens.tolist() == [0, 100, 0, 0]  # a truncated history is a new prefix: nothing to read


def test_retrieval_once_per_session_keeps_the_chunks_in_the_history():
    sd = _draws([3, 2])
    q, a = np.full(5, 100), np.full(5, 50)
    h = session_history(_scenario(**{"sessions.retrieval": "per_session"}), sd, q, a, first_turn_chunk_tokens=2000)
    assert h.tokens.tolist() == [0, 2150, 2300, 0, 2150]
    assert h.retrieves.tolist() == [True, False, False, True, False]


def test_engine_prompts_carry_the_history_by_hand():
    """Fixed 3-turn sessions, constant tokens: every prompt is fixed + H + q + chunks, turn by turn."""
    sc = _scenario(**{
        "sessions.turns_distribution": "fixed", "sessions.turns_mean": 3, "sessions.think_time_distribution": "fixed",
        "sessions.think_time_mean_s": 30.0, "workload.token_length_cv": 0.0, "workload.query_tokens_mean": 100,
        "workload.output_tokens_mean": 50, "simulation.queries": 300, "simulation.strategies": ["prompt_only", "rag"],
    })
    result = simlib.run(sc)
    assert result.engine == "simpy" and any("sessions" in n and "simpy" in n for n in result.notes)
    fixed = sc.prompt.system_tokens + sc.prompt.instructions_tokens + sc.prompt.few_shot_tokens
    chunks = sc.retrieval.top_k * sc.retrieval.chunk_tokens
    for name, extra in (("prompt_only", 0), ("rag", chunks)):
        rec = result.records(name)
        sd = result.replications[0].strategies[name].sessions
        expected = fixed + extra + 100 + np.array([0, 150, 300])[sd.turn]
        assert rec["prompt_tokens"].tolist() == expected.tolist()
        m = result.summary()[name]
        assert m["turns_per_session_mean"]["mean"] == pytest.approx(3.0)
        assert m["history_tokens_per_turn_mean"]["mean"] == pytest.approx(150.0)
        assert m["tokens_per_session_mean"]["mean"] == pytest.approx(3 * (fixed + extra + 100 + 50) + 450)
        per_turn = m["variable_cost_per_query_usd"]["mean"]
        assert m["cost_per_session_usd"]["mean"] == pytest.approx(3 * per_turn, rel=1e-6)


def _cache_scenario(think: dict, ttl_s: float = 300.0) -> Scenario:
    """A busy global static prefix (always alive), no queueing, no retrieval and instant answers: turn j + 1's cache
    access comes one think time after turn j's."""
    return _scenario(**{
        "sessions.turns_distribution": "fixed", "sessions.turns_mean": 4, **think,
        "workload.queries_per_day": 200_000, "prompt_cache.mode": "automatic", "prompt_cache.ttl_s": ttl_s,
        "prompt_cache.min_cacheable_tokens": 0, "prompt_cache.increment_tokens": 1, "model.concurrency_limit": 100_000,
        # answers take no time, so the gap between two cache accesses is the think time
        "model.network_rtt_s": 0.0, "model.prefill_tokens_per_s": 1e12, "model.cached_prefill_tokens_per_s": 1e12,
        "model.decode_tokens_per_s": 1e12,
        "simulation.queries": 8_000, "simulation.strategies": ["prompt_only"],
    })


def _history_cached_share(sc: Scenario) -> tuple[float, int]:
    r = simlib.run(sc)
    sr = r.replications[0].strategies["prompt_only"]
    later = sr.sessions.turn > 0
    return float((sr.history_read_tokens[later] > 0).mean()), int(later.sum())


def test_think_time_well_below_the_ttl_reads_every_later_turn_from_cache():
    share, _ = _history_cached_share(_cache_scenario({"sessions.think_time_distribution": "fixed", "sessions.think_time_mean_s": 5.0}))
    assert share == 1.0


def test_think_time_far_above_the_ttl_reads_none():
    share, _ = _history_cached_share(_cache_scenario({"sessions.think_time_distribution": "fixed", "sessions.think_time_mean_s": 3_000.0}))
    assert share == 0.0


@pytest.mark.parametrize("think, p_hit", [
    ({"sessions.think_time_distribution": "exponential", "sessions.think_time_mean_s": 300.0}, 1 - math.exp(-1.0)),
    ({"sessions.think_time_distribution": "exponential", "sessions.think_time_mean_s": 100.0}, 1 - math.exp(-3.0)),
    # lognormal with mean m and cv c: P(G < T) = Phi((ln T - mu) / s), s^2 = ln(1 + c^2), mu = ln m - s^2 / 2
    ({"sessions.think_time_distribution": "lognormal", "sessions.think_time_mean_s": 400.0, "sessions.think_time_cv": 1.5},
     0.5 * (1 + math.erf((math.log(300) - (math.log(400) - math.log(1 + 2.25) / 2)) / math.sqrt(2 * math.log(1 + 2.25))))),
])
def test_history_hit_share_follows_the_gap_distribution(think, p_hit):
    share, n = _history_cached_share(_cache_scenario(think))
    assert share == pytest.approx(p_hit, abs=4 * math.sqrt(p_hit * (1 - p_hit) / n))


def test_agent_task_calls_add_tool_results_and_task_latency_is_the_sum():
    sc = Scenario().with_changes({
        "sessions.kind": "agent_task", "sessions.turns_distribution": "fixed", "sessions.turns_mean": 5,
        "sessions.think_time_distribution": "fixed", "sessions.think_time_mean_s": 20.0,
        "sessions.tool_result_tokens_mean": 1_000, "sessions.retrieval": "per_session",
        "workload.token_length_cv": 0.0, "workload.query_tokens_mean": 200, "workload.output_tokens_mean": 100,
        "simulation.queries": 500, "simulation.strategies": ["rag"],
    })
    r = simlib.run(sc)
    rec = r.records("rag")
    sr = r.replications[0].strategies["rag"]
    fixed = sc.prompt.system_tokens + sc.prompt.instructions_tokens + sc.prompt.few_shot_tokens
    c = sc.retrieval.top_k * sc.retrieval.chunk_tokens
    # call 1: task (200) + chunks; call j > 1: H = 200 + C + 100 + (j - 2) (1000 + 100), new input 1000, no chunks
    h = np.array([0] + [200 + c + 100 + (j - 2) * 1100 for j in range(2, 6)])
    new = np.array([200, 1000, 1000, 1000, 1000])
    chunks = np.array([c, 0, 0, 0, 0])
    assert rec["prompt_tokens"].tolist() == (fixed + h + new + chunks)[sr.sessions.turn].tolist()
    m = r.summary()["rag"]
    done = np.isfinite(rec["latency_s"])
    by_task = np.bincount(sr.sessions.session[done], weights=rec["latency_s"][done].astype(float))
    complete = np.bincount(sr.sessions.session, weights=sr.sessions.complete) == 5
    assert m["session_latency_mean_s"]["mean"] == pytest.approx(by_task[complete].mean(), rel=1e-5)
    assert m["turns_per_session_mean"]["mean"] == 5.0
    # each call is sent 20 s after the previous answer reached the agent (its latency after its arrival)
    order = np.lexsort((sr.sessions.turn, sr.sessions.session))
    same = sr.sessions.session[order][1:] == sr.sessions.session[order][:-1]
    sent = rec["arrival_at_s"][order]
    answered = sent + rec["latency_s"][order].astype(float)
    assert np.allclose((sent[1:] - answered[:-1])[same], 20.0, atol=1e-3)
    # retrieval once per task: the embedding and vector read are paid on the first call only
    per_call = m["cost_retrieval_per_query_usd"]["mean"]
    first = (sc.prices.embedding_usd_per_mtok * 200 / 1e6 + sc.prices.vector_read_usd_per_query)
    assert per_call == pytest.approx(first / 5, rel=1e-6)


def test_sessions_with_a_replayed_trace_are_refused_with_the_field():
    with pytest.raises(ScenarioError) as err:
        Scenario().with_changes({"sessions.kind": "conversation", "workload.arrival_process": "trace",
                                 "workload.trace": "azure-conv"})
    assert "sessions.kind" in str(err.value)


# --- validation on the shipped Mooncake conversation trace (docs/traces.md) -------------------------

MOONCAKE_TOLERANCE = 0.025  # absolute, token-weighted reuse share (2.5 percentage points), as the analytic model


@pytest.fixture(scope="module")
def mooncake_fit():
    trace = traces.load_trace("mooncake-conversation")
    stats = fit.fit_sessions(trace)
    span_s = float(trace.timestamp_s[-1] - trace.timestamp_s[0])
    groups = fit.session_workload(stats, trace.n / span_s * 86_400, float(trace.output_tokens.mean()))
    return trace, groups


@pytest.mark.parametrize("ttl_s", [300.0, 900.0, math.inf])
def test_fitted_session_workload_reproduces_the_mooncake_ttl_curve(mooncake_fit, ttl_s):
    """Reuse = tokens read from the cache / input tokens: 29.3% at 5 minutes, 37.4% with an infinite cache."""
    trace, groups = mooncake_fit
    sc = build_scenario({
        **groups,
        "workload": {**groups["workload"], "token_length_cv": 0.0},
        "prompt": {"system_tokens": 0, "instructions_tokens": 0, "few_shot_tokens": 0},  # only the trace's own tokens
        "prompt_cache": {"mode": "automatic", "min_cacheable_tokens": 0, "increment_tokens": 1, "ttl_s": ttl_s},
        # idealised serving: reuse is a property of the workload, so nothing queues
        "model": {"context_window_tokens": 10**7, "max_output_tokens": 100_000, "concurrency_limit": 100_000},
        "knowledge": {"changes_per_day": 0},
        "simulation": {"strategies": ["prompt_only"], "queries": trace.n},
    })
    rec = simlib.run(sc).records("prompt_only")
    simulated = rec["cache_read_tokens"].sum() / rec["prompt_tokens"].sum()
    measured = trace_reuse.prefix_reuse(trace, ttl_s)["token_share"]
    assert simulated == pytest.approx(measured, abs=MOONCAKE_TOLERANCE)


def test_cli_reports_per_session_figures_in_the_table_and_the_json(capsys):
    import json

    from simlib.cli import main

    args = ["run", "--preset", "codebase-agent", "--queries", "600", "--no-progress", "--no-flips"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "per task (agent tasks; the table above is per call):" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("rag_fine_tune:") and "calls" in x)
    assert "history read from cache" in line
    assert main(args + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    text = json.dumps(data)
    for key in ("cost_per_session_usd", "session_latency_mean_s", "turns_per_session_mean", "history_cache_read_share"):
        assert key in text
