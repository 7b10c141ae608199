"""Batch scoring of a day's transactions with the champion, into the prediction log."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import numpy as np
import pandas as pd

from ml_assets.core.features.contract import (
    EVENT_ID,
    EVENT_TIME,
    entity_frame,
    historical_features,
    raw_columns,
)
from ml_assets.core.features.store import FeatureRepo
from ml_assets.core.model import booster, score, score_matrix
from ml_assets.core.model_store import CHAMPION, ModelStore
from ml_assets.core.registry.operating_point import THRESHOLD_TAG, reference_flag_rate, reference_median
from ml_assets.core.settings import Settings
from ml_assets.core.training.tracking import REFERENCE_FLAG_RATE_TAG, REFERENCE_MEDIAN_TAG
from ml_assets.core.warehouse import PREDICTION_LOG, Warehouse


@dataclasses.dataclass(frozen=True)
class ServingModel:
    """A registered version ready to score: its native booster and decision threshold."""

    version: str
    threshold: float
    model: object
    alias: str = CHAMPION
    loaded_at: float = 0.0  # epoch seconds
    # what the served threshold was chosen to flag: its validation window's share, or its standing
    # re-fit's (None: not tagged)
    reference_flag_rate: float | None = None
    # median score the served threshold was chosen on (validation window, or standing re-fit's)
    reference_median_score: float | None = None

    @classmethod
    def by_alias(cls, store: ModelStore, alias: str = CHAMPION) -> ServingModel:
        found = store.version_by_alias(alias)
        if found is None:
            raise RuntimeError(
                f"model '{store.model_name}' has no '{alias}' alias: "
                "materialize training_set, model and promotion first"
            )
        return cls._of(store, found, alias)

    @classmethod
    def by_version(cls, store: ModelStore, version: str, alias: str) -> ServingModel:
        """A version that serves under ``alias`` (e.g. the challenger a rollout started with,
        even if the alias moves while it loads)."""
        return cls._of(store, store.client().get_model_version(store.model_name, str(version)), alias)

    @classmethod
    def _of(cls, store: ModelStore, found, alias: str) -> ServingModel:
        version = str(found.version)
        flag_rate, median = (found.tags.get(t) for t in (REFERENCE_FLAG_RATE_TAG, REFERENCE_MEDIAN_TAG))
        return cls(
            version,
            float(found.tags[THRESHOLD_TAG]),
            booster(store.load_model(version)),
            alias,
            time.time(),
            reference_flag_rate(found.tags, float(flag_rate) if flag_rate is not None else None),
            reference_median(found.tags, float(median) if median is not None else None),
        )

    @classmethod
    def champion(cls, store: ModelStore) -> ServingModel:
        return cls.by_alias(store, CHAMPION)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return score_matrix(self.model, matrix)


def score_frame(
    model: ServingModel, frame: pd.DataFrame, features: list[str], raw: list[str], model_name: str
) -> pd.DataFrame:
    """Prediction-log rows for a canonical model frame."""
    scores = score(model.model, frame, features)
    log = frame[[EVENT_ID, EVENT_TIME, *features, *raw]].copy()
    log.insert(2, "score", scores)
    log.insert(3, "decision", scores > model.threshold)
    log.insert(4, "model_name", model_name)
    log.insert(5, "model_version", model.version)
    return log


def score_day(
    day: dt.date, settings: Settings, repo: FeatureRepo, store: ModelStore, model: ServingModel | None = None
) -> pd.DataFrame:
    """Score every transaction of ``day`` with ``model`` (default: the champion, as registered
    now); features from Feast as of each transaction."""
    model = model or ServingModel.champion(store)
    frame = historical_features(repo, entity_frame(settings.lake_dir, [day]))
    log = score_frame(model, frame, repo.specs.model_features(), raw_columns(repo.specs), store.model_name)
    log["partition_date"] = day
    log["source"] = "batch"
    log["scored_at"] = pd.Timestamp.now(tz="UTC")
    return log


def write_predictions(warehouse: Warehouse, log: pd.DataFrame, day: dt.date) -> int:
    """Replace the day's batch predictions in one transaction (re-scoring never duplicates)."""
    return warehouse.replace_partition(PREDICTION_LOG, log, {"partition_date": day, "source": "batch"})
