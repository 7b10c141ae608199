"""Training: the point-in-time training set and the LightGBM model registered in MLflow."""

import datetime as dt

import dagster as dg

from ml_assets import lake
from ml_assets.defs.registry.mlflow_resource import MLflowResource
from ml_assets.defs.training.model import Hyperparameters
from ml_assets.settings import get_settings

# What get_historical_features reads: the offline sources of every feature view (Feast's
# DuckDB store over the lake) under the definitions registered by feast_apply. The feature
# view assets are the online store, which serving reads and training does not.
OFFLINE_FEATURES = ["feast_apply", "customer_snapshots", "customer_activity_source", "merchant_snapshots", "merchant_risk_source"]


class TrainingSetConfig(dg.Config):
    """as_of: cut-off date YYYY-MM-DD (labels known before it, features as of each row);
    empty means the day after the newest ingested day."""

    as_of: str = ""


def resolve_as_of(value: str) -> dt.date:
    if value:
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"as_of={value!r} is not a date: use YYYY-MM-DD") from exc
    days = lake.existing_partitions(get_settings().lake_dir, "raw_transactions")
    if not days:
        raise ValueError("as_of is empty and no transactions are ingested yet: materialize raw_transactions first")
    return dt.date.fromisoformat(days[-1]) + dt.timedelta(days=1)


@dg.asset(
    group_name="training",
    kinds={"feast", "parquet"},
    deps=[*OFFLINE_FEATURES, "raw_transactions", "label_arrivals"],
    description="Point-in-time training frame: transactions of the training window, features from the "
    "feature service, labels as known at the as-of date; last days held out for validation.",
)
def training_set(context: dg.AssetExecutionContext, config: TrainingSetConfig) -> dict:
    import pandas as pd

    from ml_assets.defs.features.store import load_specs
    from ml_assets.defs.training.dataset import IMMATURE_DAYS, build_training_set, save_training_set

    s = get_settings()
    as_of = resolve_as_of(config.as_of)
    frame, window = build_training_set(as_of, s)
    path, digest = save_training_set(frame, as_of, s)
    by_split = frame.groupby("split")["is_fraud"].agg(["size", "mean"])
    record = {
        "path": str(path), "hash": digest, "as_of": str(as_of), "window_start": str(window.start),
        "window_end": str(window.end), "feature_service": load_specs().FEATURE_SERVICE,
    }
    context.add_output_metadata({
        "rows": len(frame),
        "positive_rate": float(frame["is_fraud"].mean()),
        # labels of these rows may still change: their chargebacks can arrive after as_of
        f"rows_younger_than_{IMMATURE_DAYS}d": int((frame["event_timestamp"] >= pd.Timestamp(as_of - dt.timedelta(days=IMMATURE_DAYS), tz="UTC")).sum()),
        "train_rows": int(by_split.loc["train", "size"]),
        "validation_rows": int(by_split.loc["validation", "size"]),
        "window": f"{window.start} .. {window.end - dt.timedelta(days=1)}",
        "as_of": str(as_of),
        "feature_service": record["feature_service"],
        "content_hash": digest,
        "path": dg.MetadataValue.path(str(path)),
    })
    return record


@dg.asset(
    group_name="training",
    kinds={"lightgbm", "mlflow"},
    description="LightGBM fraud model, logged to MLflow and registered as a new version with alias "
    "`challenger`. The value is a small record; the model lives in the registry.",
)
def fraud_model(
    context: dg.AssetExecutionContext, config: Hyperparameters, training_set: dict, mlflow: MLflowResource
) -> dict:
    import pandas as pd

    from ml_assets.defs.training import model as fraud
    from ml_assets.defs.training.tracking import log_and_register

    frame = pd.read_parquet(training_set["path"])
    trained = fraud.train(frame[frame["split"] == "train"], config)
    lineage = {
        "as_of": training_set["as_of"], "feature_service": training_set["feature_service"],
        "training_set_hash": training_set["hash"],
        "training_window": f"{training_set['window_start']}..{training_set['window_end']}",
    }
    record = log_and_register(mlflow, trained, frame, config, lineage, context.run.run_id, training_set["path"])
    context.add_output_metadata({
        "model_version": record["version"],
        "model_uri": record["uri"],
        "mlflow_run_id": record["run_id"],
        "mlflow_run": dg.MetadataValue.text(f"experiment {mlflow.experiment_name}, run {record['run_id']}"),
        **{f"validation_{k}": float(v) for k, v in record["metrics"].items()},
        "decision_threshold": record["threshold"],
        **{k: v for k, v in config.model_dump().items() if k in ("n_estimators", "learning_rate", "num_leaves")},
    })
    return record
