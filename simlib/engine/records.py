"""One record builder for both backends: a serving path's outcomes -> per-query record columns.

Both backends (``simpy_backend``, ``array_backend``) produce the same per-query outcomes
(times, cache hits, staleness); this module turns them into ``RECORD_DTYPE`` columns with
the costs (``engine.costs.per_query_costs``) and the quality proxy
(``engine.quality.quality_factors``), and keeps the cost components and quality factors
beside the records (``StrategyReplication.cost_components_usd`` and ``.quality_factors``),
so a new record field, cost component, quality factor or flag is written here once. ``tests/test_kernel.py`` checks that the two backends' records are
equal bit for bit.

Record fields (``simlib.results.RECORD_DTYPE``) and flags:

    fresh     = completed and no missed change (staleness age NaN) and grounded (knowledge source not none)
    retrieved = the needed chunk was retrieved and the query completed
    cost_usd  = sum of the per-query cost components (0 for queries never sent)
    quality   = K x U x B for completed queries (NaN otherwise)
    rate_limited = got at least one 429 (retries > 0, or failed); failed = failed after its last retry
    offline   = a completed query answered by the batch API (its token costs at the batch discount)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simlib.engine.budget import Budget
from simlib.engine.costs import per_query_costs
from simlib.engine.quality import quality_factors
from simlib.engine.strategies import Strategy
from simlib.results import (
    CACHE_HIT, CITABLE, COMPLETED, COST_COMPONENTS_DTYPE, FAILED, FRESH, OFFLINE, QUALITY_FACTORS_DTYPE, RATE_LIMITED,
    RECORD_DTYPE, REJECTED, RETRIEVED, TRUNCATED,
)
from simlib.scenario import Scenario


@dataclass
class RecordColumns:
    """A batch of queries' records: RECORD_DTYPE columns, cost components and quality factors."""

    columns: dict[str, np.ndarray]  # RECORD_DTYPE field -> values, in the field's type
    costs_usd: dict[str, np.ndarray]  # PER_QUERY_COMPONENTS -> USD per query (float64)
    quality: dict[str, np.ndarray]  # engine.quality.quality_factors' factors per query

    def cost_components(self, keep: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The cost components (of rows ``keep``) as a COST_COMPONENTS_DTYPE array, kept beside the records."""
        return _table(self.costs_usd, COST_COMPONENTS_DTYPE, keep)

    def quality_factors(self, keep: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The quality factors (of rows ``keep``) as a QUALITY_FACTORS_DTYPE array, kept beside the records."""
        return _table(self.quality, QUALITY_FACTORS_DTYPE, keep)


def _table(columns: dict[str, np.ndarray], dtype: np.dtype, keep: np.ndarray | slice) -> np.ndarray:
    """The rows ``keep`` of ``columns`` (name -> per-query values) as one structured array of ``dtype``."""
    first = columns[dtype.names[0]][keep]
    out = np.empty(len(first), dtype)
    for name in dtype.names:
        out[name] = columns[name][keep]
    return out


def record_columns(strategy: Strategy, scenario: Scenario, *, arrival_at_s: np.ndarray, query_tokens: np.ndarray,
                   output_tokens: np.ndarray, budget: Budget, queue_wait_s: np.ndarray, ttft_s: np.ndarray,
                   latency_s: np.ndarray, staleness_age_s: np.ndarray, completed: np.ndarray,
                   retrieved: np.ndarray, cache_hit: np.ndarray, cache_read_tokens: np.ndarray,
                   cache_write_tokens: np.ndarray, retries: np.ndarray | None = None,
                   failed: np.ndarray | None = None, offline: np.ndarray | None = None,
                   retrieves: np.ndarray | None = None) -> RecordColumns:
    """Record columns of queries from their serving outcomes (any subset, in any order).

    ``retrieved``: the needed chunk was among those retrieved (before masking by completion);
    ``cache_read_tokens``/``cache_write_tokens``: prompt tokens read from / written to the
    provider cache per query (0 where the query did not use it); ``retries``, ``failed``: the rate
    limits' retries per query and whether it failed after the last one; ``offline``: sent through
    the batch API (None: none of these); ``retrieves``: which queries ran retrieval (None: all;
    sessions may retrieve once per session).
    """
    done = completed
    n = len(done)
    retries = np.zeros(n, np.int64) if retries is None else retries
    failed = np.zeros(n, bool) if failed is None else failed
    offline = np.zeros(n, bool) if offline is None else (offline & done)
    fresh = done & np.isnan(staleness_age_s) & (strategy.knowledge_source != "none")
    retrieved = retrieved & done
    costs = per_query_costs(strategy, scenario, prompt_tokens=budget.prompt_tokens,
                            cache_read_tokens=cache_read_tokens, cache_write_tokens=cache_write_tokens,
                            output_tokens=output_tokens, query_tokens=query_tokens, sent=done, offline=offline,
                            retrieves=retrieves)
    q = quality_factors(strategy, scenario, fresh=fresh, retrieved=retrieved, chunks=budget.chunks_used)
    flags = np.zeros(n, np.uint16)
    for mask, bit in ((done, COMPLETED), (budget.rejected, REJECTED), (fresh, FRESH), (retrieved, RETRIEVED),
                      (budget.truncated, TRUNCATED), (cache_hit, CACHE_HIT), (q["citable"] & done, CITABLE),
                      ((retries > 0) | failed, RATE_LIMITED), (failed, FAILED), (offline, OFFLINE)):
        flags |= np.asarray(mask, bool).astype(np.uint16) * np.uint16(bit)
    values = {
        "arrival_at_s": arrival_at_s, "queue_wait_s": queue_wait_s, "ttft_s": ttft_s, "latency_s": latency_s,
        "cost_usd": sum(costs.values()), "staleness_age_s": staleness_age_s,
        "quality": np.where(done, q["knowledge"] * q["use"] * q["behaviour"], np.nan),
        "prompt_tokens": budget.prompt_tokens, "cache_read_tokens": cache_read_tokens,
        "cache_write_tokens": cache_write_tokens, "query_tokens": query_tokens,
        "output_tokens": np.where(done, output_tokens, 0), "chunks_used": np.minimum(budget.chunks_used, 255),
        "flags": flags, "retries": retries,
    }
    cols = {f: np.asarray(values[f]).astype(RECORD_DTYPE[f], copy=False) for f in RECORD_DTYPE.names}
    return RecordColumns(cols, costs, q)
