"""Training, MLflow registry (real SQLite store on a temp dir), promotion, rollback and
batch scoring, through Dagster jobs on a temp instance."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from conftest import repo_of, settings_for, store_of
from lakehelpers import build_offline

from ml_assets.core import lake
from ml_assets.core.model import TARGET
from ml_assets.core.warehouse import Warehouse

DAYS = 45
SIZE = {"rows_per_day": 3000, "n_customers": 3000, "n_merchants": 300}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """45 days of offline features and a fresh MLflow store, shared by this module's tests."""
    root = tmp_path_factory.mktemp("world")
    settings = settings_for(root / "data", **SIZE)
    build_offline(settings, DAYS)
    repo_of(settings).apply()
    (root / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
        yield settings, instance


def _defs(settings):
    from ml_assets.definitions import build_definitions

    return build_definitions(settings)


def _train(settings, instance, as_of, **hyper):
    config = {"ops": {"training_set": {"config": {"as_of": str(as_of)}}}}
    if hyper:
        config["ops"]["model"] = {"config": hyper}
    result = (
        _defs(settings)
        .resolve_job_def("train_and_promote")
        .execute_in_process(instance=instance, run_config=config, raise_on_error=False)
    )
    outputs = {}
    for event in result.get_asset_materialization_events():
        outputs[event.asset_key.to_user_string()] = {
            k: v.value for k, v in event.materialization.metadata.items()
        }
    return result, outputs


def _alias(settings, name):
    return store_of(settings).alias_version(name)


def test_training_reaches_the_promised_auc_and_first_model_becomes_champion(world):
    settings, instance = world
    result, out = _train(settings, instance, settings.day(DAYS))
    assert result.success
    assert out["model"]["validation_roc_auc"] >= 0.85
    assert (
        0
        < out["training_set"][f"rows_younger_than_{settings.immature_label_days}d"]
        < out["training_set"]["rows"]
    )
    assert out["promotion"]["decision"] == "promoted"
    assert _alias(settings, "champion") == out["model"]["model_version"]
    client = store_of(settings).client()
    run = client.get_run(out["model"]["mlflow_run_id"])
    # lineage and artifacts are in MLflow
    assert run.data.tags["dagster_run_id"] == result.run_id
    assert run.data.tags["feature_service"] == "fraud_model_v1"
    assert run.data.tags["training_set_hash"] == out["training_set"]["content_hash"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"feature_importance.png", "reference", "monitoring"} <= artifacts
    assert {"validation_roc_auc", "validation_pr_auc", "validation_ece", "validation_log_loss"} <= set(
        run.data.metrics
    )


def test_promotion_judges_the_challenger_on_exactly_what_it_was_validated_on(world):
    """The challenger's metrics in `promotion` are model's validation metrics: same
    rows, same inputs (a second encoding pass used to turn merchant_category into NaN)."""
    settings, instance = world
    if _alias(settings, "champion") is None:
        _train(settings, instance, settings.day(DAYS))
    result, out = _train(settings, instance, settings.day(DAYS - 1))
    assert result.success
    model, promotion = out["model"], out["promotion"]
    for metric in ("roc_auc", "pr_auc", "ece", "log_loss", "brier", "recall_at_fixed_fpr"):
        assert promotion[f"challenger_{metric}"] == pytest.approx(model[f"validation_{metric}"], abs=1e-9), (
            metric
        )
    assert promotion["challenger_rows"] == out["training_set"]["validation_rows"]


def test_model_frame_is_idempotent_and_keeps_categories(world):
    from ml_assets.core.features.contract import entity_frame, to_model_frame

    settings, _ = world
    repo = repo_of(settings)
    entities = entity_frame(settings.lake_dir, [settings.day(40)]).head(500)
    raw = (
        repo.store()
        .get_historical_features(
            entity_df=entities, features=repo.store().get_feature_service("fraud_model_v1")
        )
        .to_df()
    )
    once = to_model_frame(raw, repo.specs)
    twice = to_model_frame(once, repo.specs)
    pd.testing.assert_frame_equal(once, twice)
    # the test has teeth: categories are encoded (not all missing) and match the raw strings
    assert once["merchant_category"].notna().mean() > 0.9
    levels = repo.specs.CATEGORICAL_FEATURES["merchant_category"]
    decoded = once["merchant_category"].dropna().astype(int).map(dict(enumerate(levels)))
    assert (decoded == once.loc[decoded.index, "merchant_category_raw"].astype(str)).all()


def test_labels_that_arrive_after_as_of_are_not_positives(world):
    from ml_assets.core.training.dataset import build_training_set

    settings, _ = world
    as_of = settings.day(40)
    frame, window = build_training_set(as_of, settings, repo_of(settings))
    arrivals = pd.concat(
        [lake.read_partition(settings.lake_dir, "label_arrivals", settings.day(i)) for i in range(DAYS)]
    )
    late = set(arrivals.loc[arrivals["arrived_at"] >= pd.Timestamp(as_of, tz="UTC"), "transaction_id"])
    known = set(arrivals.loc[arrivals["arrived_at"] < pd.Timestamp(as_of, tz="UTC"), "transaction_id"])
    in_window_late = frame["transaction_id"].isin(late)
    assert in_window_late.sum() > 0  # the test has teeth: some frauds of the window were still unknown
    assert (frame.loc[in_window_late, TARGET] == 0).all()
    assert set(frame.loc[frame[TARGET] == 1, "transaction_id"]) <= known
    assert frame["event_timestamp"].max() < pd.Timestamp(window.end, tz="UTC")


def test_no_feature_value_comes_from_after_its_row(world):
    from ml_assets.core.training.dataset import build_training_set

    settings, _ = world
    frame, _ = build_training_set(settings.day(40), settings, repo_of(settings))
    sample = frame.sample(300, random_state=0)
    matched = 0
    for row in sample.itertuples():
        day = row.event_timestamp.date()
        source = lake.read_partition(settings.lake_dir, "customer_activity_source", day).set_index(
            "customer_id"
        )
        # the only row a transaction may see is the one stamped at the start of its own day
        expected = (
            source.loc[row.customer_id, "txn_count_30d"] if row.customer_id in source.index else float("nan")
        )
        assert (pd.isna(expected) and pd.isna(row.txn_count_30d)) or expected == row.txn_count_30d
        matched += not pd.isna(expected)
    assert matched > 200


def test_worse_challenger_is_rejected_and_better_one_promoted_then_rollback(world):
    from ml_assets.cli import main
    from ml_assets.core.model_store import CHAMPION
    from ml_assets.core.registry import rollout

    settings, instance = world
    if _alias(settings, "champion") is None:
        _train(settings, instance, settings.day(DAYS))
    champion = _alias(settings, "champion")

    # a deliberately weak challenger (few shallow trees on few features), still above the floor
    result, out = _train(
        settings, instance, settings.day(DAYS), n_estimators=10, num_leaves=3, feature_fraction=0.2
    )
    assert result.success
    weak = out["model"]["model_version"]
    assert out["promotion"]["decision"] == "kept champion", out["promotion"]["reason"]
    assert _alias(settings, "champion") == champion and _alias(settings, "challenger") == weak
    tags = store_of(settings).client().get_model_version("fraud_model", weak).tags
    assert tags["promotion_decision"] == "rejected" and "ROC AUC gain" in tags["promotion_reason"]
    # refused at the offline gate: it never gets traffic
    assert tags["offline_gate"] == "rejected" and not rollout.read_state(store_of(settings)).active

    # a stronger challenger beats the weak one: make the weak one champion first, then retrain
    store_of(settings).set_alias(CHAMPION, weak)
    result, out = _train(settings, instance, settings.day(DAYS))
    strong = out["model"]["model_version"]
    # the offline win is the entry ticket to a rollout: the champion does not move yet
    assert out["promotion"]["decision"] == "awaiting rollout", out["promotion"]["reason"]
    assert _alias(settings, "champion") == weak
    state = rollout.read_state(store_of(settings))
    assert state.active and (state.challenger, state.gate, state.status, state.step) == (
        strong,
        "passed",
        "pending",
        0,
    )

    # a person completes the rollout from the CLI: a registry move, re-read
    main(["rollout", "promote"], settings=settings)
    assert _alias(settings, "champion") == strong and _alias(settings, "previous_champion") == weak
    assert _alias(settings, "challenger") is None
    tags = store_of(settings).client().get_model_version("fraud_model", strong).tags
    assert tags["rollout_status"] == "promoted" and tags["rollout_promoted_by"] == "operator"
    with pytest.raises(SystemExit, match="no rollout in progress"):
        main(["rollout", "abort"], settings=settings)

    main(["rollback", "--reason", "test"], settings=settings)
    assert _alias(settings, "champion") == weak
    tags = store_of(settings).client().get_model_version("fraud_model", strong).tags
    assert tags["rolled_back_to"] == weak and tags["rolled_back_reason"] == "test"
    with pytest.raises(RuntimeError, match="nothing to roll back"):
        main(["rollback"], settings=settings)


def test_quality_floor_blocks_promotion(world):
    settings, instance = world
    strict = settings.model_copy(update={"quality_floor_auc": 0.999})
    before = _alias(settings, "champion")
    result, out = _train(strict, instance, settings.day(DAYS))
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["quality_floor"].passed
    assert "promotion" not in out and not result.success
    assert _alias(settings, "champion") == before


def test_rescoring_a_day_replaces_its_rows(world):
    settings, instance = world
    if _alias(settings, "champion") is None:
        _train(settings, instance, settings.day(DAYS))
    day = settings.day(DAYS - 1)
    job = _defs(settings).resolve_job_def("score_day")
    first = job.execute_in_process(instance=instance, partition_key=str(day))
    assert first.success
    warehouse = Warehouse(settings.warehouse_path)
    scores = warehouse.query("SELECT transaction_id, score FROM prediction_log ORDER BY transaction_id")
    assert job.execute_in_process(instance=instance, partition_key=str(day)).success
    log = warehouse.query("SELECT * FROM prediction_log WHERE partition_date = ?", [day])
    assert len(log) == settings.rows_per_day and log["transaction_id"].is_unique
    assert set(log["model_version"]) == {_alias(settings, "champion")}
    assert log["score"].between(0, 1).all() and log["scored_at"].nunique() == 1
    other = warehouse.query("SELECT count(*) AS n FROM prediction_log WHERE partition_date <> ?", [day])
    assert other["n"].iloc[0] == 0
    # the same champion on the same features gives the same scores
    again = log.sort_values("transaction_id")["score"].to_numpy()
    np.testing.assert_allclose(again, scores["score"].to_numpy(), rtol=0, atol=1e-12)


def test_a_champion_registered_without_monitors_is_monitored_all_the_same(world):
    """Issue 23: after `make rollout-demo`, a version that became champion through the service had
    no monitors and the next daily cycle failed in monitoring. Any version may become champion:
    its monitors are fitted and stored on first need."""
    from ml_assets.core.model_store import CHAMPION
    from ml_assets.core.monitoring import monitors

    settings, instance = world
    selection = {dg.AssetKey("training_set"), dg.AssetKey("model")}  # registered, no model_monitors
    result = (
        _defs(settings)
        .resolve_job_def("train_and_promote")
        .get_subset(asset_selection=selection)
        .execute_in_process(
            instance=instance,
            run_config={"ops": {"training_set": {"config": {"as_of": str(settings.day(DAYS))}}}},
        )
    )
    version = next(
        e.materialization.metadata["model_version"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("model")
    )
    store = store_of(settings)
    with pytest.raises(FileNotFoundError, match="has no monitors recorded"):
        monitors.load(store, version, settings.monitors_cache_dir)
    store.set_alias(CHAMPION, version)

    day = str(settings.day(DAYS - 1))
    scored = (
        _defs(settings).resolve_job_def("score_day").execute_in_process(instance=instance, partition_key=day)
    )
    assert scored.success
    estimate = next(
        e.materialization.metadata
        for e in scored.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("estimated_performance")
    )
    assert estimate["model_version"].value == version
    assert 0.5 < estimate["estimated_roc_auc"].value <= 1.0
    fitted = monitors.load(store, version, settings.monitors_cache_dir)  # stored with the version now
    assert set(monitors.ALL_MONITORS) <= set(fitted.monitors)


def test_a_changed_monitors_pickle_is_refused_unread_and_the_model_is_no_pickle(world):
    """The monitors pickle is loaded only with the bytes whose hash the version recorded when it
    was stored (in the artifact store or the local cache); the model is LightGBM's own text."""
    import pickle
    from pathlib import Path
    from urllib.parse import urlparse

    from ml_assets.core.monitoring import monitors
    from ml_assets.core.monitoring.fitting import monitors_of

    settings, _ = world
    store = store_of(settings)
    version = store.alias_version("champion")
    assert monitors.load(store, version, settings.monitors_cache_dir).monitors
    recorded = store.client().get_model_version(store.model_name, version).tags[monitors.MONITORS_HASH_TAG]
    name = monitors.MONITORS_FILE.format(digest=recorded)
    (cached,) = Path(settings.monitors_cache_dir).glob(f"*-v{version}-{name}")
    run_id = store.client().get_model_version(store.model_name, version).run_id
    artifacts = Path(urlparse(store.client().get_run(run_id).info.artifact_uri).path)
    stored = artifacts / monitors.MONITORS_DIR / name
    original = stored.read_bytes()
    try:
        stored.write_bytes(pickle.dumps({"anything": "a pickle may hold"}))
        cached.unlink()
        with pytest.raises(monitors.TamperedArtifact, match=f"model version {version}.*refused unread"):
            monitors.load(store, version, settings.monitors_cache_dir)
        assert not cached.exists()  # nothing tampered is kept
    finally:
        stored.write_bytes(original)
    assert monitors.load(store, version, settings.monitors_cache_dir).monitors  # the recorded bytes load
    cached.write_bytes(cached.read_bytes() + b"trailing bytes pickle itself would ignore")
    with pytest.raises(monitors.TamperedArtifact):
        monitors.load(store, version, settings.monitors_cache_dir)
    # no hash recorded (stored before hashes were, say): as good as none, so fitted again
    store.client().delete_model_version_tag(store.model_name, version, monitors.MONITORS_HASH_TAG)
    with pytest.raises(FileNotFoundError, match="has no monitors recorded"):
        monitors.load(store, version, settings.monitors_cache_dir)
    assert monitors_of(store, version, settings).monitors  # re-fitted, stored with its hash
    assert monitors.MONITORS_HASH_TAG in store.client().get_model_version(store.model_name, version).tags
    model_dir = Path(urlparse(store.client().get_model_version_download_uri(store.model_name, version)).path)
    files = {p.name for p in model_dir.rglob("*") if p.is_file()}
    assert "model.lgb" in files and not {f for f in files if f.endswith((".pkl", ".pickle"))}, files
