import numpy as np
import pandas as pd
import pytest

from ml_assets.simulator.world import Simulator, SimulatorConfig

CFG = SimulatorConfig(rows_per_day=3000, n_customers=2000, n_merchants=200, drift_start_day=10)


def test_same_seed_same_day_is_identical_and_days_are_independent():
    a, b = Simulator(CFG), Simulator(CFG)
    pd.testing.assert_frame_equal(a.transactions(5), b.transactions(5))
    # generating other days first does not change a day
    b.transactions(3)
    pd.testing.assert_frame_equal(a.transactions(7), b.transactions(7))
    pd.testing.assert_frame_equal(a.label_arrivals(20), b.label_arrivals(20))


def test_another_seed_gives_other_data():
    other = Simulator(SimulatorConfig(**{**CFG.__dict__, "seed": CFG.seed + 1}))
    assert not Simulator(CFG).transactions(5)["amount"].equals(other.transactions(5)["amount"])


def test_day_shape_and_label_delays():
    sim = Simulator(CFG)
    tx = sim.transactions(4)
    assert len(tx) == CFG.rows_per_day
    assert tx["transaction_id"].is_unique
    assert (tx["event_timestamp"].dt.date == sim.date(4)).all()
    assert 0.005 < tx["is_fraud"].mean() < 0.05
    reported = tx.dropna(subset=["label_arrival_date"])
    # only fraud is ever charged back, strictly after the transaction, within the maximum delay
    assert reported["is_fraud"].all()
    delays = (pd.to_datetime(reported["label_arrival_date"]) - pd.Timestamp(sim.date(4))).dt.days
    assert delays.between(1, CFG.label_delay_max_days).all()
    labels = sim.label_arrivals(30)
    assert (labels["transaction_timestamp"] < labels["arrived_at"]).all()
    assert (labels["arrived_at"].dt.date == sim.date(30)).all()


@pytest.mark.parametrize("scenario", ["seasonal", "fraud_shift"])
def test_drift_starts_on_the_chosen_day_and_not_before(scenario):
    stable = Simulator(CFG)
    drifted = Simulator(SimulatorConfig(**{**CFG.__dict__, "scenario": scenario}))
    before = CFG.drift_start_day - 1
    pd.testing.assert_frame_equal(stable.transactions(before), drifted.transactions(before))
    after_stable, after_drift = (
        stable.transactions(CFG.drift_start_day + 2),
        drifted.transactions(CFG.drift_start_day + 2),
    )
    if scenario == "seasonal":
        legit_s, legit_d = after_stable[~after_stable.is_fraud], after_drift[~after_drift.is_fraud]
        assert legit_d["amount"].median() > 1.2 * legit_s["amount"].median()
        assert (legit_d["channel"] == "online").mean() > (legit_s["channel"] == "online").mean() + 0.1
    else:
        fraud_s, fraud_d = after_stable[after_stable.is_fraud], after_drift[after_drift.is_fraud]
        assert (fraud_d["channel"] == "online").mean() < (fraud_s["channel"] == "online").mean() - 0.3
        # honest traffic is untouched: the inputs barely move
        np.testing.assert_allclose(
            after_stable[~after_stable.is_fraud]["amount"].median(),
            after_drift[~after_drift.is_fraud]["amount"].median(),
            rtol=0.1,
        )
