"""Training weights (the delayed-feedback correction of young rows, the shift share) and which
rows train and which validate."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.labels import LabelTable
from ml_assets.core.model import TARGET
from ml_assets.core.problem import card_fraud
from ml_assets.core.records import Window
from ml_assets.core.training.dataset import arrival_cdf, split_rows, training_weights

AS_OF = dt.date(2026, 3, 31)


def _frame(days_old: list[int], fraud: list[int]) -> pd.DataFrame:
    ts = [pd.Timestamp(AS_OF - dt.timedelta(days=a), tz="UTC") + pd.Timedelta(hours=12) for a in days_old]
    return pd.DataFrame({"event_timestamp": ts, TARGET: fraud})


def test_young_chargebacks_stand_for_the_fraud_not_reported_yet():
    cdf = np.array([0.0, 0.2, 0.5, 0.8, 1.0])  # chargebacks arrive within 4 days
    frame = _frame([1, 2, 3, 10, 2, 1, 10], [0, 0, 0, 0, 1, 1, 1])
    weight = training_weights(frame, AS_OF, cdf, None, 0.5, max_positive_weight=4.0)
    # rows without a chargeback weigh 1 at any age; an arrived chargeback weighs 1/F(age),
    # capped (1/0.2 = 5 > 4); an old one weighs 1
    assert weight.tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0, 2.0, 4.0, 1.0])


def test_weighted_young_days_keep_the_mature_fraud_rate():
    rng = np.random.default_rng(3)
    cdf = np.array([0.0, 0.3, 0.6, 0.9, 1.0])
    days_old = rng.integers(1, 5, 200_000).tolist()
    fraud = rng.random(200_000) < 0.02
    reported = fraud & (rng.random(200_000) < cdf[np.array(days_old)])
    frame = _frame(days_old, reported.astype(int).tolist())
    weight = training_weights(frame, AS_OF, cdf, None, 0.5, max_positive_weight=10.0)
    weighted_rate = (weight * reported).sum() / len(frame)
    assert weighted_rate == pytest.approx(fraud.mean(), rel=0.05)
    assert reported.mean() < 0.8 * fraud.mean()  # without the weights the young days look safer


def test_after_a_shift_the_new_days_carry_the_requested_share():
    cdf = np.ones(5)
    frame = _frame(list(range(30, 0, -1)), [0] * 30)  # 30 days, the last 3 after the shift
    weight = training_weights(frame, AS_OF, cdf, AS_OF - dt.timedelta(days=3), 0.5, 10.0)
    after = weight[-3:].sum() / weight.sum()
    assert after == pytest.approx(0.5)
    # already above the share: left alone; no shift: no reweighting
    assert (
        training_weights(frame, AS_OF, cdf, AS_OF - dt.timedelta(days=20), 0.5, 10.0).tolist() == [1.0] * 30
    )
    assert training_weights(frame, AS_OF, cdf, None, 0.5, 10.0).tolist() == [1.0] * 30


def test_after_a_shift_its_days_train_too_and_whole_customers_validate():
    days = 28
    rng = np.random.default_rng(5)
    frame = _frame([int(a) for a in rng.integers(0, days, 40_000)], [0] * 40_000)
    frame["customer_id"] = rng.integers(0, 5_000, len(frame))
    window = Window(AS_OF - dt.timedelta(days=days), AS_OF)
    recent = frame["event_timestamp"] >= pd.Timestamp(AS_OF - dt.timedelta(days=7), tz="UTC")
    # no shift: a time split, the last 7 days validate
    plain = split_rows(frame, window, 7, None, 0.3)
    assert (plain == "validation").equals(recent)
    # a shift 3 days ago: those days would have nothing to learn from under a time split
    shifted = split_rows(frame, window, 7, AS_OF - dt.timedelta(days=3), 0.3)
    assert not (shifted[~recent] == "validation").any()  # older days still train
    held_out = set(frame.loc[shifted == "validation", "customer_id"])
    trained_recent = set(frame.loc[recent & (shifted == "train"), "customer_id"])
    assert not held_out & trained_recent  # a customer is on one side only
    share = (shifted[recent] == "validation").mean()
    assert share == pytest.approx(0.3, abs=0.03)
    # the same customers for every retrain
    assert split_rows(frame, window, 7, AS_OF - dt.timedelta(days=5), 0.3).equals(shifted)


def test_the_arrival_cdf_is_the_share_known_at_each_age():
    """F[a] must be what a training set at ``as_of`` sees of an ``a``-day-old day: chargebacks
    arriving on ``as_of`` itself are not known yet (LabelTable.known_at reads arrived_at < as_of)."""
    rng = np.random.default_rng(11)
    max_delay, per_day = 21, 20_000
    rows = []
    for age in range(1, 60):
        day = AS_OF - dt.timedelta(days=age)
        delay = np.minimum(1 + rng.gamma(1.5, 3.0, per_day).astype(int), max_delay)
        tx = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, per_day), unit="s")
        arrived = (
            pd.Timestamp(day, tz="UTC")
            + pd.to_timedelta(delay, unit="D")
            + pd.to_timedelta(rng.integers(0, 86_400, per_day), unit="s")
        )
        rows.append(pd.DataFrame({"age": age, "transaction_timestamp": tx, "arrived_at": arrived}))
    every = pd.concat(rows, ignore_index=True)
    known = every[every["arrived_at"] < pd.Timestamp(AS_OF, tz="UTC")]
    cdf = arrival_cdf(known, LabelTable.of(card_fraud()), AS_OF, max_delay)
    for age in range(1, max_delay + 2):
        share_known = (known["age"] == age).sum() / per_day
        assert cdf[age] == pytest.approx(share_known, abs=0.02), age
    assert cdf[1] == 0.0  # yesterday's transactions: nothing can have arrived
    assert cdf[max_delay + 1] == 1.0
