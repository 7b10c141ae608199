"""The drift threshold: a one-sided prediction interval over the reference days."""

import numpy as np
import pytest

from ml_assets.core.monitoring.thresholds import PredictionIntervalThreshold


@pytest.mark.parametrize("n", [7, 28])
def test_a_day_without_drift_crosses_the_threshold_at_the_stated_rate(n):
    # many references of n days and one new day each, all from one normal distribution: the
    # share of new days above their reference's threshold is the stated rate, for 7 days as for 28
    rng = np.random.default_rng(0)
    rate, trials = 0.01, 40_000
    days = rng.normal(0.03, 0.005, size=(trials, n + 1))
    threshold = PredictionIntervalThreshold(rate)
    crossed = np.mean([day[-1] > threshold.thresholds(day[:-1])[1] for day in days])
    assert crossed == pytest.approx(rate, abs=0.002)


def test_three_std_is_crossed_far_more_often_than_nominal_with_a_week_of_reference():
    # why NannyML's default was replaced: mean + 3 std of 7 days is no 0.13% rule
    rng = np.random.default_rng(1)
    days = rng.normal(size=(40_000, 8))
    crossed = np.mean(days[:, -1] > days[:, :-1].mean(axis=1) + 3 * days[:, :-1].std(axis=1))
    assert crossed > 0.01  # nearly 10x the nominal rate


def test_too_few_days_give_no_threshold_and_bad_rates_are_refused():
    assert PredictionIntervalThreshold(0.001).thresholds(np.array([0.1, np.nan, 0.2])) == (None, None)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        PredictionIntervalThreshold(0.7)
