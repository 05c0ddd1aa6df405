"""The provider prompt cache (docs/model.md, Provider prompt cache).

A prompt's cacheable prefix is a chain of levels (``Strategy.cache_levels``: global, then
tenant), each level an entry of its own (``PromptCacheState``), keyed by its exact prefix: a
cache key (global, or one per tenant) and the level's version (which a knowledge change or a
rebuild moves on; the global level has none). A request uses every level of its chain: a
level whose entry is alive, of the current version and written *hits*; the request reads
the longest chain of hits from the outermost level, d levels, and writes the rest:

    read  = c(t_1 + ... + t_d)        write = c(t_1 + ... + t_L) - read

(t_j the level's tokens, c(.) the provider's minimum and increments, ``cached_tokens_on_hit``).
Every level's entry then lives ``ttl_s`` after this use, on its own clock (a hit refreshes
it, a miss writes it). So a tenant entry can be dead while the global one lives: the request
reads the global prefix and writes the tenant level. An entry exists only once written: the
request that opens it writes it when its response starts (slot start + its prefill, with the
levels it read), and requests before then miss that level.

Check (tests): with Poisson requests at rate L_j per key of level j, a level hits exactly
when the previous request on its key came less than T = ttl_s before it, so each level's
steady-state hit rate is P(gap < T) = 1 - exp(-L_j T) (a tenant's requests are a subset of the
global level's, so a live tenant entry has a live global entry in front of it).

Best-effort routing (OpenAI, ``overflow_requests_per_minute`` R): a request is routed to the
machine holding its entries with probability min(1, R / L), L the request rate per minute
on its routing key (the outermost level's key); otherwise it spills to another machine, a
fresh miss that reads nothing, writes everything and touches no entry (``warm_share``).

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


def chain_read_tokens(levels, mode: str, min_cacheable_tokens: int, increment_tokens: int) -> list[int]:
    """Tokens read when the first d levels of a chain hit, for d = 0 .. len(levels): c(t_1 + ... + t_d)."""
    out, total = [0], 0
    for level in levels:
        total += level.tokens
        out.append(cached_tokens_on_hit(total, mode, min_cacheable_tokens, increment_tokens))
    return out


def warm_share(overflow_requests_per_minute: float | None, key_rate_per_s):
    """Share of a routing key's requests that reach the warm machine: min(1, R / L) (1 without overflow).

    R requests a minute per prefix and key (OpenAI about 15, cookbook Prompt_Caching_201), L the
    key's request rate in requests a minute; the rest spill, each to a fresh machine (a miss).
    """
    import numpy as np

    rate_per_min = np.asarray(key_rate_per_s, float) * 60.0
    if overflow_requests_per_minute is None:
        return np.ones_like(rate_per_min)
    return np.minimum(1.0, overflow_requests_per_minute / np.maximum(rate_per_min, 1e-300))


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


def spilled_requests(strategy, scenario, arrival_at_s, fact, routing_u):
    """Which requests spill off the warm machine (best-effort routing), or None without overflow.

    A request spills when its routing uniform u >= min(1, R / L): R = the provider's
    ``overflow_requests_per_minute`` for this strategy (``Strategy.cache_rules``), L = the request
    rate per minute on its routing key at its arrival: the scenario's rate (the hour's rate under
    a daily profile) x the key's share, 1 for a global outermost level, the tenant's popularity
    mass (its facts, f mod tenants) when the outermost level is keyed per tenant. Shared by both
    backends, so they spill the very same requests.
    """
    import numpy as np

    from simlib.engine.popularity import popularity_cdf

    rules = strategy.cache_rules(scenario)
    levels = strategy.cache_levels(scenario)
    if rules.overflow_requests_per_minute is None or not levels:
        return None
    w = scenario.workload
    t = np.asarray(arrival_at_s, float)
    if w.arrival_process == "daily_profile":
        weights = np.asarray(w.hourly_weights, float)
        hour = (np.floor(t / 3600.0) % 24).astype(np.int64)
        rate_per_s = w.queries_per_day * weights[hour] / weights.sum() / 3600.0
    else:
        rate_per_s = np.full(len(t), scenario.arrival_rate_per_s)
    fact = np.asarray(fact, np.int64)
    if levels[0].per_tenant_key and w.tenants_count > 1:
        tenants, n_facts = w.tenants_count, scenario.knowledge.facts_count
        cdf = popularity_cdf(scenario)
        mass = np.full(n_facts, 1.0 / n_facts) if cdf is None else np.diff(np.concatenate([[0.0], cdf]))
        share = np.bincount(np.arange(n_facts) % tenants, weights=mass, minlength=tenants)
        rate_per_s = rate_per_s * share[fact % tenants]
    return np.asarray(routing_u, float) >= warm_share(rules.overflow_requests_per_minute, rate_per_s)
