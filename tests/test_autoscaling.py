"""Dedicated replicas scaled per hour with cold starts (issue 16, item 2: serving.autoscaling 'hourly').

Checked against: the bill's closed form sum_h r(h) x gpus x price x 30.4375 from a hand-built
schedule; a flat profile, whose hourly schedule is the fixed count, giving the fixed run record for
record and the same bill to the last bit; each hour's count being the smallest whose simulated p95
at that hour's rate meets the target (the next smaller one fails it, by size_replicas' own
simulate_replicas); the queue behind a scale-up that is still starting (longer waits in the first
cold_start_s of the busy hour than later in it, none with cold_start_s = 0); located errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import simlib
from simlib.engine.dedicated import (
    DedicatedServing, deployment, hourly_rates_per_s, mean_replicas, peak_hour_arrivals, peak_rate_per_s,
    replica_schedule, replicas_for, schedule_monthly_usd, simulate_replicas, sizing_tokens,
)
from simlib.engine.strategies import STRATEGIES
from simlib.errors import ScenarioError
from simlib.scenario.schema import DAYS_PER_MONTH
from tests.test_kernel import assert_same_run

FT = STRATEGIES["fine_tune"]

# hour 1 carries 4x the other hours: 0.75 requests/s in hour 0, 3 in hour 1 (weights sum 27, mean 27/24)
STEP_WEIGHTS = [1.0] * 24
STEP_WEIGHTS[1] = 4.0
STEP = {
    "workload": {"queries_per_day": 3 * 86_400 * (27 / 24) / 4, "arrival_process": "daily_profile",
                 "hourly_weights": STEP_WEIGHTS, "query_tokens_mean": 100, "output_tokens_mean": 200,
                 "token_length_cv": 0},
    "knowledge": {"changes_per_day": 0},
    "model": {"service_time_distribution": "deterministic"},
    "serving": {"fine_tuned_model": "dedicated", "autoscaling": "hourly", "batch_streams_limit": 4, "p95_target_s": 6.0},
    "simulation": {"queries": 14_000, "strategies": ["fine_tune"], "warmup_share": 0.0},
}


def scenario(base=STEP, **groups):
    data = {k: dict(v) for k, v in base.items()}
    for group, values in groups.items():
        data[group] = {**data.get(group, {}), **values}
    return simlib.scenario.build_scenario(data)


def test_the_bill_is_the_sum_over_the_hours_of_replicas_gpus_price_days():
    """Closed form from a hand-built schedule: 8 h at 1, 10 h at 3, 6 h at 2 replicas of 4 GPUs."""
    serving = DedicatedServing()
    price = simlib.prices.gpu(serving.gpu).usd_per_gpu_hour
    schedule = [1] * 8 + [3] * 10 + [2] * 6
    expected = (8 * 1 + 10 * 3 + 6 * 2) * 4 * price * 30.4375
    assert schedule_monthly_usd(serving, schedule) == pytest.approx(expected, rel=1e-12)
    # a constant schedule is the fixed formula replicas x gpus x 730.5 h x price, to the last bit
    assert schedule_monthly_usd(serving, [3] * 24) == serving.monthly_usd(3) == 3 * 4 * 730.5 * price


def test_a_run_bills_its_hourly_schedule_and_reports_it():
    s = scenario(simulation={"queries": 2_000})
    schedule = replica_schedule(s, FT)
    assert schedule[0] < schedule[1] and schedule[1] == replicas_for(s, FT) == max(schedule)
    run = simlib.run(s)
    assert run.engine == "simpy" and any("hourly autoscaling with cold starts) is simulated by the simpy" in n
                                         for n in run.notes)
    assert any("arrivals cover hours 0-0 of the day" in n for n in run.notes)  # 2,000 arrivals: within hour 0
    price = simlib.prices.gpu(s.serving.gpu).usd_per_gpu_hour
    hosting = run.summary()["fine_tune"]["cost_hosting_monthly_usd"]["mean"]
    assert hosting == pytest.approx(sum(schedule) * s.serving.gpus_per_replica_count * price * DAYS_PER_MONTH, rel=1e-12)
    plan = run.to_json_dict()["dedicated_serving"]["fine_tune"]
    assert plan["replicas_per_hour"] == list(schedule) and plan["monthly_usd"] == hosting
    assert plan["fixed_at_peak_monthly_usd"] == pytest.approx(max(schedule) * 4 * price * 730.5, rel=1e-12)
    assert plan["gpu_hours_per_day"] == 4 * sum(schedule)
    from simlib.results import capacity_status

    line = next(c for c in capacity_status(run) if c.startswith("fine_tune"))
    assert f"{min(schedule)}-{max(schedule)} replica(s)" in line and f"{4 * sum(schedule):,} GPU-hours/day" in line


def test_hourly_rates_follow_the_profile_and_peak_at_the_busiest_hour():
    s = scenario(workload={"offline_share": 0.2})
    rates = hourly_rates_per_s(s)
    w = np.asarray(STEP_WEIGHTS)
    np.testing.assert_allclose(rates, s.workload.queries_per_day / 86_400 * w / w.mean() * 0.8, rtol=1e-12)
    assert rates.max() == peak_rate_per_s(s)  # the very float the fixed sizing uses
    flat = scenario(workload={"arrival_process": "poisson"})
    assert set(hourly_rates_per_s(flat).tolist()) == {peak_rate_per_s(flat)}


def test_a_flat_profile_scales_to_the_fixed_count_and_gives_the_fixed_run_exactly():
    """Poisson arrivals: every hour's rate is the peak's, so 'hourly' is 'off' record for record, bill to the bit."""
    fixed = scenario(workload={"arrival_process": "poisson", "queries_per_day": 3 * 86_400},
                     serving={"autoscaling": "off"}, simulation={"queries": 4_000, "strategies": ["fine_tune", "rag_fine_tune"]})
    hourly = fixed.with_changes({"serving.autoscaling": "hourly", "serving.cold_start_s": 600})
    for name in ("fine_tune", "rag_fine_tune"):
        st = STRATEGIES[name]
        assert replica_schedule(hourly, st) == replica_schedule(fixed, st) == (replicas_for(fixed, st),) * 24
    a, b = simlib.run(fixed, engine="simpy"), simlib.run(hourly, engine="simpy")
    assert_same_run(a, b)
    for name in ("fine_tune", "rag_fine_tune"):
        assert a.summary()[name]["cost_hosting_monthly_usd"]["mean"] == b.summary()[name]["cost_hosting_monthly_usd"]["mean"]


@pytest.mark.parametrize("weights", [STEP_WEIGHTS, [1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 12, 11, 9, 7, 5, 4, 3, 2, 1]])
def test_each_hour_gets_the_smallest_count_meeting_the_target_at_its_rate(weights):
    s = scenario(workload={"hourly_weights": weights, "queries_per_day": 200_000})
    schedule = replica_schedule(s, FT)
    dep = deployment(s, fine_tuned=True)
    prompt, output = sizing_tokens(s, FT)
    target = s.serving.p95_target_s

    def p95(count, rate):
        arrivals = peak_hour_arrivals(rate, 4_000, s.simulation.seed)
        return float(np.quantile(simulate_replicas(dep, count, arrivals, prompt, output), 0.95))

    assert len(set(schedule)) > 1
    for rate, count in sorted(dict(zip(hourly_rates_per_s(s).tolist(), schedule)).items()):
        assert p95(count, rate) <= target, (rate, count)
        if count > s.serving.replicas_min_count:
            assert p95(count - 1, rate) > target, (rate, count)


def test_the_floor_holds_every_hour():
    s = scenario(serving={"replicas_min_count": 2})
    assert min(replica_schedule(s, FT)) == 2
    assert replica_schedule(scenario(), FT)[0] == 1


def _waits(cold_start_s: float):
    rec = simlib.run(scenario(serving={"cold_start_s": cold_start_s}), engine="simpy").records("fine_tune")
    t, wait = rec["arrival_at_s"], rec["queue_wait_s"].astype(float)

    def mean(lo, hi):
        m = (t >= lo) & (t < hi)
        assert m.sum() > 500
        return float(wait[m].mean())

    return mean(3_600, 3_600 + 600), mean(5_400, 7_200)  # the first 600 s of the busy hour 1, its last half hour


def test_a_scale_up_still_starting_leaves_the_busy_hour_queueing_until_it_serves():
    """Hour 1 needs 2 replicas, hour 0 one: with a 600 s cold start the second serves at 4,200 s, so
    arrivals in [3,600, 4,200) queue for the one replica (3 requests/s on a replica sized for 0.75)."""
    s = scenario()
    assert replica_schedule(s, FT)[:2] == (1, 2)
    early, late = _waits(600.0)
    assert early > 20.0 and late < 1.0 and early > 50 * late
    early0, late0 = _waits(0.0)
    assert early0 < 1.0 and early0 < 3 * late0 + 0.1  # no cold start: the busy hour is served from its start


def test_mean_replicas_is_the_time_average_of_the_schedule():
    schedule = [1] * 24
    schedule[1] = 3
    assert mean_replicas(schedule, 1_800, 5_400) == pytest.approx((1_800 * 1 + 1_800 * 3) / 3_600)
    assert mean_replicas(schedule, 86_400 + 3_600, 86_400 + 7_200) == 3.0  # the next day's hour 1
    assert mean_replicas(schedule, 4_000, 4_000) == 3.0


def test_capacity_and_an_hourly_run_report_the_same_schedule_and_bill():
    """`simlib capacity` and `simlib run` are one computation for the hourly schedule too; a fixed-mode
    capacity report shows the hourly schedule and bill the hourly run has."""
    from simlib.capacity import capacity_report, format_report
    from simlib.scenario import load_preset

    base = load_preset("code-apply").with_changes({"simulation.queries": 1_500, "simulation.strategies": ["fine_tune"],
                                                   "workload.arrival_process": "daily_profile"})
    hourly = base.with_changes({"serving.fine_tuned_model": "dedicated", "serving.autoscaling": "hourly"})
    run = simlib.run(hourly)
    hosting = run.summary()["fine_tune"]["cost_hosting_monthly_usd"]["mean"]
    plan = run.to_json_dict()["dedicated_serving"]["fine_tune"]
    for scenario_ in (base, hourly):  # capacity from the fixed (serverless-priced) preset, and from the hourly run's
        report = capacity_report(scenario_)["strategies"]["fine_tune"]
        assert report["hourly"]["replicas_per_hour"] == plan["replicas_per_hour"]
        assert report["hourly"]["monthly_usd"] == pytest.approx(hosting, rel=1e-12)
        assert report["fixed_at_peak_monthly_usd"] == pytest.approx(plan["fixed_at_peak_monthly_usd"], rel=1e-12)
        assert report["replicas"] == max(plan["replicas_per_hour"])
    assert report["dedicated_monthly_usd"] == pytest.approx(hosting, rel=1e-12)  # the hourly scenario's own bill
    assert report["hourly"]["monthly_usd"] < report["fixed_at_peak_monthly_usd"]
    text = format_report(capacity_report(base))
    assert "scaled hourly to the daily profile" in text and "fixed at the peak" in text


@pytest.mark.parametrize("path, value", [
    ("serving.cold_start_s", -1.0),
    ("serving.cold_start_s", 3_601.0),
    ("serving.cold_start_s", float("nan")),
    ("serving.replicas_min_count", 0),
    ("serving.autoscaling", "daily"),
])
def test_bad_autoscaling_values_are_located_errors(path, value):
    group, name = path.split(".")
    with pytest.raises(ScenarioError) as err:
        simlib.scenario.build_scenario({group: {name: value}})
    assert err.value.problems[0].location == path


def test_hourly_with_a_fixed_count_is_a_located_error():
    with pytest.raises(ScenarioError) as err:
        simlib.scenario.build_scenario({"serving": {"autoscaling": "hourly", "replicas_count": 3}})
    assert err.value.problems[0].location == "serving.replicas_count"
    assert "autoscaling" in err.value.problems[0].message


@settings(max_examples=40, deadline=None)
@given(schedule=st.lists(st.integers(1, 4), min_size=24, max_size=24), batch=st.integers(1, 3),
       cold_start_s=st.sampled_from([0.0, 120.0, 3_600.0]), seed=st.integers(0, 2**16))
def test_the_replica_pool_grants_fifo_within_serving_replicas_slots(schedule, batch, cold_start_s, seed):
    """Invariants of ReplicaPool on random schedules, arrivals and service times: every request is
    served; grants go in arrival order; a replica never holds more than max_batch streams, and one
    added at a boundary is granted nothing before boundary + cold_start_s; a request waits only
    when every serving replica is full."""
    import simpy

    from simlib.engine.serving import ReplicaPool

    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    pool = ReplicaPool(env, schedule, batch, cold_start_s)
    created_at = {}
    new = pool._new

    def tracked_new():  # the time each replica is requested (0 for the initial ones)
        r = new()
        created_at[r] = env.now
        return r

    pool._new = tracked_new
    n = 300
    arrivals = np.cumsum(rng.exponential(3 * 86_400 / n, n))  # ~3 days: every boundary, scale-ups and downs
    services = rng.exponential(2_000.0, n)
    grants = []

    def query(i):
        yield env.timeout(arrivals[i])
        with pool.request() as req:
            if not req.triggered:
                assert all(pool.streams[r] >= batch for r in pool.serving)
            yield req
            r = req.replica
            assert r in pool.serving and pool.streams[r] <= batch and 1 <= req.streams <= batch
            assert env.now >= created_at.get(r, -cold_start_s) + cold_start_s
            grants.append(i)
            yield env.timeout(services[i])

    procs = [env.process(query(i)) for i in range(n)]
    env.run(until=simpy.AllOf(env, procs))
    assert grants == list(range(n))  # FIFO
    assert len(created_at) > 0 or len(set(schedule)) == 1
    assert all(s == 0 for s in pool.streams) and not pool.waiting


def test_a_bare_off_in_yaml_reads_as_off_not_as_false():
    """YAML 1.1 reads `autoscaling: off` (and `--set serving.autoscaling=off`) as false."""
    import yaml

    from simlib.scenario.schema import Serving

    assert Serving(**yaml.safe_load("autoscaling: off")).autoscaling == "off"
    with pytest.raises(ValueError):
        Serving(autoscaling=True)  # "on" has no meaning here: hourly is said by name
