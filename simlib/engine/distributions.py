"""The distributions every draw uses (engine/draws.py, engine/sessions.py), each a tiny helper.

- Lognormal with mean m and coefficient of variation c: sigma^2 = ln(1 + c^2),
  mu = ln(m) - sigma^2 / 2 (c = 0 gives the constant m).
- Poisson arrivals at rate lambda: inter-arrival gaps ~ Exp(mean 1/lambda).
- Daily profile: a non-homogeneous Poisson process with a constant rate in each hour,
  lambda_h = per_day * w_h / sum(w) / 3600, drawn exactly by inverting the cumulative rate
  Lambda(t) at the points of a unit-rate Poisson process.
"""

from __future__ import annotations

import numpy as np

from simlib.scenario import SECONDS_PER_DAY


def lognormal(rng: np.random.Generator, mean: float, cv: float, size: int) -> np.ndarray:
    """Lognormal draws with the given mean and coefficient of variation."""
    if cv == 0 or mean == 0:
        return np.full(size, float(mean))
    sigma2 = np.log1p(cv * cv)
    return rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), size)


def poisson_arrivals(rng: np.random.Generator, rate_per_s: float, n: int, after_s: float = 0.0) -> np.ndarray:
    """The next n points of a Poisson process of the given rate after the point ``after_s`` (0: from time 0).

    Summed in order from ``after_s`` (numpy's cumsum is sequential), so n points drawn in
    pieces, each after the last point of the previous piece, are the very same floats.
    """
    return np.cumsum(np.concatenate([[after_s], rng.exponential(1.0 / rate_per_s, n)]))[1:]


def daily_profile_arrivals(rng: np.random.Generator, queries_per_day: float, hourly_weights, n: int) -> np.ndarray:
    """First n points of the hourly piecewise-constant Poisson process, from midnight."""
    return profile_times(poisson_arrivals(rng, 1.0, n), queries_per_day, hourly_weights)


def profile_times(unit: np.ndarray, queries_per_day: float, hourly_weights) -> np.ndarray:
    """Times of the points ``unit`` of a unit-rate process under the hourly profile (Lambda^-1)."""
    w = np.asarray(hourly_weights, dtype=float)
    per_hour = queries_per_day * w / w.sum()  # expected queries in each hour
    cum = np.concatenate([[0.0], np.cumsum(per_hour)])  # Lambda at hour boundaries
    day, rem = np.divmod(unit, queries_per_day)
    hour = np.clip(np.searchsorted(cum, rem, side="right") - 1, 0, 23)
    within = (rem - cum[hour]) / np.where(per_hour[hour] > 0, per_hour[hour], 1.0)
    return day * SECONDS_PER_DAY + (hour + within) * 3600.0


