"""The early label signal on a lake whose chargebacks and their arrival days are known by
construction."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml_assets.core import lake
from ml_assets.core.monitoring.label_signal import ArrivalIndex, label_signal, recall_hold
from ml_assets.core.retrain_policy import DayEvidence

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


def _scored_days(rng, first: int, n_days: int, rows: int, scale: float, fraud_like_honest: bool):
    """Transactions with continuous scores: honest ones around 0.1, 3% fraud around 0.6 (or, when
    ``fraud_like_honest``, scored as the honest ones: a ranking loss); every score times ``scale``
    (a moved scale, the order kept). Chargebacks arrive 1..12 days later."""
    frames, arrivals = [], []
    for i in range(first, first + n_days):
        day = START + dt.timedelta(days=i)
        fraud = rng.random(rows) < 0.03
        honest = np.clip(rng.normal(0.1, 0.1, rows), 0, 1)
        score = (
            np.where(fraud & ~fraud_like_honest, np.clip(rng.normal(0.6, 0.2, rows), 0, 1), honest) * scale
        )
        ids = [f"t{i:03d}-{k:05d}" for k in range(rows)]
        ts = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s")
        frames.append(
            pd.DataFrame({"transaction_id": ids, "event_timestamp": ts, "score": score, "fraud": fraud})
        )
        delay = rng.integers(1, 13, rows)
        arrivals += [(ids[k], day + dt.timedelta(days=int(delay[k]))) for k in np.flatnonzero(fraud)]
    frame = pd.concat(frames, ignore_index=True)
    frame["decision"] = (frame["score"] > THRESHOLD).astype(int)
    return frame, arrivals


@pytest.mark.parametrize(("scale", "fraud_like_honest", "held"), [(0.7, False, True), (1.0, True, False)])
def test_fewer_caught_says_whether_the_ranking_held_on_the_same_labels(
    tmp_path, scale, fraud_like_honest, held
):
    """Fewer arrived frauds caught at the threshold either way; the ROC AUC of the same arrived
    labels tells a moved scale (the order held: a re-fit's business) from fraud no longer ranked
    above the honest (a retrain's)."""
    rng = np.random.default_rng(5)
    reference, ref_arrivals = _scored_days(rng, 0, 7, 3000, 1.0, False)
    today = START + dt.timedelta(days=30)
    recent, arrivals = _scored_days(rng, 23, 7, 3000, scale, fraud_like_honest)
    _land(tmp_path, ref_arrivals + [(i, d) for i, d in arrivals if d <= today])
    index = ArrivalIndex(tmp_path, [(START, today)])
    signal = label_signal(recent, reference, THRESHOLD, index, today, 7, 0.001, 20, "1", "validation window")
    assert signal.alert, signal.describe()
    assert signal.auc is not None and signal.reference_auc > 0.9 and 0 < signal.auc_sd < 0.05
    evidence = DayEvidence(
        label_auc=signal.auc, label_reference_auc=signal.reference_auc, label_auc_sd=signal.auc_sd
    )
    assert (evidence.early_ranking_held(0.02) is not None) is held, signal.describe()
    assert "ROC AUC" in signal.describe()


def test_a_recall_hold_catches_the_reference_share_of_all_fraud_not_only_the_arrived(tmp_path):
    """On a moved scale (the order kept) the held threshold catches the arrived frauds at the
    reference's rates; the frauds whose chargebacks had not arrived yet are caught at that rate too."""
    rng = np.random.default_rng(6)
    reference, ref_arrivals = _scored_days(rng, 0, 7, 3000, 1.0, False)
    today = START + dt.timedelta(days=30)
    recent, arrivals = _scored_days(rng, 25, 5, 3000, 0.6, False)
    _land(tmp_path, ref_arrivals + [(i, d) for i, d in arrivals if d <= today])
    index = ArrivalIndex(tmp_path, [(START, today)])
    hold = recall_hold(recent, reference, THRESHOLD, index, today, 20)
    assert hold is not None and hold.arrived < int(recent["fraud"].sum())  # only part arrived
    arrived = recent["transaction_id"].isin({i for i, d in arrivals if d <= today})
    caught_now = (recent.loc[arrived, "score"] > hold.threshold).sum()
    assert abs(caught_now - hold.expected) <= 1 and hold.caught < hold.expected
    reference_recall = (reference.loc[reference["fraud"], "score"] > THRESHOLD).mean()
    served_recall = (recent.loc[recent["fraud"], "score"] > THRESHOLD).mean()
    held_recall = (recent.loc[recent["fraud"], "score"] > hold.threshold).mean()
    assert served_recall < reference_recall - 0.2  # the scale moved: the served threshold misses
    assert abs(held_recall - reference_recall) < 0.05, (held_recall, reference_recall)
    assert recall_hold(recent, reference, THRESHOLD, index, today, hold.arrived + 1) is None
