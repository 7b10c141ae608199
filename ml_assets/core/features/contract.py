"""The feature contract every consumer shares: transactions as entity rows, point-in-time
features from the feature service, and the one canonical model frame. Training, batch
scoring and the online service all go through ``to_model_frame``: one code path, no
training/serving skew."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import ModuleType

import pandas as pd

from ml_assets.core import lake
from ml_assets.core.features.store import FeatureRepo

ENTITY_COLUMNS = [
    "transaction_id",
    "customer_id",
    "merchant_id",
    "event_timestamp",
    "amount",
    "channel",
    "txn_hour",
]
RAW_SUFFIX = "_raw"  # a categorical feature as served (string), kept beside its code for monitoring


def entity_frame(lake_dir: Path, days: list[dt.date]) -> pd.DataFrame:
    """The transactions of ``days`` as Feast entity rows with their request-time fields."""
    tx = pd.concat([lake.read_partition(lake_dir, "raw_transactions", d) for d in days], ignore_index=True)
    return with_request_fields(tx)[ENTITY_COLUMNS]


def with_request_fields(tx: pd.DataFrame) -> pd.DataFrame:
    """Request-time fields the on-demand view reads, derived from a transaction."""
    ts = pd.to_datetime(tx["event_timestamp"], utc=True)
    return tx.assign(
        txn_hour=(ts.dt.hour + ts.dt.minute / 60.0).astype("float64"),
        channel=tx["channel"].astype(str),
        transaction_id=tx["transaction_id"].astype(str),
    )


def historical_features(repo: FeatureRepo, entities: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time join of the feature service onto ``entities`` (Feast, DuckDB store),
    as a canonical model frame."""
    store = repo.store()
    service = store.get_feature_service(repo.specs.FEATURE_SERVICE)
    frame = store.get_historical_features(entity_df=entities, features=service).to_df()
    frame = frame.sort_values(["event_timestamp", "transaction_id"], kind="stable").reset_index(drop=True)
    return to_model_frame(frame, repo.specs)


def to_model_frame(frame: pd.DataFrame, specs: ModuleType) -> pd.DataFrame:
    """Canonical dtypes for model features, the same offline and online.

    Numeric features become float64. A categorical feature becomes the float code of its
    fixed level (NaN when unseen: one numeric input schema for LightGBM, MLflow signatures
    and NannyML alike), and its served string is kept as ``<name>_raw``. Idempotent: a
    frame that already has ``<name>_raw`` is encoded from it again, never from the codes."""
    out = frame.copy()
    for col in specs.model_features():
        if col in specs.CATEGORICAL_FEATURES:
            raw_col = f"{col}{RAW_SUFFIX}"
            served = out[raw_col] if raw_col in out.columns else out[col]
            out[raw_col] = served.astype("string")
            codes = pd.Categorical(out[raw_col], categories=specs.CATEGORICAL_FEATURES[col]).codes
            out[col] = pd.Series(codes, index=out.index, dtype="float64").where(codes >= 0)
        else:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out


def raw_columns(specs: ModuleType) -> list[str]:
    return [f"{c}{RAW_SUFFIX}" for c in specs.CATEGORICAL_FEATURES]
