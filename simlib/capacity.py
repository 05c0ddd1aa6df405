"""``simlib capacity``: which rate-limit tier, or how many GPUs, a scenario needs at its peak.

For each strategy the command simulates the scenario once (the ordinary run) to get the
mean prompt, cache-read and output tokens per completed query, then:

- peak requests/min = queries_per_day / 1,440 x (24 x max hourly weight / sum of weights)
  for the daily profile (the mean rate otherwise);
- base-model strategies: the smallest tier on file (data/prices/rate_limits.csv) whose
  sustained throughput min(RPM, ITPM / counted input, OTPM / output) carries that peak
  (simlib.engine.rate_limits), counting only uncached input where the tier exempts cache
  reads; the token bill does not change with the tier;
- fine-tuned strategies: dedicated replicas sized to ``--p95-target-s`` at the peak by the
  replica-pool simulation (simlib.engine.dedicated), and their monthly GPU bill against the
  run's monthly cost on serverless per-token pricing.

Capacity is computed beside the run, not inside it: the run's own latencies still use the
scenario's fixed concurrency slots (issue 16: wiring the buckets into the serving path is
left to do).
"""

from __future__ import annotations

from typing import Any

from simlib.errors import Problem, ScenarioError
from simlib.prices import rate_limit_class


def peak_requests_per_minute(scenario) -> float:
    """Busiest-hour arrival rate: qpd / 1440 x 24 x max(w) / sum(w) for the daily profile."""
    w = scenario.workload
    mean = w.queries_per_day / 1_440.0
    if w.arrival_process == "daily_profile":
        return mean * 24.0 * max(w.hourly_weights) / sum(w.hourly_weights)
    return mean


def tier_rows(provider: str, model_class: str | None) -> list:
    from simlib.prices import load_table

    return [r for r in load_table("rate_limits") if r.provider == provider and r.model_class == model_class]


def capacity_report(scenario, *, result=None, p95_target_s: float = 10.0, speculative: bool = False,
                    gpu: str = "nvidia-h100-sxm", gpus_per_replica: int = 4) -> dict[str, Any]:
    """strategy -> peak load, and the tier (base model) or replicas (fine-tuned) it needs.

    ``result``: a finished ``simlib.run(scenario)`` to read token counts from (so a caller
    that already ran, e.g. the peak-hour saturation flag, does not run twice); else it runs.
    Base-model entries carry ``top_tier_utilisation_share`` (offered / capacity of the top
    tier on file) and fine-tuned ones ``replicas``, the figures a saturation check reads.
    """

    import simlib
    from simlib.engine.dedicated import DedicatedServing, size_replicas
    from simlib.engine.rate_limits import RateLimits, counted_input_tokens, stage_capacities
    from simlib.engine.strategies import STRATEGIES
    from simlib.results import COMPLETED

    result = simlib.run(scenario) if result is None else result
    summary = result.summary()
    peak = peak_requests_per_minute(scenario)
    catalog = scenario.prices.model or scenario.model.name
    provider = catalog.split("/")[0]
    tiers = tier_rows(provider, rate_limit_class(catalog))
    basis = ("busiest hour of the daily profile" if scenario.workload.arrival_process == "daily_profile"
             else "mean rate: no daily profile in this scenario")
    out: dict[str, Any] = {"peak_requests_per_minute": peak, "peak_basis": basis, "strategies": {}}
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
        if STRATEGIES[name].fine_tuned:
            serving = DedicatedServing(gpu=gpu, gpus_per_replica=gpus_per_replica, speculative=speculative,
                                       **({"acceptance_share": 0.95, "draft_tokens": 16, "draft_cost_ratio": 0.01}
                                          if speculative else {}))
            try:
                replicas = size_replicas(serving, peak / 60.0, prompt, output, p95_target_s)
            except ValueError as exc:
                raise ScenarioError([Problem("--p95-target-s", str(exc))]) from None
            entry.update(deployment="dedicated", replicas=replicas, gpus=replicas * gpus_per_replica, gpu=gpu,
                         decode_tokens_per_s_batch1=float(serving.decode_tokens_per_s(1)),
                         dedicated_monthly_usd=serving.monthly_usd(replicas))
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


def format_report(report: dict[str, Any], p95_target_s: float) -> str:
    lines = [f"peak load: {report['peak_requests_per_minute']:,.0f} requests/min ({report['peak_basis']})", ""]
    for name, e in report["strategies"].items():
        head = (f"{name:16s} prompt {e['prompt_tokens_mean']:,.0f} tok (cached {e['cache_read_tokens_mean']:,.0f}), "
                f"output {e['output_tokens_mean']:,.0f} tok; run monthly ${e['monthly_cost_usd']:,.0f}")
        lines.append(head)
        if e["deployment"] == "dedicated":
            lines.append(f"{'':16s} dedicated: {e['replicas']} replica(s) = {e['gpus']} x {e['gpu']} for p95 <= "
                         f"{p95_target_s:g} s (assumed 70B FP8 model, {e['decode_tokens_per_s_batch1']:,.0f} tok/s per stream "
                         f"at batch 1); "
                         f"GPU bill ${e['dedicated_monthly_usd']:,.0f}/month")
        elif not e["tiers_on_file"]:
            lines.append(f"{'':16s} no rate-limit tiers on file for provider '{e['provider']}' and this model")
        elif e["tier_needed"] is not None:
            lines.append(f"{'':16s} {e['provider']} Tier {e['tier_needed']} carries the peak; token bill unchanged")
        else:
            lines.append(f"{'':16s} no {e['provider']} tier on file carries the peak: the top tier would run at "
                         f"{e['top_tier_utilisation_share']:.1f}x its {e['binding_limit'].replace('_', ' ')} limit "
                         f"(ask the provider for custom limits, or use a dedicated deployment)")
    lines += ["", "Tiers 2-4 of Anthropic come from secondary compilations (data/prices/rate_limits.csv); GPU prices "
              "are assumptions (data/prices/gpus.csv). Output-token limits are checked against the mean output; "
              "Anthropic admits on max_tokens, so a tight OTPM binds sooner."]
    return "\n".join(lines)
