"""Readable numbers for people: one helper per kind of quantity, its unit chosen by magnitude.

Used wherever a number is written for a reader (chart labels and ticks, the comparison
table on screen and in the deck, slider readouts): a chart label, a readout and a table
cell that show the same quantity show it the same way. It imports nothing from simlib,
so every layer may use it.

    count(20_000)          -> '20k'          count(2_500_000)    -> '2.5M'
    usd(0.0123)            -> '$0.0123'      usd(1_234_567, per="month") -> '$1.23M/month'
    share(0.998)           -> '99.8%'        share(1.0)          -> '100%'
    duration(0.000432 * 86_400) -> '37 s'    duration(5_400)     -> '90 min'
    time_unit(3 * 86_400)  -> (86400.0, 'days')  (an axis's unit, for its largest value)

Significant digits: three, except that whole numbers from 10 up are shown whole ('37 s',
'13 s', not '37.3 s'): a chart or a table is read to two or three figures, and more digits
than the simulation's own 95% interval supports would be noise.
"""

from __future__ import annotations

import math

SECONDS_PER_MINUTE = 60.0
SECONDS_PER_HOUR = 3_600.0
SECONDS_PER_DAY = 86_400.0

# (seconds per unit, unit name, shown from this many seconds up); the largest that applies wins.
DURATION_UNITS: tuple[tuple[float, str, float], ...] = (
    (SECONDS_PER_DAY, "days", 2 * SECONDS_PER_DAY),
    (SECONDS_PER_HOUR, "h", 2 * SECONDS_PER_HOUR),
    (SECONDS_PER_MINUTE, "min", 120.0),
    (1.0, "s", 0.1),
    (1e-3, "ms", 0.0),
)

COUNT_SUFFIXES: tuple[tuple[float, str], ...] = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))

MISSING = "n/a"


def _bad(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _round_sig(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant digits (999,950 -> 1,000,000)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _sig(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, trailing zeros dropped: 2.50 -> '2.5', 0.000432 -> '0.000432'."""
    value = _round_sig(value, digits)
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(value: float, digits: int = 3, *, whole_from: float = 10.0) -> str:
    """A plain number to ``digits`` significant digits, whole from ``whole_from`` (10) up, never in
    e-notation: 37.32 -> '37', 9.75 -> '9.75', 0.000123 -> '0.000123', 1234.5 -> '1,234';
    with ``whole_from=math.inf``, 12.75 -> '12.8' (where two values must not read alike)."""
    if not math.isfinite(value):
        return str(value)
    if abs(_round_sig(value, digits)) >= whole_from:
        return f"{value:,.0f}"
    return _sig(value, digits)


def count(value: float | None) -> str:
    """A count with k/M/B/T suffixes, three significant digits: 950 -> '950', 1_500 -> '1.5k',
    20_000 -> '20k', 2.5e6 -> '2.5M', 999_950 -> '1M'."""
    if _bad(value):
        return MISSING
    rounded = _round_sig(float(value))
    for scale, suffix in COUNT_SUFFIXES:
        if abs(rounded) >= scale:
            return f"{_sig(rounded / scale)}{suffix}"
    return _sig(rounded)


def usd(value: float | None, *, per: str | None = None) -> str:
    """Money: '$0.0123', '$0.50', '$152', '$9.8k', '$1.23M'; ``per`` adds the period: '$152/month'.

    Cents from $0.10 to $10, whole dollars from $10; below $0.10 three significant digits (a cost per query is read
    in tenths of a cent); from 1,000 up: k/M with two or three significant digits.
    """
    if _bad(value):
        return MISSING
    a = abs(value)
    sign = "-" if value < 0 else ""
    if a == 0:
        text = "$0"
    elif a >= 1e3:
        text = sign + "$" + count(a)
    elif a >= 10:
        text = f"{sign}${a:,.0f}"
    elif a >= 0.1:
        text = f"{sign}${a:.2f}"
    else:
        text = f"{sign}${_sig(a)}"
    return f"{text}/{per}" if per else text


def share(value: float | None, *, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage: 0.998 -> '99.8%', 1.0 -> '100%', 0.0 -> '0%'.

    A share that is not exactly 0 or 1 never reads as one: 0.99996 -> '>99.9%', 0.00004 -> '<0.1%'.
    """
    if _bad(value):
        return MISSING
    pct = value * 100
    if pct in (0.0, 100.0):
        return f"{pct:.0f}%"
    step = 10.0 ** -digits
    if 0 < pct < step:
        return f"<{step:.{digits}f}%"
    if 100 - step < pct < 100:
        return f">{100 - step:.{digits}f}%"
    return f"{pct:.{digits}f}%"


def duration_unit(seconds: float) -> tuple[float, str]:
    """(seconds per unit, unit name) for a duration of ``seconds``: s, min, h or days (ms below 0.1 s)."""
    a = abs(seconds)
    for per, unit, start in DURATION_UNITS:
        if a >= start:
            return per, unit
    return DURATION_UNITS[-1][0], DURATION_UNITS[-1][1]


def duration(seconds: float | None, digits: int = 3, *, whole_from: float = 10.0) -> str:
    """A duration in the unit its size calls for: 0.045 -> '45 ms', 0.9 -> '0.9 s', 37.3 -> '37 s',
    5_400 -> '90 min', 21_600 -> '6 h', 1_296_000 -> '15 days' (``digits`` significant digits
    below ``whole_from`` (10) of the unit: 2 gives '1.2 s' for a chart label)."""
    if _bad(seconds):
        return MISSING
    per, unit = duration_unit(seconds)
    return f"{number(seconds / per, digits, whole_from=whole_from)} {unit}"


def time_unit(max_s: float) -> tuple[float, str]:
    """(seconds per unit, unit name) of an axis whose largest value is ``max_s``: 'days', 'hours',
    'minutes' or 's' (axis titles spell the unit out; labels use ``duration``)."""
    per, unit = duration_unit(max_s)
    names = {"h": "hours", "min": "minutes", "ms": "s"}
    return (1.0 if unit == "ms" else per), names.get(unit, unit)


def tokens(value: float | None) -> str:
    """A token count: '800 tokens', '12k tokens', '3.2M tokens'."""
    return MISSING if _bad(value) else f"{count(value)} tokens"


# --- a scenario field's value, by the unit its name ends in ---------------------------------

# Money fields end in "_usd" or "_usd_per_<period>": the period as a reader writes it.
USD_PERIODS: dict[str, str] = {
    "mtok": "M tokens", "mtok_hour": "M tokens/h", "hour": "h", "month": "month", "query": "query",
    "gb_month": "GB-month", "day": "day",
}


def field_value(path: str, value: object) -> str:
    """A scenario field's value as a person reads it, the helper chosen by the unit its
    name ends in (the project names units in field names):

        *_s -> duration ('5 min')    *_days -> duration ('30 days')   *_share -> share ('55%')
        *_usd_per_mtok -> '$2/M tokens' (other periods likewise)      *_multiplier -> '1.25x'
        *_tokens, *_per_day, *_count, other numbers -> count ('20k', '1M')
        True/False -> 'on'/'off', None -> 'none', lists joined with ', ', text as it is.

    Used by the dashboard's "changed from preset" list, where 20000.0 must read '20k' and
    a lag of 300.0 seconds '5 min'.
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(field_value(path, v) for v in value)
    if not isinstance(value, (int, float)):
        return str(value)
    name = path.rpartition(".")[2]
    if name.endswith("_s") and not name.endswith("_per_s"):
        return duration(float(value))
    if name.endswith("_days"):
        return duration(float(value) * SECONDS_PER_DAY)
    if name.endswith("_share"):
        return share(float(value))
    if "_usd" in name:
        period = name.partition("_usd")[2].removeprefix("_per_")
        return usd(float(value), per=USD_PERIODS.get(period, period.replace("_", " ")) or None)
    if name.endswith("_multiplier"):
        return f"{number(float(value))}x"
    return count(float(value))


def field_has_unit(path: str) -> bool:
    """True when ``field_value`` writes the field's unit itself (durations and money), so a
    label's own "(min)" or "($/M tokens)" would say it twice."""
    name = path.rpartition(".")[2]
    return (name.endswith("_s") and not name.endswith("_per_s")) or name.endswith("_days") or "_usd" in name
