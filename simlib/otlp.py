"""OpenTelemetry GenAI spans (OTLP JSON) read as a call log, for ``simlib fit``.

Reads the file an OTLP file exporter or collector writes: one JSON object
``{"resourceSpans": [{"scopeSpans": [{"spans": [...]}]}]}``, or JSON Lines of such
objects. A span is an LLM call when it carries ``gen_ai.usage.input_tokens`` (older:
``gen_ai.usage.prompt_tokens``); every other span (HTTP, retrieval, tool, ...) is skipped
and counted. Attributes are OTLP JSON ``{"key": ..., "value": {"stringValue" | "intValue" |
"doubleValue" | "boolValue": ...}}``; 64-bit integers may arrive as strings (the OTLP JSON
encoding), and are accepted as such.

| role | attribute (older name) |
|---|---|
| arrival, latency | ``startTimeUnixNano``, ``endTimeUnixNano`` (latency = end - start) |
| input / output tokens | ``gen_ai.usage.input_tokens`` / ``output_tokens`` (``prompt_tokens`` / ``completion_tokens``) |
| cache reads / writes | ``gen_ai.usage.cache_read.input_tokens`` / ``gen_ai.usage.cache_creation.input_tokens`` |
| model, provider | ``gen_ai.request.model`` (else ``gen_ai.response.model``), ``gen_ai.provider.name`` (``gen_ai.system``) |
| conversation | ``gen_ai.conversation.id`` |

Every problem is located as ``file: span N (resourceSpans[i].scopeSpans[j].spans[k]) attribute: what``
(line L too for JSON Lines) and raised together as a :class:`~simlib.errors.ScenarioError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simlib.errors import Problem, ScenarioError
from simlib.traces import MAX_PROBLEMS, Trace, whole_number

INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHE_READ_KEY = "gen_ai.usage.cache_read.input_tokens"
CACHE_WRITE_KEY = "gen_ai.usage.cache_creation.input_tokens"
MODEL_KEYS = ("gen_ai.request.model", "gen_ai.response.model")
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system")
CONVERSATION_KEY = "gen_ai.conversation.id"


@dataclass(frozen=True)
class OtlpLog:
    """The LLM calls of an OTLP file, as a Trace (arrival order), and what was skipped."""

    trace: Trace
    spans_total: int
    spans_skipped: int  # spans that are not LLM calls (no token usage attribute)
    providers: tuple[str, ...]  # provider per model_names entry ('' when unknown)
    cache_write_tokens: np.ndarray | None


def is_otlp(path: Path) -> bool:
    """True when the file's first JSON object has a ``resourceSpans`` key."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as f:
        head = f.read(4096)
    return head.lstrip().startswith("{") and '"resourceSpans"' in head


def _documents(path: Path, problems: list[Problem]) -> list[tuple[int | None, Any]]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        return [(None, json.loads(text))]
    except json.JSONDecodeError:
        pass
    docs = []
    for line, chunk in enumerate(text.splitlines(), start=1):
        if not chunk.strip():
            continue
        try:
            docs.append((line, json.loads(chunk)))
        except json.JSONDecodeError as exc:
            problems.append(Problem(f"{path}:{line}", f"not valid JSON: {exc.msg} (column {exc.colno})"))
    return docs


def _value(v: Any) -> Any:
    """The Python value of an OTLP JSON AnyValue (None when it is none of the scalar kinds)."""
    if not isinstance(v, dict):
        return None
    for kind in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if kind in v:
            return v[kind]
    return None


def _time_s(raw: Any) -> float | None:
    n = whole_number(raw)
    return None if n is None or n < 0 else n / 1e9


def read_otlp(path: str | Path) -> OtlpLog:
    """Read an OTLP JSON file's GenAI spans; ScenarioError listing every located problem."""
    path = Path(path)
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    total = skipped = 0
    for line, doc in _documents(path, problems):
        file_at = f"{path}:{line}" if line is not None else str(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
            problems.append(Problem(file_at, "expected an object with a 'resourceSpans' list (OTLP JSON)"))
            continue
        for i, rs in enumerate(doc["resourceSpans"]):
            scopes = rs.get("scopeSpans", []) if isinstance(rs, dict) else None
            if not isinstance(scopes, list):
                problems.append(Problem(f"{file_at}: resourceSpans[{i}]", "scopeSpans must be a list"))
                continue
            for j, ss in enumerate(scopes):
                spans = ss.get("spans", []) if isinstance(ss, dict) else None
                if not isinstance(spans, list):
                    problems.append(Problem(f"{file_at}: resourceSpans[{i}].scopeSpans[{j}]", "spans must be a list"))
                    continue
                for k, span in enumerate(spans):
                    where = f"{file_at}: span {total} (resourceSpans[{i}].scopeSpans[{j}].spans[{k}])"
                    total += 1
                    row = _span_row(span, where, problems)
                    if row is None:
                        continue
                    if row == "skip":
                        skipped += 1
                        continue
                    rows.append(row)
                    if len(problems) >= MAX_PROBLEMS:
                        break
    if not rows and not problems:
        problems.append(Problem(str(path), f"no GenAI spans (with gen_ai.usage.input_tokens) among {total} spans"))
    if problems:
        if len(problems) >= MAX_PROBLEMS:
            problems = problems[:MAX_PROBLEMS] + [Problem(str(path), f"stopped after {MAX_PROBLEMS} problems")]
        raise ScenarioError(problems)
    rows.sort(key=lambda r: r["start_s"])
    t0 = rows[0]["start_s"]
    models: dict[str, int] = {}
    providers: dict[str, str] = {}
    convs: dict[str, int] = {}
    model_idx = [models.setdefault(r["model"], len(models)) for r in rows]
    for r in rows:
        providers.setdefault(r["model"], r["provider"])
    has_conv = any(r["conversation"] is not None for r in rows)
    conv_idx = [convs.setdefault(r["conversation"] if r["conversation"] is not None else f"__call{n}", len(convs))
                for n, r in enumerate(rows)]
    has_read = any(r["cache_read"] is not None for r in rows)
    has_write = any(r["cache_write"] is not None for r in rows)

    def arr(values, dtype):
        a = np.asarray(values, dtype)
        a.setflags(write=False)
        return a

    trace = Trace(
        name=str(path),
        path=path,
        timestamp_s=arr([r["start_s"] - t0 for r in rows], float),
        input_tokens=arr([r["input"] for r in rows], np.int64),
        output_tokens=arr([r["output"] for r in rows], np.int64),
        cache_read_tokens=arr([r["cache_read"] or 0 for r in rows], np.int64) if has_read else None,
        latency_s=arr([r["end_s"] - r["start_s"] for r in rows], float),
        conversation=arr(conv_idx, np.int64) if has_conv else None,
        conversation_names=tuple(convs) if has_conv else (),
        model=arr(model_idx, np.int64),
        model_names=tuple(models),
        start_unix_s=t0,
    )
    return OtlpLog(trace, total, skipped, tuple(providers[m] for m in models),
                   arr([r["cache_write"] or 0 for r in rows], np.int64) if has_write else None)


def _span_row(span: Any, where: str, problems: list[Problem]) -> dict[str, Any] | str | None:
    """One span's fields; 'skip' for a span that is not an LLM call; None after a problem."""
    if not isinstance(span, dict):
        problems.append(Problem(where, f"a span must be an object, got {type(span).__name__}"))
        return None
    attrs: dict[str, Any] = {}
    raw_attrs = span.get("attributes", [])
    if not isinstance(raw_attrs, list):
        problems.append(Problem(where, "attributes must be a list of {key, value}"))
        return None
    for a in raw_attrs:
        if isinstance(a, dict) and isinstance(a.get("key"), str):
            attrs[a["key"]] = _value(a.get("value"))
    input_key = next((k for k in INPUT_KEYS if k in attrs), None)
    if input_key is None:
        return "skip"
    before = len(problems)

    def tokens(key: str | None, required: bool) -> int | None:
        if key is None or key not in attrs:
            if required:
                problems.append(Problem(f"{where} attribute {' / '.join(OUTPUT_KEYS)}", "missing (the span has input tokens)"))
            return None
        v = whole_number(attrs[key])
        if v is None or v < 0:
            problems.append(Problem(f"{where} attribute {key}", f"{attrs[key]!r} is not a whole number >= 0"))
            return None
        return v

    inp = tokens(input_key, True)
    out = tokens(next((k for k in OUTPUT_KEYS if k in attrs), None), True)
    read = tokens(CACHE_READ_KEY, False)
    write = tokens(CACHE_WRITE_KEY, False)
    if inp is not None and read is not None and read > inp:
        problems.append(Problem(f"{where} attribute {CACHE_READ_KEY}", f"{read} is more than the input tokens ({inp})"))
    start, end = _time_s(span.get("startTimeUnixNano")), _time_s(span.get("endTimeUnixNano"))
    for name, value in (("startTimeUnixNano", start), ("endTimeUnixNano", end)):
        if value is None:
            problems.append(Problem(f"{where} {name}", f"{span.get(name)!r} is not a whole number of nanoseconds >= 0"))
    if start is not None and end is not None and whole_number(span.get("endTimeUnixNano")) < whole_number(
            span.get("startTimeUnixNano")):  # compared in whole nanoseconds (floats lose them)
        problems.append(Problem(f"{where} endTimeUnixNano", "is before startTimeUnixNano"))
    if len(problems) > before:
        return None
    model = next((str(attrs[k]) for k in MODEL_KEYS if attrs.get(k) not in (None, "")), "")
    provider = next((str(attrs[k]) for k in PROVIDER_KEYS if attrs.get(k) not in (None, "")), "")
    conv = attrs.get(CONVERSATION_KEY)
    return {"start_s": start, "end_s": end, "input": inp, "output": out, "cache_read": read, "cache_write": write,
            "model": model, "provider": provider, "conversation": None if conv in (None, "") else str(conv)}
