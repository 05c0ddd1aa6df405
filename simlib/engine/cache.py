"""The provider prompt cache (docs/model.md, Provider prompt cache).

An entry is keyed by its exact prefix: a cache key (global, or one per tenant) and the
prefix's version (which a knowledge change or a rebuild moves on). A request whose entry
is alive and of the current version *hits* and reads the prefix; otherwise it *misses* and
writes the entry. Either way the entry then lives ``ttl_s`` after this use (a hit refreshes
it). An entry exists only once written: the request that opens it writes it when its
response starts (slot start + its prefill), and requests before then miss. Prefixes shorter
than the provider's minimum never cache.

Check (tests): with Poisson requests at rate L on one prefix, a request hits exactly when
the previous one came less than T = ttl_s before it, so the steady-state hit rate is
P(gap < T) = 1 - exp(-L T).

Trace replay with prefix block hashes (``PrefixBlockCache``, docs/traces.md): behind the
strategy's cached prefix P sits the trace's user-side prompt, a chain of blocks of B = 512
tokens named by prefix hashes. A request reuses its first k blocks still alive under the
same TTL rule, and with ttl_s = inf reuses the longest prefix of blocks seen before (the
trace's own reuse figure).
"""

from __future__ import annotations


class PromptCacheState:
    """Live cache entries of one strategy: key -> (version, expires_at_s, last_use_s, ready_at_s)."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self.entries: dict[int, tuple[int, float, float, float]] = {}
        self.alive_s = 0.0  # entry-seconds alive so far (for cache storage prices)

    def access(self, key: int, version: int, now_s: float, written_after_s: float = 0.0) -> bool:
        """Use the entry for (key, version) at now; True on a hit. The entry lives on for ttl_s.

        An entry exists only once written: a use that finds no live entry of the current
        version opens a new one, written when that request's response starts (its first
        token, ``written_after_s`` after now); uses before then miss too (and write), so a
        burst right after an invalidation all miss.
        """
        entry = self.entries.get(key)
        live = entry is not None and entry[0] == version and now_s < entry[1]
        if entry is not None:
            # the old entry lived from its last use until now or until it expired
            self.alive_s += min(now_s, entry[1]) - entry[2]
        ready_s = entry[3] if live else now_s + written_after_s
        self.entries[key] = (version, now_s + self.ttl_s, now_s, ready_s)
        return live and now_s >= ready_s

    def close(self, end_s: float) -> float:
        """Entry-seconds alive up to end_s, counting the entries still open."""
        return self.alive_s + sum(min(end_s, e[1]) - e[2] for e in self.entries.values())


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


class PrefixBlockCache:
    """Prefix-block entries of one strategy, for traces that carry block hashes.

    Block j of a request stands for its prompt up to the end of that block (equal ids =
    equal prefixes), and sits behind the strategy's cached prefix P, so entries are kept
    per (cache key, prefix version): a new version of P (a knowledge change, a rebuild)
    starts an empty table, as nothing after a changed prefix can match. A request at time
    t reuses k blocks, k the largest with blocks 1..k all alive (t < expiry); then every
    block of the request lives ttl_s after t (a hit refreshes, a miss writes). With
    ttl_s = inf, k is the longest prefix of blocks all seen in earlier requests.
    """

    PURGE_MIN_ENTRIES = 200_000  # drop expired entries when a table doubles past this size

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self.tables: dict[int, tuple[int, dict[int, float]]] = {}
        self._purge_at: dict[int, int] = {}

    def access(self, key: int, version: int, blocks, now_s: float) -> int:
        """Use the request's blocks at now_s; return k, the leading blocks that were alive."""
        table = self.tables.get(key)
        if table is None or table[0] != version:
            table = (version, {})
            self.tables[key] = table
            self._purge_at[key] = self.PURGE_MIN_ENTRIES
        expires = table[1]
        k = 0
        for b in blocks:
            e = expires.get(b)
            if e is None or now_s >= e:
                break
            k += 1
        until = now_s + self.ttl_s
        for b in blocks:
            expires[b] = until
        if len(expires) > self._purge_at[key]:
            # expired entries can never hit again: drop them (keeps long runs in memory)
            for b in [b for b, e in expires.items() if e <= now_s]:
                del expires[b]
            self._purge_at[key] = max(self.PURGE_MIN_ENTRIES, 2 * len(expires))
        return k
