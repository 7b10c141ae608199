"""Weekly monitoring chunks (a spec's ``monitoring.chunk: week``): each day judged on the week
ending on it, on real NannyML calculators, reference and analysis cut the same way."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.model import TARGET
from ml_assets.core.monitoring import monitors
from ml_assets.core.monitoring.chunks import TrailingDaysChunker
from ml_assets.core.problem import named

COLUMNS = monitors.MonitoredColumns(["x"], [])
START = pd.Timestamp("2026-01-01", tz="UTC")


def _days(first: int, n_days: int, rng, rows: int = 160) -> pd.DataFrame:
    """``rows`` events a day (a loan book's size): a score that ranks a binary label well."""
    frames = []
    for d in range(first, first + n_days):
        y = (rng.random(rows) < 0.3).astype(int)
        score = 1 / (1 + np.exp(-(rng.normal(0, 1, rows) + 1.6 * y - 1.2)))
        frames.append(
            pd.DataFrame(
                {
                    monitors.TS: START
                    + pd.Timedelta(days=d)
                    + pd.to_timedelta(rng.integers(0, 86_400, rows), "s"),
                    "x": rng.normal(0, 1, rows) + y,
                    monitors.SCORE: score,
                    TARGET: y,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_a_trailing_chunk_per_day_holds_the_week_ending_on_it():
    data = _days(0, 20, np.random.default_rng(1), rows=5)
    chunks = TrailingDaysChunker(monitors.TS, 7).split(data)
    ends = [c.end_datetime.date() for c in chunks]
    assert ends == [(START + pd.Timedelta(days=d)).date() for d in range(6, 20)]
    for chunk in chunks:
        days = pd.to_datetime(chunk.data[monitors.TS]).dt.date
        assert days.nunique() == 7 and days.max() == chunk.end_datetime.date()
    # fewer days than a week (a version's first days in service): one chunk of them all
    (only,) = TrailingDaysChunker(monitors.TS, 7).split(data.iloc[:15])
    assert len(only.data) == 15
    with pytest.raises(ValueError, match="at least one day"):
        TrailingDaysChunker(monitors.TS, 0)


@pytest.fixture(scope="module")
def week_and_day_monitors():
    rng = np.random.default_rng(3)
    reference, analysis = _days(0, 28, rng), _days(40, 7, rng)
    fit = {"false_alarm_rate": 0.001, "performance_false_alarm_rate": 0.01}
    weekly = monitors.fit_monitors(reference, 0.5, COLUMNS, reference, chunk_days=7, **fit)
    daily = monitors.fit_monitors(reference, 0.5, COLUMNS, reference, **fit)
    analysis = analysis.assign(**{monitors.DECISION: (analysis[monitors.SCORE] > 0.5).astype(int)})
    return weekly, daily, analysis


def _cbpe(fitted, analysis) -> pd.DataFrame:
    tidy = monitors.tidy(monitors.run(fitted, analysis, which=("cbpe", "univariate")))
    return tidy[(tidy["monitor"] == "cbpe") & (tidy["metric"] == "roc_auc")]


def test_a_week_of_predictions_is_one_estimate_dated_by_its_last_day(week_and_day_monitors):
    weekly, daily, analysis = week_and_day_monitors
    last = pd.to_datetime(analysis[monitors.TS]).dt.date.max()
    week = _cbpe(weekly, analysis)
    assert list(week["partition_date"]) == [last]
    assert len(_cbpe(daily, analysis)) == 7  # the same rows, chunked by day
    assert weekly.chunk_days == 7 and daily.chunk_days == 1


def test_a_week_chunk_narrows_cbpe_and_its_thresholds(week_and_day_monitors):
    """The point of a week: an estimate from 7x the rows has a narrower confidence band, and the
    threshold learnt from week-sized reference chunks sits closer to the reference's level."""
    weekly, daily, analysis = week_and_day_monitors
    week, days = _cbpe(weekly, analysis).iloc[0], _cbpe(daily, analysis)
    day_width = (days["upper_bound"] - days["lower_bound"]).median()
    assert week["upper_bound"] - week["lower_bound"] < 0.6 * day_width  # ~1/sqrt(7) = 0.38
    assert week["lower_threshold"] > days["lower_threshold"].iloc[0]
    assert week["lower_bound"] <= week["value"] <= week["upper_bound"]


def test_the_loan_spec_monitors_by_week_and_card_fraud_by_day():
    assert named("loan_default").monitoring.chunk_days == 7
    assert named("card_fraud").monitoring.chunk_days == 1


@pytest.mark.parametrize("as_text", [False, True])
def test_the_daily_chunker_cuts_what_nannymls_day_period_chunker_cuts(as_text):
    """The same chunks (keys, bounds, rows) as ``chunk_period="D"``, from datetimes or from text."""
    from nannyml.chunk import PeriodBasedChunker

    from ml_assets.core.monitoring.chunks import DailyChunker

    data = _days(0, 9, np.random.default_rng(3), rows=40).sample(frac=1, random_state=0)
    data[monitors.TS] = data[monitors.TS].dt.tz_localize(None)
    if as_text:
        data[monitors.TS] = data[monitors.TS].astype(str)
    ours, theirs = DailyChunker(monitors.TS).split(data), PeriodBasedChunker(monitors.TS, "D").split(data)
    assert len(ours) == len(theirs) == 9
    for a, b in zip(ours, theirs, strict=True):
        assert (a.key, a.start_datetime, a.end_datetime) == (b.key, b.start_datetime, b.end_datetime)
        assert (a.start_index, a.end_index, a.chunk_index) == (b.start_index, b.end_index, b.chunk_index)
        pd.testing.assert_frame_equal(a.data, b.data)
