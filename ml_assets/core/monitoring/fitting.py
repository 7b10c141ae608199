"""Fitting a model version's monitors on its reference data and storing them with it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import ModuleType

from ml_assets.core.model_store import ModelStore
from ml_assets.core.monitoring import monitors
from ml_assets.core.records import ModelVersionRecord
from ml_assets.core.settings import Settings
from ml_assets.core.training.tracking import load_reference


def fit_and_store(
    store: ModelStore, version: ModelVersionRecord, specs: ModuleType, settings: Settings
) -> str:
    """Fit every monitor on the version's reference and log them to its MLflow run."""
    reference = load_reference(store, version.version, settings.monitors_cache_dir)
    fitted = monitors.fit_monitors(
        reference, version.threshold, monitors.MonitoredColumns.of(specs), settings.drift_js_threshold
    )
    artifact = Path(monitors.MONITORS_ARTIFACT)
    with tempfile.TemporaryDirectory() as tmp:
        store.log_artifact(
            version.version, monitors.save(fitted, Path(tmp) / artifact.name), str(artifact.parent)
        )
    # a re-fit replaces the version's monitors: drop the local copy so the next run downloads them
    monitors.cache_path(store, version.version, settings.monitors_cache_dir).unlink(missing_ok=True)
    return f"runs:/{version.run_id}/{artifact}"
