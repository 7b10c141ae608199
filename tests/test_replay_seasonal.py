"""The seasonal scenario replayed (replayhelpers.py): the shift is detected, a retrain is
promoted and realized performance recovers."""

import datetime as dt

import pytest
from replayhelpers import WARM, replay_in_temp_home


@pytest.mark.scenario
def test_seasonal_replay_drops_fires_retrains_and_recovers(tmp_path_factory):
    drift = WARM + 8  # after the champion's CBPE baseline (its first 7 monitored days)
    settings, rows, runs, sensor_runs = replay_in_temp_home(
        tmp_path_factory, "seasonal", drift + 24, drift_day=drift
    )
    by_day = {r.day: r for r in rows}
    before = [r.estimated_auc for r in rows if r.day < settings.day(drift).isoformat()]
    assert min(before) >= 0.9
    # the season's inputs are new: the drift monitors alert on each of its first days
    first_days = [r for r in rows if r.day >= settings.day(drift).isoformat()][:3]
    assert all(r.drift_alerts > 0 for r in first_days), [(r.day, r.drift_alerts) for r in first_days]
    fired = [r.day for r in rows if r.sensor == "FIRED"]
    assert fired, [(r.day, r.estimated_auc) for r in rows]
    first = (settings.day(0).__class__.fromisoformat(fired[0]) - settings.day(drift)).days
    assert 0 <= first <= 6, fired  # within a few days of the shift
    # the runs were launched by the sensor and are in the instance
    retrain_runs = [r for r in sensor_runs if r.tags.get("ml_assets/response", "retrain") == "retrain"]
    assert sorted(r.tags["ml_assets/alert_day"] for r in retrain_runs) == fired
    for run in retrain_runs:  # a run fails only when the quality floor blocked its challenger
        assert run.is_success or by_day[run.tags["ml_assets/alert_day"]].retrain.endswith("(quality floor)")
    # a promotion happens only with a better challenger: every retrain says which, and the
    # champion changes exactly when one was promoted
    promoted = [r for r in rows if r.retrain.endswith("promoted")]
    assert promoted, [(r.day, r.retrain) for r in rows if r.retrain]
    assert by_day[rows[-1].day].champion != rows[0].champion
    # after the first promoted retrain, realized performance recovers (CBPE estimates of two
    # versions are not compared: each is calibrated on its own reference)
    shift, promo = settings.day(drift).isoformat(), promoted[0].day
    drifted = [r for r in rows if shift <= r.day <= promo]
    recovered = [r for r in rows if r.day > promo]

    def mean(values):
        values = [v for v in values if v is not None]
        assert values
        return sum(values) / len(values)

    assert mean(r.realized_auc for r in recovered) > mean(r.realized_auc for r in drifted) + 0.05
    # bounded retrains (the exact rules are tested in test_sensor): never two within
    # retry_days, never more than 1 + max_retries rejected in a row
    tried = [(dt.date.fromisoformat(r.day), "rejected" in r.retrain) for r in rows if r.sensor == "FIRED"]
    assert all(
        (b[0] - a[0]).days >= settings.retrain_retry_days for a, b in zip(tried, tried[1:], strict=False)
    )
    in_a_row = 0
    for _, rejected in tried:
        in_a_row = in_a_row + 1 if rejected else 0
        assert in_a_row <= 1 + settings.retrain_max_retries, tried
    # the scoreboard of this replay says the same
    from ml_assets.scoreboard import score

    board = score(rows, "seasonal", settings.day(drift))
    assert board.detection_delay_days == first
    assert min(fired) >= settings.day(drift).isoformat()  # nothing fired before the drift
    # false triggers also count the unneeded ones after the drift (issue 25): reported here, not
    # yet held to 0 (measured on 2026-12-04: 1 of 4 triggers)
    print("unneeded retrains:", board.retrains_unneeded, "false triggers:", board.false_triggers)
    assert board.false_triggers == board.retrains_unneeded
    assert board.retrains_promoted == len(promoted) and board.retrains_fired == len(fired)
    assert board.auc_lost > 0
