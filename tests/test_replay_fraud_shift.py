"""The fraud_shift scenario replayed (replayhelpers.py): concept drift seen by the early
label signal before CBPE, a retrain promoted, realized performance recovering."""

import datetime as dt

import pytest
from replayhelpers import WARM, replay_in_temp_home


@pytest.mark.slow
def test_fraud_shift_replay_is_seen_by_the_early_labels_retrained_and_recovers(tmp_path_factory):
    drift = WARM + 8  # after the champion's CBPE baseline (its first 7 monitored days)
    settings, rows, _, sensor_runs = replay_in_temp_home(
        tmp_path_factory, "fraud_shift", drift + 24, drift_day=drift
    )
    shift = settings.day(drift).isoformat()
    fired = [r.day for r in rows if r.sensor == "FIRED"]
    assert fired and fired[0] >= shift, [(r.day, r.bad_by) for r in rows]  # nothing before the drift
    assert sorted(r.tags["ml_assets/alert_day"] for r in sensor_runs) == fired
    # concept drift: the scores barely move, so CBPE sees little; the early label signal sees
    # that fewer of the arriving chargebacks had been caught. It alone completes K bad days in a
    # row before CBPE alone would (CBPE may call a day bad here and there, without a streak)
    k = settings.retrain_consecutive_days

    def first_streak(signal):
        bad = [dt.date.fromisoformat(r.day) for r in rows if signal in r.bad_by]
        for i in range(k - 1, len(bad)):
            if (bad[i] - bad[i - k + 1]).days == k - 1:
                return bad[i].isoformat()
        return None

    by_labels, by_cbpe = first_streak("early_labels"), first_streak("cbpe")
    seen = [(r.day, r.bad_by) for r in rows if r.bad_by]
    assert by_labels is not None and by_labels >= shift, seen
    assert by_cbpe is None or by_labels < by_cbpe, seen
    # a promoted retrain; the champion's realized ROC AUC after it beats the drifted days'
    promoted = [r for r in rows if r.retrain.endswith("promoted")]
    assert promoted, [(r.day, r.retrain) for r in rows if r.retrain]
    drifted = [r.realized_auc for r in rows if shift <= r.day <= promoted[0].day and r.realized_auc]
    recovered = [r.realized_auc for r in rows if r.day > promoted[0].day and r.realized_auc]
    assert drifted and recovered
    assert sum(recovered) / len(recovered) > sum(drifted) / len(drifted) + 0.03
