"""Trace replay: arrival times, token counts and shared prefixes from a real workload.

    trace = load_trace("mooncake-conversation")      # a shipped name, or a CSV / JSONL file
    trace.describe()                                  # requests, span, rate, token totals, blocks
    prefix_reuse(trace)                               # the trace's own infinite-cache prefix reuse
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
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from simlib.errors import Problem, ScenarioError
from simlib.paths import data_dir

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from simlib.scenario import Scenario

BLOCK_TOKENS = 512  # tokens per prefix block (Mooncake's KV-cache block)
# A request's token count is at most ten times the largest context window the schema allows
# (model.context_window_tokens <= 1e8): larger is a typo, and 1e9 x 5e7 requests still sums
# within int64 (9.2e18), where 1e20 overflowed it (issue 13).
MAX_REQUEST_TOKENS = 1_000_000_000
MAX_PROBLEMS = 20  # a malformed file lists this many problems, then stops reading
SECONDS_PER_DAY = 86_400.0


# --- shipped traces -------------------------------------------------------------------

@dataclass(frozen=True)
class ShippedTrace:
    """A public trace shipped in ``data/traces/`` (see data/traces/ATTRIBUTION.md)."""

    name: str
    file: str  # relative to data/traces/
    title: str
    licence: str
    citation: str
    arrivals: str  # how its timestamps came about


_AZURE_CITE = "Patel et al., Splitwise: Efficient generative LLM inference using phase splitting, ISCA 2024"
_MOONCAKE_CITE = "Qin et al., Mooncake: A KVCache-centric Architecture for Serving LLM Chatbot, USENIX FAST 2025"

SHIPPED: dict[str, ShippedTrace] = {
    t.name: t
    for t in (
        ShippedTrace("azure-code", "azure_llm_2023/AzureLLMInferenceTrace_code.csv",
                     "Azure LLM inference 2023, code completion (1 hour)", "CC BY 4.0", _AZURE_CITE,
                     "production invocation times"),
        ShippedTrace("azure-conv", "azure_llm_2023/AzureLLMInferenceTrace_conv.csv",
                     "Azure LLM inference 2023, conversation (1 hour)", "CC BY 4.0", _AZURE_CITE,
                     "production invocation times"),
        ShippedTrace("mooncake-conversation", "mooncake_fast25/conversation_trace.jsonl",
                     "Mooncake FAST'25, Kimi conversation (1 hour sample, prefix blocks)", "Apache-2.0",
                     _MOONCAKE_CITE, "sampled production arrival times"),
        ShippedTrace("mooncake-synthetic", "mooncake_fast25/synthetic_trace.jsonl",
                     "Mooncake FAST'25, synthetic from public datasets (prefix blocks)", "Apache-2.0",
                     _MOONCAKE_CITE, "Poisson arrivals, multi-turn order kept"),
    )
}


def traces_dir() -> Path:
    """The folder of the shipped traces (``data/traces`` in a checkout)."""
    return data_dir() / "traces"


def trace_names() -> list[str]:
    """Names of the shipped traces."""
    return list(SHIPPED)


def resolve_trace(trace: str | Path) -> Path:
    """The file behind a shipped trace name or a path; ScenarioError if there is none."""
    text = str(trace)
    if text in SHIPPED:
        return traces_dir() / SHIPPED[text].file
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise ScenarioError([Problem("workload.trace", f"{text!r} is a directory, not a trace file")])
    if path.exists():  # a FIFO, a device or an unreadable path: refused with its reason
        from simlib.loading import MAX_TRACE_BYTES, check_readable

        check_readable(path, max_bytes=MAX_TRACE_BYTES, what="trace file")
    from simlib.loading import did_you_mean

    hint = did_you_mean(text, SHIPPED, n=2)
    raise ScenarioError([Problem(
        "workload.trace",
        f"no shipped trace or file named {text!r}{hint} (shipped: {', '.join(SHIPPED)}; "
        "or give the path of a CSV or JSONL file, see docs/traces.md)",
    )])


# --- the loaded trace -----------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Trace:
    """One trace, validated: requests in arrival order (read-only numpy arrays)."""

    name: str  # shipped name or the file path given
    path: Path
    timestamp_s: np.ndarray  # float64, seconds from the first request (which is at 0), non-decreasing
    input_tokens: np.ndarray  # int64 >= 0
    output_tokens: np.ndarray  # int64 >= 0
    block_offsets: np.ndarray | None = None  # int64, n + 1: request i has block_ids[off[i]:off[i + 1]]
    block_ids: np.ndarray | None = None  # int64 dense ids, 0 .. block_id_count - 1 (tenants kept apart)
    tenant: np.ndarray | None = None  # int64 index into tenant_names
    tenant_names: tuple[str, ...] = ()
    block_tokens: int = BLOCK_TOKENS
    # optional call-log columns (read by simlib.fit; replay ignores them)
    cache_read_tokens: np.ndarray | None = None  # int64 >= 0: input tokens read from the provider's cache
    latency_s: np.ndarray | None = None  # float64 >= 0: the call's measured duration
    conversation: np.ndarray | None = None  # int64 index into conversation_names
    conversation_names: tuple[str, ...] = ()
    model: np.ndarray | None = None  # int64 index into model_names
    model_names: tuple[str, ...] = ()
    start_unix_s: float | None = None  # absolute time of the first request when the file says (date-times)

    @property
    def n(self) -> int:
        return len(self.timestamp_s)

    @property
    def has_blocks(self) -> bool:
        return self.block_ids is not None

    @property
    def block_id_count(self) -> int:
        """Distinct block ids (ids run 0 .. count - 1)."""
        return int(self.block_ids.max()) + 1 if self.block_ids is not None and self.block_ids.size else 0

    @property
    def span_s(self) -> float:
        """First to last arrival."""
        return float(self.timestamp_s[-1]) if self.n else 0.0

    @property
    def mean_gap_s(self) -> float:
        """Mean gap between consecutive arrivals: span / (n - 1)."""
        return self.span_s / (self.n - 1) if self.n > 1 else 0.0

    @property
    def mean_rate_per_s(self) -> float:
        """Mean arrival rate, (n - 1) / span (the rate a Poisson stream would need)."""
        return (self.n - 1) / self.span_s if self.span_s > 0 else math.nan

    def blocks(self, i: int) -> tuple[int, ...]:
        """Block ids of request i (empty without block hashes)."""
        if self.block_ids is None:
            return ()
        return tuple(self.block_ids[self.block_offsets[i]:self.block_offsets[i + 1]].tolist())

    def describe(self) -> dict[str, Any]:
        """The trace's figures (the ones recorded for the shipped traces in docs/traces.md)."""
        inp, out = self.input_tokens, self.output_tokens
        d: dict[str, Any] = {
            "name": self.name,
            "requests": self.n,
            "span_s": self.span_s,
            "mean_rate_per_s": self.mean_rate_per_s,
            "input_tokens_mean": float(inp.mean()),
            "input_tokens_median": float(np.median(inp)),
            "input_tokens_max": int(inp.max()),
            "output_tokens_mean": float(out.mean()),
            "output_tokens_median": float(np.median(out)),
            "output_tokens_max": int(out.max()),
            "input_tokens_sum": int(inp.sum()),
            "output_tokens_sum": int(out.sum()),
            "blocks": int(self.block_ids.size) if self.has_blocks else None,
            "distinct_blocks": self.block_id_count if self.has_blocks else None,
            "tenants": len(self.tenant_names) if self.tenant is not None else None,
        }
        if self.name in SHIPPED:
            d["licence"] = SHIPPED[self.name].licence
        return d


def load_trace(trace: str | Path) -> Trace:
    """Load and validate a shipped trace (by name) or a CSV / JSONL file (cached by file state)."""
    from simlib.loading import MAX_TRACE_BYTES, check_readable

    path = resolve_trace(trace)
    st = check_readable(path, max_bytes=MAX_TRACE_BYTES, what="trace file")
    name = str(trace) if str(trace) in SHIPPED else str(path)
    return _load_cached(str(path.resolve()), name, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _load_cached(path: str, name: str, _mtime_ns: int, _size: int) -> Trace:
    return _parse(Path(path), name)


# --- parsing --------------------------------------------------------------------------

_TIME_NAMES = ("timestamp_s", "timestamp_ms", "timestamp")
_INPUT_NAMES = ("input_tokens", "contexttokens", "input_length", "prompt_tokens")
_OUTPUT_NAMES = ("output_tokens", "generatedtokens", "output_length", "completion_tokens")
_HASH_NAMES = ("hash_ids", "prefix_hashes")
_TENANT_NAMES = ("tenant", "tenant_id")
_CACHE_READ_NAMES = ("cache_read_input_tokens", "cached_tokens", "gen_ai.usage.cache_read.input_tokens")
_LATENCY_NAMES = ("latency_s", "duration_s")
_CONVERSATION_NAMES = ("conversation_id", "session_id", "gen_ai.conversation.id")
_MODEL_NAMES = ("model", "gen_ai.request.model")
_ROLES = (
    ("time", _TIME_NAMES, "arrival time"),
    ("input", _INPUT_NAMES, "input tokens"),
    ("output", _OUTPUT_NAMES, "output tokens"),
)
_INT_RE = re.compile(r"^[+-]?\d+(\.0*)?$")
_SPLIT_RE = re.compile(r"[\s;,]+")


class _Problems:
    """Collects located problems; stops the read after MAX_PROBLEMS."""

    def __init__(self, path: Path):
        self.path = path
        self.items: list[Problem] = []

    def add(self, line: int | None, message: str) -> None:
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        self.items.append(Problem(where, message))

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_PROBLEMS

    def raise_if_any(self) -> None:
        if not self.items:
            return
        items = list(self.items)
        if len(items) >= MAX_PROBLEMS:
            items.append(Problem(str(self.path), f"stopped reading after {MAX_PROBLEMS} problems"))
        raise ScenarioError(items)


def _is_jsonl(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return True
    if suffix in (".csv", ".tsv", ".txt"):
        return False
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                return line.lstrip().startswith("{")
    return False


def _pick(names: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    """The key (as written in the file) of the first candidate present, case-insensitively."""
    for c in candidates:
        if c in names:
            return names[c]
    return None


def _csv_rows(path: Path, problems: _Problems) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f)
        header: list[str] | None = None
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if header is None:
                header = [c.strip() for c in row]
                yield line, {"__header__": header}
                continue
            if len(row) != len(header):
                problems.add(line, f"has {len(row)} fields, the header has {len(header)} ({', '.join(header)})")
                if problems.full:
                    return
                continue
            yield line, dict(zip(header, row))


def _jsonl_rows(path: Path, problems: _Problems) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("r", encoding="utf-8-sig", errors="replace") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.add(line, f"not valid JSON: {exc.msg} (column {exc.colno})")
                if problems.full:
                    return
                continue
            if not isinstance(obj, dict):
                problems.add(line, f"expected a JSON object per line, got {type(obj).__name__}")
                if problems.full:
                    return
                continue
            yield line, obj


def _whole_number(value: Any) -> int | None:
    """The whole number in a CSV cell or JSON value (12, 12.0, "12"), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value == int(value) else None
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value.strip().split(".")[0])  # exact for 64-bit integers (float would round them)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        # more than 6 fractional digits (Azure writes 7): keep microseconds
        m = re.match(r"^(.*\.\d{6})\d+(.*)$", text)
        if not m:
            return None
        try:
            dt = datetime.fromisoformat(m.group(1) + m.group(2))
        except ValueError:
            return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)  # naive times are read as UTC
    return dt


def _block_list(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value if all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in value) else None
    if isinstance(value, str):
        text = value.strip().strip("[]").strip()
        return [int(p) if p.lstrip("-").isdigit() else p for p in _SPLIT_RE.split(text) if p] if text else []
    return None


def _parse(path: Path, name: str) -> Trace:
    """Read and validate every row; raise ScenarioError listing located problems."""
    problems = _Problems(path)
    jsonl = _is_jsonl(path)
    rows = _jsonl_rows(path, problems) if jsonl else _csv_rows(path, problems)
    keys: dict[str, str | None] | None = None
    time_unit_s = 1.0
    time_kind: str | None = None  # "number" or "datetime", fixed by the first row
    first_dt: datetime | None = None
    first_num = 0.0
    prev_t, prev_line = -math.inf, 0
    times: list[float] = []
    inputs: list[int] = []
    outputs: list[int] = []
    offsets: list[int] = [0]
    block_ids: list[int] = []
    block_index: dict[Any, int] = {}
    tenants: list[int] = []
    tenant_index: dict[str, int] = {}
    cache_reads: list[int] = []
    latencies: list[float] = []
    conversations: list[int] = []
    conversation_index: dict[str, int] = {}
    models: list[int] = []
    model_index: dict[str, int] = {}
    header_line = 1

    for line, row in rows:
        if "__header__" in row:  # CSV header: resolve the columns once
            header_line = line
            keys = _resolve_keys(row["__header__"], problems, line)
            if keys is None:
                break
            time_unit_s = _time_unit(keys)
            continue
        if keys is None:  # JSONL: resolve the keys from the first object
            keys = _resolve_keys(list(row), problems, line)
            if keys is None:
                break
            time_unit_s = _time_unit(keys)
        bad = len(problems.items)
        missing = [keys[r] for r in ("time", "input", "output") if keys[r] not in row]
        if missing:
            problems.add(line, f"missing {', '.join(repr(m) for m in missing)}")
            if problems.full:
                break
            continue
        # arrival time
        raw_t = row[keys["time"]]
        num = _number(raw_t)
        dt = None if num is not None else _datetime(raw_t)
        t: float | None = None
        if num is None and dt is None:
            problems.add(line, f"{keys['time']} {raw_t!r} is neither a number nor an ISO 8601 date-time")
        elif num is not None and not math.isfinite(num):
            problems.add(line, f"{keys['time']} {raw_t!r} is not a finite number")
        elif num is not None and num < 0:
            problems.add(line, f"{keys['time']} is negative ({raw_t!r}); times must be >= 0")
        else:
            kind = "number" if num is not None else "datetime"
            if time_kind is None:
                time_kind = kind
                first_num = num if num is not None else 0.0
                first_dt = dt
            if kind != time_kind:
                problems.add(line, f"{keys['time']} {raw_t!r} is a {kind} but the first row's is a {time_kind}")
            elif kind == "number":
                t = (num - first_num) * time_unit_s
            else:
                t = (dt - first_dt).total_seconds()
            if t is not None and t < prev_t:
                problems.add(line, f"{keys['time']} {raw_t!r} is earlier than the previous request's (line "
                                   f"{prev_line}); timestamps must be non-decreasing")
                t = None
        # token counts
        counts = []
        for role, what in (("input", "input tokens"), ("output", "output tokens")):
            raw = row[keys[role]]
            v = _whole_number(raw)
            if v is None:
                problems.add(line, f"{keys[role]} ({what}) {raw!r} is not a whole number")
            elif v < 0:
                problems.add(line, f"{keys[role]} ({what}) is negative ({raw!r})")
                v = None
            elif v > MAX_REQUEST_TOKENS:
                problems.add(line, f"{keys[role]} ({what}) {raw!r} is over {MAX_REQUEST_TOKENS:,}, ten times the "
                                   "largest context window a scenario allows")
                v = None
            counts.append(v)
        # prefix blocks and tenant
        blocks: list[Any] = []
        if keys["hashes"] is not None:
            raw_b = row.get(keys["hashes"])
            parsed = _block_list(raw_b) if raw_b is not None else None
            if parsed is None:
                problems.add(line, f"{keys['hashes']} must be a list of block ids, got {raw_b!r}")
            else:
                blocks = parsed
                if counts[0] is not None and len(blocks) > -(-counts[0] // BLOCK_TOKENS):
                    problems.add(line, f"{keys['hashes']} has {len(blocks)} blocks but {counts[0]} input tokens fill "
                                       f"only {-(-counts[0] // BLOCK_TOKENS)} blocks of {BLOCK_TOKENS} tokens")
        cache_read = latency = None
        if keys["cache_read"] is not None:
            raw = row.get(keys["cache_read"])
            cache_read = _whole_number(raw)
            if cache_read is None or cache_read < 0 or cache_read > MAX_REQUEST_TOKENS:
                problems.add(line, f"{keys['cache_read']} (cache-read input tokens) {raw!r} is not a whole number >= 0")
            elif counts[0] is not None and cache_read > counts[0]:
                problems.add(line, f"{keys['cache_read']} ({cache_read}) is more than the input tokens ({counts[0]})")
        if keys["latency"] is not None:
            raw = row.get(keys["latency"])
            latency = _number(raw)
            if latency is None or not math.isfinite(latency) or latency < 0:
                problems.add(line, f"{keys['latency']} (seconds) {raw!r} is not a finite number >= 0")
        tenant_label = ""
        if keys["tenant"] is not None:
            raw_tenant = row.get(keys["tenant"])
            tenant_label = "" if raw_tenant is None else str(raw_tenant).strip()
        if len(problems.items) > bad:
            if problems.full:
                break
            continue
        prev_t, prev_line = t, line
        times.append(t)
        inputs.append(counts[0])
        outputs.append(counts[1])
        if keys["tenant"] is not None:
            tenant = tenant_index.setdefault(tenant_label, len(tenant_index))
            tenants.append(tenant)
            block_ids.extend(block_index.setdefault((tenant, b), len(block_index)) for b in blocks)
        else:
            block_ids.extend(block_index.setdefault(b, len(block_index)) for b in blocks)
        offsets.append(len(block_ids))
        if keys["cache_read"] is not None:
            cache_reads.append(cache_read)
        if keys["latency"] is not None:
            latencies.append(latency)
        for role, index, out in (("conversation", conversation_index, conversations), ("model", model_index, models)):
            if keys[role] is not None:
                raw = row.get(keys[role])
                out.append(index.setdefault("" if raw is None else str(raw).strip(), len(index)))

    if keys is None and not problems.items:
        problems.add(None, "the file is empty (no header, no requests)")
    elif not times and not problems.items:
        problems.add(header_line if not jsonl else None, "no requests in the file")
    problems.raise_if_any()

    def frozen(a: np.ndarray) -> np.ndarray:
        a.setflags(write=False)
        return a

    has_blocks = keys["hashes"] is not None
    return Trace(
        name=name,
        path=path,
        timestamp_s=frozen(np.asarray(times, float)),
        input_tokens=frozen(np.asarray(inputs, np.int64)),
        output_tokens=frozen(np.asarray(outputs, np.int64)),
        block_offsets=frozen(np.asarray(offsets, np.int64)) if has_blocks else None,
        block_ids=frozen(np.asarray(block_ids, np.int64)) if has_blocks else None,
        tenant=frozen(np.asarray(tenants, np.int64)) if keys["tenant"] is not None else None,
        tenant_names=tuple(tenant_index),
        cache_read_tokens=frozen(np.asarray(cache_reads, np.int64)) if keys["cache_read"] is not None else None,
        latency_s=frozen(np.asarray(latencies, float)) if keys["latency"] is not None else None,
        conversation=frozen(np.asarray(conversations, np.int64)) if keys["conversation"] is not None else None,
        conversation_names=tuple(conversation_index),
        model=frozen(np.asarray(models, np.int64)) if keys["model"] is not None else None,
        model_names=tuple(model_index),
        start_unix_s=first_dt.replace(tzinfo=timezone.utc).timestamp() if first_dt is not None else None,
    )


def _resolve_keys(names: list[str], problems: _Problems, line: int) -> dict[str, str | None] | None:
    """Map each role to the column (CSV) or key (JSONL) that holds it; report missing ones."""
    lower = {}
    for n in names:
        lower.setdefault(str(n).strip().lower(), str(n))
    keys: dict[str, str | None] = {}
    for role, candidates, what in _ROLES:
        keys[role] = _pick(lower, candidates)
        if keys[role] is None:
            problems.add(line, f"missing the {what} column: expected one of {', '.join(candidates)}; "
                               f"found {', '.join(map(str, names)) or 'nothing'}")
    keys["hashes"] = _pick(lower, _HASH_NAMES)
    keys["tenant"] = _pick(lower, _TENANT_NAMES)
    keys["cache_read"] = _pick(lower, _CACHE_READ_NAMES)
    keys["latency"] = _pick(lower, _LATENCY_NAMES)
    keys["conversation"] = _pick(lower, _CONVERSATION_NAMES)
    keys["model"] = _pick(lower, _MODEL_NAMES)
    return None if any(keys[r] is None for r, _, _ in _ROLES) else keys


def _time_unit(keys: dict[str, str | None]) -> float:
    """Seconds per unit of a numeric time: ms for timestamp_ms and for Mooncake's dialect."""
    t = (keys["time"] or "").lower()
    if t == "timestamp_ms" or (t == "timestamp" and (keys["input"] or "").lower() == "input_length"):
        return 1e-3
    return 1.0


# --- replay ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Replay:
    """The requests one replication replays: a window of a trace, scaled and looped."""

    trace: Trace
    arrival_at_s: np.ndarray  # float64, from 0
    input_tokens: np.ndarray  # int64
    output_tokens: np.ndarray  # int64
    rows: np.ndarray  # int64: the trace row of each request
    passes: np.ndarray  # int64: which pass through the window (0 without looping)
    prefix_hashes: list[tuple[int, ...]] | None  # block ids per request (renamed per pass)
    window_requests: int  # requests in one pass of the window
    period_s: float  # replayed seconds of one pass (after the time scale)

    @property
    def n(self) -> int:
        return len(self.arrival_at_s)

    @property
    def mean_rate_per_s(self) -> float:
        """Mean arrival rate of the replayed requests, (n - 1) / span; the window's if n < 2."""
        span = float(self.arrival_at_s[-1] - self.arrival_at_s[0]) if self.n else 0.0
        if self.n > 1 and span > 0:
            return (self.n - 1) / span
        return self.window_requests / self.period_s if self.period_s > 0 else math.nan


@dataclass(frozen=True)
class _Window:
    lo: int
    hi: int
    start_s: float
    period_s: float  # in trace time


def _window(trace: Trace, start_s: float, duration_s: float | None) -> _Window:
    t = trace.timestamp_s
    lo = int(np.searchsorted(t, start_s, side="left"))
    hi = trace.n if duration_s is None else int(np.searchsorted(t, start_s + duration_s, side="left"))
    if duration_s is not None:
        period = duration_s
    else:
        period = trace.span_s - start_s + trace.mean_gap_s
    return _Window(lo, hi, start_s, period)


def _check(scenario: "Scenario", n: int | None = None) -> tuple[Trace, _Window, int]:
    """Load the scenario's trace and check its window against the run; raise ScenarioError."""
    w = scenario.workload
    if w.trace is None:
        raise ScenarioError([Problem("workload.trace", "arrival_process is 'trace', so a trace must be named "
                                     f"(shipped: {', '.join(SHIPPED)}; or a CSV / JSONL file)")])
    trace = load_trace(w.trace)
    n = scenario.simulation.queries if n is None else n
    win = _window(trace, w.trace_start_s, w.trace_duration_s)
    m = win.hi - win.lo
    end = "the end" if w.trace_duration_s is None else f"{w.trace_start_s + w.trace_duration_s:,.1f} s"
    problems = []
    if m == 0:
        problems.append(Problem(
            "workload.trace_start_s",
            f"the window from {w.trace_start_s:,.1f} s to {end} holds no requests "
            f"(trace {trace.name!r} runs from 0 to {trace.span_s:,.1f} s)",
        ))
    elif n > m and not w.trace_loop:
        problems.append(Problem(
            "simulation.queries",
            f"{n:,} queries asked, but the trace window holds {m:,} requests; ask for at most {m:,} "
            "or set workload.trace_loop to replay the window again",
        ))
    elif w.trace_loop and n > m and not win.period_s > 0:
        problems.append(Problem(
            "workload.trace_loop",
            "cannot loop a window of a single instant; set workload.trace_duration_s to give its period",
        ))
    if problems:
        raise ScenarioError(problems)
    return trace, win, n


def replay_span_s(trace: Trace, win: _Window, n: int, time_scale: float) -> float:
    """Arrival time of the n-th replayed request (the replay's horizon), without building the replay.

    Request i is row lo + i mod m of pass i // m: (t[row] - start_s + pass x period_s) x time_scale.
    """
    m = win.hi - win.lo
    last = n - 1
    row, k = win.lo + last % m, last // m
    return float((trace.timestamp_s[row] - win.start_s + k * win.period_s) * time_scale)


def replay(scenario: "Scenario", n: int | None = None, *, start: int = 0) -> Replay:
    """Requests start .. n (default: the first simulation.queries) of the scenario's trace replay.

    ``start`` lets a chunked run replay piece by piece (the same requests as one replay of n).
    """
    w = scenario.workload
    trace, win, n = _check(scenario, n)
    m = win.hi - win.lo
    i = np.arange(start, n, dtype=np.int64)
    passes = i // m
    rows = win.lo + i % m
    t = (trace.timestamp_s[rows] - win.start_s + passes * win.period_s) * w.trace_time_scale
    hashes = None
    if trace.has_blocks:
        ids, off = trace.block_ids.tolist(), trace.block_offsets.tolist()
        rename = trace.block_id_count  # pass k uses ids + k x (distinct ids): no reuse across passes
        hashes = []
        for r, k in zip(rows.tolist(), passes.tolist()):
            blocks = ids[off[r]:off[r + 1]]
            hashes.append(tuple(blocks) if k == 0 else tuple(b + k * rename for b in blocks))
    return Replay(
        trace=trace,
        arrival_at_s=t,
        input_tokens=trace.input_tokens[rows].copy(),
        output_tokens=trace.output_tokens[rows].copy(),
        rows=rows,
        passes=passes,
        prefix_hashes=hashes,
        window_requests=m,
        period_s=win.period_s * w.trace_time_scale,
    )


def replay_arrays(scenario: "Scenario", n: int, *, start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, list | None]:
    """(arrival_at_s, input_tokens, output_tokens, prefix_hashes) of replayed requests start .. n.

    What ``simlib.engine.draws.QueryDrawer`` uses for ``arrival_process: trace``;
    prefix_hashes is None when the trace has no block hashes.
    """
    r = replay(scenario, n, start=start)
    return r.arrival_at_s, r.input_tokens, r.output_tokens, r.prefix_hashes


def check_replay(scenario: "Scenario") -> float:
    """The replay's horizon (last arrival, s), or a located ScenarioError if it cannot run (build-time check).

    ``simlib.scenario.check_run_size`` bounds that horizon as it bounds queries / rate.
    """
    trace, win, n = _check(scenario)
    return replay_span_s(trace, win, n, scenario.workload.trace_time_scale)


def window_requests(scenario: "Scenario") -> int:
    """Requests in one pass of the scenario's trace window."""
    _, win, _ = _check(scenario, n=1)
    return win.hi - win.lo


# --- scenarios from traces ------------------------------------------------------------

def with_trace(scenario: "Scenario", trace: str | Path, *, time_scale: float | None = None,
               start_s: float | None = None, duration_s: float | None = None, loop: bool | None = None,
               queries: int | None = None) -> "Scenario":
    """The scenario replaying a trace, with its mean rate as ``workload.queries_per_day``.

    Options left as None keep the scenario's own ``trace_*`` settings. ``queries`` defaults
    to every request in the window (or, when looping, to ``simulation.queries``). Monthly
    figures scale with queries_per_day, so it is set to the replayed requests' mean rate
    x 86,400 (see :attr:`Replay.mean_rate_per_s`).
    """
    changes: dict[str, Any] = {"workload.arrival_process": "trace", "workload.trace": str(trace),
                               "simulation.queries": 1}
    for field, value in (("trace_time_scale", time_scale), ("trace_start_s", start_s),
                         ("trace_duration_s", duration_s), ("trace_loop", loop)):
        if value is not None:
            changes[f"workload.{field}"] = value
    probe = scenario.with_changes(changes)  # validates the options and the window
    if queries is None:
        queries = window_requests(probe) if not probe.workload.trace_loop else scenario.simulation.queries
    rate = replay(probe, queries).mean_rate_per_s
    final = {"simulation.queries": queries}
    if math.isfinite(rate) and rate > 0:
        final["workload.queries_per_day"] = rate * SECONDS_PER_DAY
    return probe.with_changes(final)


def poisson_twin(scenario: "Scenario") -> "Scenario":
    """A Poisson stream with the same mean load as the scenario's trace replay.

    Same number of queries, the same mean arrival rate ((n - 1) / span of the replayed
    arrivals) and the same mean input and output tokens; lengths are lognormal with the
    coefficient of variation of the trace's output tokens (decode dominates latency), and
    there are no shared prefixes. What a user would have simulated without the trace.
    """
    if scenario.workload.arrival_process != "trace":
        raise ScenarioError([Problem("workload.arrival_process", "poisson_twin needs a trace replay scenario")])
    r = replay(scenario)
    out = r.output_tokens.astype(float)
    cv = float(out.std() / out.mean()) if out.mean() > 0 else 0.0
    return scenario.with_changes({
        "workload.arrival_process": "poisson",
        "workload.trace": None,
        "workload.queries_per_day": r.mean_rate_per_s * SECONDS_PER_DAY,
        "workload.query_tokens_mean": max(1.0, float(r.input_tokens.mean())),
        "workload.output_tokens_mean": max(1.0, float(out.mean())),
        "workload.token_length_cv": min(5.0, cv),
    })


def write_trace(replayed: Replay, path: str | Path, arrival_at_s: np.ndarray | None = None, *,
                force: bool = False) -> Path:
    """Write replayed requests as a JSONL trace in simlib's own schema (an explicit export).

    One object per request: timestamp_s, input_tokens, output_tokens and, when the trace has
    them, hash_ids (as replayed, renamed per pass). ``arrival_at_s`` replaces the times.
    Written atomically (simlib.writing); an existing file is replaced only with ``force``.
    """
    from simlib.writing import check_destination, write_atomic

    path = Path(path)
    times = replayed.arrival_at_s if arrival_at_s is None else np.asarray(arrival_at_s, float)
    if len(times) != replayed.n:
        raise ValueError(f"arrival_at_s has {len(times)} times for {replayed.n} requests")
    check_destination(path, force=force)

    def write(f) -> None:
        for i, (t, x, y) in enumerate(zip(times.tolist(), replayed.input_tokens.tolist(), replayed.output_tokens.tolist())):
            row: dict[str, Any] = {"timestamp_s": t, "input_tokens": x, "output_tokens": y}
            if replayed.prefix_hashes is not None:
                row["hash_ids"] = list(replayed.prefix_hashes[i])
            f.write((json.dumps(row) + "\n").encode("utf-8"))

    return write_atomic(path, write, force=force)


def retimed_twin(scenario: "Scenario", path: str | Path, *, force: bool = False) -> "Scenario":
    """The same replayed requests at Poisson arrival times: burstiness removed, nothing else.

    Writes the scenario's replayed requests (tokens and prefix blocks, in order) to ``path``
    at the times of a Poisson process conditioned on the replay's count and span T: the
    first at 0, the last at T, the n - 2 between them sorted uniform on (0, T) (given its
    count, a Poisson process's points are uniform), so the mean rate is exactly the
    replay's. Seeded by simulation.seed; returns a scenario replaying the file. One Poisson
    realisation, the same in every replication (like the trace itself).
    """
    if scenario.workload.arrival_process != "trace":
        raise ScenarioError([Problem("workload.arrival_process", "retimed_twin needs a trace replay scenario")])
    r = replay(scenario)
    span = float(r.arrival_at_s[-1] - r.arrival_at_s[0])
    rng = np.random.default_rng([scenario.simulation.seed, 0x7ACE])
    inner = np.sort(rng.uniform(0.0, span, max(r.n - 2, 0)))
    times = np.concatenate([[0.0], inner, [span]])[: r.n]
    out = write_trace(r, path, times, force=force)
    return scenario.with_changes({
        "workload.trace": str(out), "workload.trace_time_scale": 1.0, "workload.trace_start_s": 0.0,
        "workload.trace_duration_s": None, "workload.trace_loop": False, "simulation.queries": r.n,
    })


def rate_note(scenario: "Scenario") -> str | None:
    """A note when queries_per_day (which scales monthly figures) is off the replayed rate."""
    if scenario.workload.arrival_process != "trace":
        return None
    rate = replay(scenario).mean_rate_per_s * SECONDS_PER_DAY
    qpd = scenario.workload.queries_per_day
    if not math.isfinite(rate) or rate <= 0:
        return (f"the replayed trace has no measurable rate (one request, or every request at one instant), so "
                f"workload.queries_per_day ({qpd:,.0f}) is not the trace's; monthly figures use that value")
    if abs(qpd - rate) <= 0.02 * rate:
        return None
    return (f"workload.queries_per_day ({qpd:,.0f}) is not the replayed trace's rate ({rate:,.0f}/day); "
            "monthly figures use queries_per_day (simlib.traces.with_trace sets it from the trace)")


# --- the trace's own prefix reuse -----------------------------------------------------

def prefix_reuse(trace: Trace | Replay, ttl_s: float = math.inf) -> dict[str, float]:
    """Prefix-block reuse of the trace's requests in arrival order, with no queueing.

    Request i with x_i input tokens in blocks b_1..b_m reuses its first k_i blocks, k_i the
    largest with b_1..b_k all used by an earlier request less than ttl_s ago (a use
    refreshes a block); reused tokens r_i = min(B k_i, x_i), B = 512. With ttl_s = inf,
    k_i is the longest prefix of blocks all seen before (the figure recorded for the
    Mooncake traces). Returns:

    - token_share = sum r_i / sum x_i
    - request_mean_share = mean over requests of r_i / x_i (requests with x_i > 0)
    - request_share = share of requests with k_i > 0
    - block_share = sum k_i / sum m_i
    """
    from simlib.engine.cache import PrefixBlockCache

    if isinstance(trace, Replay):
        times, inputs, hashes = trace.arrival_at_s, trace.input_tokens, trace.prefix_hashes
        block_tokens = trace.trace.block_tokens
    else:
        times, inputs, block_tokens = trace.timestamp_s, trace.input_tokens, trace.block_tokens
        hashes = [trace.blocks(i) for i in range(trace.n)] if trace.has_blocks else None
    if hashes is None:
        raise ScenarioError([Problem("trace", "the trace has no prefix block hashes")])
    cache = PrefixBlockCache(ttl_s)
    reused = np.zeros(len(times))
    blocks_reused = blocks_total = 0
    for i, (t, x, blocks) in enumerate(zip(times.tolist(), inputs.tolist(), hashes)):
        k = cache.access(0, 0, blocks, t)
        reused[i] = min(block_tokens * k, x)
        blocks_reused += k
        blocks_total += len(blocks)
    x = inputs.astype(float)
    positive = x > 0
    return {
        "token_share": float(reused.sum() / x.sum()) if x.sum() > 0 else math.nan,
        "request_mean_share": float(np.mean(reused[positive] / x[positive])) if positive.any() else math.nan,
        "request_share": float(np.mean(reused > 0)) if len(times) else math.nan,
        "block_share": blocks_reused / blocks_total if blocks_total else math.nan,
    }


def prefix_reuse_curve(trace: Trace | Replay, ttls_s: list[float]) -> "pd.DataFrame":
    """prefix_reuse at each TTL: columns ttl_s, token_share, request_mean_share, request_share, block_share."""
    import pandas as pd

    return pd.DataFrame([{"ttl_s": ttl, **prefix_reuse(trace, ttl)} for ttl in ttls_s])


def shipped_table() -> "pd.DataFrame":
    """One row per shipped trace: its figures, licence and how its arrivals came about."""
    import pandas as pd

    rows = []
    for name, info in SHIPPED.items():
        d = load_trace(name).describe()
        d.update(title=info.title, arrivals=info.arrivals)
        rows.append(d)
    return pd.DataFrame(rows).set_index("name")
