"""Trace replay: arrival times, token counts and shared prefixes from a real workload.

    trace = load_trace("mooncake-conversation")      # a shipped name, or a CSV / JSONL file
    trace.describe()                                  # requests, span, rate, token totals, blocks
    prefix_reuse(trace)                               # simlib.trace_reuse: the trace's own prefix reuse
    scenario = with_trace(load_preset("docs-assistant"), "azure-conv")   # replay the whole hour
    twin = poisson_twin(scenario)                     # a Poisson stream of the same mean load
    same = retimed_twin(scenario, "retimed.jsonl")    # the same requests at Poisson times (writes the file)
    simlib.run(scenario), simlib.run(twin), simlib.run(same)

The engine calls :func:`replay_arrays` when ``workload.arrival_process`` is ``'trace'``;
everything else about a query (the fact it needs, retrieval latency and outcome) is drawn
as usual, so all strategies still see the same draws.

Minimal schema (CSV with a header row, or JSONL with one object per line; names are
case-insensitive, the first name listed is simlib's own):

| role | names | value |
|---|---|---|
| arrival time | ``timestamp_s`` (seconds), ``timestamp_ms`` (milliseconds), ``timestamp`` | a number, or an ISO 8601 date-time (``timestamp`` only) |
| input tokens | ``input_tokens``, ``ContextTokens`` (Azure), ``input_length`` (Mooncake), ``prompt_tokens`` | whole number >= 0 |
| output tokens | ``output_tokens``, ``GeneratedTokens`` (Azure), ``output_length`` (Mooncake), ``completion_tokens`` | whole number >= 0 |
| prefix blocks (optional) | ``hash_ids``, ``prefix_hashes`` | list of block ids (JSON list; in CSV ids separated by spaces or ``;``) |
| tenant (optional) | ``tenant``, ``tenant_id`` | any label |
| cache-read input tokens (optional) | ``cache_read_input_tokens``, ``cached_tokens`` | whole number, 0 .. input tokens |
| latency (optional) | ``latency_s``, ``duration_s`` | seconds >= 0 |
| conversation (optional) | ``conversation_id``, ``session_id`` | any label |
| model (optional) | ``model`` | a model name (``simlib fit`` maps it to the catalog) |

A numeric ``timestamp`` is in seconds, except in the Mooncake dialect (a file whose input
tokens are named ``input_length``), where it is in milliseconds as in the published traces.
Times are taken relative to the first request, and must be non-negative and
non-decreasing. Block ids name the request's prompt in blocks of ``BLOCK_TOKENS`` = 512
tokens (block j covers tokens 512(j-1) .. 512j); equal ids mean equal prefixes up to the
end of that block (Mooncake's remapped prefix hashes). A request has at most
ceil(input_tokens / 512) blocks. Blocks of different tenants never match. A malformed file
is rejected with a :class:`~simlib.errors.ScenarioError` listing each problem as
``file:line: what is wrong``.

Replay options (``workload`` fields, validated when the scenario is built):

- window: the requests with trace_start_s <= t < trace_start_s + trace_duration_s
  (to the end of the trace when the duration is None), re-based to start at 0;
- time scale c: arrival = (t - trace_start_s) x c, so c = 0.5 is twice the load;
- looping: pass k of the window is shifted by k x P, the window's period (its duration,
  or without one, from trace_start_s to the last request plus the trace's mean gap), and
  its block ids are renamed so no pass reuses another pass's prefixes. Without looping,
  simulation.queries must not exceed the requests in the window (the first ones are used).

The package, one module per job: ``registry`` (the shipped traces, names to files),
``trace`` (the loaded :class:`Trace`), ``rows`` (one request: the :class:`TraceRow` model of its
cells), ``parser`` (files to a Trace, every problem located),
``replay`` (windows, scaling, looping; the build-time check), ``twins`` (scenarios from
traces). The trace's own prefix reuse is analysis over the engine's cache rule and lives
above the engine, in ``simlib.trace_reuse``.
"""

from simlib.traces.parser import load_trace, shipped_table
from simlib.traces.registry import SHIPPED, ShippedTrace, resolve_trace, trace_names, traces_dir
from simlib.traces.rows import TraceRow, whole_number
from simlib.traces.replay import Replay, check_replay, replay, replay_arrays, window_requests
from simlib.traces.trace import BLOCK_TOKENS, MAX_PROBLEMS, SECONDS_PER_DAY, Trace
from simlib.traces.twins import poisson_twin, rate_note, retimed_twin, with_trace, write_trace

__all__ = [
    "BLOCK_TOKENS", "MAX_PROBLEMS", "SECONDS_PER_DAY", "SHIPPED", "Replay", "ShippedTrace", "Trace", "TraceRow", "check_replay",
    "load_trace", "poisson_twin", "rate_note", "replay", "replay_arrays", "resolve_trace", "retimed_twin",
    "shipped_table", "trace_names", "traces_dir", "whole_number", "window_requests", "with_trace", "write_trace",
]
