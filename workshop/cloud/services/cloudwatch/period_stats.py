"""The statistics of one period's data points, as CloudWatch computes them (SampleCount,
Average, Sum, Minimum, Maximum, pNN, tmNN, tcNN, tsNN, wmNN, IQM) over moto's data
points and statistic sets: for the alarm evaluator and GetMetricData alike. No moto here."""

from __future__ import annotations

import math


def parse_extended_statistic(name: str) -> tuple[str, float] | None:
    """``p99`` / ``p99.9``, ``tm90``, ``tc90``, ``ts90``, ``wm90`` -> (kind, fraction); else None."""
    if not isinstance(name, str):
        return None
    lowered = name.lower()
    for kind in ("tm", "tc", "ts", "wm", "p"):
        if lowered.startswith(kind):
            number = name[len(kind):]
            try:
                value = float(number)
            except ValueError:
                return None
            if not number or not 0 <= value <= 100:
                return None
            return kind, value / 100.0
    if name == "IQM":
        return "iqm", 0.0
    return None


def aggregate(datums: list, stat: str | None) -> tuple[float | None, float]:
    """(the statistic of one period's data points or None, their sample count)."""
    if not datums:
        return None, 0.0
    singles = [float(d.value) for d in datums if hasattr(d, "value")]
    sets = [d for d in datums if not hasattr(d, "value")]
    count = len(singles) + sum(float(s.sample_count) for s in sets)
    total = sum(singles) + sum(float(s.sum) for s in sets)
    if stat == "SampleCount":
        return count, count
    if stat == "Sum":
        return total, count
    if stat == "Average":
        return (total / count if count else None), count
    if stat == "Minimum":
        return min(singles + [float(s.min) for s in sets]), count
    if stat == "Maximum":
        return max(singles + [float(s.max) for s in sets]), count
    parsed = parse_extended_statistic(stat or "")
    if parsed is None or not singles:
        return None, count  # percentiles need the values themselves, not statistic sets
    kind, q = parsed
    values = sorted(singles)
    if kind == "p":
        return values[max(0, math.ceil(q * len(values)) - 1)], count
    if kind == "iqm":
        low, high = math.floor(0.25 * len(values)), math.ceil(0.75 * len(values))
        kept = values[low:high] or values
        return sum(kept) / len(kept), count
    cut = math.ceil(q * len(values))
    if kind == "wm":
        edge = values[max(0, cut - 1)]
        return sum(min(v, edge) for v in values) / len(values), count
    kept = values[:cut]
    if kind == "tc":
        return float(len(kept)), count
    if not kept:
        return None, count
    return (sum(kept) if kind == "ts" else sum(kept) / len(kept)), count
