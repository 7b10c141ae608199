"""The early label signal on a lake whose chargebacks and their arrival days are known by
construction."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml_assets.core import lake
from ml_assets.core.monitoring.label_signal import ArrivalIndex, label_signal

START = dt.date(2026, 3, 1)
THRESHOLD = 0.5


def _days(rng, first: int, n_days: int, rows: int, caught_share: float):
    """Transactions of ``n_days`` days; 5% fraud, of which ``caught_share`` score above the
    threshold; each fraud's chargeback arrives 1..12 days later."""
    frames, arrivals = [], []
    for i in range(first, first + n_days):
        day = START + dt.timedelta(days=i)
        fraud = rng.random(rows) < 0.05
        caught = fraud & (rng.random(rows) < caught_share)
        score = np.where(caught, 0.9, 0.1)
        ids = [f"t{i:03d}-{k:05d}" for k in range(rows)]
        ts = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s")
        frames.append(pd.DataFrame({"transaction_id": ids, "event_timestamp": ts, "score": score}))
        delay = rng.integers(1, 13, rows)
        for k in np.flatnonzero(fraud):
            arrivals.append((ids[k], day + dt.timedelta(days=int(delay[k]))))
    frame = pd.concat(frames, ignore_index=True)
    frame["decision"] = (frame["score"] > THRESHOLD).astype(int)
    return frame, arrivals


def _land(lake_dir, arrivals):
    by_day = pd.DataFrame(arrivals, columns=["transaction_id", "day"])
    for day, part in by_day.groupby("day"):
        lake.write_partition(part[["transaction_id"]].assign(is_fraud=True), lake_dir, "label_arrivals", day)


@pytest.mark.parametrize(("caught_share", "alerts"), [(0.8, False), (0.4, True)])
def test_a_model_that_stops_catching_the_fraud_that_arrives_alerts_within_days(
    tmp_path, caught_share, alerts
):
    rng = np.random.default_rng(3)
    reference, ref_arrivals = _days(rng, 0, 7, 2000, caught_share=0.8)
    today = START + dt.timedelta(days=30)
    # the last 7 days before today (label ages 1..7); their chargebacks arrive up to 12 days late,
    # so only part of them is known today
    recent, arrivals = _days(rng, 23, 7, 2000, caught_share=caught_share)
    _land(tmp_path, ref_arrivals + [(i, d) for i, d in arrivals if d <= today])
    index = ArrivalIndex(tmp_path, [(START, today)])
    signal = label_signal(recent, reference, THRESHOLD, index, today, 7, 0.001, 20, "1", "validation window")
    assert signal.days_pooled == 7 and 0 < signal.arrived < int(
        recent["transaction_id"].isin(dict(arrivals)).sum()
    )
    assert signal.alert is alerts, signal.describe()
    assert ("caught" in signal.describe()) and "threshold" in signal.describe()


def test_too_few_arrived_chargebacks_say_nothing(tmp_path):
    rng = np.random.default_rng(4)
    reference, ref_arrivals = _days(rng, 0, 7, 2000, caught_share=0.8)
    recent, arrivals = _days(rng, 29, 1, 100, caught_share=0.0)
    today = START + dt.timedelta(days=30)
    _land(tmp_path, ref_arrivals + [(i, d) for i, d in arrivals if d <= today])
    signal = label_signal(
        recent,
        reference,
        THRESHOLD,
        ArrivalIndex(tmp_path, [(START, today)]),
        today,
        7,
        0.001,
        20,
        "1",
        "ref",
    )
    assert signal.z is None and not signal.alert and "only" in signal.describe()
