"""The provider prompt cache (MODEL.md, Provider prompt cache).

An entry is keyed by its exact prefix: a cache key (global, or one per tenant) and the
prefix's version (which a knowledge change or a rebuild moves on). A request whose entry
is alive and of the current version *hits* and reads the prefix; otherwise it *misses* and
writes the entry. Either way the entry then lives ``ttl_s`` after this use (a hit refreshes
it). Prefixes shorter than the provider's minimum never cache.

Check (tests): with Poisson requests at rate L on one prefix, a request hits exactly when
the previous one came less than T = ttl_s before it, so the steady-state hit rate is
P(gap < T) = 1 - exp(-L T).
"""

from __future__ import annotations


class PromptCacheState:
    """Live cache entries of one strategy: key -> (version, expires_at_s, last_use_s)."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self.entries: dict[int, tuple[int, float, float]] = {}
        self.alive_s = 0.0  # entry-seconds alive so far (for cache storage prices)

    def access(self, key: int, version: int, now_s: float) -> bool:
        """Use the entry for (key, version) at now; True on a hit. The entry lives on for ttl_s."""
        entry = self.entries.get(key)
        hit = entry is not None and entry[0] == version and now_s < entry[1]
        if entry is not None:
            # the old entry lived from its last use until now or until it expired
            self.alive_s += min(now_s, entry[1]) - entry[2]
        self.entries[key] = (version, now_s + self.ttl_s, now_s)
        return hit

    def close(self, end_s: float) -> float:
        """Entry-seconds alive up to end_s, counting the entries still open."""
        return self.alive_s + sum(min(end_s, exp) - last for _, exp, last in self.entries.values())


def cached_tokens_on_hit(prefix_tokens: int, mode: str, min_cacheable_tokens: int, increment_tokens: int) -> int:
    """Tokens billed as a cache read on a hit.

    Explicit caches read the whole prefix; automatic caches count it in whole increments
    above the minimum (OpenAI: 1,024 tokens, then steps of 128).
    """
    if prefix_tokens < min_cacheable_tokens or prefix_tokens <= 0:
        return 0
    if mode == "explicit":
        return prefix_tokens
    steps = (prefix_tokens - min_cacheable_tokens) // increment_tokens
    return min_cacheable_tokens + steps * increment_tokens
