"""A trace's own prefix reuse: how much of each prompt an ideal prefix cache with a TTL would serve.

Analysis of a trace (no queueing, no simulation): it replays the requests through the
engine's prefix-block cache (``simlib.engine.cache.PrefixBlockCache``), the same rule the
engine applies, so it sits above the engine, not in the scenario layer with ``simlib.traces``.
Its figure for the Mooncake trace is the one the engine's cache hit rates are checked against
(docs/traces.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from simlib.engine.cache import PrefixBlockCache
from simlib.errors import Problem, ScenarioError
from simlib.traces import Replay, Trace

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

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
