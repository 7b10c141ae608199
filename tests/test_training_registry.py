"""Training, MLflow registry (real SQLite store on a temp dir), promotion, rollback and
batch scoring, through Dagster jobs on a temp instance."""

import datetime as dt

import dagster as dg
import pandas as pd
import pytest
from lakehelpers import build_offline

from ml_assets import lake, warehouse

DAYS = 45
SIZE = {"ROWS_PER_DAY": "3000", "N_CUSTOMERS": "3000", "N_MERCHANTS": "300"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """45 days of offline features and a fresh MLflow store, shared by this module's tests."""
    from ml_assets.defs.features.store import apply_repo
    from ml_assets.settings import get_settings

    root = tmp_path_factory.mktemp("world")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ML_ASSETS_DATA_DIR", str(root / "data"))
        for key, value in SIZE.items():
            mp.setenv(f"ML_ASSETS_{key}", value)
        get_settings.cache_clear()
        settings = get_settings()
        build_offline(settings, DAYS)
        apply_repo(settings)
        (root / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
            yield settings, instance
        get_settings.cache_clear()


def _defs():
    from ml_assets.definitions import defs

    return defs()


def _train(instance, as_of, **hyper):
    config = {"ops": {"training_set": {"config": {"as_of": str(as_of)}}}}
    if hyper:
        config["ops"]["fraud_model"] = {"config": hyper}
    result = _defs().resolve_job_def("train_and_promote").execute_in_process(
        instance=instance, run_config=config, raise_on_error=False
    )
    outputs = {}
    for event in result.get_asset_materialization_events():
        outputs[event.asset_key.to_user_string()] = {k: v.value for k, v in event.materialization.metadata.items()}
    return result, outputs


def _mlflow():
    from ml_assets.defs.registry.mlflow_resource import MLflowResource

    return MLflowResource.from_settings()


def _alias(name):
    version = _mlflow().version_by_alias(name)
    return str(version.version) if version is not None else None


def test_training_reaches_the_promised_auc_and_first_model_becomes_champion(world):
    settings, instance = world
    result, out = _train(instance, settings.day(DAYS))
    assert result.success
    assert out["fraud_model"]["validation_roc_auc"] >= 0.85
    assert 0 < out["training_set"]["rows_younger_than_7d"] < out["training_set"]["rows"]
    assert out["promotion"]["decision"] == "promoted"
    assert _alias("champion") == out["fraud_model"]["model_version"]
    run = _mlflow().client().get_run(out["fraud_model"]["mlflow_run_id"])
    # lineage and artifacts are in MLflow
    assert run.data.tags["dagster_run_id"] == result.run_id
    assert run.data.tags["feature_service"] == "fraud_model_v1"
    assert run.data.tags["training_set_hash"] == out["training_set"]["content_hash"]
    artifacts = {a.path for a in _mlflow().client().list_artifacts(run.info.run_id)}
    assert {"feature_importance.png", "reference"} <= artifacts
    assert {"validation_roc_auc", "validation_pr_auc", "validation_ece", "validation_log_loss"} <= set(run.data.metrics)


def test_labels_that_arrive_after_as_of_are_not_positives(world):
    from ml_assets.defs.training.dataset import build_training_set

    settings, _ = world
    as_of = settings.day(40)
    frame, window = build_training_set(as_of, settings)
    arrivals = pd.concat([lake.read_partition(settings.lake_dir, "label_arrivals", settings.day(i)) for i in range(DAYS)])
    late = set(arrivals.loc[arrivals["arrived_at"] >= pd.Timestamp(as_of, tz="UTC"), "transaction_id"])
    known = set(arrivals.loc[arrivals["arrived_at"] < pd.Timestamp(as_of, tz="UTC"), "transaction_id"])
    in_window_late = frame["transaction_id"].isin(late)
    assert in_window_late.sum() > 0  # the test has teeth: some frauds of the window were still unknown
    assert (frame.loc[in_window_late, "is_fraud"] == 0).all()
    assert set(frame.loc[frame["is_fraud"] == 1, "transaction_id"]) <= known
    assert frame["event_timestamp"].max() < pd.Timestamp(window.end, tz="UTC")


def test_no_feature_value_comes_from_after_its_row(world):
    from ml_assets.defs.training.dataset import build_training_set

    settings, _ = world
    frame, _ = build_training_set(settings.day(40), settings)
    sample = frame.sample(300, random_state=0)
    for row in sample.itertuples():
        day = row.event_timestamp.date()
        source = lake.read_partition(settings.lake_dir, "customer_activity_source", day).set_index("customer_id")
        # the only row a transaction may see is the one stamped at the start of its own day
        expected = source.loc[row.customer_id, "txn_count_30d"] if row.customer_id in source.index else float("nan")
        assert (pd.isna(expected) and pd.isna(row.txn_count_30d)) or expected == row.txn_count_30d


def test_worse_challenger_is_rejected_and_better_one_promoted_then_rollback(world):
    settings, instance = world
    if _alias("champion") is None:
        _train(instance, settings.day(DAYS))
    champion = _alias("champion")

    # a deliberately weak challenger (few shallow trees on few features), still above the floor
    result, out = _train(instance, settings.day(DAYS), n_estimators=10, num_leaves=3, feature_fraction=0.2)
    assert result.success
    weak = out["fraud_model"]["model_version"]
    assert out["promotion"]["decision"] == "kept champion", out["promotion"]["reason"]
    assert _alias("champion") == champion and _alias("challenger") == weak
    tags = _mlflow().client().get_model_version("fraud_model", weak).tags
    assert tags["promotion_decision"] == "rejected" and "ROC AUC gain" in tags["promotion_reason"]

    # a stronger challenger beats the weak one: make the weak one champion first, then retrain
    from ml_assets.defs.registry.mlflow_resource import CHAMPION

    _mlflow().client().set_registered_model_alias("fraud_model", CHAMPION, weak)
    result, out = _train(instance, settings.day(DAYS))
    strong = out["fraud_model"]["model_version"]
    assert out["promotion"]["decision"] == "promoted"
    assert _alias("champion") == strong and _alias("previous_champion") == weak

    from ml_assets.cli import main

    main(["rollback", "--reason", "test"])
    assert _alias("champion") == weak
    tags = _mlflow().client().get_model_version("fraud_model", strong).tags
    assert tags["rolled_back_to"] == weak and tags["rolled_back_reason"] == "test"
    with pytest.raises(RuntimeError, match="nothing to roll back"):
        main(["rollback"])


def test_quality_floor_blocks_promotion(world, monkeypatch):
    from ml_assets.settings import get_settings

    settings, instance = world
    monkeypatch.setenv("ML_ASSETS_QUALITY_FLOOR_AUC", "0.999")
    get_settings.cache_clear()
    before = _alias("champion")
    result, out = _train(instance, settings.day(DAYS))
    get_settings.cache_clear()
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["quality_floor"].passed
    assert "promotion" not in out and not result.success
    assert _alias("champion") == before


def test_rescoring_a_day_replaces_its_rows(world):
    settings, instance = world
    if _alias("champion") is None:
        _train(instance, settings.day(DAYS))
    day = settings.day(DAYS - 1)
    job = _defs().resolve_job_def("score_day")
    for _ in range(2):
        assert job.execute_in_process(instance=instance, partition_key=str(day)).success
    log = warehouse.query(settings.warehouse_path, "SELECT * FROM prediction_log WHERE partition_date = ?", [day])
    assert len(log) == settings.rows_per_day and log["transaction_id"].is_unique
    assert set(log["model_version"]) == {_alias("champion")}
    assert log["score"].between(0, 1).all() and log["scored_at"].nunique() == 1
    other = warehouse.query(settings.warehouse_path, "SELECT count(*) AS n FROM prediction_log WHERE partition_date <> ?", [day])
    assert other["n"].iloc[0] == 0
    assert isinstance(day, dt.date)
