"""Rate-limit token buckets, dedicated serving, speculative decoding and the batch API (issue 16)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from simlib import prices
from simlib.engine.dedicated import (
    DedicatedServing, batch_api_token_cost_usd, peak_hour_arrivals, simulate_replicas, size_replicas,
    speculative_speedup,
)
from simlib.engine.rate_limits import (
    RateLimits, RetryPolicy, binding_limit, counted_input_tokens, simulate_rate_limited, stage_capacities,
    sustained_requests_per_minute,
)

# --- token buckets -------------------------------------------------------------------------

LIMITS = RateLimits(requests_per_minute=600, input_tokens_per_minute=600_000, output_tokens_per_minute=60_000)


@pytest.mark.parametrize("input_tokens, output_tokens, binding, expected_per_min", [
    (100, 10, "requests", 600),          # RPM binds: 600/min
    (4_000, 10, "input_tokens", 150),    # 600k / 4k = 150/min
    (100, 1_000, "output_tokens", 60),   # 60k / 1k = 60/min
])
def test_sustained_throughput_is_the_smallest_bucket(input_tokens, output_tokens, binding, expected_per_min):
    """Steady overload (50 req/s, no retries): admissions after the burst drains run at
    min(RPM, ITPM / input, OTPM / output) per minute."""
    assert sustained_requests_per_minute(LIMITS, input_tokens, output_tokens) == pytest.approx(expected_per_min)
    assert binding_limit(LIMITS, input_tokens, output_tokens) == binding
    arrivals = np.arange(0, 600, 0.02)  # 50 requests/s for 10 minutes, far above every limit
    out = simulate_rate_limited(arrivals, input_tokens, output_tokens, LIMITS, RetryPolicy(max_retries=0))
    admitted = out.admitted_at_s[~np.isnan(out.admitted_at_s)]
    window = (admitted >= 180) & (admitted < 540)  # 6 minutes, well after the starting burst is spent
    measured_per_min = window.sum() / 6.0
    assert measured_per_min == pytest.approx(expected_per_min, abs=1.0)
    # The starting burst is one minute's worth: the first minute admits about 2 minutes' worth.
    assert (admitted < 60).sum() == pytest.approx(2 * expected_per_min, abs=2)


def test_below_the_limit_nothing_is_rate_limited():
    rate_per_s = 0.5 * sustained_requests_per_minute(LIMITS, 4_000, 10) / 60  # half the capacity
    arrivals = np.arange(0, 1_800, 1 / rate_per_s)
    out = simulate_rate_limited(arrivals, 4_000, 10, LIMITS, RetryPolicy())
    assert out.metrics == {"rate_limited_share": 0.0, "retries_mean": 0.0, "failed_share": 0.0}
    np.testing.assert_array_equal(out.admitted_at_s, arrivals)


def test_cache_reads_are_exempt_where_the_provider_exempts_them():
    """8k-token prompts of which 7k are cache reads at 120/min: 960k counted tokens/min overflow
    a 600k ITPM, the 120k uncached ones do not."""
    arrivals = np.arange(0, 1_200, 0.5)
    for exempt, limited in ((True, False), (False, True)):
        counted = counted_input_tokens(8_000, 7_000, exempt)
        out = simulate_rate_limited(arrivals, counted, 10, LIMITS, RetryPolicy(max_retries=0))
        assert (out.metrics["rate_limited_share"] > 0.3) is limited, (exempt, out.metrics)


def test_retry_waits_honour_retry_after_and_back_off_exponentially():
    policy = RetryPolicy(max_retries=5, base_s=1.0, cap_s=8.0, jitter_share=0.5)
    assert [policy.wait_s(n, 0.0, 0.0) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.wait_s(2, 0.0, 0.999) == pytest.approx(4.0 * 1.4995)
    assert policy.wait_s(0, 30.0, 0.5) == 30.0  # the provider's retry-after wins when longer


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), rate=st.floats(0.1, 50), inp=st.floats(1, 50_000), out_tokens=st.floats(1, 5_000),
       retries=st.integers(0, 4), seed=st.integers(0, 1_000))
def test_every_request_is_admitted_once_or_fails_after_its_last_retry(n, rate, inp, out_tokens, retries, seed):
    arrivals = np.sort(np.random.default_rng(seed).uniform(0, n / rate, n))
    result = simulate_rate_limited(arrivals, inp, out_tokens, LIMITS, RetryPolicy(max_retries=retries), seed=seed)
    admitted = ~np.isnan(result.admitted_at_s)
    assert np.all(admitted ^ result.failed)  # completed + failed = arrivals, never both
    assert np.all(result.admitted_at_s[admitted] >= arrivals[admitted])
    assert np.all(result.retries <= retries)
    assert np.all(result.retries[result.failed & (inp <= LIMITS.input_tokens_per_minute)
                                 & (out_tokens <= LIMITS.output_tokens_per_minute)] == retries)
    assert np.all(result.throttled[result.failed] >= 1)  # a failure always follows a 429
    assert np.all((result.throttled == result.retries) | result.failed)  # every 429 of a served one was retried
    assert result.metrics["failed_share"] == pytest.approx(result.failed.mean())
    assert result.metrics["rate_limited_share"] == pytest.approx((result.throttled > 0).mean())


def test_a_request_larger_than_a_bucket_fails_at_once():
    out = simulate_rate_limited([0.0], 700_000, 10, LIMITS, RetryPolicy(max_retries=3))
    assert out.failed.tolist() == [True] and out.retries.tolist() == [0]


def test_tier_data_and_the_code_apply_example():
    """Issue 16: ~694 requests/min x 7.4k uncached input tokens is ~5.1M ITPM, which Anthropic
    Tier 4 (2M ITPM on Sonnet-class models) refuses."""
    tier4 = RateLimits.from_tier("anthropic", "4", "sonnet-opus-4")
    assert (tier4.requests_per_minute, tier4.input_tokens_per_minute, tier4.output_tokens_per_minute) == (
        4_000, 2_000_000, 400_000)
    assert tier4.cache_reads_exempt
    cap = stage_capacities(tier4, 7_400, 400, 694)
    assert cap["binding_limit"] == "input_tokens"
    assert cap["capacity_requests_per_minute"] == pytest.approx(2_000_000 / 7_400)
    assert cap["utilisation_share"] > 2.5
    for tier in ("2", "3", "4"):  # secondary-source rows carry the caveat
        assert "SECONDARY SOURCE" in prices.rate_limit_tier("anthropic", tier, "sonnet-opus-4").notes


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan])
def test_rate_limits_reject_non_positive_or_non_finite(bad):
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimits(requests_per_minute=bad, input_tokens_per_minute=1, output_tokens_per_minute=1)


# --- dedicated serving -----------------------------------------------------------------------

def test_batch_one_speeds_are_the_roofline_figures():
    """4 x H100 (3,350 GB/s, 989 TFLOPS each, from gpus.csv) at 0.7 / 0.5 efficiency, 70B in FP8:
    decode = B / (W + K) and prefill = F / (2 P), computed here by hand."""
    serving = DedicatedServing()
    bandwidth = 4 * 3_350e9 * 0.7
    flops = 4 * 989e12 * 0.5
    weights, kv = 70e9 * 1.0, 163_840 * 4_000
    assert float(serving.decode_tokens_per_s(1)) == pytest.approx(bandwidth / (weights + kv))
    assert float(serving.prefill_tokens_per_s(1)) == pytest.approx(flops / (2 * 70e9))
    assert 100 < float(serving.decode_tokens_per_s(1)) < 200  # a 70B FP8 on 4 H100s: ~130 tokens/s


@settings(max_examples=30, deadline=None)
@given(kv=st.floats(1e3, 1e6), context=st.floats(1, 1e5), spec=st.booleans())
def test_decode_speed_per_stream_falls_monotonically_with_batch(kv, context, spec):
    serving = DedicatedServing(kv_bytes_per_token=kv, context_tokens_per_stream=context, speculative=spec, max_batch=256)
    speeds = serving.decode_tokens_per_s(np.arange(1, 257))
    assert np.all(np.diff(speeds) < 0)
    assert np.all(np.diff(serving.prefill_tokens_per_s(np.arange(1, 257))) < 0)


def test_sized_replicas_are_the_fewest_that_meet_the_target():
    serving = DedicatedServing(max_batch=8)
    rate, prompt, output, target = 3.0, 4_000, 400, 8.0
    replicas = size_replicas(serving, rate, prompt, output, target)
    arrivals = peak_hour_arrivals(rate, 4_000)
    def p95(c):
        return float(np.quantile(simulate_replicas(serving, c, arrivals, prompt, output), 0.95))
    assert replicas > 1
    assert p95(replicas) <= target < p95(replicas - 1)


def test_one_replica_one_request_latency_is_rtt_prefill_decode():
    serving = DedicatedServing()
    lat = simulate_replicas(serving, 1, [0.0], 2_000, 300)
    expected = 0.1 + 2_000 / float(serving.prefill_tokens_per_s(1)) + 300 / float(serving.decode_tokens_per_s(1))
    assert lat[0] == pytest.approx(expected)


@pytest.mark.parametrize("acceptance", [0.6, 0.9])
def test_speculative_speedup_matches_a_monte_carlo_of_draft_and_verify(acceptance):
    """Simulate speculative decoding: each step drafts g tokens (cost g c), verifies them in one
    target step (cost 1), keeps the accepted prefix (each accepted with prob a) plus one token
    from the target. Tokens per unit cost, over plain decoding's 1, is the speed-up."""
    g, c = 5, 0.1
    rng = np.random.default_rng(7)
    accepted = rng.random((200_000, g)) < acceptance
    prefix = np.where(accepted.all(axis=1), g, np.argmin(accepted, axis=1))
    measured = (prefix + 1).mean() / (g * c + 1)
    assert speculative_speedup(acceptance, g, c) == pytest.approx(measured, rel=0.01)
    assert speculative_speedup(acceptance, g, c) == pytest.approx(
        (1 - acceptance ** (g + 1)) / ((1 - acceptance) * (g * c + 1)))


def test_speculative_edit_model_reaches_cursor_fast_apply_speed():
    """Cursor's Fast Apply: ~1,000 tokens/s on a fine-tuned 70B with speculative edits."""
    serving = DedicatedServing(speculative=True, acceptance_share=0.95, draft_tokens=16, draft_cost_ratio=0.01)
    assert 700 < float(serving.decode_tokens_per_s(1)) < 1_500


def test_monthly_cost_is_replicas_gpus_hours_price():
    serving = DedicatedServing(gpus_per_replica=4)
    price = prices.gpu("nvidia-h100-sxm").usd_per_gpu_hour
    hours = 24 * 365.25 / 12  # the month of every monthly figure: 730.5 h
    assert serving.monthly_usd(3) == pytest.approx(3 * 4 * hours * price)
    assert serving.usd_per_query(3, 10_000) == pytest.approx(3 * 4 * hours * price / (10_000 * 365.25 / 12))


# --- batch API ---------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_batch_share_halves_the_token_cost_of_that_share(provider):
    row = prices.batch_discount(provider)
    assert row.discount_share == 0.5 and row.completion_window_s == 86_400
    cost = 123.45
    assert batch_api_token_cost_usd(cost, 1.0, row.discount_share) == cost / 2
    share = 0.3
    saved = cost - batch_api_token_cost_usd(cost, share, row.discount_share)
    assert saved == pytest.approx(share * cost / 2, rel=1e-12)


# --- simlib capacity (the CLI answer) -----------------------------------------------------------

def _capacity_json(capsys, *argv):
    import json

    from simlib.cli import main

    assert main(["capacity", *argv, "--queries", "5000", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_capacity_code_apply_prompted_path_exceeds_every_anthropic_tier(capsys):
    """Issue 16: ~694 requests/min (1M/day, constant-rate Poisson arrivals) of ~7.4k uncached
    tokens is ~5.1M ITPM, 2.6x Tier 4's 2M."""
    report = _capacity_json(capsys, "--preset", "code-apply")
    assert report["peak_requests_per_minute"] == pytest.approx(1e6 / 1440)
    prompted = report["strategies"]["prompt_only"]
    assert prompted["tier_needed"] is None and prompted["binding_limit"] == "input_tokens"
    assert prompted["top_tier_utilisation_share"] == pytest.approx(
        report["peak_requests_per_minute"] * prompted["prompt_tokens_mean"] / 2e6)
    assert 2.3 < prompted["top_tier_utilisation_share"] < 2.9


def test_capacity_cache_exemption_lets_a_long_cached_prompt_fit_a_low_tier(capsys):
    """shared-manual's prompt_cache reads ~64k cached tokens per query: counted in full, the
    peak would exceed Tier 4's 2M ITPM; with Anthropic's exemption Tier 2 carries it."""
    report = _capacity_json(capsys, "--preset", "shared-manual")
    cached = report["strategies"]["prompt_cache"]
    assert cached["tier_needed"] == "2"
    assert report["peak_requests_per_minute"] * cached["prompt_tokens_mean"] > 2e6


def test_capacity_sizes_fewer_replicas_with_speculative_decoding(capsys):
    # a 30 s target: without speculative decoding (133 tok/s per stream at batch 1) a long rewrite's decode alone
    # exceeds 10 s (p95 output ~2,300 tokens at token CV 0.5), so no replica count meets the preset's 5 s
    target = ("--p95-target-s", "30")
    plain = _capacity_json(capsys, "--preset", "code-apply", "--strategies", "fine_tune", "--set", "serving.speculative=false",
                           *target)
    fast = _capacity_json(capsys, "--preset", "code-apply", "--strategies", "fine_tune", "--set", "serving.speculative=false",
                          "--speculative", *target)
    p, f = plain["strategies"]["fine_tune"], fast["strategies"]["fine_tune"]
    assert f["replicas"] < p["replicas"] and f["speculative"] and not p["speculative"]
    assert f["dedicated_monthly_usd"] == pytest.approx(
        f["replicas"] * 4 * 24 * 365.25 / 12 * prices.gpu("nvidia-h100-sxm").usd_per_gpu_hour)


def test_peak_of_a_daily_profile_is_the_busiest_hour():
    """docs-assistant: 20k/day on the default profile; busiest hour weight 12 of 150 -> x1.92."""
    from simlib.capacity import peak_requests_per_minute
    from simlib.scenario import load_preset

    scenario = load_preset("docs-assistant")
    w = scenario.workload
    assert w.arrival_process == "daily_profile"
    assert peak_requests_per_minute(scenario) == pytest.approx(
        w.queries_per_day / 1440 * 24 * max(w.hourly_weights) / sum(w.hourly_weights))
    assert peak_requests_per_minute(scenario.with_changes({"workload.arrival_process": "poisson"})) == pytest.approx(
        w.queries_per_day / 1440)


@pytest.mark.parametrize("argv, needle", [
    (["--p95-target-s", "0"], "--p95-target-s"),
    (["--p95-target-s", "0.01"], "no replica count"),
    (["--gpu", "nope"], "--gpu"),
    (["--gpus-per-replica", "0"], "--gpus-per-replica"),
])
def test_capacity_bad_input_is_a_located_error(capsys, argv, needle):
    from simlib.cli import main

    assert main(["capacity", "--preset", "code-apply", "--queries", "2000", "--strategies", "fine_tune", *argv]) == 2
    assert needle in capsys.readouterr().err


def test_code_apply_fast_model_is_paid_as_the_dedicated_deployment_that_delivers_its_speed():
    """Issue 16 item 3: code-apply's ~1,000 tok/s fine-tuned model is a dedicated speculative-decoding
    deployment: it pays GPU-hours (no per-token price, no fixed hourly stand-in), its speed comes
    from the batching curve (at least 1,000 tok/s per stream even at a full batch), and its
    replicas are sized to the preset's own 5 s p95 requirement, which the run then meets."""
    import simlib
    from simlib.capacity import capacity_report
    from simlib.engine.dedicated import deployment
    from simlib.scenario import load_preset

    scenario = load_preset("code-apply").with_changes({"simulation.queries": 5_000,
                                                      "simulation.strategies": ["fine_tune"]})
    ft, sv = scenario.fine_tuning, scenario.serving
    assert sv.fine_tuned_model == "dedicated" and sv.speculative and sv.base_model == "serverless"
    assert ft.input_usd_per_mtok == 0 and ft.output_usd_per_mtok == 0 and ft.hosting_usd_per_hour == 0
    assert sv.p95_target_s == scenario.requirements.latency_p95_max_s == 5
    served = deployment(scenario, fine_tuned=True)
    assert float(served.decode_tokens_per_s(served.max_batch)) >= 1_000  # the story's speed holds at full batch
    run = simlib.run(scenario)
    summary = run.summary()["fine_tune"]
    sized = capacity_report(scenario, result=run)["strategies"]["fine_tune"]
    assert summary["cost_hosting_monthly_usd"]["mean"] == pytest.approx(sized["dedicated_monthly_usd"], rel=1e-12)
    assert summary["latency_p95_s"]["mean"] <= 5.0


@pytest.mark.parametrize("flags", [{}, {"p95_target_s": 6.0, "gpus_per_replica": 8}])
def test_capacity_and_a_dedicated_run_report_the_same_replicas_and_bill(flags):
    """`simlib capacity` and `simlib run` with the model on dedicated GPUs are one computation.

    They disagreed (capacity sized 3 replicas for code-apply's fine_tune from its own speculative
    figures and measured token means, a run 4 from the scenario's): now the report's replicas
    and GPU bill must equal the run's model slots / streams per replica and its hosting cost,
    with the command's flags read as the serving fields the run is given.
    """
    import simlib
    from simlib.capacity import capacity_report
    from simlib.scenario import load_preset

    scenario = load_preset("code-apply").with_changes({"simulation.queries": 2_000,
                                                       "simulation.strategies": ["fine_tune", "rag_fine_tune"]})
    report = capacity_report(scenario, **flags)
    fields = {"p95_target_s": "p95_target_s", "gpus_per_replica": "gpus_per_replica_count"}
    run = simlib.run(scenario.with_changes({"serving.fine_tuned_model": "dedicated",
                                            **{f"serving.{fields[k]}": v for k, v in flags.items()}}))
    summary = run.summary()
    for name in ("fine_tune", "rag_fine_tune"):
        entry = report["strategies"][name]
        slots = run.replications[0].strategies[name].capacity
        assert entry["replicas"] * run.scenario.serving.batch_streams_limit == slots, name
        assert entry["gpus"] == entry["replicas"] * flags.get("gpus_per_replica", 4)
        assert entry["dedicated_monthly_usd"] == pytest.approx(summary[name]["cost_hosting_monthly_usd"]["mean"], rel=1e-12)
        plan = run.to_json_dict()["dedicated_serving"][name]  # the run's own schedule: fixed, as the scenario
        assert entry["replicas_per_hour"] == plan["replicas_per_hour"] == [entry["replicas"]] * 24
        # Poisson arrivals: scaled hourly, the schedule and the bill are the fixed ones
        assert entry["hourly"]["replicas_per_hour"] == plan["replicas_per_hour"]
        assert entry["hourly"]["monthly_usd"] == entry["fixed_at_peak_monthly_usd"] == entry["dedicated_monthly_usd"]
    if not flags:  # the preset's story (its sources, docs/capacity.md): 4 replicas for fine_tune, 5 for the longer RAG prompt
        assert report["strategies"]["fine_tune"]["replicas"] == 4
        assert report["strategies"]["rag_fine_tune"]["replicas"] == 5


def test_capacity_report_reads_a_finished_run_without_running_again(monkeypatch):
    import simlib
    from simlib.capacity import capacity_report
    from simlib.scenario import load_preset

    scenario = load_preset("shared-manual").with_changes({"simulation.queries": 3_000,
                                                          "simulation.strategies": ["prompt_only"]})
    result = simlib.run(scenario)
    monkeypatch.setattr(simlib, "run", lambda *a, **k: pytest.fail("ran again"))
    report = capacity_report(scenario, result=result)
    assert report["strategies"]["prompt_only"]["tier_needed"] == "2"


def test_openai_tiers_are_on_file_as_published_without_guessed_limits(capsys):
    """OpenAI's rate-limits guide: Tier 1 $5 paid; Tier 2 $50 + 7 days; Tier 3 $100 + 7 days; Tier 4
    $250 + 14 days; Tier 5 $1,000 + 30 days; limits per model, not published: none on file, and
    `simlib capacity` on an OpenAI model says so, lists the tiers and how to set one's own."""
    published = {"1": (5, None), "2": (50, 7), "3": (100, 7), "4": (250, 14), "5": (1_000, 30)}
    rows = prices.rate_limit_tiers("openai")
    assert {r.tier: (r.paid_usd, r.wait_days) for r in rows} == published
    assert not [r for r in prices.load_table("rate_limits") if r.provider == "openai"]
    anthropic = {r.tier: r.paid_usd for r in prices.rate_limit_tiers("anthropic")}
    assert anthropic == {"1": 5, "2": 40, "3": 200, "4": 400}  # credit purchase, Anthropic's docs

    from simlib.cli import main

    assert main(["capacity", "--preset", "docs-assistant", "--queries", "1000", "--strategies", "rag",
                 "--set", "prices.model=openai/gpt-4.1"]) == 0
    out = capsys.readouterr().out
    assert "no rate-limit tiers on file for provider 'openai'" in out
    assert "Tier 5 $1,000 paid + 30 days" in out and "--set rate_limits.requests_per_minute" in out


def test_sized_replicas_meet_the_target_in_the_run_whose_tokens_vary_and_one_fewer_does_not():
    """Sizing draws each request's prompt and output as the run does (token CV 0.5 on code-apply):
    on the means alone it gave rag_fine_tune 4 replicas for a 5 s p95, and the run's p95 was 6.0 s."""
    import simlib
    from simlib.engine.dedicated import deployment, peak_rate_per_s, replicas_for, sizing_tokens
    from simlib.engine.strategies import STRATEGIES

    s = simlib.load_preset("code-apply").with_changes({
        "serving.fine_tuned_model": "dedicated", "serving.p95_target_s": 5.0,
        "simulation.queries": 41_667})  # one hour at the peak (1M a day, Poisson): the sizing load's length
    for name in ("fine_tune", "rag_fine_tune"):
        one = s.with_changes({"simulation.strategies": [name]})
        count = replicas_for(one, STRATEGIES[name])
        p95 = simlib.run(one, engine="fast").summary()[name]["latency_p95_s"]["mean"]
        fewer = simlib.run(one.with_changes({"serving.replicas_count": count - 1}), engine="fast")
        assert p95 <= 5.0 < fewer.summary()[name]["latency_p95_s"]["mean"], (name, count, p95)
    rag_ft = STRATEGIES["rag_fine_tune"]
    on_means = size_replicas(deployment(s, True), peak_rate_per_s(s), *sizing_tokens(s, rag_ft), 5.0)
    assert on_means < replicas_for(s, rag_ft)  # the old sizing undersized it


def test_an_unreachable_target_says_the_request_alone_already_misses_it():
    """A p95 target below what one request takes at batch 1 can never be met by more replicas:
    the error says so, with that floor (prompt / p(1) + output / d(1) + rtt at the p95)."""
    serving = DedicatedServing()
    p1, d1 = float(serving.prefill_tokens_per_s(1)), float(serving.decode_tokens_per_s(1))
    alone_s = serving.network_rtt_s + 2_000 / p1 + 300 / d1
    with pytest.raises(ValueError, match=rf"served alone .* takes {alone_s:.1f} s"):
        size_replicas(serving, 1.0, 2_000, 300, alone_s * 0.9, max_replicas=8, count=4_000)
    # reachable alone but not within the limit: the other reason
    with pytest.raises(ValueError, match="up to 1 meets"):
        size_replicas(serving, 50.0, 2_000, 300, alone_s * 1.5, max_replicas=1, count=4_000)
