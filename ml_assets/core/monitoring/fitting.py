"""Fitting a model version's monitors on its reference data and storing them with it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import ModuleType

import pandas as pd

from ml_assets.core.model_store import ModelStore
from ml_assets.core.monitoring import monitors
from ml_assets.core.records import ModelVersionRecord
from ml_assets.core.settings import Settings
from ml_assets.core.training.dataset import training_set_path
from ml_assets.core.training.tracking import load_reference


def fit_and_store(
    store: ModelStore, version: ModelVersionRecord, specs: ModuleType, settings: Settings
) -> str:
    """Fit every monitor on the version's reference and log them to its MLflow run."""
    reference = load_reference(store, version.version, settings.monitors_cache_dir)
    lineage = version.lineage
    training_set = training_set_path(settings, lineage.as_of, lineage.training_set_hash)
    if not training_set.exists():
        raise FileNotFoundError(
            f"model version {version.version} was trained on {training_set}, which is gone: its feature "
            "drift reference is that training window; re-materialize training_set and fraud_model"
        )
    fitted = monitors.fit_monitors(
        reference,
        version.threshold,
        monitors.MonitoredColumns.of(specs),
        drift_reference=pd.read_parquet(training_set),
        false_alarm_rate=settings.drift_false_alarm_rate,
        folds=settings.drift_threshold_folds,
        performance_false_alarm_rate=settings.retrain_false_alarm_rate,
    )
    artifact = Path(monitors.MONITORS_ARTIFACT)
    with tempfile.TemporaryDirectory() as tmp:
        store.log_artifact(
            version.version, monitors.save(fitted, Path(tmp) / artifact.name), str(artifact.parent)
        )
    # a re-fit replaces the version's monitors: drop the local copy so the next run downloads them
    monitors.cache_path(store, version.version, settings.monitors_cache_dir).unlink(missing_ok=True)
    return f"runs:/{version.run_id}/{artifact}"
