"""Fitting a model version's monitors on its reference data and storing them with it."""

from __future__ import annotations

import datetime as dt
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
    lineage = version.lineage
    return _fit_and_store(
        store,
        version.version,
        version.run_id,
        version.threshold,
        lineage.as_of,
        lineage.training_set_hash,
        specs,
        settings,
    )


def monitors_of(store: ModelStore, version: str, settings: Settings) -> monitors.FittedMonitors:
    """A version's monitors, fitted and stored on first need when it has none: any version may
    become champion (a rollout promotes what the service was given, a person moves an alias),
    and the day it serves must still be monitored."""
    try:
        return monitors.load(store, version, settings.monitors_cache_dir)
    except FileNotFoundError:
        pass
    registered = store.client().get_model_version(store.model_name, version)
    tags = registered.tags
    missing = [t for t in ("as_of", "training_set_hash", "decision_threshold") if t not in tags]
    if missing:
        raise FileNotFoundError(
            f"model version {version} has no {monitors.MONITORS_ARTIFACT} and no {', '.join(missing)} tag to "
            "fit them from: register it through train_and_promote (or log_and_register)"
        )
    from ml_assets.core import engines

    specs = engines.feature_repo(settings).specs  # read only when there is something to fit
    _fit_and_store(
        store,
        version,
        registered.run_id,
        float(tags["decision_threshold"]),
        dt.date.fromisoformat(tags["as_of"]),
        tags["training_set_hash"],
        specs,
        settings,
    )
    return monitors.load(store, version, settings.monitors_cache_dir)


def _fit_and_store(
    store: ModelStore,
    version: str,
    run_id: str,
    threshold: float,
    as_of: dt.date,
    training_set_hash: str,
    specs: ModuleType,
    settings: Settings,
) -> str:
    reference = load_reference(store, version, settings.monitors_cache_dir)
    training_set = training_set_path(settings, as_of, training_set_hash)
    if not training_set.exists():
        raise FileNotFoundError(
            f"model version {version} was trained on {training_set}, which is gone: its feature "
            "drift reference is that training window; re-materialize training_set and fraud_model"
        )
    fitted = monitors.fit_monitors(
        reference,
        threshold,
        monitors.MonitoredColumns.of(specs),
        drift_reference=pd.read_parquet(training_set),
        false_alarm_rate=settings.drift_false_alarm_rate,
        folds=settings.drift_threshold_folds,
        performance_false_alarm_rate=settings.retrain_false_alarm_rate,
    )
    artifact = Path(monitors.MONITORS_ARTIFACT)
    with tempfile.TemporaryDirectory() as tmp:
        store.log_artifact(version, monitors.save(fitted, Path(tmp) / artifact.name), str(artifact.parent))
    # a re-fit replaces the version's monitors: drop the local copy so the next run downloads them
    monitors.cache_path(store, version, settings.monitors_cache_dir).unlink(missing_ok=True)
    return f"runs:/{run_id}/{artifact}"
