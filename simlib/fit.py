"""A scenario fitted to your own call log, and the session statistics of a conversation trace.

    simlib fit calls.otlp.json --out my.yaml [--json] [--force]

    log = load_log("calls.otlp.json")          # OTLP JSON GenAI spans, or a CSV / JSONL trace
    m = measure(log.trace)                       # calls/day, token means and CVs, cache share, latency
    fitted = fit_scenario("calls.otlp.json")     # the scenario (a mapping with base: and sources:)
    report = calibrate(fitted)                   # {"measured", "simulated", "scenario"}
    stats = fit_sessions(load_trace("mooncake-conversation"))
    reuse_share_at_ttl(stats, 300.0)             # the session model's TTL curve of reuse

How the fit maps a logged call onto a scenario (also written into the scenario's
``sources``): the logged system is modelled as the ``rag_prompt_cache`` strategy with no
retrieved chunks (``retrieval.top_k: 0``), since a logged call's input already holds
whatever context the system adds. Its input is split into a fixed cached prefix
P = ``prompt.system_tokens`` = round(s x mean input), s the measured cached-input share
(0 without cache fields), and the query, ``workload.query_tokens_mean`` = mean input - P,
so the per-call totals agree (P + query = mean input); instructions and few-shot are 0.
Arrivals are Poisson at (n - 1) / span x 86,400 calls/day, or the daily profile
(``hourly_weights`` = calls per hour of day / hours of that hour observed) when the log
covers at least 24 h of absolute time. Lengths are lognormal with the CV of the output
tokens (one CV for query and output in the scenario; decode dominates latency).
Latency: least squares latency = a + b x output tokens gives decode = 1 / b tokens/s and
network_rtt_s = a (when b > 0 and at least 10 calls).
Conversations (``gen_ai.conversation.id``, more than one call each, input growing turn to
turn) become a ``sessions`` group through ``conversation_stats`` and ``session_workload``
(``_fit_conversations``; docs/fit.md), and then replace the prefix split above.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simlib.errors import Problem, ScenarioError
from simlib.traces import BLOCK_TOKENS, SECONDS_PER_DAY, Trace, load_trace, resolve_trace

CALIBRATION_STRATEGY = "rag_prompt_cache"
CALIBRATION_QUERIES_MAX = 5_000  # queries simulated for the calibration report
SCENARIO_QUERIES_MAX = 20_000  # simulation.queries written into the scenario
DAY_HOURS = 24


# --- reading the log ------------------------------------------------------------------

@dataclass(frozen=True)
class CallLog:
    """The calls of a log file (a Trace in arrival order) and what the reader noticed."""

    path: Path
    kind: str  # "otlp" or "trace"
    trace: Trace
    spans_skipped: int = 0
    providers: tuple[str, ...] = ()  # per trace.model_names entry


def load_log(path: str | Path) -> CallLog:
    """An OTLP JSON file (by its ``resourceSpans`` key) or a CSV / JSONL trace (docs/traces.md)."""
    from simlib import otlp

    file = resolve_trace(path)
    if otlp.is_otlp(file):
        log = otlp.read_otlp(file)
        return CallLog(file, "otlp", log.trace, log.spans_skipped, log.providers)
    trace = load_trace(path)
    return CallLog(file, "trace", trace, 0, ("",) * len(trace.model_names))


# --- what the log measures -------------------------------------------------------------

def _cv(x: np.ndarray) -> float:
    m = float(x.mean()) if x.size else 0.0
    return float(x.std() / m) if m > 0 else 0.0


def calls_per_day(trace: Trace) -> float:
    """(n - 1) / span x 86,400: the Poisson rate of the same mean load (NaN for one instant)."""
    return trace.mean_rate_per_s * SECONDS_PER_DAY


def hourly_weights(trace: Trace) -> tuple[float, ...] | None:
    """Calls per hour of day (UTC) / hours of that hour observed; None under 24 h or without absolute times."""
    if trace.start_unix_s is None or trace.span_s < SECONDS_PER_DAY:
        return None
    hour = ((trace.start_unix_s + trace.timestamp_s) // 3600 % DAY_HOURS).astype(int)
    counts = np.bincount(hour, minlength=DAY_HOURS).astype(float)
    start_h = trace.start_unix_s / 3600
    end_h = start_h + trace.span_s / 3600
    exposure = np.zeros(DAY_HOURS)
    h = math.floor(start_h)
    while h < end_h:
        exposure[h % DAY_HOURS] += min(end_h, h + 1) - max(start_h, h)
        h += 1
    rate = np.divide(counts, exposure, out=np.zeros(DAY_HOURS), where=exposure > 0)
    top = rate.max()
    return tuple(round(float(r / top), 4) for r in rate) if top > 0 else None


def measure(trace: Trace) -> dict[str, Any]:
    """The log's own figures: the ``measured`` half of the calibration report."""
    inp, out = trace.input_tokens.astype(float), trace.output_tokens.astype(float)
    cached = None
    if trace.cache_read_tokens is not None and inp.sum() > 0:
        cached = float(trace.cache_read_tokens.sum() / inp.sum())
    turns = None
    if trace.conversation is not None:
        turns = float(trace.n / len(np.unique(trace.conversation)))
    lat = trace.latency_s
    rate = calls_per_day(trace)
    return {
        "calls": trace.n,
        "span_s": trace.span_s,
        "calls_per_day": rate if math.isfinite(rate) else None,
        "input_tokens_per_call_mean": float(inp.mean()),
        "input_tokens_cv": _cv(inp),
        "output_tokens_per_call_mean": float(out.mean()),
        "output_tokens_cv": _cv(out),
        "output_tokens_max": int(out.max()),
        "cached_input_token_share": cached,
        "cache_hit_rate": float(np.mean(trace.cache_read_tokens > 0)) if trace.cache_read_tokens is not None else None,
        "turns_per_session_mean": turns,
        "latency_p50_s": float(np.median(lat)) if lat is not None else None,
        "latency_p95_s": float(np.quantile(lat, 0.95)) if lat is not None else None,
    }


def latency_fit(trace: Trace) -> tuple[float, float] | None:
    """(network_rtt_s, decode_tokens_per_s) from least squares latency = a + b x output; None if unusable."""
    if trace.latency_s is None or trace.n < 10:
        return None
    x, y = trace.output_tokens.astype(float), trace.latency_s
    if x.std() == 0:
        return None
    b, a = np.polyfit(x, y, 1)
    if not b > 0:
        return None
    return max(0.0, float(a)), float(1.0 / b)


# --- model and base preset -------------------------------------------------------------

def catalog_model(model: str, provider: str = "") -> tuple[str | None, str]:
    """(catalog name or None, a note saying how it was found) for a logged model name."""
    from simlib import prices

    if not model:
        return None, "the log names no model (gen_ai.request.model); the base preset's model is kept"
    tries = [model] + ([f"{provider}/{model}"] if provider and "/" not in model else [])
    for name in tries:
        try:
            display = prices.resolve_model(name)[0]
            return display, f"catalog lookup of {name!r}"
        except prices.UnknownModelError:
            continue
    hits = [h for h in prices.search_models(model.split("/")[-1]) if h.split("/", 1)[-1].lower() == model.split("/")[-1].lower()]
    if hits:
        return hits[0], f"catalog search for {model!r} (provider {provider or 'not logged'})"
    return None, (f"model {model!r} (provider {provider or 'not logged'}) is not in the price catalog; the base "
                  "preset's model and prices are kept: set prices.model (simlib prices --search ...)")


def closest_preset(measured: dict[str, Any]) -> str | None:
    """The shipped preset nearest in log(calls/day), log(input mean), log(output mean); None if none loads."""
    from simlib.presets import list_presets
    from simlib.scenario import load_preset

    best, best_d = None, math.inf
    for name, _ in list_presets():
        s = load_preset(name)
        w = s.workload
        strategy_input = s.prompt.system_tokens + s.prompt.instructions_tokens + w.query_tokens_mean
        d = sum(math.log(max(a, 1e-9) / max(b, 1e-9)) ** 2 for a, b in (
            (measured["calls_per_day"] or w.queries_per_day, w.queries_per_day),
            (measured["input_tokens_per_call_mean"], strategy_input),
            (measured["output_tokens_per_call_mean"], w.output_tokens_mean)))
        if d < best_d:
            best, best_d = name, d
    return best


# --- the fitted scenario ---------------------------------------------------------------

def fit_scenario(path: str | Path, *, base: str | None = "auto") -> dict[str, Any]:
    """The scenario mapping fitted to the log at ``path`` (``base:`` the closest preset unless given)."""
    log = load_log(path)
    tr, name = log.trace, log.path.name
    m = measure(tr)
    if m["calls_per_day"] is None:
        raise ScenarioError([Problem(str(log.path), "all calls are at one instant: no arrival rate can be fitted")])
    base_name = closest_preset(m) if base == "auto" else base
    src: dict[str, str] = {}
    mean_in = m["input_tokens_per_call_mean"]
    share = m["cached_input_token_share"] or 0.0
    prefix = int(round(share * mean_in))
    query_mean = max(1.0, mean_in - prefix)
    weights = hourly_weights(tr)
    workload: dict[str, Any] = {
        "queries_per_day": round(m["calls_per_day"], 3),
        "arrival_process": "daily_profile" if weights else "poisson",
        "query_tokens_mean": round(query_mean, 3),
        "output_tokens_mean": round(max(1.0, m["output_tokens_per_call_mean"]), 3),
        "token_length_cv": round(min(5.0, m["output_tokens_cv"]), 4),
        "tenants_count": 1,
    }
    src["workload.queries_per_day"] = f"{name}: (calls - 1) / span x 86,400 = ({tr.n} - 1) / {tr.span_s:,.1f} s x 86,400"
    src["workload.arrival_process"] = (f"{name}: calls per UTC hour of day / hours observed (span {tr.span_s / 3600:,.1f} h)"
                                       if weights else f"{name}: span {tr.span_s / 3600:,.2f} h (< 24 h or no absolute clock): Poisson")
    if weights:
        workload["hourly_weights"] = list(weights)
    src["workload.query_tokens_mean"] = (f"{name}: mean input tokens per call ({mean_in:,.1f}) - prompt.system_tokens; "
                                         "split: fixed cached prefix = cached-input share x mean input, the rest is the query")
    src["workload.output_tokens_mean"] = f"{name}: mean output tokens per call"
    src["workload.token_length_cv"] = (f"{name}: CV of output tokens ({m['output_tokens_cv']:.3f}; input CV "
                                       f"{m['input_tokens_cv']:.3f}); one CV for query and output")
    prompt = {"system_tokens": prefix, "instructions_tokens": 0, "few_shot_tokens": 0}
    src["prompt.system_tokens"] = (f"{name}: cached-input share {share:.4f} x mean input {mean_in:,.1f}" if m["cached_input_token_share"] is not None
                                   else f"{name}: no cache-read fields, so no fixed prefix is assumed (0)")
    src["prompt.instructions_tokens"] = "fit: the logged input is split into the cached prefix (system_tokens) and the query only"
    src["retrieval.top_k"] = "fit: 0, a logged call's input already holds the context the system adds (raise it to study more retrieval)"
    src["simulation.strategies"] = f"fit: the logged system is compared as {CALIBRATION_STRATEGY} (cached prefix + query)"
    scenario: dict[str, Any] = {}
    if base_name:
        scenario["base"] = base_name
    scenario.update(name=f"fit-{log.path.stem}"[:60],
                    story=f"Fitted to {name}: {tr.n:,} calls over {tr.span_s / 3600:,.2f} h (simlib fit)")
    scenario["workload"] = workload
    scenario["prompt"] = prompt
    scenario["retrieval"] = {"top_k": 0}
    model_cfg: dict[str, Any] = {"max_output_tokens": max(1, m["output_tokens_max"])}
    src["model.max_output_tokens"] = f"{name}: largest output tokens of a call"
    if tr.model is not None and tr.model_names:
        top = Counter(tr.model.tolist()).most_common(1)[0][0]
        cat, note = catalog_model(tr.model_names[top], log.providers[top] if log.providers else "")
        if cat:
            scenario["prices"] = {"model": cat}
            scenario["fine_tuning"] = {}
            model_cfg["name"] = cat
            src["prices.model"] = f"{name}: most frequent model {tr.model_names[top]!r}; {note}"
        else:
            src["prices.model"] = f"{name}: {note}"
    lf = latency_fit(tr)
    if lf is not None:
        model_cfg["network_rtt_s"] = round(lf[0], 4)
        model_cfg["decode_tokens_per_s"] = round(lf[1], 3)
        src["model.decode_tokens_per_s"] = f"{name}: 1 / slope of least squares latency = a + b x output tokens"
        src["model.network_rtt_s"] = f"{name}: intercept a of that fit (includes prefill and queueing at the provider)"
    if m["latency_p50_s"] is not None:
        src["measured latency"] = f"{name}: p50 {m['latency_p50_s']:.3f} s, p95 {m['latency_p95_s']:.3f} s (end - start of each call)"
    if m["cached_input_token_share"] is not None:
        src["prompt_cache"] = f"{name}: measured cached-input share {share:.4f} (gen_ai.usage.cache_read.input_tokens / input)"
    sessions = _fit_conversations(tr, name, m, workload, prompt, src)
    if sessions is not None:
        scenario["sessions"] = sessions
    elif base_name:  # a conversation or agent preset as base must not lend the log its sessions
        scenario["sessions"] = {"kind": "none"}
        src.setdefault("sessions", f"{name}: no gen_ai.conversation.id: independent calls (kind none, "
                                   "whatever the base preset's)")
    if log.spans_skipped:
        src["skipped spans"] = f"{name}: {log.spans_skipped} spans without gen_ai token usage skipped"
    scenario["model"] = model_cfg
    scenario["simulation"] = {"queries": min(tr.n, SCENARIO_QUERIES_MAX)}
    scenario["sources"] = src
    scenario["_measured"] = m
    return scenario


def _fit_conversations(tr: Trace, name: str, m: dict[str, Any], workload: dict[str, Any], prompt: dict[str, Any],
                       src: dict[str, str]) -> dict[str, Any] | None:
    """The ``sessions`` group of a log with conversation ids and more than one call per conversation, else None.

    Through ``session_workload`` (the one mapping of SessionStats onto a scenario) on
    ``conversation_stats``; it replaces the fit's prefix split: the whole first-turn input is
    the session's first message (``prompt.system_tokens`` = 0) and later turns carry the
    history, so the mean input per call is F + g x mean(turn - 1), F the first-turn mean and g
    the mean growth. Turns are 'fixed' when every conversation has the same count (so that
    mean matches the log's), else geometric. ``workload``, ``prompt`` and ``src`` are updated.
    """
    turns = m["turns_per_session_mean"]
    if turns is None:
        return None
    stats = conversation_stats(tr) if turns > 1 else None
    if stats is None or stats.history_growth_tokens_per_turn_mean <= 0:
        why = ("one call per conversation" if turns <= 1 else
               "no positive gap between a conversation's calls" if stats is None else
               "the input does not grow turn to turn (the history is not resent)")
        src["sessions"] = (f"{name}: {turns:.2f} calls per conversation (gen_ai.conversation.id), {why}: "
                           "calls are simulated as independent")
        return None
    groups = session_workload(stats, workload["queries_per_day"], workload["output_tokens_mean"])
    workload["query_tokens_mean"] = round(groups["workload"]["query_tokens_mean"], 3)
    sessions = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in groups["sessions"].items()}
    if stats.turns_p50 == stats.turns_max and stats.turns_mean == stats.turns_max:
        sessions["turns_distribution"] = "fixed"
    prompt["system_tokens"] = 0
    gap_kind = "start - previous call's end" if tr.latency_s is not None else "start - previous call's start"
    src["sessions"] = (f"{name}: {stats.conversations:,} conversations (gen_ai.conversation.id), "
                       f"{stats.turns_mean:.2f} calls each (max {stats.turns_max}; "
                       f"{sessions['turns_distribution']}); split: the first call's input is the first message, "
                       "every later call adds the previous answer and its message to the history (simlib.fit.session_workload)")
    src["sessions.think_time_mean_s"] = (f"{name}: lognormal fitted to the gaps ({gap_kind}) between a conversation's calls, "
                                         f"weighted by the previous prompt; median gap {stats.think_time_p50_s:,.1f} s")
    src["sessions.first_turn_tokens_mean"] = f"{name}: mean input tokens of a conversation's first call"
    src["workload.query_tokens_mean"] = (f"{name}: mean input growth between a conversation's calls "
                                         f"({stats.history_growth_tokens_per_turn_mean:,.1f}) - mean output tokens")
    src["prompt.system_tokens"] = "fit: 0, with sessions the first call's whole input is the first message"
    return sessions


def scenario_mapping(fitted: dict[str, Any]) -> dict[str, Any]:
    """The fitted mapping without its private ``_measured`` entry (what is written to YAML)."""
    out = {k: v for k, v in fitted.items() if not k.startswith("_")}
    if out.get("fine_tuning") == {}:
        out.pop("fine_tuning")
    return out


def calibrate(fitted: dict[str, Any]) -> dict[str, Any]:
    """Simulate the fitted scenario ({CALIBRATION_STRATEGY}) and set it beside the measured figures."""
    import simlib
    from simlib.results import COMPLETED
    from simlib.scenario import scenario_from_mapping

    mapping = scenario_mapping(fitted)
    s = scenario_from_mapping(mapping)
    n = min(s.simulation.queries, CALIBRATION_QUERIES_MAX)
    s = s.with_changes({"simulation.queries": n, "simulation.replications": 1,
                        "simulation.strategies": [CALIBRATION_STRATEGY]})
    result = simlib.run(s)
    rec = result.records(CALIBRATION_STRATEGY)
    done = (rec["flags"] & COMPLETED) > 0
    rec = rec[done]
    prompt = rec["prompt_tokens"].astype(float)
    span = float(rec["arrival_at_s"][-1] - rec["arrival_at_s"][0]) if len(rec) > 1 else 0.0
    summary = result.summary()[CALIBRATION_STRATEGY]
    rate = (len(rec) - 1) / span * SECONDS_PER_DAY if span > 0 else None
    sessions = result.replications[0].strategies[CALIBRATION_STRATEGY].sessions
    if sessions is not None:
        rate = _session_call_rate_per_day(sessions)
    simulated = {
        "strategy": CALIBRATION_STRATEGY,
        "calls": int(len(rec)),
        "calls_per_day": rate,
        "input_tokens_per_call_mean": float(prompt.mean()) if len(rec) else None,
        "output_tokens_per_call_mean": float(rec["output_tokens"].mean()) if len(rec) else None,
        "cached_input_token_share": float(rec["cache_read_tokens"].sum() / prompt.sum()) if prompt.sum() > 0 else None,
        "cache_hit_rate": summary["cache_hit_rate"]["mean"],
        "turns_per_session_mean": summary["turns_per_session_mean"]["mean"],
        "latency_p50_s": summary["latency_p50_s"]["mean"],
        "latency_p95_s": summary["latency_p95_s"]["mean"],
    }
    return {"measured": fitted["_measured"], "simulated": simulated, "scenario": mapping}


def _session_call_rate_per_day(sd: Any) -> float | None:
    """Call rate of a session run: (first turns - 1) / span of session starts x calls per session x 86,400.

    Not (calls - 1) / span of all calls: a short run's last sessions send their later turns
    think times after the last start, which stretches that span (by about 70% for the
    Mooncake conversation fit at 5,000 calls) though the steady-state rate is unchanged.
    """
    starts = sd.arrival_at_s[sd.turn == 0]
    span = float(starts[-1] - starts[0]) if starts.size > 1 else 0.0
    if span <= 0:
        return None
    return (starts.size - 1) / span * (sd.turn.size / starts.size) * SECONDS_PER_DAY


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def format_report(report: dict[str, Any], out: str) -> str:
    """The calibration report as lines: simulated vs measured, one figure a line."""
    m, s = report["measured"], report["simulated"]

    def num(v: float | None, pattern: str = "{:,.1f}") -> str:
        return "-" if v is None else pattern.format(v)

    lines = [f"wrote {out}: scenario '{report['scenario']['name']}'"
             + (f" (base: {report['scenario']['base']})" if "base" in report["scenario"] else " (no base preset)"),
             f"simulated ({s['strategy']}, {s['calls']:,} calls) vs measured ({m['calls']:,} calls):"]
    for label, key, fmt in (("calls/day", "calls_per_day", num), ("input tokens/call", "input_tokens_per_call_mean", num),
                            ("output tokens/call", "output_tokens_per_call_mean", num),
                            ("cached input", "cached_input_token_share", lambda v: _pct(v)),
                            ("latency p50 s", "latency_p50_s", lambda v: num(v, "{:.2f}")),
                            ("latency p95 s", "latency_p95_s", lambda v: num(v, "{:.2f}")),
                            ("turns/session", "turns_per_session_mean", lambda v: num(v, "{:.2f}"))):
        lines.append(f"  {label:<20} simulated {fmt(s.get(key)):>12}   measured {fmt(m.get(key)):>12}")
    for key in ("prices.model", "sessions", "skipped spans"):
        if key in report["scenario"]["sources"]:
            lines.append(f"note: {report['scenario']['sources'][key]}")
    return "\n".join(lines)


# --- writing ---------------------------------------------------------------------------

def write_scenario(mapping: dict[str, Any], path: str | Path, *, force: bool = False) -> Path:
    """Write a fitted scenario as YAML through simlib.writing (atomic; never replaces a file without ``force``)."""
    from simlib.writing import write_atomic

    text = scenario_yaml(mapping)
    return write_atomic(path, lambda f: f.write(text.encode("utf-8")), force=force)


def scenario_yaml(mapping: dict[str, Any]) -> str:
    import yaml

    head = "# written by simlib fit: every fitted number has a line in sources\n"
    return head + yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True, width=120)


# --- sessions: fitted turn and think-time statistics of a conversation trace -------------

@dataclass(frozen=True)
class SessionStats:
    """Turn and gap statistics of a conversation trace, for a session workload.

    Conversations are read from prefix blocks: request i continues the conversation of the
    last request that used the last block of i's longest previously seen block prefix (its
    parent); the gap is the time since that use (think time + answer). Requests whose
    reuse is only the globally shared prefix (at most ``shared_prefix_blocks`` blocks) start
    a new conversation.
    """

    conversations: int
    turns_mean: float  # requests per conversation
    turns_p50: float
    turns_max: int
    turns_geometric_p: float  # 1 / turns_mean: a geometric number of turns with that mean
    first_turn_tokens_mean: float
    history_growth_tokens_per_turn_mean: float  # new (not reused) input tokens of a continuing turn
    shared_prefix_blocks: int
    reuse_token_share_inf: float  # token-weighted reuse with an infinite cache
    shared_reuse_token_share: float  # part of it from requests with a zero gap (same instant: always alive)
    think_time_log_mean: float  # lognormal (natural log of seconds) of the positive gaps,
    think_time_log_sd: float  # weighted by the tokens each gap decides
    think_time_p50_s: float  # unweighted, over continuing turns
    think_time_mean_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _gaps(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per request: longest seen prefix k, reused tokens r, gap to the last use of block k, parent index."""
    if not trace.has_blocks:
        raise ScenarioError([Problem(trace.name, "session statistics need prefix block hashes (hash_ids)")])
    last_t: dict[int, float] = {}
    last_i: dict[int, int] = {}
    n = trace.n
    k_arr, r_arr = np.zeros(n, np.int64), np.zeros(n)
    gap, parent = np.full(n, np.nan), np.full(n, -1, np.int64)
    ids, off = trace.block_ids.tolist(), trace.block_offsets.tolist()
    times, inputs = trace.timestamp_s.tolist(), trace.input_tokens.tolist()
    for i in range(n):
        blocks = ids[off[i]:off[i + 1]]
        t = times[i]
        k = 0
        for b in blocks:
            if b in last_t:
                k += 1
            else:
                break
        if k:
            b = blocks[k - 1]
            k_arr[i], r_arr[i] = k, min(BLOCK_TOKENS * k, inputs[i])
            gap[i], parent[i] = t - last_t[b], last_i[b]
        for b in blocks:
            last_t[b], last_i[b] = t, i
    return k_arr, r_arr, gap, parent


def _weighted_log_fit(gap_s: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(mu, sd) of a lognormal fitted to positive gaps: the weighted mean and sd of ln gap, weights w / sum(w)."""
    lg = np.log(gap_s)
    w = weight / weight.sum()
    mu = float((w * lg).sum())
    return mu, float(math.sqrt((w * (lg - mu) ** 2).sum()))


def _turn_figures(turns: np.ndarray) -> dict[str, Any]:
    """The SessionStats turn fields of the turn counts of each conversation."""
    return {"conversations": int(len(turns)), "turns_mean": float(turns.mean()), "turns_p50": float(np.median(turns)),
            "turns_max": int(turns.max()), "turns_geometric_p": float(1 / turns.mean())}


def fit_sessions(trace: Trace, shared_prefix_blocks: int = 1) -> SessionStats:
    """Fit turns, think time and history growth to a trace with prefix blocks (see SessionStats)."""
    k, r, gap, parent = _gaps(trace)
    x = trace.input_tokens.astype(float)
    n = trace.n
    conv = np.arange(n)
    cont = k > shared_prefix_blocks
    for i in range(n):
        if cont[i]:
            conv[i] = conv[parent[i]]
    turns = np.bincount(np.unique(conv, return_inverse=True)[1])
    reused = k > 0
    zero = reused & (gap <= 0)
    pos = reused & (gap > 0)
    mu, sd = _weighted_log_fit(gap[pos], r[pos])
    total = x.sum()
    return SessionStats(
        **_turn_figures(turns),
        first_turn_tokens_mean=float(x[~cont].mean()),
        history_growth_tokens_per_turn_mean=float((x[cont] - r[cont]).mean()) if cont.any() else 0.0,
        shared_prefix_blocks=shared_prefix_blocks,
        reuse_token_share_inf=float(r.sum() / total),
        shared_reuse_token_share=float(r[zero].sum() / total),
        think_time_log_mean=mu,
        think_time_log_sd=sd,
        think_time_p50_s=float(np.median(gap[cont])) if cont.any() else math.nan,
        think_time_mean_s=float(np.mean(gap[cont])) if cont.any() else math.nan,
    )


def conversation_stats(trace: Trace) -> SessionStats | None:
    """SessionStats of a log whose calls carry conversation ids (``gen_ai.conversation.id``).

    A conversation's calls in arrival order are its turns. For a continuing turn t (after
    t - 1 of the same conversation): history growth = input_t - input_(t-1) (the previous
    answer and the new message, when the application resends the history); the readable
    prefix r_t = min(input_(t-1), input_t) (the previous prompt); the gap = start_t - end_(t-1)
    (think time proper) when the log has latencies, else start_t - start_(t-1). The lognormal
    is fitted to the positive gaps weighted by r_t, as ``fit_sessions``. None when no
    conversation has two calls with a positive gap (nothing to fit).
    """
    if trace.conversation is None or trace.n < 2:
        return None
    conv = trace.conversation
    x = trace.input_tokens.astype(float)
    start = trace.timestamp_s.astype(float)
    end = start + trace.latency_s if trace.latency_s is not None else start
    by = np.lexsort((np.arange(trace.n), conv))  # conversation-major, arrival order within
    cont_sorted = np.concatenate([[False], conv[by][1:] == conv[by][:-1]])
    cur, prev = by[cont_sorted], by[np.flatnonzero(cont_sorted) - 1]
    gap = start[cur] - end[prev]
    r = np.minimum(x[prev], x[cur])
    pos = gap > 0
    if not pos.any() or r[pos].sum() <= 0:
        return None
    mu, sd = _weighted_log_fit(gap[pos], r[pos])
    turns = np.bincount(np.unique(conv, return_inverse=True)[1])
    first = by[~cont_sorted]
    total = x.sum()
    return SessionStats(
        **_turn_figures(turns),
        first_turn_tokens_mean=float(x[first].mean()),
        history_growth_tokens_per_turn_mean=float((x[cur] - x[prev]).mean()),
        shared_prefix_blocks=0,
        reuse_token_share_inf=float(r.sum() / total),
        shared_reuse_token_share=float(r[~pos].sum() / total),
        think_time_log_mean=mu,
        think_time_log_sd=sd,
        think_time_p50_s=float(np.median(gap)),
        think_time_mean_s=float(gap.mean()),
    )


def reuse_share_at_ttl(stats: SessionStats, ttl_s: float) -> float:
    """The session model's token-weighted reuse with a cache of TTL T.

    reuse(T) = S0 + (R_inf - S0) x P(G < T),  G ~ lognormal(think_time_log_mean, think_time_log_sd)

    where R_inf is the infinite-cache reuse and S0 the part decided by zero gaps (requests
    at the same instant as the prefix's last use: alive at any T > 0). A turn reads its
    history from cache exactly when its gap is below the TTL; partial reuse of a shorter,
    more recently used prefix is ignored, so the model slightly under-counts.
    """
    if ttl_s <= 0:
        return 0.0
    if math.isinf(ttl_s):
        return stats.reuse_token_share_inf
    z = (math.log(ttl_s) - stats.think_time_log_mean) / (stats.think_time_log_sd * math.sqrt(2))
    cdf = 0.5 * (1 + math.erf(z))
    return stats.shared_reuse_token_share + (stats.reuse_token_share_inf - stats.shared_reuse_token_share) * cdf


def session_workload(stats: SessionStats, calls_per_day: float, output_tokens_mean: float) -> dict[str, Any]:
    """The scenario groups (workload, sessions) of a conversation workload with the trace's session statistics.

    Turns: geometric with the trace's mean (capped at its maximum). Think time: the lognormal
    fitted to the trace's gaps (mean exp(mu + sd^2 / 2), cv sqrt(exp(sd^2) - 1)); a trace's gap
    runs from request to request, so it also holds the answer's time, which the engine adds
    again (seconds, against gaps of minutes). First turn: the trace's mean
    first-turn input; every later turn adds the trace's mean new input, which the session model
    splits into the previous answer (output_tokens_mean) and the new message (the rest). The
    history is never capped (the trace shows no truncation).
    """
    mu, sd = stats.think_time_log_mean, stats.think_time_log_sd
    return {
        "workload": {"queries_per_day": calls_per_day, "output_tokens_mean": output_tokens_mean,
                     "query_tokens_mean": max(1.0, stats.history_growth_tokens_per_turn_mean - output_tokens_mean)},
        "sessions": {"kind": "conversation", "turns_distribution": "geometric", "turns_mean": stats.turns_mean,
                     "turns_max_count": stats.turns_max, "think_time_distribution": "lognormal",
                     "think_time_mean_s": math.exp(mu + sd * sd / 2), "think_time_cv": math.sqrt(math.expm1(sd * sd)),
                     "first_turn_tokens_mean": stats.first_turn_tokens_mean, "history_cap_tokens": 100_000_000},
    }

