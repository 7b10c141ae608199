"""Small statistics shared by monitoring and the retrain policy (numpy and scipy are
imported when called, so the code location does not pay for them at load)."""

from __future__ import annotations


def prediction_interval_margin(
    values, false_alarm_rate: float, new_values: int = 1
) -> tuple[float, float] | None:
    """(mean, margin) of a one-sided prediction interval for the mean of ``new_values`` new
    values from ``values``: mean +- t(1 - rate; n - 1) * s * sqrt(1/new_values + 1/n), s the
    sample std. For normally varying values the new mean falls beyond it with probability
    ``false_alarm_rate``, whatever n is. None with fewer than 3 values (no spread to learn
    from). NaNs are ignored."""
    import numpy as np
    from scipy.stats import t

    x = np.asarray(values, dtype="float64")
    x = x[~np.isnan(x)]
    n = len(x)
    if n < 3:
        return None
    spread = x.std(ddof=1) * np.sqrt(1 / new_values + 1 / n)
    return float(x.mean()), float(t.ppf(1 - false_alarm_rate, n - 1) * spread)


def binomial_margin(rate: float, n: float, false_alarm_rate: float) -> float:
    """How far the share of ``n`` draws at ``rate`` strays from it with probability
    ``false_alarm_rate`` on one side (normal approximation)."""
    import math

    from scipy.stats import norm

    return float(norm.ppf(1 - false_alarm_rate) * math.sqrt(rate * (1 - rate) / n))
