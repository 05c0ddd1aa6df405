"""simlib fit: OTLP GenAI spans and CSV call logs -> a fitted scenario; the session model's TTL curve.

OTLP files here are written by hand from the OTLP JSON encoding and the GenAI semantic
conventions (not by simlib), so a reader bug cannot hide behind a matching writer.
"""

from __future__ import annotations

import json
import math

import pytest

from simlib import fit, trace_reuse, traces
from simlib.cli import main


def attr(key, kind, value):
    return {"key": key, "value": {kind: value}}


def llm_span(i, start_ns, dur_ns, inp, out, *, cached=None, old=False, conv=None, ints_as_str=True,
             model="gpt-4.1", provider="openai"):
    enc = (lambda v: str(v)) if ints_as_str else (lambda v: v)
    attrs = [attr("gen_ai.operation.name", "stringValue", "chat"),
             attr("gen_ai.request.model", "stringValue", model)]
    if old:
        attrs += [attr("gen_ai.system", "stringValue", provider),
                  attr("gen_ai.usage.prompt_tokens", "intValue", enc(inp)),
                  attr("gen_ai.usage.completion_tokens", "intValue", enc(out))]
    else:
        attrs += [attr("gen_ai.provider.name", "stringValue", provider),
                  attr("gen_ai.usage.input_tokens", "intValue", enc(inp)),
                  attr("gen_ai.usage.output_tokens", "intValue", enc(out))]
    if cached is not None:
        attrs.append(attr("gen_ai.usage.cache_read.input_tokens", "intValue", enc(cached)))
    if conv is not None:
        attrs.append(attr("gen_ai.conversation.id", "stringValue", conv))
    return {"traceId": f"{i:032x}", "spanId": f"{i:016x}", "name": f"chat {model}", "kind": 3,
            "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(start_ns + dur_ns), "attributes": attrs}


def http_span(i, start_ns):
    return {"traceId": f"{i:032x}", "spanId": f"{i:016x}", "name": "GET /search", "kind": 2,
            "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(start_ns + 10_000_000),
            "attributes": [attr("http.request.method", "stringValue", "GET")]}


def otlp(spans_per_scope):
    return {"resourceSpans": [{"resource": {"attributes": [attr("service.name", "stringValue", "assistant")]},
                               "scopeSpans": [{"scope": {"name": "openai-instrumentation"}, "spans": spans}
                                              for spans in spans_per_scope]}]}


T0 = 1_764_547_200_000_000_000  # 2025-12-01T00:00:00Z in ns
S = 1_000_000_000


def small_log():
    """4 calls 10 s apart (mixed old / new names, string and plain ints) + 2 HTTP spans, 2 conversations."""
    return otlp([
        [llm_span(0, T0, 2 * S, 2000, 100, cached=1000, conv="a"), http_span(1, T0 + 1 * S),
         llm_span(2, T0 + 10 * S, 3 * S, 4000, 300, cached=3000, conv="a", old=True)],
        [llm_span(3, T0 + 20 * S, 2 * S, 1000, 200, cached=0, conv="b", ints_as_str=False), http_span(4, T0 + 21 * S),
         llm_span(5, T0 + 30 * S, 4 * S, 1000, 400, cached=0, conv="b")],
    ])


def fit_cli_json(tmp_path, capsys, doc, name, out_name):
    """Write the OTLP document to tmp_path / name, run `simlib fit --json` on it; (report, written scenario path)."""
    src = tmp_path / name
    src.write_text(json.dumps(doc))
    out = tmp_path / out_name
    assert main(["fit", str(src), "--out", str(out), "--json"]) == 0
    return json.loads(capsys.readouterr().out), out


def test_otlp_log_measured_by_hand(tmp_path, capsys):
    report, out = fit_cli_json(tmp_path, capsys, small_log(), "calls.json", "my.yaml")
    m = report["measured"]
    assert m["calls"] == 4
    assert m["calls_per_day"] == pytest.approx(3 / 30 * 86_400)
    assert m["input_tokens_per_call_mean"] == pytest.approx(8000 / 4)
    assert m["output_tokens_per_call_mean"] == pytest.approx(1000 / 4)
    assert m["cached_input_token_share"] == pytest.approx(4000 / 8000)
    assert m["turns_per_session_mean"] == pytest.approx(2.0)
    assert m["latency_p50_s"] == pytest.approx(2.5)
    for key in ("calls_per_day", "input_tokens_per_call_mean", "output_tokens_per_call_mean",
                "cached_input_token_share", "turns_per_session_mean"):
        assert key in report["simulated"]
    # two calls per conversation: a fixed 2-turn session workload, simulated
    assert report["simulated"]["turns_per_session_mean"] == pytest.approx(2.0)
    sc = report["scenario"]
    assert sc["sessions"]["kind"] == "conversation" and sc["sessions"]["turns_distribution"] == "fixed"
    # per-call totals agree: first-turn input F = (2000 + 1000) / 2, growth g = query + answer = ((4000 - 2000) + 0) / 2,
    # and the mean call is F + g x mean(turn - 1) = F + g / 2
    w = sc["workload"]
    assert sc["prompt"]["system_tokens"] == 0
    assert sc["sessions"]["first_turn_tokens_mean"] == pytest.approx(1500)
    assert w["query_tokens_mean"] + w["output_tokens_mean"] == pytest.approx(1000)
    assert sc["sessions"]["first_turn_tokens_mean"] + (w["query_tokens_mean"] + w["output_tokens_mean"]) / 2 == pytest.approx(2000)
    assert sc["prices"]["model"] == "openai/gpt-4.1"
    assert "2 spans without gen_ai token usage" in sc["sources"]["skipped spans"]
    assert "calls.json" in sc["sources"]["workload.queries_per_day"]
    assert out.is_file()
    assert main(["validate", str(out)]) == 0
    assert main(["run", "--scenario", str(out), "--queries", "300", "--no-progress"]) == 0


def test_otlp_json_lines_and_unknown_model(tmp_path, capsys):
    src = tmp_path / "calls.jsonl"
    spans = [llm_span(i, T0 + i * 5 * S, S, 1500, 200, model="acme-llm-7", provider="acme") for i in range(5)]
    src.write_text("\n".join(json.dumps(otlp([[s]])) for s in spans) + "\n")
    out = tmp_path / "my.yaml"
    assert main(["fit", str(src), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "not in the price catalog" in text and "'acme-llm-7'" in text
    assert main(["validate", str(out)]) == 0


@pytest.mark.parametrize("mutate, where", [
    (lambda sp: sp["attributes"].__setitem__(4, attr("gen_ai.usage.output_tokens", "intValue", "12x")),
     "attribute gen_ai.usage.output_tokens"),
    (lambda sp: sp["attributes"].__setitem__(3, attr("gen_ai.usage.input_tokens", "intValue", "-5")),
     "attribute gen_ai.usage.input_tokens"),
    (lambda sp: sp["attributes"].pop(4), "attribute gen_ai.usage.output_tokens"),
    (lambda sp: sp.__setitem__("startTimeUnixNano", "soon"), "startTimeUnixNano"),
    (lambda sp: sp.__setitem__("endTimeUnixNano", str(int(sp["startTimeUnixNano"]) - 1)), "endTimeUnixNano"),
    (lambda sp: sp["attributes"].append(attr("gen_ai.usage.cache_read.input_tokens", "intValue", "99999")),
     "attribute gen_ai.usage.cache_read.input_tokens"),
])
def test_malformed_span_located_exit_2_nothing_written(tmp_path, capsys, mutate, where):
    doc = small_log()
    mutate(doc["resourceSpans"][0]["scopeSpans"][1]["spans"][2])  # span 5 overall, counted from 0
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(doc))
    out = tmp_path / "my.yaml"
    assert main(["fit", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.json: span 5 (resourceSpans[0].scopeSpans[1].spans[2])" in err
    assert where in err
    assert "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_malformed_json_lines_located_by_line(tmp_path, capsys):
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(otlp([[llm_span(0, T0, S, 10, 10)]])) + "\n{not json\n")
    assert main(["fit", str(src), "--out", str(tmp_path / "x.yaml")]) == 2
    assert "bad.jsonl:2: not valid JSON" in capsys.readouterr().err


def test_no_genai_spans_is_bad_input(tmp_path, capsys):
    src = tmp_path / "http.json"
    src.write_text(json.dumps(otlp([[http_span(0, T0), http_span(1, T0 + S)]])))
    assert main(["fit", str(src), "--out", str(tmp_path / "x.yaml")]) == 2
    assert "no GenAI spans" in capsys.readouterr().err


def test_refuses_to_overwrite_without_force_before_any_work(tmp_path, capsys):
    out = tmp_path / "my.yaml"
    out.write_text("keep me\n")
    missing = tmp_path / "does-not-exist.json"  # the destination is checked first
    assert main(["fit", str(missing), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"
    src = tmp_path / "calls.json"
    src.write_text(json.dumps(small_log()))
    assert main(["fit", str(src), "--out", str(out), "--force"]) == 0
    assert out.read_text().startswith("# written by simlib fit")
    assert main(["fit", str(src), "--out", str(tmp_path / "no-such-dir" / "my.yaml")]) == 2


def test_csv_call_log_with_extended_columns(tmp_path, capsys):
    src = tmp_path / "gateway.csv"
    rows = ["timestamp,input_tokens,output_tokens,cache_read_input_tokens,latency_s,conversation_id,model"]
    for i in range(30):
        rows.append(f"2025-12-01T00:00:{i * 2:02d}Z,{1000 + 100 * (i % 3)},{50 + 10 * i},{500 if i % 3 else 0},"
                    f"{0.5 + 0.02 * (50 + 10 * i):.3f},c{i // 3},gpt-4.1")
    src.write_text("\n".join(rows) + "\n")
    assert main(["fit", str(src), "--out", str(tmp_path / "g.yaml"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    m = rep["measured"]
    assert m["turns_per_session_mean"] == pytest.approx(3.0)
    assert m["cached_input_token_share"] == pytest.approx(20 * 500 / (10 * (1000 + 1100 + 1200)))
    # latency = 0.5 s + output / 50 tokens/s exactly: the fit returns both
    assert rep["scenario"]["model"]["decode_tokens_per_s"] == pytest.approx(50.0, rel=1e-3)
    assert rep["scenario"]["model"]["network_rtt_s"] == pytest.approx(0.5, abs=1e-3)


def test_bad_csv_call_log_located(tmp_path, capsys):
    src = tmp_path / "gw.csv"
    src.write_text("timestamp_s,input_tokens,output_tokens,cache_read_input_tokens\n0,100,10,50\n1,100,10,150\n")
    assert main(["fit", str(src), "--out", str(tmp_path / "g.yaml")]) == 2
    err = capsys.readouterr().err
    assert "gw.csv:3" in err and "cache_read_input_tokens" in err


def test_daily_profile_from_two_days():
    """Hour h of day gets 100 (h % 4 + 1) calls per hour for 48 h: weights are proportional to h % 4 + 1."""
    import numpy as np

    from simlib.traces import Trace

    times = []
    for day in range(2):
        for h in range(24):
            c = 100 * (h % 4 + 1)
            times += [day * 86_400 + h * 3600 + j * 3600 / c for j in range(c)]
    t = np.asarray(times) - times[0]
    tr = Trace("x", None, t, np.ones(len(t), np.int64), np.ones(len(t), np.int64),
               start_unix_s=1_764_547_200 + times[0])
    w = fit.hourly_weights(tr)
    expect = [(h % 4 + 1) / 4 for h in range(24)]
    assert w is not None
    assert w == pytest.approx(expect, rel=0.03)


# tolerances of the round trip: rate 3%, token means 5% (5,000 simulated calls, lognormal
# lengths with the trace's CV, outputs capped at the trace's largest)
@pytest.mark.parametrize("name", traces.trace_names())
def test_fit_then_simulate_round_trip_on_shipped_traces(name):
    fitted = fit.fit_scenario(name)
    report = fit.calibrate(fitted)
    m, s = report["measured"], report["simulated"]
    tr = traces.load_trace(name)
    assert m["calls_per_day"] == pytest.approx(tr.mean_rate_per_s * 86_400)
    assert s["calls_per_day"] == pytest.approx(m["calls_per_day"], rel=0.03)
    assert s["input_tokens_per_call_mean"] == pytest.approx(float(tr.input_tokens.mean()), rel=0.05)
    assert s["output_tokens_per_call_mean"] == pytest.approx(float(tr.output_tokens.mean()), rel=0.05)


# --- sessions: the fitted gap distribution reproduces the trace's TTL curve of reuse ---------------

TTL_TOLERANCE = 0.025  # absolute, token-weighted share (2.5 percentage points)


@pytest.fixture(scope="module")
def mooncake():
    return traces.load_trace("mooncake-conversation")


@pytest.fixture(scope="module")
def stats(mooncake):
    return fit.fit_sessions(mooncake)


def test_recorded_reuse_figures(mooncake, stats):
    assert stats.reuse_token_share_inf == pytest.approx(0.3736, abs=5e-4)  # docs/traces.md: 37.36%
    assert trace_reuse.prefix_reuse(mooncake, 300.0)["token_share"] == pytest.approx(0.293, abs=5e-4)


@pytest.mark.parametrize("ttl_s", [60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0])
def test_session_model_reproduces_ttl_curve(mooncake, stats, ttl_s):
    exact = trace_reuse.prefix_reuse(mooncake, ttl_s)["token_share"]
    assert fit.reuse_share_at_ttl(stats, ttl_s) == pytest.approx(exact, abs=TTL_TOLERANCE)


def test_session_model_limits(stats):
    assert fit.reuse_share_at_ttl(stats, 0.0) == 0.0
    assert fit.reuse_share_at_ttl(stats, math.inf) == stats.reuse_token_share_inf
    # far below the think times only same-instant reuse is left; far above, all of it
    assert fit.reuse_share_at_ttl(stats, 1e-3) == pytest.approx(stats.shared_reuse_token_share, abs=1e-4)
    assert fit.reuse_share_at_ttl(stats, 1e7) == pytest.approx(stats.reuse_token_share_inf, abs=1e-4)


def test_session_statistics_by_hand(tmp_path):
    """Two conversations of 3 and 2 turns behind one shared system block; gaps 60 s and 30 s."""
    src = tmp_path / "conv.jsonl"
    rows = [
        (0, 1024, [0, 1]), (10, 1024, [0, 2]),            # two first turns, sharing block 0
        (60, 2048, [0, 1, 3, 4]), (40, 1536, [0, 2, 5]),  # (listed out of order below)
        (130, 3072, [0, 1, 3, 4, 6, 7]),
    ]
    rows.sort()
    src.write_text("".join(json.dumps({"timestamp_s": t, "input_tokens": x, "output_tokens": 10, "hash_ids": h}) + "\n"
                           for t, x, h in rows))
    s = fit.fit_sessions(traces.load_trace(src))
    assert s.conversations == 2
    assert s.turns_mean == pytest.approx(2.5)
    # continuing turns: 2048 - 1024, 1536 - 1024, 3072 - 2048 new tokens
    assert s.history_growth_tokens_per_turn_mean == pytest.approx((1024 + 512 + 1024) / 3)
    # gaps of the continuing turns: 60, 30, 70 s
    assert s.think_time_mean_s == pytest.approx((60 + 30 + 70) / 3)


def test_simulated_cached_share_follows_measured(tmp_path, capsys):
    """Calls 2 s apart (well within a 5-minute TTL), 4,000 input tokens, 2,000 read from cache after the first:
    the fitted cached prefix is read on every later call, so the simulated share is the measured one."""
    spans = [llm_span(i, T0 + 2 * i * S, 3 * S, 4000, 300, cached=0 if i == 0 else 2000,
                      model="claude-sonnet-4-5", provider="anthropic") for i in range(300)]
    src = tmp_path / "anthropic.json"
    src.write_text(json.dumps(otlp([spans])))
    assert main(["fit", str(src), "--out", str(tmp_path / "a.yaml"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    measured = 299 * 2000 / (300 * 4000)
    assert rep["measured"]["cached_input_token_share"] == pytest.approx(measured)
    assert rep["scenario"]["prices"]["model"].startswith("anthropic/claude-sonnet-4-5")
    assert rep["simulated"]["cached_input_token_share"] == pytest.approx(measured, abs=0.01)


# --- sessions fitted from gen_ai.conversation.id -------------------------------------------------

def conversation_log(growth=600):
    """Two conversations of 3 calls (2 s each, 100 output tokens), interleaved, plus an HTTP span.

    a: starts 0, 30, 60 s, input 1000, 1000 + g, 1000 + 2g; b: starts 10, 50, 90 s, input 2000, 2000 + g, 2000 + 2g.
    Each later call reads the previous call's input from the cache (the provider's cache_read field).
    """
    spans = []
    for conv, t0, step, first in (("a", 0, 30, 1000), ("b", 10, 40, 2000)):
        for j in range(3):
            spans.append(llm_span(len(spans), T0 + (t0 + j * step) * S, 2 * S, first + j * growth, 100,
                                  cached=first + (j - 1) * growth if j else 0, conv=conv))
    spans.sort(key=lambda sp: int(sp["startTimeUnixNano"]))
    spans.insert(2, http_span(99, T0 + 5 * S))
    return otlp([spans])


def test_conversation_ids_fit_a_session_workload(tmp_path, capsys):
    """Turns, think time and history growth by hand; the simulated run returns the log's turns and per-call input."""
    rep, out = fit_cli_json(tmp_path, capsys, conversation_log(), "chat.json", "chat.yaml")
    m, s, sc = rep["measured"], rep["simulated"], rep["scenario"]
    assert m["turns_per_session_mean"] == pytest.approx(3.0)
    assert m["input_tokens_per_call_mean"] == pytest.approx((1000 + 1600 + 2200 + 2000 + 2600 + 3200) / 6)
    ses = sc["sessions"]
    assert ses["kind"] == "conversation" and ses["turns_distribution"] == "fixed" and ses["turns_mean"] == 3
    assert ses["first_turn_tokens_mean"] == pytest.approx(1500)
    # growth 600 = the previous answer (100) + the new message
    assert sc["workload"]["query_tokens_mean"] == pytest.approx(500)
    assert sc["prompt"]["system_tokens"] == 0
    # think time = start - previous end: a's gaps 28 s (after prompts 1000, 1600), b's 38 s (after 2000, 2600);
    # the lognormal is fitted to log gaps weighted by the previous prompt; mean = exp(mu + sd^2 / 2)
    wa, wb = 2600 / 7200, 4600 / 7200
    mu = wa * math.log(28) + wb * math.log(38)
    var = wa * wb * (math.log(38) - math.log(28)) ** 2
    assert ses["think_time_mean_s"] == pytest.approx(math.exp(mu + var / 2), rel=1e-4)
    assert ses["think_time_cv"] == pytest.approx(math.sqrt(math.expm1(var)), abs=1e-4)
    assert "chat.json" in sc["sources"]["sessions"] and "gen_ai.conversation.id" in sc["sources"]["sessions"]
    assert "gaps" in sc["sources"]["sessions.think_time_mean_s"]
    # simulated: fixed 3 turns; no length spread (output CV 0), so turn j's input is 1500 + 600 (j - 1): mean 2100
    assert s["turns_per_session_mean"] == pytest.approx(3.0)
    assert s["input_tokens_per_call_mean"] == pytest.approx(m["input_tokens_per_call_mean"])
    # gaps well within the 5-minute TTL: every later turn reads the previous prompt, as measured (up to the
    # provider's 1,024-token minimum and 128-token increments on the cached prefix)
    assert s["cached_input_token_share"] == pytest.approx(m["cached_input_token_share"], abs=0.03)
    assert main(["validate", str(out)]) == 0
    assert main(["run", "--scenario", str(out), "--queries", "60", "--no-progress"]) == 0


def test_conversation_ids_without_growing_input_stay_independent(tmp_path):
    """A conversation id whose calls do not resend the history (input flat) is no session workload."""
    src = tmp_path / "flat.json"
    src.write_text(json.dumps(conversation_log(growth=0)))
    fitted = fit.fit_scenario(src)
    assert fitted.get("sessions", {"kind": "none"})["kind"] == "none"
    assert "does not grow" in fitted["sources"]["sessions"]
    rep = fit.calibrate(fitted)
    assert rep["measured"]["turns_per_session_mean"] == pytest.approx(3.0)
    assert rep["simulated"]["turns_per_session_mean"] is None


def test_conversation_preset_base_lends_no_sessions_to_independent_calls(tmp_path):
    """A log without conversation ids fitted on a conversation preset (language-tutor) stays independent calls."""
    src = tmp_path / "calls.json"
    src.write_text(json.dumps(otlp([[llm_span(i, T0 + i * 5 * S, S, 1500, 200) for i in range(20)]])))
    fitted = fit.fit_scenario(src, base="language-tutor")
    assert fitted["sessions"] == {"kind": "none"}
    rep = fit.calibrate(fitted)
    assert rep["measured"]["turns_per_session_mean"] is None and rep["simulated"]["turns_per_session_mean"] is None
    assert rep["simulated"]["input_tokens_per_call_mean"] == pytest.approx(1500, rel=0.05)


# tolerances of the Mooncake session round trip: rate 5% and turns 5% (5,000 simulated calls, geometric turns);
# input 10%: Mooncake's conversations branch (a turn need not hold the previous prompt whole), so the growth
# read from input differences and a geometric turn count only approximate the per-call input (measured: 6% low)
def test_fit_then_simulate_round_trip_on_mooncake_conversations(tmp_path):
    """The Mooncake conversation trace with conversation ids (read from its prefix blocks, as fit_sessions does)."""
    tr = traces.load_trace("mooncake-conversation")
    k, _, _, parent = fit._gaps(tr)
    conv = list(range(tr.n))
    for i in range(tr.n):
        if k[i] > 1:
            conv[i] = conv[parent[i]]
    src = tmp_path / "mooncake-chat.jsonl"
    with src.open("w") as f:
        for t, i, o, c in zip(tr.timestamp_s.tolist(), tr.input_tokens.tolist(), tr.output_tokens.tolist(), conv):
            f.write(json.dumps({"timestamp_s": t, "input_tokens": i, "output_tokens": o, "conversation_id": f"c{c}"}) + "\n")
    fitted = fit.fit_scenario(src)
    assert fitted["sessions"]["kind"] == "conversation"
    rep = fit.calibrate(fitted)
    m, s = rep["measured"], rep["simulated"]
    assert m["turns_per_session_mean"] == pytest.approx(tr.n / len(set(conv)))
    assert s["turns_per_session_mean"] == pytest.approx(m["turns_per_session_mean"], rel=0.05)
    assert s["calls_per_day"] == pytest.approx(m["calls_per_day"], rel=0.05)
    assert s["input_tokens_per_call_mean"] == pytest.approx(m["input_tokens_per_call_mean"], rel=0.10)
    assert s["output_tokens_per_call_mean"] == pytest.approx(m["output_tokens_per_call_mean"], rel=0.05)
