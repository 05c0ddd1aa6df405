"""The scenario: one validated, immutable description of a system to simulate, and how it is built.

:class:`Scenario` is the tree of the groups in ``schema.py``. Validation happens when the
scenario is built, never when it runs: a built :class:`Scenario` is always runnable (a
strategy that cannot fit its context window is reported infeasible by the engine, not
rejected here). :func:`build_scenario` is the one way in: it fills a named catalog model's
prices once (``catalog.py``), validates every field (every problem located, with "did you
mean" for a misspelt name), checks the run-size limits that depend on the horizon, and
checks a replayed trace's file and window. ``Scenario.with_changes`` returns a new scenario
built the same way.

Files and presets (``base: docs-assistant``) are read by ``load.py``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from pydantic import ValidationError, ValidationInfo, model_validator

from simlib.errors import Problem, ScenarioError
from simlib.loading import explain_validation
from simlib.prices import UnknownModelError
from simlib.scenario.catalog import (
    catalog_field, fill_default_write_multiplier, names_catalog_model, resolve_capacity, resolve_catalog,
)
from simlib.scenario.schema import (
    MAX_CHANGES_PER_RUN,
    MAX_HORIZON_S,
    MAX_PERIODIC_EVENTS_PER_RUN,
    SECONDS_PER_DAY,
    FineTuning,
    Knowledge,
    Model,
    Prices,
    Prompt,
    PromptCache,
    Quality,
    RateLimitGroup,
    Requirements,
    Sessions,
    Retrieval,
    Serving,
    Simulation,
    Workload,
    _f,
    _Group,
)

_FILLED = "catalog_filled"  # validation context key: build_scenario has run the catalog fill


class Scenario(_Group):
    """A whole scenario. Build with ``build_scenario(data)``, ``load_scenario(path)`` or a preset;
    ``Scenario()`` is the documented defaults."""

    name: str = _f("custom", "Short name shown on charts and exports.")
    story: str = _f("", "One line saying what system this scenario describes.")
    sources: dict[str, str] = _f({}, "Where the scenario's numbers come from (field path -> source).")
    catalog_filled: tuple[str, ...] = _f((), "Fields whose values came from the price catalog (set when the scenario is built).")
    workload: Workload = Workload()
    knowledge: Knowledge = Knowledge()
    retrieval: Retrieval = Retrieval()
    model: Model = Model()
    prompt: Prompt = Prompt()
    prices: Prices = Prices()
    fine_tuning: FineTuning = FineTuning()
    prompt_cache: PromptCache = PromptCache()
    rate_limits: RateLimitGroup = RateLimitGroup()
    serving: Serving = Serving()
    quality: Quality = Quality()
    sessions: Sessions = Sessions()
    simulation: Simulation = Simulation()
    requirements: Requirements = Requirements()

    @model_validator(mode="before")
    @classmethod
    def _catalog_filled_first(cls, data: Any, info: ValidationInfo) -> Any:
        """A named catalog model is filled by build_scenario (once per build); refuse to skip that.

        ``Scenario(prices={"model": ...})`` would otherwise silently run with the default
        prices, a wrong number with no error.
        """
        if isinstance(data, dict) and names_catalog_model(data) and not (info.context or {}).get(_FILLED):
            raise ValueError("a scenario naming a catalog model (prices.model or fine_tuning.model) is built with "
                             "simlib.scenario.build_scenario (or load_scenario), which fills its prices from the catalog")
        return data

    # -- derived quantities used by the engine --------------------------------------
    @property
    def arrival_rate_per_s(self) -> float:
        """Mean arrival rate, queries per second."""
        return self.workload.queries_per_day / SECONDS_PER_DAY

    def with_changes(self, changes: dict[str, Any] | None = None, /, **groups: Any) -> "Scenario":
        """A new, re-validated scenario with some fields changed.

        ``changes`` maps dotted paths to values (``{"workload.queries_per_day": 1e5}``);
        keyword arguments take whole or partial groups (``retrieval={"top_k": 8}``).
        """
        # Only what was set by hand travels: defaults stay defaults, and catalog values are
        # looked up again (for a new model, or the same one).
        data = self.model_dump(mode="python", exclude_unset=True)
        for path in data.pop("catalog_filled", ()):
            _del_path(data, path)
        for path, value in (changes or {}).items():
            _set_path(data, path, value)
        for group, value in groups.items():
            if isinstance(value, dict) and isinstance(data.get(group), dict):
                data[group] = deep_merge(data[group], value)
            else:
                data[group] = value
        return build_scenario(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field (what ``--json`` embeds).

        The one infinite value a scenario may hold (``prompt_cache.ttl_s``: an entry that
        never expires) is written as the string "inf", which loads back as infinity.
        """
        data = self.model_dump(mode="json")
        if math.isinf(self.prompt_cache.ttl_s):
            data["prompt_cache"]["ttl_s"] = "inf"
        return data


# --- building ---------------------------------------------------------------------------

def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError([Problem(path, f"'{part}' is not a group of the scenario")])
        node = child
    node[parts[-1]] = value


def _del_path(data: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``, group by group (``sources`` is replaced whole, not merged)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "sources":
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def build_scenario(data: dict[str, Any], *, source: str | None = None) -> Scenario:
    """Validate ``data`` into a :class:`Scenario`, or raise ScenarioError listing every problem."""
    if not isinstance(data, dict):
        raise ScenarioError([Problem("", f"a scenario must be a mapping of groups, got {type(data).__name__}")], source=source)
    try:  # rate-limit tier and batch discount from data/prices
        data = resolve_capacity(data)
    except ScenarioError as exc:
        raise ScenarioError(exc.problems, source=source) from None
    if names_catalog_model(data):  # the one catalog fill of this build
        try:
            data = resolve_catalog(data)
        except UnknownModelError as exc:
            raise ScenarioError([Problem(catalog_field(data, exc), str(exc))], source=source) from None
        except ScenarioError as exc:
            raise ScenarioError(exc.problems, source=source) from None
    else:  # no catalog model: the cache's write price for its TTL from the default provider's rule
        data = fill_default_write_multiplier(data)
    try:
        scenario = Scenario.model_validate(data, context={_FILLED: True})
    except ValidationError as exc:
        raise ScenarioError(explain_validation(exc, Scenario, otherwise=lambda names: f"; valid names here: {', '.join(names)}"),
                            source=source) from None
    if scenario.sessions.kind != "none" and scenario.workload.arrival_process == "trace":
        raise ScenarioError([Problem("sessions.kind", (
            f"'{scenario.sessions.kind}' draws its own session arrivals, so workload.arrival_process must be 'poisson' "
            "or 'daily_profile', not 'trace' (a replayed trace brings its conversations with it: its prefix blocks)"))],
            source=source)
    if scenario.serving.autoscaling == "hourly" and scenario.serving.replicas_count is not None:
        raise ScenarioError([Problem("serving.replicas_count", (
            f"is {scenario.serving.replicas_count}, but serving.autoscaling 'hourly' sizes the replicas of each hour to "
            "serving.p95_target_s: unset replicas_count, or set autoscaling 'off' for a fixed count"))], source=source)
    problems = check_replica_memory(scenario)
    if problems:
        raise ScenarioError(problems, source=source)
    if scenario.workload.arrival_process != "trace":
        problems = check_run_size(scenario)
        if problems:
            raise ScenarioError(problems, source=source)
    else:
        from simlib.traces import check_replay  # lazy: numpy loads only for a replayed trace

        try:  # the trace file, its window and the query count
            span_s = check_replay(scenario)
        except ScenarioError as exc:
            raise ScenarioError(exc.problems, source=source) from None
        problems = check_run_size(scenario, horizon_s=span_s)  # the replay's own horizon (a 1e15-s timestamp)
        if problems:
            raise ScenarioError(problems, source=source)
    return scenario


def check_replica_memory(scenario: Scenario) -> list[Problem]:
    """A dedicated replica must hold its model and its full batch: W + b x C x K <= GPUs x memory.

    W = parameters_count x parameter_bytes (weights), b = batch_streams_limit, C =
    stream_context_tokens, K = kv_token_bytes (the KV cache the roofline's decode step reads);
    memory = gpus_per_replica_count x memory_gb of serving.gpu (data/prices/gpus.csv). Without it
    the batching curve would price and time a deployment that cannot load. The field named is
    the GPU count when the weights alone do not fit, else the batch.
    """
    sv = scenario.serving
    if "dedicated" not in (sv.base_model, sv.fine_tuned_model):
        return []
    from simlib.prices import UnknownModelError, gpu

    try:
        memory_gb = sv.gpus_per_replica_count * gpu(sv.gpu).memory_gb
    except UnknownModelError:
        return []  # the unknown GPU is reported by the run's own lookup, with its suggestions
    weights_gb = sv.parameters_count * sv.parameter_bytes / 1e9
    kv_gb = sv.batch_streams_limit * sv.stream_context_tokens * sv.kv_token_bytes / 1e9
    if weights_gb + kv_gb <= memory_gb:
        return []
    need = (f"a replica of {sv.gpus_per_replica_count} x {sv.gpu} holds {memory_gb:,.0f} GB, but the weights take "
            f"{weights_gb:,.0f} GB (serving.parameters_count x parameter_bytes) and a full batch's KV cache "
            f"{kv_gb:,.0f} GB (batch_streams_limit x stream_context_tokens x kv_token_bytes)")
    if weights_gb > memory_gb:
        return [Problem("serving.gpus_per_replica_count", f"{need}: more GPUs per replica, or a smaller model")]
    fits = int((memory_gb - weights_gb) * 1e9 // (sv.stream_context_tokens * sv.kv_token_bytes))
    return [Problem("serving.batch_streams_limit", f"{need}: at most {fits:,} streams fit beside the weights; lower "
                    "batch_streams_limit or stream_context_tokens, or add GPUs per replica")]


def check_run_size(scenario: Scenario, *, horizon_s: float | None = None) -> list[Problem]:
    """Limits relative to the horizon: the events a run must draw stay bounded.

    horizon_s = simulation.queries / (workload.queries_per_day / 86,400), or, for a trace
    replay, the replayed requests' last arrival (``horizon_s``, from simlib.traces). Over the horizon
    plus the look-back the change history needs (the longest lag or period), the expected
    changes are changes_per_day / 86,400 x (horizon_s + look-back_s); each periodic process
    (batch re-index, periodic cache rebuild, retraining) fires horizon_s / period times.
    """
    w, k, ft, pc, sim = scenario.workload, scenario.knowledge, scenario.fine_tuning, scenario.prompt_cache, scenario.simulation
    problems: list[Problem] = []
    years = lambda s: f"{s / 86_400 / 365.25:,.0f} years"  # noqa: E731
    if horizon_s is not None:
        if horizon_s > MAX_HORIZON_S:
            problems.append(Problem("workload.trace", (
                f"replaying {sim.queries:,} requests spans {horizon_s:,.4g} s ({years(horizon_s)}; limit "
                f"{years(MAX_HORIZON_S)}); lower simulation.queries or workload.trace_time_scale, or replay a "
                "window (trace_start_s, trace_duration_s)")))
            return problems
    else:
        horizon_s = sim.queries / scenario.arrival_rate_per_s
        if horizon_s > MAX_HORIZON_S:
            problems.append(Problem("workload.queries_per_day", (
                f"{sim.queries:,} queries at {w.queries_per_day:g}/day span {years(horizon_s)} "
                f"(limit {years(MAX_HORIZON_S)}); raise queries_per_day or lower simulation.queries")))
            return problems
    retrain_s = ft.retrain_interval_days * SECONDS_PER_DAY
    lookback_s = max(k.index_lag_s, k.reindex_interval_s + k.reindex_duration_s,
                     retrain_s + ft.training_duration_s + ft.deploy_delay_s, pc.rebuild_interval_s)
    changes = k.changes_per_day / SECONDS_PER_DAY * (horizon_s + lookback_s)
    if changes > MAX_CHANGES_PER_RUN:
        problems.append(Problem("knowledge.changes_per_day", (
            f"{k.changes_per_day:g} changes/day over the {horizon_s / 86_400:,.1f}-day horizon and "
            f"{lookback_s / 86_400:,.1f}-day look-back (the longest lag or period) draws ~{changes:,.0f} changes "
            f"(limit {MAX_CHANGES_PER_RUN:,}); lower changes_per_day, the periods, or simulation.queries")))
    periodic = [("fine_tuning.retrain_interval_days", retrain_s)]
    if k.index_refresh == "batch":
        periodic.append(("knowledge.reindex_interval_s", k.reindex_interval_s))
    if pc.rebuild_policy == "periodic":
        periodic.append(("prompt_cache.rebuild_interval_s", pc.rebuild_interval_s))
    for path, period_s in periodic:
        events = horizon_s / period_s
        if events > MAX_PERIODIC_EVENTS_PER_RUN:
            problems.append(Problem(path, (
                f"a period of {period_s:g} s fires {events:,.0f} times over the {horizon_s:,.0f}-s horizon "
                f"(limit {MAX_PERIODIC_EVENTS_PER_RUN:,}); lengthen it or simulate fewer queries")))
    return problems
