"""The simpy engine: one module per actor (see docs/model.md, "A query's life").

- ``strategies``: what each of the six strategies sends and where its knowledge comes from
- ``draws``: every random input of a replication, drawn up front (common random numbers)
- ``budget``: the token budget (context window, truncation, feasibility)
- ``knowledge``: the change stream, index refresh, retraining and cache-rebuild processes
- ``cache``: the provider prompt cache (TTL refreshed on use, versions, minimum length)
- ``serving``: the query process (retrieval stage, model stage, both behind FIFO limits)
- ``costs`` and ``quality``: per-query cost components and the quality proxy
- ``run``: builds the world, runs every strategy in one simpy environment, returns results
"""
