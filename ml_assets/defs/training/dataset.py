"""Point-in-time-correct training frames.

Entity rows are the transactions of a window; features come from Feast's
``get_historical_features`` on the model's feature service; labels are the chargebacks
*as known at the as-of date*.

Unarrived chargebacks, handled explicitly: a transaction whose chargeback had not arrived
by the as-of date is labelled honest (it is, as far as anyone could know then), never
positive. Recent days therefore carry "immature" labels. We keep them, because after a
shift the recent honest behaviour is exactly what a retrained model must learn, and
~98% of those rows really are honest; the cost is a little label noise on the fraud side
(ROC AUC barely moves; PR AUC and recall on recent days read low, for challenger and
champion alike, so comparisons stay fair). The training_set metadata counts the rows younger
than IMMATURE_DAYS. ``label_maturity_days`` > 0 leaves a gap before the
as-of date instead, trading recency for complete labels.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd

from ml_assets import lake
from ml_assets.settings import Settings, get_settings

IMMATURE_DAYS = 7  # about the median chargeback delay plus a few days
ENTITY_COLUMNS = ["transaction_id", "customer_id", "merchant_id", "event_timestamp", "amount", "channel", "txn_hour"]


@dataclasses.dataclass(frozen=True)
class Window:
    start: dt.date  # inclusive
    end: dt.date  # exclusive

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days)]


def training_window(as_of: dt.date, settings: Settings) -> Window:
    from ml_assets.defs.features.aggregates import ACTIVITY_LOOKBACK_DAYS

    end = as_of - dt.timedelta(days=settings.label_maturity_days)
    # rows from before the 30-day aggregates have filled up would teach the model a
    # feature distribution that never occurs again
    warm = settings.start_date + dt.timedelta(days=ACTIVITY_LOOKBACK_DAYS)
    start = max(warm, end - dt.timedelta(days=settings.training_window_days))
    if end <= start:
        raise ValueError(
            f"as_of={as_of}: the training window is empty (features are complete from {warm}, "
            f"plus {settings.label_maturity_days} days of label maturity): pick a later as-of date"
        )
    return Window(start, end)


def entity_frame(days: list[dt.date], settings: Settings | None = None) -> pd.DataFrame:
    """The transactions of ``days`` as Feast entity rows with their request-time fields."""
    settings = settings or get_settings()
    frames = [lake.read_partition(settings.lake_dir, "raw_transactions", d) for d in days]
    tx = pd.concat(frames, ignore_index=True)
    ts = tx["event_timestamp"]
    tx["txn_hour"] = (ts.dt.hour + ts.dt.minute / 60.0).astype("float64")
    tx["channel"] = tx["channel"].astype(str)
    tx["transaction_id"] = tx["transaction_id"].astype(str)
    return tx[ENTITY_COLUMNS]


def labels_known_at(as_of: dt.date, settings: Settings | None = None, lookback_days: int = 120) -> pd.DataFrame:
    """Every chargeback that had arrived before ``as_of`` (labels of later days unseen)."""
    settings = settings or get_settings()
    days = [as_of - dt.timedelta(days=k) for k in range(1, lookback_days + 1)]
    frames = [
        lake.read_partition(settings.lake_dir, "label_arrivals", d)
        for d in days
        if d >= settings.start_date and lake.partition_path(settings.lake_dir, "label_arrivals", d).exists()
    ]
    if not frames:
        return pd.DataFrame({"transaction_id": pd.Series(dtype=str), "arrived_at": pd.Series(dtype="datetime64[us, UTC]")})
    labels = pd.concat(frames, ignore_index=True)
    cutoff = pd.Timestamp(as_of, tz="UTC")
    return labels.loc[labels["arrived_at"] < cutoff, ["transaction_id", "arrived_at"]]


def attach_labels(entities: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    out = entities.copy()
    out["is_fraud"] = out["transaction_id"].isin(set(labels["transaction_id"].astype(str))).astype("int8")
    return out


def historical_features(entities: pd.DataFrame, settings: Settings | None = None) -> pd.DataFrame:
    """Point-in-time join of the feature service onto ``entities`` (Feast, DuckDB store)."""
    from ml_assets.defs.features.store import feature_store, load_specs

    store = feature_store(settings)
    service = store.get_feature_service(load_specs().FEATURE_SERVICE)
    frame = store.get_historical_features(entity_df=entities, features=service).to_df()
    return to_model_frame(frame.sort_values(["event_timestamp", "transaction_id"], kind="stable").reset_index(drop=True))


def to_model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical dtypes for model features, the same offline and online (no skew)."""
    from ml_assets.defs.features.store import load_specs

    specs = load_specs()
    for col in specs.model_features():
        if col in specs.CATEGORICAL_FEATURES:
            frame[f"{col}_raw"] = frame[col].astype("string")  # as served, for unseen-value monitoring
            # integer codes of the fixed levels as float (NaN when unseen): one numeric
            # input schema for LightGBM, MLflow signatures and NannyML alike
            levels = specs.CATEGORICAL_FEATURES[col]
            frame[col] = pd.Categorical(frame[col].astype("string"), categories=levels).codes.astype("float64")
            frame.loc[frame[col] < 0, col] = float("nan")
        else:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def build_training_set(as_of: dt.date, settings: Settings | None = None) -> tuple[pd.DataFrame, Window]:
    """Entity rows of the training window, labels as known at ``as_of``, features from the
    feature service, and a time-based split: the last ``validation_days`` are validation
    (the most recent labelled window, which promotion also evaluates on)."""
    settings = settings or get_settings()
    window = training_window(as_of, settings)
    entities = attach_labels(entity_frame(window.days(), settings), labels_known_at(as_of, settings))
    frame = historical_features(entities, settings)
    split_at = pd.Timestamp(window.end - dt.timedelta(days=settings.validation_days), tz="UTC")
    frame["split"] = (frame["event_timestamp"] >= split_at).map({True: "validation", False: "train"})
    return frame, window


def save_training_set(frame: pd.DataFrame, as_of: dt.date, settings: Settings) -> tuple[Path, str]:
    """Write the frame as ``training_sets/as_of=<date>/<content hash>.parquet`` (temp, then rename)."""
    digest = content_hash(frame)
    path = settings.data_dir / "training_sets" / f"as_of={as_of}" / f"{digest}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path, digest


def content_hash(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame.astype({c: "string" for c in frame.select_dtypes("category")}), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]
