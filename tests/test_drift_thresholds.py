"""Drift thresholds that mean something on real NannyML calculators: a value just past the
reference's range is not a new category (open outer bins), and thresholds are learnt from
reference days judged against the reference without them (held-out blocks)."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.model import TARGET
from ml_assets.core.monitoring import monitors
from ml_assets.core.monitoring.drift_methods import OPEN_JENSEN_SHANNON
from ml_assets.core.monitoring.thresholds import (
    PredictionIntervalThreshold,
    fit_out_of_sample,
    held_out_days,
    held_out_values,
)

START = pd.Timestamp("2026-01-01")
UPPER = PredictionIntervalThreshold(0.001)


def _days(first: int, n_days: int, rng, point_mass, share=0.1, rows=3000) -> pd.DataFrame:
    """Rows of days first..: most of them lognormal, ``share`` of them at ``point_mass(day)``
    (the busiest merchant's 30-day count: one value a day for a tenth of the rows)."""
    frames = []
    for d in range(first, first + n_days):
        x = rng.lognormal(4, 1, rows)
        x[: int(rows * share)] = point_mass(d)
        stamps = START + pd.Timedelta(days=d) + pd.to_timedelta(rng.integers(0, 86_400, rows), "s")
        frames.append(pd.DataFrame({"ts": stamps, "x": x}))
    return pd.concat(frames, ignore_index=True)


def _make(method: str):
    import nannyml as nml

    return lambda: nml.UnivariateDriftCalculator(
        column_names=["x"],
        continuous_methods=[method],
        thresholds={method: UPPER},
        timestamp_column_name="ts",
        chunk_period="D",
    )


def _alerts(calculator, analysis: pd.DataFrame) -> pd.Series:
    result = calculator.calculate(analysis).filter(period="analysis")
    return pd.Series(result.alerts(result.keys()[0])).astype(bool)


@pytest.fixture(scope="module")
def busiest_merchant():
    """Its count wanders within 4000..4027 over the reference, then lies 1-10 past it."""
    rng = np.random.default_rng(5)
    reference = _days(0, 28, rng, lambda d: 4000.0 + d)
    just_past = _days(40, 10, rng, lambda d: 4027.0 + (d - 39))
    return reference, just_past, rng


def test_a_point_mass_just_past_the_reference_range_is_not_drift_with_open_bins(busiest_merchant):
    reference, just_past, _ = busiest_merchant
    # NannyML's own Jensen-Shannon puts those rows in a bin the reference never held: every day alerts
    assert _alerts(_make("jensen_shannon")().fit(reference), just_past).all()
    assert not _alerts(_make(OPEN_JENSEN_SHANNON)().fit(reference), just_past).any()


def test_open_bins_still_see_a_real_shift(busiest_merchant):
    reference, _, rng = busiest_merchant
    shifted = _days(40, 5, rng, lambda d: 4000.0 + d % 28)
    shifted["x"] = np.where(rng.random(len(shifted)) < 0.3, shifted["x"] * 5, shifted["x"])
    assert _alerts(_make(OPEN_JENSEN_SHANNON)().fit(reference), shifted).all()


def test_held_out_blocks_are_contiguous_days_covering_the_reference():
    stamps = pd.Series(START + pd.to_timedelta(np.repeat(np.arange(28), 3), "D"))
    blocks = held_out_days(stamps, 4)
    assert [int(b.sum()) for b in blocks] == [21] * 4  # 7 days of 3 rows each
    assert np.logical_or.reduce(blocks).all() and sum(b.sum() for b in blocks) == len(stamps)
    days_of = [sorted(stamps[b].dt.day.unique()) for b in blocks]
    assert days_of[0] == list(range(1, 8)) and days_of[3] == list(range(22, 29))
    assert len(held_out_days(stamps.iloc[:6], 4)) == 2  # 2 days: as many blocks as days


def test_a_day_judged_without_itself_sits_further_out_and_the_alerts_follow_that_threshold():
    """Each reference day has its point mass somewhere else: in-sample, a day finds its own mass
    in the reference; held out, it does not. The fitted calculator alerts on exactly the days
    above the threshold learnt from the held-out values."""
    rng = np.random.default_rng(9)
    reference = _days(0, 28, rng, lambda d: 100.0 * (d + 1), share=0.05)
    make = _make(OPEN_JENSEN_SHANNON)
    held_out = np.asarray(held_out_values(make, reference, "ts", 4)[("x", OPEN_JENSEN_SHANNON)])
    in_sample_result = make().fit(reference).result.filter(period="reference")
    in_sample = pd.to_numeric(in_sample_result.values(in_sample_result.keys()[0])).to_numpy()
    assert len(held_out) == len(in_sample) == 28
    assert held_out.mean() > in_sample.mean(), (held_out.mean(), in_sample.mean())

    fitted = fit_out_of_sample(make, reference, "ts", 4, UPPER)
    later = _days(40, 20, rng, lambda d: 100.0 * rng.integers(1, 60), share=0.05)
    result = fitted.calculate(later).filter(period="analysis")
    key = result.keys()[0]
    threshold = UPPER.thresholds(held_out)[1]
    assert pd.Series(result.upper_thresholds(key)).eq(threshold).all()
    values = pd.to_numeric(result.values(key))
    assert (pd.Series(result.alerts(key)).astype(bool) == (values > threshold)).all()
    # the reference period's rows (kept for the plots) carry the same threshold
    reference_rows = fitted.result.filter(period="reference")
    assert pd.Series(reference_rows.upper_thresholds(key)).eq(threshold).all()


def test_fitted_monitors_name_the_statistic_and_how_the_threshold_was_learnt():
    rng = np.random.default_rng(2)
    frame = _days(0, 28, rng, lambda d: 50.0).assign(score=lambda f: rng.random(len(f)), **{TARGET: 0})
    frame = frame.rename(columns={"ts": monitors.TS})
    columns = monitors.MonitoredColumns(["x"], [])
    fitted = monitors.fit_monitors(frame, 0.5, columns, frame, 0.001, 0.01, folds=4)
    out = monitors.run(fitted, frame.assign(decision=0), which=("univariate", "score_drift", "multivariate"))
    tidy = monitors.tidy(out, fitted.references)
    uni = tidy[tidy["monitor"] == "univariate"]
    assert set(uni["metric"]) == {OPEN_JENSEN_SHANNON}
    assert uni["upper_threshold"].notna().all()
    for name in ("univariate", "score_drift", "multivariate"):
        assert "held out in 4 blocks" in fitted.references[name], fitted.references[name]
