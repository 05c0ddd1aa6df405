"""The token budget (docs/model.md, Token budget).

Prompt tokens = fixed parts + k x chunk tokens + query tokens. The prompt plus the reserved
output (model.max_output_tokens) must fit the context window: retrieved chunks are dropped
from the tail until it does (a truncation, which lowers recall). If the fixed parts alone
do not fit, the strategy is infeasible; a single query too long to fit even with no chunks
is rejected (reported, never lost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simlib.engine.strategies import Strategy
from simlib.scenario import Scenario


@dataclass(frozen=True)
class Budget:
    feasible: bool
    reason: str | None
    prompt_tokens: np.ndarray  # int64; 0 for rejected queries
    chunks_used: np.ndarray  # int64
    truncated: np.ndarray  # bool: fewer than top_k chunks fitted
    rejected: np.ndarray  # bool: does not fit even without chunks


def token_budget(strategy: Strategy, scenario: Scenario, query_tokens: np.ndarray) -> Budget:
    window = scenario.model.context_window_tokens
    reserved = scenario.model.max_output_tokens
    fixed = strategy.fixed_prompt_tokens(scenario)
    n = len(query_tokens)
    if fixed + reserved > window:
        parts = "system + instructions + knowledge snapshot" if strategy.cached_prefix == "knowledge" else "fixed prompt parts"
        reason = (
            f"the {parts} ({fixed:,} tokens) plus {reserved:,} reserved output tokens exceed "
            f"the {window:,}-token context window"
        )
        zeros = np.zeros(n, np.int64)
        return Budget(False, reason, zeros, zeros, np.zeros(n, bool), np.ones(n, bool))
    room = window - reserved - fixed - query_tokens  # tokens left for chunks
    rejected = room < 0
    k = scenario.retrieval.top_k if strategy.uses_retrieval else 0
    chunks = np.clip(room // scenario.retrieval.chunk_tokens, 0, k).astype(np.int64)
    chunks[rejected] = 0
    truncated = (chunks < k) & ~rejected
    prompt = np.where(rejected, 0, fixed + query_tokens + chunks * scenario.retrieval.chunk_tokens)
    return Budget(True, None, prompt.astype(np.int64), chunks, truncated, rejected)


def recall_at_k(scenario: Scenario, chunks: np.ndarray) -> np.ndarray:
    """P(the needed chunk is among the k retrieved).

    recall(k) = c * (1 - (1 - r1)^k), with r1 = recall_at_1_share and c the ceiling;
    reranking recovers a share m of the misses below the ceiling:
    recall' = recall + m * (c - recall).
    """
    r = scenario.retrieval
    recall = r.recall_ceiling_share * (1.0 - (1.0 - r.recall_at_1_share) ** np.asarray(chunks, float))
    if r.rerank:
        recall = recall + r.rerank_miss_reduction_share * (r.recall_ceiling_share - recall)
    return np.where(np.asarray(chunks) > 0, recall, 0.0)
