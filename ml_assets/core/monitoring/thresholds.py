"""Drift thresholds learnt from the reference days, held out in blocks, sized for their number."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from nannyml.thresholds import Threshold

from ml_assets.core.stats import prediction_interval_margin
from ml_assets.core.timestamps import times


class PredictionIntervalThreshold(Threshold, type="prediction_interval"):
    """Alert when one new day's statistic lies above (``side="lower"``: below) the one-sided
    prediction interval of the
    reference days' values: mean + t(1 - rate; n - 1) * s * sqrt(1 + 1/n), with n reference
    days, s their sample standard deviation and t Student's quantile. For a statistic that
    varies normally from day to day, a day without drift crosses it with probability
    ``false_alarm_rate``, whatever n is.

    Why not NannyML's default (mean + 3 std): with the 7 days of a validation window the
    sample std is itself uncertain, and a 3-std band is crossed far more often than its
    nominal 0.13% (measured: the score 'drifted' on 20 of 41 stable days); with 28 days the
    two nearly agree (3.5 std here at a 0.1% rate)."""

    def __init__(self, false_alarm_rate: float, side: str = "upper"):
        if not 0 < false_alarm_rate < 0.5:
            raise ValueError(f"false_alarm_rate must be in (0, 0.5), got {false_alarm_rate}")
        if side not in ("upper", "lower"):
            raise ValueError(f"side must be 'upper' (drift) or 'lower' (performance), got {side!r}")
        self.false_alarm_rate, self.side = false_alarm_rate, side

    def thresholds(self, data: np.ndarray, **kwargs) -> tuple[float | None, float | None]:
        interval = prediction_interval_margin(data, self.false_alarm_rate)
        if interval is None:  # no spread to learn from: no threshold rather than a made-up one
            return None, None
        mean, margin = interval
        if self.side == "lower":  # a performance metric: alert when a day falls under it
            return mean - margin, None
        return None, mean + margin


def held_out_days(timestamps: pd.Series, folds: int) -> list[np.ndarray]:
    """Masks of ``folds`` contiguous blocks of the days in ``timestamps`` (each mask marks the
    rows of one block), in time order; as many blocks as days when there are fewer days."""
    days = times(timestamps).dt.floor("D")
    unique = np.sort(days.unique())
    blocks = np.array_split(unique, min(folds, len(unique)))
    return [days.isin(block).to_numpy() for block in blocks]


def held_out_values(make: Callable[[], object], reference: pd.DataFrame, ts: str, folds: int) -> dict:
    """Each reference day's drift statistic against a reference that does not hold it: for
    every block of days, a fresh ``make()`` fitted on the other blocks and run on that block.
    {key properties (column, method) -> the days' values}."""
    values: dict[tuple, list[float]] = {}
    for held in held_out_days(reference[ts], folds):
        if held.all():  # one day only: nothing left to fit on
            continue
        result = make().fit(reference[~held]).calculate(reference[held]).filter(period="analysis")
        for key in result.keys():
            values.setdefault(key.properties, []).extend(pd.to_numeric(result.values(key)).tolist())
    return values


def fit_out_of_sample(
    make: Callable[[], object], reference: pd.DataFrame, ts: str, folds: int, threshold: Threshold
):
    """``make()`` fitted on the whole ``reference``, with its alert thresholds learnt from the
    reference days' *held-out* statistics (held_out_values) instead of NannyML's in-sample ones.

    Why: NannyML learns a drift threshold from each reference day against a reference that
    contains that day. A day is then partly compared with itself, and for the 30-day
    aggregates (whose values on neighbouring days nearly repeat) the in-sample distances sit
    far below any later day's: the stable replay alerted on such columns on 40% of days.
    Blocks of days, not single days, are held out because neighbouring days share most of a
    rolling window.

    NannyML has no hook for thresholds learnt from other data; its fitted drift methods (and
    the data-reconstruction calculator) read ``upper_threshold_value`` /
    ``lower_threshold_value`` when they flag a chunk, so those are what is set here
    (tests/test_drift_thresholds.py checks that the alerts follow them)."""
    calculator = make().fit(reference)
    values = held_out_values(make, reference, ts, folds)
    reference_rows = calculator.result.data  # the reference days' rows, kept for the plots
    for props, holder in _threshold_holders(calculator):
        lower, upper = threshold.thresholds(np.asarray(values.get(props, []), dtype="float64"))
        holder.lower_threshold_value, holder.upper_threshold_value = lower, upper
        value = reference_rows[(*props, "value")]
        reference_rows[(*props, "lower_threshold")] = lower
        reference_rows[(*props, "upper_threshold")] = upper
        reference_rows[(*props, "alert")] = (value < (-np.inf if lower is None else lower)) | (
            value > (np.inf if upper is None else upper)
        )
    return calculator


def _threshold_holders(calculator) -> list[tuple[tuple, object]]:
    mapping = getattr(calculator, "_column_to_models_mapping", None)
    if mapping is None:  # data reconstruction: one statistic, held by the calculator
        return [(("reconstruction_error",), calculator)]
    return [((col, method.column_name), method) for col, methods in mapping.items() for method in methods]
