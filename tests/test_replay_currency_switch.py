"""The currency_switch scenario replayed (replayhelpers.py): every amount moves by the same factor
and nobody's behaviour changes, so the score scale moves while the ranking holds. The policy must
re-fit the decision threshold, not retrain, and the decision rate served afterwards, in batch and
online, must come back to the rate the threshold was chosen for (issue 25)."""

import math

import pytest
import requests
from replayhelpers import WARM, replay_in_temp_home

DRIFTED = 24  # days after the switch: the re-fit, then days served at the re-fitted threshold


@pytest.mark.scenario
def test_a_moved_score_scale_is_answered_by_a_threshold_re_fit_served_in_batch_and_online(tmp_path_factory):
    drift = WARM + 8  # after the champion's CBPE baseline (its first 7 monitored days)
    settings, rows, _, sensor_runs = replay_in_temp_home(
        tmp_path_factory, "currency_switch", drift + DRIFTED, drift_day=drift
    )
    shift = settings.day(drift).isoformat()
    table = [(r.day, r.sensor, r.flag_rate, r.threshold, r.bad_by, r.retrain) for r in rows]
    refits = [r for r in sensor_runs if r.tags.get("ml_assets/response") == "threshold"]
    assert refits, table
    assert all(r.tags["ml_assets/alert_day"] >= shift for r in refits), table
    # the ranking held: nothing asked for a new model, and the champion never changed
    assert not [r for r in rows if r.sensor == "FIRED"], table
    assert len({r.champion for r in rows}) == 1, table

    # the decision rate served after the last re-fit, against the rate it was re-fitted to
    last = max(refits, key=lambda r: r.tags["ml_assets/alert_day"])
    target = last.run_config["ops"]["decision_threshold"]["config"]["target_flag_rate"]
    served = [r for r in rows if r.day > last.tags["ml_assets/alert_day"] and r.flag_rate is not None]
    before = [r.flag_rate for r in rows if shift <= r.day <= last.tags["ml_assets/alert_day"]]
    assert len(served) >= 3, table
    batch_rate = sum(r.flag_rate for r in served) / len(served)

    def band(rows: int) -> float:
        """What the policy leaves alone: a move under its minimum share of the target, plus chance
        (3 binomial standard deviations of the rate over ``rows`` transactions)."""
        return settings.threshold_min_flag_rate_change * target + 3 * math.sqrt(target * (1 - target) / rows)

    # back in the band around the target, and nearer it than the drifted days before the re-fit
    assert abs(batch_rate - target) <= band(len(served) * settings.rows_per_day), (batch_rate, target, table)
    assert abs(batch_rate - target) < max(abs(r - target) for r in before), (before, batch_rate, target)
    online_rate, threshold = _online_decision_rate(settings, drift + DRIFTED - 1)
    assert threshold == pytest.approx(served[-1].threshold), (threshold, served[-1].threshold)
    assert abs(online_rate - target) <= band(settings.rows_per_day), (online_rate, target)
    print(f"target {target:.4f}: batch {batch_rate:.4f}, online {online_rate:.4f}")


def _online_decision_rate(settings, day_index: int) -> tuple[float, float]:
    """The share of a served day's transactions the online service flags, and its threshold."""
    from ml_assets.core import lake
    from ml_assets.serving.process import ServiceProcess, request_body

    day = lake.read_partition(settings.lake_dir, "raw_transactions", settings.day(day_index))
    bodies = [request_body(row, transaction_id=f"online-{i}") for i, row in enumerate(day.itertuples())]
    decisions = []
    with ServiceProcess(settings) as service:
        service.wait_ready()
        for start in range(0, len(bodies), settings.serve_max_batch):
            answer = requests.post(
                f"{service.url}/v1/score/batch",
                json={"transactions": bodies[start : start + settings.serve_max_batch]},
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
            decisions += [r["decision"] for r in answer.json()["results"]]
        served = requests.get(f"{service.url}/v1/models", timeout=10).json()["models"]
    return sum(decisions) / len(decisions), served[0]["threshold"]
