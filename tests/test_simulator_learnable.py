"""The simulator's promise, measured through the real feature service (Feast, DuckDB):
fraud is learnable on stable data, and the seasonal scenario lowers a fixed model's AUC. A statistic
of two 48-day worlds, so it runs in `make scenarios` (CI runs it after `make test`)."""

import pandas as pd
import pytest
from conftest import repo_of, settings_for
from lakehelpers import build_offline

DAYS, DRIFT_DAY, TRAIN_END = 48, 36, 30


def _scored_frame(tmp_path, scenario):
    from ml_assets.core.features.contract import entity_frame, historical_features
    from ml_assets.simulator.world import Simulator, SimulatorConfig

    s = settings_for(
        tmp_path / scenario,
        scenario=scenario,
        drift_start_day=DRIFT_DAY,
        rows_per_day=4000,
        n_customers=4000,
        n_merchants=400,
    )
    build_offline(s, DAYS)
    repo = repo_of(s)
    repo.apply()
    frame = historical_features(repo, entity_frame(s.lake_dir, [s.day(i) for i in range(6, DAYS)]))
    sim = Simulator(SimulatorConfig.from_settings(s))
    truth = pd.concat([sim.transactions(i)[["transaction_id", "is_fraud"]] for i in range(6, DAYS)])
    return frame.merge(truth, on="transaction_id", validate="one_to_one"), s


@pytest.mark.scenario
def test_fraud_is_learnable_and_seasonal_drift_hurts_a_fixed_model(tmp_path):
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    from ml_assets.core.features.catalogue import load_specs
    from ml_assets.core.settings import PROJECT_ROOT

    features = load_specs(PROJECT_ROOT / "feature_repo").model_features()
    aucs = {}
    for scenario in ("stable", "seasonal"):
        frame, s = _scored_frame(tmp_path, scenario)
        ts = frame["event_timestamp"]
        train = frame[ts < pd.Timestamp(s.day(TRAIN_END), tz="UTC")]
        after = frame[ts >= pd.Timestamp(s.day(DRIFT_DAY), tz="UTC")]
        model = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, verbose=-1, random_state=0)
        model.fit(train[features], train["is_fraud"])
        aucs[scenario] = roc_auc_score(after["is_fraud"], model.predict_proba(after[features])[:, 1])
    assert 0.85 <= aucs["stable"] <= 0.96, aucs
    assert aucs["seasonal"] < aucs["stable"] - 0.03, aucs
