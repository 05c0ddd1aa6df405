"""The token budget (docs/model.md, Token budget).

Prompt tokens = fixed parts + k x chunk tokens + query tokens. The prompt plus the reserved
output (model.max_output_tokens) must fit the context window of the model serving the
strategy (the fine-tuned model's for fine-tuned strategies, where known), and the reserved
output must not exceed that model's output limit (else the strategy is infeasible): retrieved chunks are dropped
from the tail until it does (a truncation, which lowers recall). If the fixed parts alone
do not fit, the strategy is infeasible; a single query too long to fit even with no chunks
is rejected (reported, never lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

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


def model_limits(strategy: Strategy, scenario: Scenario) -> tuple[int, int | None]:
    """(context window, output limit) of the model serving ``strategy``: the fine-tuned
    model's where known (catalog-filled or hand-set), else the base model's."""
    m, ft = scenario.model, scenario.fine_tuning
    if strategy.fine_tuned:
        return ft.context_window_tokens or m.context_window_tokens, ft.output_limit_tokens or m.output_limit_tokens
    return m.context_window_tokens, m.output_limit_tokens


def token_budget(strategy: Strategy, scenario: Scenario, query_tokens: np.ndarray,
                 history_tokens: np.ndarray | None = None, retrieves: np.ndarray | None = None) -> Budget:
    """Prompt tokens, chunks, truncation and rejection of each query.

    Sessions (engine/sessions.py): ``history_tokens`` H carried in each prompt, and
    ``retrieves`` (False: the turn retrieves nothing; its session's chunks are in H).
    prompt = fixed + H + query + chunks.
    """
    window, limit = model_limits(strategy, scenario)
    reserved = scenario.model.max_output_tokens
    fixed = strategy.fixed_prompt_tokens(scenario)
    n = len(query_tokens)
    if limit is not None and reserved > limit:
        reason = f"each request reserves {reserved:,} output tokens (model.max_output_tokens), above the model's {limit:,}-token output limit"
        zeros = np.zeros(n, np.int64)
        return Budget(False, reason, zeros, zeros, np.zeros(n, bool), np.ones(n, bool))
    if fixed + reserved > window:
        parts = "system + instructions + knowledge snapshot" if strategy.cached_prefix == "knowledge" else "fixed prompt parts"
        reason = (
            f"the {parts} ({fixed:,} tokens) plus {reserved:,} reserved output tokens exceed "
            f"the {window:,}-token context window"
        )
        zeros = np.zeros(n, np.int64)
        return Budget(False, reason, zeros, zeros, np.zeros(n, bool), np.ones(n, bool))
    carried = query_tokens if history_tokens is None else query_tokens + history_tokens
    room = window - reserved - fixed - carried  # tokens left for chunks
    rejected = room < 0
    k = scenario.retrieval.top_k if strategy.uses_retrieval else 0
    if retrieves is not None:
        k = np.where(retrieves, k, 0)
    chunks = np.minimum(np.clip(room // scenario.retrieval.chunk_tokens, 0, None), k).astype(np.int64)
    chunks[rejected] = 0
    truncated = (chunks < k) & ~rejected
    prompt = np.where(rejected, 0, fixed + carried + chunks * scenario.retrieval.chunk_tokens)
    return Budget(True, None, prompt.astype(np.int64), chunks, truncated, rejected)


def recall_at_k(scenario: Scenario, chunks: np.ndarray) -> np.ndarray:
    """P(the needed chunk is among the k retrieved).

    recall(k) = c * (1 - (1 - r1')^k), with c the ceiling (recall never reaches it) and r1'
    the top-1 recall on this corpus (:func:`top1_recall_share`); reranking recovers a
    share m of the misses below the ceiling: recall' = recall + m * (c - recall).
    With ``retrieval.measured_recall_at_k`` the curve is the one fitted to those points
    (:func:`fitted_recall_curve`), with no corpus or rerank adjustment on top.
    """
    r = scenario.retrieval
    if r.measured_recall_at_k:
        fit = fitted_recall_curve(r.measured_recall_at_k)
        recall = fit.ceiling_share * (1.0 - (1.0 - fit.top1_share) ** np.asarray(chunks, float))
        return np.where(np.asarray(chunks) > 0, recall, 0.0)
    recall = r.recall_ceiling_share * (1.0 - (1.0 - top1_recall_share(scenario)) ** np.asarray(chunks, float))
    if r.rerank:
        recall = recall + r.rerank_miss_reduction_share * (r.recall_ceiling_share - recall)
    return np.where(np.asarray(chunks) > 0, recall, 0.0)


@dataclass(frozen=True)
class RecallFit:
    """The recall curve c x (1 - (1 - r1)^k) fitted to measured points, and how well it fits."""

    top1_share: float  # r1
    ceiling_share: float  # c
    rmse_share: float  # root mean square error over the points
    points: tuple[tuple[int, float], ...]

    def note(self) -> str:
        shown = ", ".join(f"k={k}: {y:.2f}" for k, y in self.points)
        return (f"retrieval recall at k is fitted to the measured points ({shown}): top-1 recall {self.top1_share:.3f}, "
                f"ceiling {self.ceiling_share:.3f}, rms error {self.rmse_share:.3f} (instead of the default curve)")


@lru_cache(maxsize=64)
def fitted_recall_curve(points: tuple[tuple[int, float], ...]) -> RecallFit:
    """Least-squares fit of recall(k) = c (1 - (1 - r1)^k) to measured (k, recall) points.

    For a given r1, with f_i = 1 - (1 - r1)^k_i, the best ceiling is c = sum y_i f_i / sum f_i^2
    (clipped to [0, 1]); r1 is searched on a grid of 10,001 values in [0, 1] and refined on
    a finer grid around the best one. Exact data from the curve are recovered to ~1e-6.
    """
    k = np.array([p[0] for p in points], float)
    y = np.array([p[1] for p in points], float)

    def best(grid: np.ndarray) -> tuple[float, float, float]:
        f = 1.0 - (1.0 - grid[:, None]) ** k[None, :]
        ff = (f * f).sum(axis=1)
        c = np.clip(np.divide((f * y).sum(axis=1), ff, out=np.zeros_like(ff), where=ff > 0), 0.0, 1.0)
        sse = ((c[:, None] * f - y) ** 2).sum(axis=1)
        i = int(np.argmin(sse))
        return float(grid[i]), float(c[i]), float(sse[i])

    r1, _, _ = best(np.linspace(0.0, 1.0, 10_001))
    r1, c, sse = best(np.clip(np.linspace(r1 - 1e-4, r1 + 1e-4, 2_001), 0.0, 1.0))
    return RecallFit(r1, c, float(np.sqrt(sse / len(y))), points)


def searchable_chunks(scenario: Scenario) -> int:
    """Chunks a query searches: its tenant's facts x chunks per fact (all facts with one tenant)."""
    k = scenario.knowledge
    facts = -(-k.facts_count // scenario.workload.tenants_count)
    return facts * k.chunks_per_fact


def top1_recall_share(scenario: Scenario) -> float:
    """r1' = r1 x min(1, (N_ref / N)^a): top-1 recall falls as the searched corpus N outgrows N_ref."""
    r = scenario.retrieval
    ratio = r.corpus_reference_chunks / searchable_chunks(scenario)
    return r.recall_at_1_share * min(1.0, ratio ** r.corpus_size_exponent)
