"""A loaded, validated trace: requests in arrival order as read-only numpy arrays."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simlib.traces.registry import SHIPPED

if TYPE_CHECKING:  # pragma: no cover

    pass


BLOCK_TOKENS = 512  # tokens per prefix block (Mooncake's KV-cache block)
MAX_PROBLEMS = 20  # a malformed file lists this many problems, then stops reading
SECONDS_PER_DAY = 86_400.0


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
