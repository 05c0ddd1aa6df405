"""Reading a trace file (CSV or JSONL, the schema in simlib.traces): rows -> a validated Trace, every problem located.

The columns are resolved once (each role to the name the file uses); each row's cells are read by
the :class:`~simlib.traces.rows.TraceRow` model; what spans rows (the time's kind, origin and
order, the ids of blocks, tenants, conversations and models) is done here.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
from pydantic import ValidationError

from simlib.errors import Problem, ScenarioError
from simlib.traces.registry import SHIPPED, resolve_trace
from simlib.traces.rows import REQUIRED_ROLES, TraceRow, arrival_value, row_problems
from simlib.traces.trace import MAX_PROBLEMS, Trace

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
        try:
            req = TraceRow.model_validate({role: row.get(col) for role, col in keys.items()
                                           if col is not None and (col in row or role not in REQUIRED_ROLES)})
            arrival = req.time
        except ValidationError as exc:
            req = None
            for message in row_problems(exc, keys):
                problems.add(line, message)
            bad_time = any(e["loc"][:1] == ("time",) or e["type"] == "missing" for e in exc.errors())
            arrival = None if bad_time else arrival_value(row[keys["time"]])
        # arrival time: the first row fixes its kind (number or date-time) and origin; t never decreases
        if arrival is not None:
            raw_t = row[keys["time"]]
            kind = "datetime" if isinstance(arrival, datetime) else "number"
            if time_kind is None:
                time_kind = kind
                first_num = arrival if kind == "number" else 0.0
                first_dt = arrival if kind == "datetime" else None
            if kind != time_kind:
                problems.add(line, f"{keys['time']} {raw_t!r} is a {kind} but the first row's is a {time_kind}")
            else:  # t = (value - first value) x unit, or (date-time - first date-time) in seconds
                t = (arrival - first_num) * time_unit_s if kind == "number" else (arrival - first_dt).total_seconds()
                if t < prev_t:
                    problems.add(line, f"{keys['time']} {raw_t!r} is earlier than the previous request's (line "
                                       f"{prev_line}); timestamps must be non-decreasing")
        if req is None or len(problems.items) > bad:
            if problems.full:
                break
            continue
        prev_t, prev_line = t, line
        times.append(t)
        inputs.append(req.input)
        outputs.append(req.output)
        blocks = req.hashes or ()
        if keys["tenant"] is not None:
            tenant = tenant_index.setdefault(req.tenant, len(tenant_index))
            tenants.append(tenant)
            block_ids.extend(block_index.setdefault((tenant, b), len(block_index)) for b in blocks)
        else:
            block_ids.extend(block_index.setdefault(b, len(block_index)) for b in blocks)
        offsets.append(len(block_ids))
        if keys["cache_read"] is not None:
            cache_reads.append(req.cache_read)
        if keys["latency"] is not None:
            latencies.append(req.latency)
        for role, index, out in (("conversation", conversation_index, conversations), ("model", model_index, models)):
            if keys[role] is not None:
                out.append(index.setdefault(getattr(req, role), len(index)))

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
