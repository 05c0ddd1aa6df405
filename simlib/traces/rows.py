"""One request of a trace file: its cells read into typed values by a pydantic model, every problem said once.

:class:`TraceRow` is the row schema of ``simlib.traces`` (the roles, not the file's column
names: the parser maps each role to the column or key that holds it). A cell is read as it
is written in a CSV (text) or a JSONL object (typed): ``12``, ``12.0`` and ``"12"`` are the
whole number 12, a bool never is. What depends on other rows (the first row fixes the
time's kind and origin; times must not decrease) is the parser's, not the row's.

:func:`row_problems` turns a row's ValidationError into the file's messages through the one
error path (``simlib.loading.explain_validation``), each naming the column as the file
spells it: ``input_tokens (input tokens) 'ten' is not a whole number``.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo, field_validator

from simlib.traces.trace import BLOCK_TOKENS

# A request's token count is at most ten times the largest context window the schema allows
# (model.context_window_tokens <= 1e8): larger is a typo, and 1e9 x 5e7 requests still sums
# within int64 (9.2e18), where 1e20 overflowed it (issue 13).
MAX_REQUEST_TOKENS = 1_000_000_000

_INT_RE = re.compile(r"^[+-]?\d+(\.0*)?$")
_SPLIT_RE = re.compile(r"[\s;,]+")


# --- reading one cell -------------------------------------------------------------------

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


def number(value: Any) -> float | None:
    """The number in a CSV cell or JSON value (not a bool), or None."""
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


def iso_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date-time as naive UTC (naive times are read as UTC), or None."""
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
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def block_list(value: Any) -> list[Any] | None:
    """Block ids: a JSON list of ints/strings, or a CSV cell of ids split by spaces, ';' or ','."""
    if isinstance(value, list):
        return value if all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in value) else None
    if isinstance(value, str):
        text = value.strip().strip("[]").strip()
        return [int(p) if p.lstrip("-").isdigit() else p for p in _SPLIT_RE.split(text) if p] if text else []
    return None


# --- the cell types: each reads a raw cell or raises the message the file's user reads ---

def arrival_value(raw: Any) -> float | datetime:
    """A number of the time unit (>= 0, finite) or an ISO 8601 date-time."""
    num = number(raw)
    if num is None:
        dt = iso_datetime(raw)
        if dt is None:
            raise ValueError(f"{raw!r} is neither a number nor an ISO 8601 date-time")
        return dt
    if not math.isfinite(num):
        raise ValueError(f"{raw!r} is not a finite number")
    if num < 0:
        raise ValueError(f"is negative ({raw!r}); times must be >= 0")
    return num


def _tokens(raw: Any) -> int:
    """A whole number of tokens, 0 <= n <= MAX_REQUEST_TOKENS."""
    v = whole_number(raw)
    if v is None:
        raise ValueError(f"{raw!r} is not a whole number")
    if v < 0:
        raise ValueError(f"is negative ({raw!r})")
    if v > MAX_REQUEST_TOKENS:
        raise ValueError(f"{raw!r} is over {MAX_REQUEST_TOKENS:,}, ten times the largest context window a scenario allows")
    return v


def _cache_read(raw: Any) -> int:
    v = whole_number(raw)
    if v is None or v < 0 or v > MAX_REQUEST_TOKENS:
        raise ValueError(f"{raw!r} is not a whole number >= 0")
    return v


def _seconds(raw: Any) -> float:
    v = number(raw)
    if v is None or not math.isfinite(v) or v < 0:
        raise ValueError(f"{raw!r} is not a finite number >= 0")
    return v


def _blocks(raw: Any) -> list[Any]:
    parsed = block_list(raw)
    if parsed is None:
        raise ValueError(f"must be a list of block ids, got {raw!r}")
    return parsed


def _label(raw: Any) -> str:
    """Any label, as text without surrounding spaces (a missing one is the empty label)."""
    return "" if raw is None else str(raw).strip()


Arrival = Annotated[Any, BeforeValidator(arrival_value)]
Tokens = Annotated[int, BeforeValidator(_tokens)]
CacheRead = Annotated[int, BeforeValidator(_cache_read)]
Seconds = Annotated[float, BeforeValidator(_seconds)]
Blocks = Annotated[list[Any], BeforeValidator(_blocks)]
Label = Annotated[str, BeforeValidator(_label)]


class TraceRow(BaseModel):
    """One request: the three required roles and the optional ones the file has (None if it has not).

    A role the file has but a row leaves out is a cell of None (a JSONL key missing), read
    like any other cell: for the block ids and numbers an error, for labels the empty label.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: Arrival  # a number (of seconds or milliseconds: the parser's unit) or a naive-UTC datetime
    input: Tokens
    output: Tokens
    # Optional roles default to None when the file has no such column; a cell of None is read
    # (and refused, but for labels), which ``X | None`` would let through.
    hashes: Blocks = None  # at most ceil(input / BLOCK_TOKENS) blocks
    cache_read: CacheRead = None  # cache-read input tokens, 0 .. input
    latency: Seconds = None
    tenant: Label = None
    conversation: Label = None
    model: Label = None

    @field_validator("hashes", mode="after")
    @classmethod
    def _fits_the_prompt(cls, blocks: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        """Block j covers tokens 512(j-1) .. 512j, so n input tokens fill ceil(n / 512) blocks."""
        tokens = info.data.get("input")
        if blocks is not None and tokens is not None and len(blocks) > -(-tokens // BLOCK_TOKENS):
            raise ValueError(f"has {len(blocks)} blocks but {tokens} input tokens fill only "
                             f"{-(-tokens // BLOCK_TOKENS)} blocks of {BLOCK_TOKENS} tokens")
        return blocks

    @field_validator("cache_read", mode="after")
    @classmethod
    def _within_the_input(cls, cached: int | None, info: ValidationInfo) -> int | None:
        tokens = info.data.get("input")
        if cached is not None and tokens is not None and cached > tokens:
            raise ValueError(f"{cached} is more than the input tokens ({tokens})")
        return cached


REQUIRED_ROLES = tuple(name for name, f in TraceRow.model_fields.items() if f.is_required())
# what a role is, said after its column's name in a message (the column name alone for the rest)
_WHAT = {"input": " (input tokens)", "output": " (output tokens)", "cache_read": " (cache-read input tokens)",
         "latency": " (seconds)"}


def row_problems(exc: ValidationError, columns: dict[str, str | None]) -> list[str]:
    """A row's ValidationError as messages naming the file's columns (``columns``: role -> column).

    Roles the row leaves out are one message (``missing 'a', 'b'``), said alone: the rest of
    such a row is not read.
    """
    from simlib.loading import explain_validation

    missing = [columns[e["loc"][0]] for e in exc.errors() if e["type"] == "missing"]
    if missing:
        return [f"missing {', '.join(repr(m) for m in missing)}"]
    out = []
    for p in explain_validation(exc, TraceRow, root="row", show_input=False):  # each message quotes its cell
        out.append(f"{columns.get(p.location) or p.location}{_WHAT.get(p.location, '')} {p.message}")
    return out
