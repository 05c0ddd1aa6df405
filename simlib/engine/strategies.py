"""The six strategies of docs/model.md as data: what goes into the prompt, where knowledge comes from.

| name | prompt | knowledge | model |
|---|---|---|---|
| prompt_only | system + instructions + few-shot + query | none (base model prior) | base |
| rag | system + instructions + few-shot + top-k chunks + query | search index | base |
| fine_tune | short system + query | weights (last retraining) | fine-tuned |
| rag_fine_tune | short system + top-k chunks + query | index, weights on a miss | fine-tuned |
| prompt_cache | [system + instructions + few-shot + knowledge] + query | cached prefix snapshot | base |
| rag_prompt_cache | [system + instructions + few-shot] + chunks + query | search index | base |

One layout, in this order: [system][instructions][few-shot][knowledge snapshot][retrieved
chunks][query]. Few-shot examples are one scenario choice (``prompt.few_shot_tokens``; 0 =
none) carried by every prompted strategy alike, so rag and rag_prompt_cache differ only in
how they use the cache. Brackets mark the prefix with an explicit cache breakpoint; on an
automatic provider (OpenAI, Gemini implicit, DeepSeek) every strategy's static prefix (the
parts before the chunks) caches too, with no write premium (``Strategy.caches``). The
cacheable prefix is a chain of scopes (``Strategy.cache_levels``): global
[system][instructions][few-shot], then tenant [knowledge snapshot], each level an entry of its
own (engine/cache.py). The provider is the one serving the strategy (``cache_rules``): a
fine-tuned model on another provider caches by that provider's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simlib.scenario import Scenario

KnowledgeSource = Literal["none", "index", "weights", "index_then_weights", "prefix"]


@dataclass(frozen=True)
class Strategy:
    name: str
    uses_retrieval: bool
    fine_tuned: bool
    instructions: bool
    few_shot: bool
    cached_prefix: Literal["none", "knowledge", "instructions"]
    knowledge_source: KnowledgeSource

    @property
    def uses_cache(self) -> bool:
        return self.cached_prefix != "none"

    def knowledge_tokens(self, scenario: Scenario) -> int:
        """Tokens of the knowledge snapshot carried in the prompt (prompt_cache only).

        With several tenants each prefix carries only its tenant's share of the facts.
        """
        if self.cached_prefix != "knowledge":
            return 0
        k = scenario.knowledge
        facts_per_tenant = -(-k.facts_count // scenario.workload.tenants_count)  # ceil
        return facts_per_tenant * k.chunks_per_fact * scenario.retrieval.chunk_tokens

    def fixed_prompt_tokens(self, scenario: Scenario) -> int:
        """Prompt tokens other than the query and the retrieved chunks."""
        p = scenario.prompt
        tokens = p.short_system_tokens if self.fine_tuned else p.system_tokens
        tokens += p.instructions_tokens if self.instructions else 0
        tokens += p.few_shot_tokens if self.few_shot else 0
        return tokens + self.knowledge_tokens(scenario)

    def cache_rules(self, scenario: Scenario) -> "CacheRules":
        """The cache rules of the provider serving this strategy (``cache_rules``)."""
        return cache_rules(self, scenario)

    def caches(self, scenario: Scenario) -> bool:
        """Whether the provider caches this strategy's prompts.

        Automatic providers (OpenAI, Gemini implicit, DeepSeek) cache the static prefix of
        every prompt, whatever the strategy; explicit ones (Anthropic breakpoints, Gemini
        explicit caches) only where the strategy places a breakpoint (``uses_cache``). The
        provider is the one serving the strategy: a fine-tuned model on another provider
        caches by its own rules (``cache_rules``).
        """
        return self.uses_cache or self.cache_rules(scenario).mode == "automatic"

    def cache_levels(self, scenario: Scenario) -> tuple["CacheLevel", ...]:
        """The chain of scopes of this strategy's cacheable prefix, outermost first.

        - global: [system][instructions][few-shot], identical for every tenant (the short
          system prompt of fine-tuned strategies); rag_prompt_cache keys it per tenant only
          with ``prompt_cache.prefix_scope: per_tenant`` (a cache key per user, as OpenAI's
          ``prompt_cache_key``);
        - tenant: the knowledge snapshot of prompt_cache (one tenant's facts), keyed per tenant.

        Retrieved chunks and the query follow the chain and never cache. Empty where the
        provider does not cache this strategy. ``CACHE_SCOPES`` lists the scopes in order;
        a session level (the conversation history) goes after tenant.
        """
        if not self.caches(scenario):
            return ()
        p = scenario.prompt
        outer = p.short_system_tokens if self.fine_tuned else p.system_tokens
        outer += (p.instructions_tokens if self.instructions else 0) + (p.few_shot_tokens if self.few_shot else 0)
        per_tenant = self.cached_prefix == "instructions" and scenario.prompt_cache.prefix_scope == "per_tenant"
        levels = [CacheLevel("global", outer, per_tenant_key=per_tenant)]
        if self.knowledge_tokens(scenario) > 0:
            levels.append(CacheLevel("tenant", self.knowledge_tokens(scenario), per_tenant_key=True))
        levels = [level for level in levels if level.tokens > 0]
        return limit_breakpoints(levels, scenario, self.cache_rules(scenario).mode)

    def cached_prefix_tokens(self, scenario: Scenario) -> int:
        """Tokens of the cacheable (static) prefix: the chain's levels together; 0 where the provider does not cache this strategy."""
        return sum(level.tokens for level in self.cache_levels(scenario))


def limit_breakpoints(levels: list["CacheLevel"], scenario: Scenario, mode: str | None = None) -> tuple["CacheLevel", ...]:
    """An explicit provider caches at most ``prompt_cache.breakpoints_limit`` levels per request.

    With B breakpoints and more levels than B, the first B - 1 levels keep their own
    breakpoint and the last breakpoint goes at the end of the chain, so the levels past it
    are cached as one entry with the deepest level's key (everything stays cached, the outer
    levels just are not shared on their own); B = 0 caches nothing. Automatic providers
    place no breakpoints and have no limit.
    """
    pc = scenario.prompt_cache
    limit = pc.breakpoints_limit
    if (mode or pc.mode) != "explicit" or limit is None or len(levels) <= limit:
        return tuple(levels)
    if limit == 0:
        return ()
    kept, rest = levels[: limit - 1], levels[limit - 1:]
    merged = CacheLevel(rest[-1].scope, sum(lv.tokens for lv in rest), any(lv.per_tenant_key for lv in rest))
    return (*kept, merged)


@dataclass(frozen=True)
class CacheRules:
    """How the provider serving a strategy caches and bills its prompts (docs/model.md, Provider prompt cache).

    mode: 'explicit' (breakpoints, write premium) or 'automatic'; ttl_s: an entry's life after
    its last use; write/read multipliers x input; min_cacheable_tokens, increment_tokens: c(.)
    of ``engine.cache.cached_tokens_on_hit``; overflow_requests_per_minute: the best-effort routing
    cap R per routing key (None: no overflow).
    """

    mode: str
    ttl_s: float
    write_multiplier: float
    read_multiplier: float
    min_cacheable_tokens: int
    increment_tokens: int
    overflow_requests_per_minute: float | None

    @property
    def write_multiplier_billed(self) -> float:
        """The write price multiple actually billed: automatic caches have no write premium (1)."""
        return self.write_multiplier if self.mode == "explicit" else 1.0


def cache_rules(strategy: Strategy, scenario: Scenario) -> CacheRules:
    """The cache rules of the provider serving ``strategy``: ``prompt_cache``, except for a fine-tuned
    strategy whose model sits on another provider (``fine_tuning.cache_mode`` set, filled from the
    catalog): then that provider's mode, TTL, minimum, increments and overflow, with no write premium
    on an automatic cache (the read price is the fine-tuned cached-input price, engine.costs)."""
    pc, ft = scenario.prompt_cache, scenario.fine_tuning
    rules = CacheRules(pc.mode, pc.ttl_s, pc.write_multiplier, pc.read_multiplier, pc.min_cacheable_tokens,
                       pc.increment_tokens, pc.overflow_requests_per_minute)
    if not strategy.fine_tuned or ft.cache_mode is None:
        return rules
    def own(value, fallback):
        return fallback if value is None else value

    return CacheRules(ft.cache_mode, own(ft.cache_ttl_s, pc.ttl_s), 1.0 if ft.cache_mode == "automatic" else pc.write_multiplier,
                      pc.read_multiplier, own(ft.cache_min_cacheable_tokens, pc.min_cacheable_tokens),
                      own(ft.cache_increment_tokens, pc.increment_tokens), ft.cache_overflow_requests_per_minute)


CACHE_SCOPES: tuple[str, ...] = ("global", "tenant")  # outermost first; sessions add "session" after tenant


@dataclass(frozen=True)
class CacheLevel:
    """One level of a prompt's cacheable prefix: its scope (CACHE_SCOPES), its own tokens, and
    whether its entry is keyed per tenant (else one entry serves every tenant)."""

    scope: str
    tokens: int
    per_tenant_key: bool


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("prompt_only", False, False, True, True, "none", "none"),
        Strategy("rag", True, False, True, True, "none", "index"),
        Strategy("fine_tune", False, True, False, False, "none", "weights"),
        Strategy("rag_fine_tune", True, True, False, False, "none", "index_then_weights"),
        Strategy("prompt_cache", False, False, True, True, "knowledge", "prefix"),
        Strategy("rag_prompt_cache", True, False, True, True, "instructions", "index"),
    )
}


DISPLAY_NAMES: dict[str, str] = {
    "prompt_only": "Prompt only",
    "rag": "RAG",
    "fine_tune": "Fine-tuning",
    "rag_fine_tune": "RAG + fine-tuning",
    "prompt_cache": "Prompt cache",
    "rag_prompt_cache": "RAG + prompt cache",
}


def display_name(strategy: str) -> str:
    """The name a person reads (charts, sentences, the deck): 'RAG + prompt cache' for rag_prompt_cache."""
    return DISPLAY_NAMES.get(strategy, strategy)
