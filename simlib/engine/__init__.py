"""The engine: the model's shared parts once, and two backends that produce the same records.

One module per actor or concept (see docs/model.md, "A query's life"):

- ``strategies``: what each of the six strategies sends and where its knowledge comes from
- ``draws``: every random input of a replication, drawn up front (common random numbers)
- ``budget``: the token budget (context window, truncation, feasibility)
- ``knowledge``: the change stream, index refresh, retraining and cache-rebuild processes
- ``cache``: the provider prompt cache (TTL refreshed on use, versions, minimum length)
- ``serving``: the query process (retrieval stage, model stage, both behind FIFO limits)
- ``costs`` and ``quality``: per-query cost components and the quality proxy
- ``records``: one record builder (outcomes -> per-query records, costs, quality) for both backends
- ``simpy_backend``: one replication in a simpy environment (the engine of record)
- ``array_backend``: the same replication from arrays and a heap recursion (``engine="fast"``)
- ``run``: ``run(scenario, engine=...)``: feasibility, replications, progress, notes, fall-back
"""
