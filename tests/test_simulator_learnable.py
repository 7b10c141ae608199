"""The simulator's promise, measured through the real feature service (Feast, DuckDB):
fraud is learnable on stable data, and the seasonal scenario lowers a fixed model's AUC."""

import pandas as pd
import pytest
from lakehelpers import build_offline

DAYS, DRIFT_DAY, TRAIN_END = 48, 36, 30


def _scored_frame(monkeypatch, tmp_path, scenario):
    from ml_assets.defs.features.store import apply_repo
    from ml_assets.defs.ingest.simulator import Simulator, SimulatorConfig
    from ml_assets.defs.training import dataset as ds
    from ml_assets.settings import get_settings

    monkeypatch.setenv("ML_ASSETS_DATA_DIR", str(tmp_path / scenario))
    monkeypatch.setenv("ML_ASSETS_SCENARIO", scenario)
    monkeypatch.setenv("ML_ASSETS_DRIFT_START_DAY", str(DRIFT_DAY))
    for key, value in {"ROWS_PER_DAY": "4000", "N_CUSTOMERS": "4000", "N_MERCHANTS": "400"}.items():
        monkeypatch.setenv(f"ML_ASSETS_{key}", value)
    get_settings.cache_clear()
    s = get_settings()
    build_offline(s, DAYS)
    apply_repo(s)
    frame = ds.historical_features(ds.entity_frame([s.day(i) for i in range(6, DAYS)], s), s)
    sim = Simulator(SimulatorConfig.from_settings(s))
    truth = pd.concat([sim.transactions(i)[["transaction_id", "is_fraud"]] for i in range(6, DAYS)])
    get_settings.cache_clear()
    return frame.merge(truth, on="transaction_id", validate="one_to_one"), s


@pytest.mark.slow
def test_fraud_is_learnable_and_seasonal_drift_hurts_a_fixed_model(tmp_path, monkeypatch):
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    from ml_assets.defs.features.store import load_specs

    features = load_specs().model_features()
    aucs = {}
    for scenario in ("stable", "seasonal"):
        frame, s = _scored_frame(monkeypatch, tmp_path, scenario)
        ts = frame["event_timestamp"]
        train = frame[ts < pd.Timestamp(s.day(TRAIN_END), tz="UTC")]
        after = frame[ts >= pd.Timestamp(s.day(DRIFT_DAY), tz="UTC")]
        model = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, verbose=-1, random_state=0)
        model.fit(train[features], train["is_fraud"])
        aucs[scenario] = roc_auc_score(after["is_fraud"], model.predict_proba(after[features])[:, 1])
    assert 0.85 <= aucs["stable"] <= 0.96, aucs
    assert aucs["seasonal"] < aucs["stable"] - 0.03, aucs
