"""``simlib capacity``: which rate-limit tier, or how many GPUs, a scenario needs at its peak.

For each strategy the command simulates the scenario once (the ordinary run) to get the
mean prompt, cache-read and output tokens per completed query, then:

- peak requests/min = queries_per_day / 1,440 x (24 x max hourly weight / sum of weights)
  for the daily profile (the mean rate otherwise);
- base-model strategies: the smallest tier on file (data/prices/rate_limits.csv) whose
  sustained throughput min(RPM, ITPM / counted input, OTPM / output) carries that peak
  (simlib.engine.rate_limits), counting only uncached input where the tier exempts cache
  reads; the token bill does not change with the tier;
- fine-tuned strategies (and base-model ones where ``serving.base_model`` is dedicated): the
  dedicated replicas of the scenario's ``serving`` group, by the same function a run with
  that model on dedicated GPUs uses (simlib.engine.dedicated.replicas_for: sized to
  ``serving.p95_target_s`` at the busiest hour, or ``serving.replicas_count``), and their
  monthly GPU bill by the same formula as the run's hosting cost
  (simlib.engine.dedicated.dedicated_plan), against the run's monthly cost on serverless
  pricing; with the replicas per hour of the day and the bill both ways: fixed at the
  peak's count all day, and scaled hourly to the daily profile (serving.autoscaling 'hourly':
  each hour sized to the target at its rate, scale-ups billed through their cold start).

The command's flags (--p95-target-s, --speculative, --gpu, --gpus-per-replica) are
``serving`` fields set on the scenario before sizing (:func:`sizing_scenario`), so
``simlib capacity`` and ``simlib run --set serving.fine_tuned_model=dedicated`` with the same
fields report the same replicas and bill (tests/test_capacity.py).
"""

from __future__ import annotations

from typing import Any

from simlib.errors import Problem, ScenarioError
from simlib.prices import rate_limit_class


def peak_requests_per_minute(scenario) -> float:
    """Busiest-hour live arrival rate per minute: 60 x simlib.engine.dedicated.peak_rate_per_s,

    qpd / 1440 x max(w) / mean(w) on the daily profile (the mean rate otherwise), x (1 - offline
    share): the one peak the replica sizing, the rate-limit tiers and the saturation flag read.
    """
    from simlib.engine.dedicated import peak_rate_per_s

    return 60.0 * peak_rate_per_s(scenario)


def sizing_scenario(scenario, *, p95_target_s: float | None = None, speculative: bool | None = None,
                    gpu: str | None = None, gpus_per_replica: int | None = None):
    """The scenario with the command's flags set as its ``serving`` fields (None: the scenario's own value)."""
    changes = {f"serving.{k}": v for k, v in (("p95_target_s", p95_target_s), ("speculative", speculative),
                                              ("gpu", gpu), ("gpus_per_replica_count", gpus_per_replica))
               if v is not None}
    return scenario.with_changes(changes) if changes else scenario


def tier_rows(provider: str, model_class: str | None) -> list:
    from simlib.prices import load_table

    return [r for r in load_table("rate_limits") if r.provider == provider and r.model_class == model_class]


def capacity_report(scenario, *, result=None, p95_target_s: float | None = None, speculative: bool | None = None,
                    gpu: str | None = None, gpus_per_replica: int | None = None) -> dict[str, Any]:
    """strategy -> peak load, and the tier (serverless base model) or replicas (dedicated) it needs.

    ``result``: a finished ``simlib.run(scenario)`` to read token counts from (so a caller
    that already ran, e.g. the peak-hour saturation flag, does not run twice); else it runs.
    The keyword flags override the scenario's ``serving`` fields (:func:`sizing_scenario`).
    Base-model entries carry ``top_tier_utilisation_share`` (offered / capacity of the top
    tier on file) and dedicated ones ``replicas``, the figures a saturation check reads.
    """

    import simlib
    from simlib.engine.dedicated import dedicated_plan, deployment
    from simlib.engine.rate_limits import RateLimits, counted_input_tokens, stage_capacities
    from simlib.engine.strategies import STRATEGIES
    from simlib.results import COMPLETED

    sized = sizing_scenario(scenario, p95_target_s=p95_target_s, speculative=speculative, gpu=gpu,
                            gpus_per_replica=gpus_per_replica)
    # the run takes the flags too: a scenario already dedicated sizes its own replicas by them
    result = simlib.run(sized) if result is None else result
    sv = sized.serving
    summary = result.summary()
    peak = peak_requests_per_minute(scenario)
    catalog = scenario.prices.model or scenario.model.name
    provider = catalog.split("/")[0]
    tiers = tier_rows(provider, rate_limit_class(catalog))
    basis = ("busiest hour of the daily profile" if scenario.workload.arrival_process == "daily_profile"
             else "mean rate: no daily profile in this scenario")
    from simlib.prices import rate_limit_tiers

    qualifications = {r.tier: {"paid_usd": r.paid_usd, "wait_days": r.wait_days} for r in rate_limit_tiers(provider)}
    out: dict[str, Any] = {"peak_requests_per_minute": peak, "peak_basis": basis, "provider": provider,
                           "tier_qualifications": qualifications, "strategies": {}}
    for name in result.strategies:
        if not summary[name]["feasible"]:
            continue
        rec = result.records(name)
        done = (rec["flags"] & COMPLETED) != 0
        prompt = float(rec["prompt_tokens"][done].mean())
        read = float(rec["cache_read_tokens"][done].mean())
        output = float(rec["output_tokens"][done].mean())
        entry: dict[str, Any] = {"prompt_tokens_mean": prompt, "cache_read_tokens_mean": read,
                                 "output_tokens_mean": output,
                                 "monthly_cost_usd": summary[name]["monthly_cost_usd"]["mean"]}
        st = STRATEGIES[name]
        if st.fine_tuned or sv.dedicated(False):
            # the run's own computation: the model on dedicated GPUs, replicas_for and monthly_usd
            dedicated = sized.with_changes({"serving.fine_tuned_model" if st.fine_tuned else "serving.base_model":
                                            "dedicated"})
            try:
                plan = dedicated_plan(dedicated, st)
                # the other mode's bill beside the scenario's own (sized replicas only: a fixed count has no schedule)
                other = None
                if sv.replicas_count is None:
                    flip = "hourly" if sv.autoscaling == "off" else "off"
                    other = dedicated_plan(dedicated.with_changes({"serving.autoscaling": flip}), st)
            except ScenarioError as exc:
                if p95_target_s is None:
                    raise
                raise ScenarioError([Problem("--p95-target-s", exc.problems[0].message)]) from None
            hourly = plan if sv.autoscaling == "hourly" else other
            serving = deployment(dedicated, st.fine_tuned)
            replicas = plan["peak_replicas"]
            entry.update(deployment="dedicated", replicas=replicas, replicas_sized=sv.replicas_count is None,
                         gpus=replicas * sv.gpus_per_replica_count, gpu=sv.gpu, p95_target_s=sv.p95_target_s,
                         speculative=sv.speculative, parameters_count=sv.parameters_count,
                         parameter_bytes=sv.parameter_bytes,
                         decode_tokens_per_s_batch1=float(serving.decode_tokens_per_s(1)),
                         autoscaling=sv.autoscaling, replicas_per_hour=plan["replicas_per_hour"],
                         gpu_hours_per_day=plan["gpu_hours_per_day"],
                         dedicated_monthly_usd=plan["monthly_usd"],
                         fixed_at_peak_monthly_usd=plan["fixed_at_peak_monthly_usd"],
                         hourly=None if hourly is None else {
                             k: hourly[k] for k in ("replicas_per_hour", "replicas_min", "replicas_max",
                                                    "gpu_hours_per_day", "cold_start_s", "monthly_usd")})
        else:
            fits = []
            for row in tiers:
                limits = RateLimits(row.requests_per_minute, row.input_tokens_per_minute,
                                    row.output_tokens_per_minute, row.cache_reads_exempt)
                counted = float(counted_input_tokens(prompt, read, row.cache_reads_exempt))
                cap = stage_capacities(limits, counted, output, peak)
                fits.append((row.tier, cap))
            ok = [t for t, cap in fits if cap["utilisation_share"] < 1.0]
            top = fits[-1][1] if fits else None
            entry.update(deployment="serverless", provider=provider, tier_needed=ok[0] if ok else None,
                         top_tier_utilisation_share=top["utilisation_share"] if top else None,
                         binding_limit=top["binding_limit"] if top else None,
                         tiers_on_file=[t for t, _ in fits])
        out["strategies"][name] = entry
    return out


def _qualification(q: dict[str, Any] | None) -> str:
    """'$50 paid + 7 days' from a rate_limit_tiers.csv row."""
    if q is None:
        return "qualification not on file"
    return f"${q['paid_usd']:,.0f} paid" + (f" + {q['wait_days']:g} days" if q["wait_days"] else "")


def format_report(report: dict[str, Any]) -> str:
    quals = report.get("tier_qualifications", {})
    peak = report["peak_requests_per_minute"]
    # below 10/min whole numbers would print a live load of 1 query a day as "0 requests/min"
    shown = f"{peak:,.0f}" if peak >= 10 or peak == 0 else f"{peak:.3g}"
    lines = [f"peak load: {shown} requests/min ({report['peak_basis']})", ""]
    for name, e in report["strategies"].items():
        head = (f"{name:16s} prompt {e['prompt_tokens_mean']:,.0f} tok (cached {e['cache_read_tokens_mean']:,.0f}), "
                f"output {e['output_tokens_mean']:,.0f} tok; run monthly ${e['monthly_cost_usd']:,.0f}")
        lines.append(head)
        if e["deployment"] == "dedicated":
            how = f"for p95 <= {e['p95_target_s']:g} s" if e["replicas_sized"] else "fixed by serving.replicas_count"
            lines.append(f"{'':16s} dedicated: {e['replicas']} replica(s) = {e['gpus']} x {e['gpu']} {how} "
                         f"({e['parameters_count'] / 1e9:g}B model at {e['parameter_bytes']:g} byte(s)/parameter"
                         f"{', speculative decoding' if e['speculative'] else ''}, "
                         f"{e['decode_tokens_per_s_batch1']:,.0f} tok/s per stream at batch 1); "
                         f"GPU bill ${e['fixed_at_peak_monthly_usd']:,.0f}/month fixed at the peak")
            h = e["hourly"]
            if h is not None:
                lines.append(f"{'':16s} scaled hourly to the daily profile: {h['replicas_min']}-{h['replicas_max']} "
                             f"replica(s), {h['gpu_hours_per_day']:,} GPU-hours/day (fixed: "
                             f"{e['gpus'] * 24:,}), scale-ups serve "
                             f"{h['cold_start_s']:g} s after the hour starts; GPU bill ${h['monthly_usd']:,.0f}/month"
                             + ("  (the scenario's mode)" if e["autoscaling"] == "hourly" else
                                "  (serving.autoscaling=hourly)"))
        elif not e["tiers_on_file"]:
            tiers = "; ".join(f"Tier {t} {_qualification(q)}" for t, q in quals.items())
            lines.append(f"{'':16s} no rate-limit tiers on file for provider '{e['provider']}' and this model"
                         + (f" (its tiers: {tiers}; their per-model limits are not published in a source on file)"
                            if tiers else "")
                         + ": `simlib run` with --set rate_limits.requests_per_minute=R --set "
                           "rate_limits.input_tokens_per_minute=I --set rate_limits.output_tokens_per_minute=O "
                           "simulates your account's limits")
        elif e["tier_needed"] is not None:
            lines.append(f"{'':16s} {e['provider']} Tier {e['tier_needed']} ({_qualification(quals.get(e['tier_needed']))}) "
                         f"carries the peak; token bill unchanged")
        else:
            lines.append(f"{'':16s} no {e['provider']} tier on file carries the peak: the top tier would run at "
                         f"{e['top_tier_utilisation_share']:.1f}x its {e['binding_limit'].replace('_', ' ')} limit "
                         f"(ask the provider for custom limits, or use a dedicated deployment)")
    lines += ["", "Tiers 2-4 of Anthropic come from secondary compilations (data/prices/rate_limits.csv); GPU prices "
              "are assumptions (data/prices/gpus.csv). Output-token limits are checked against the mean output; "
              "Anthropic admits on max_tokens, so a tight OTPM binds sooner."]
    return "\n".join(lines)
