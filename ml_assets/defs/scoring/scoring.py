"""Batch scoring of a day's transactions with the champion, into the prediction log."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ml_assets import warehouse
from ml_assets.defs.registry.mlflow_resource import CHAMPION, MLflowResource
from ml_assets.settings import Settings

PREDICTION_LOG = "prediction_log"


def champion(res: MLflowResource):
    version = res.version_by_alias(CHAMPION)
    if version is None:
        raise RuntimeError(
            f"model '{res.model_name}' has no '{CHAMPION}' alias: materialize training_set, fraud_model and "
            "promotion first"
        )
    return version


def score_day(day: dt.date, settings: Settings, res: MLflowResource) -> pd.DataFrame:
    """Score every transaction of ``day``; features from Feast as of each transaction."""
    from ml_assets.defs.features.store import load_specs
    from ml_assets.defs.registry.promotion import load_model
    from ml_assets.defs.training import model as fraud
    from ml_assets.defs.training.dataset import entity_frame, historical_features

    version = champion(res)
    threshold = float(version.tags.get("decision_threshold", 0.5))
    frame = historical_features(entity_frame([day], settings), settings)
    scores = fraud.score(load_model(res, version.version), frame)
    raw = [f"{c}_raw" for c in load_specs().CATEGORICAL_FEATURES]
    log = frame[["transaction_id", "event_timestamp", *fraud.features(), *raw]].copy()
    log.insert(2, "score", scores)
    log.insert(3, "decision", scores > threshold)
    log.insert(4, "model_name", res.model_name)
    log.insert(5, "model_version", str(version.version))
    log["partition_date"] = day
    log["source"] = "batch"
    log["scored_at"] = pd.Timestamp.now(tz="UTC")
    return log


def write_predictions(log: pd.DataFrame, day: dt.date, settings: Settings) -> int:
    """Replace the day's batch predictions in one transaction (re-scoring never duplicates)."""
    return warehouse.replace_partition(
        settings.warehouse_path, PREDICTION_LOG, log, {"partition_date": day, "source": "batch"}
    )
