"""Reading a trace file (CSV or JSONL, the schema in simlib.traces): rows -> a validated Trace, every problem located."""

from __future__ import annotations

import csv
import json
import math
import re
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from simlib.errors import Problem, ScenarioError
from simlib.traces.registry import SHIPPED, resolve_trace
from simlib.traces.trace import BLOCK_TOKENS, MAX_PROBLEMS, Trace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd



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


def whole_number(value: Any) -> int | None:
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
            v = whole_number(raw)
            if v is None:
                problems.add(line, f"{keys[role]} ({what}) {raw!r} is not a whole number")
            elif v < 0:
                problems.add(line, f"{keys[role]} ({what}) is negative ({raw!r})")
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
            cache_read = whole_number(raw)
            if cache_read is None or cache_read < 0:
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


def shipped_table() -> "pd.DataFrame":
    """One row per shipped trace: its figures, licence and how its arrivals came about."""
    import pandas as pd

    rows = []
    for name, info in SHIPPED.items():
        d = load_trace(name).describe()
        d.update(title=info.title, arrivals=info.arrivals)
        rows.append(d)
    return pd.DataFrame(rows).set_index("name")
