"""Fitting a model version's monitors on its reference data and storing them with it."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from ml_assets.core import lake
from ml_assets.core.labels import LabelTable
from ml_assets.core.model import TARGET
from ml_assets.core.model_store import ModelStore
from ml_assets.core.monitoring import monitors
from ml_assets.core.problem import problem_spec
from ml_assets.core.records import ModelVersionRecord
from ml_assets.core.settings import Settings
from ml_assets.core.timestamps import utc_times
from ml_assets.core.training.dataset import training_set_path
from ml_assets.core.training.tracking import load_reference

# on the registered version: the day its monitors' reference labels were complete, or that they
# are the labels known at training (the decision then says it rests on immature labels)
MONITORS_LABELS_TAG = "monitors_reference_labels"


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


def monitors_of(
    store: ModelStore, version: str, settings: Settings, day: dt.date | None = None
) -> monitors.FittedMonitors:
    """A version's monitors, fitted and stored on first need when it has none: any version may
    become champion (a rollout promotes what the service was given, a person moves an alias),
    and the day it serves must still be monitored. Monitoring ``day`` (labels landed through
    it): once the reference's labels are complete, its performance monitors are fitted again on
    them and stored, once per version (``with_complete_labels``)."""
    try:
        fitted = monitors.load(store, version, settings.monitors_cache_dir)
    except FileNotFoundError:
        fitted = _fit_on_first_need(store, version, settings)
    if day is None or fitted.labels_complete_on is not None or not _labels_complete(fitted, settings, day):
        return fitted
    reference = load_reference(store, version, settings.monitors_cache_dir)
    labels = complete_labels(reference, settings, day)
    if labels is None:
        return fitted
    matured = monitors.with_complete_labels(
        fitted, reference.assign(**{TARGET: labels}), day.isoformat(), settings.retrain_false_alarm_rate
    )
    _store(store, version, matured, settings)
    return matured


def _labels_complete(fitted: monitors.FittedMonitors, settings: Settings, day: dt.date) -> bool:
    """Whether the reference's labels may be complete by the end of ``day`` (monitors pickled
    before the reference's newest day was kept: ask the reference itself)."""
    if fitted.reference_through is None:
        return True
    newest = dt.date.fromisoformat(fitted.reference_through)
    return (day - newest).days >= settings.label_delay_max_days


def complete_labels(reference: pd.DataFrame, settings: Settings, day: dt.date) -> np.ndarray | None:
    """The reference rows' labels as known at the end of ``day``, when that is at least
    ``label_delay_max_days`` after the reference's newest day (complete); None before."""
    days = utc_times(reference[monitors.TS]).dt.date
    first, last = days.min(), days.max()
    table = LabelTable.of(problem_spec(settings))
    landed = lake.partition_path(settings.lake_dir, table.table, day).exists()
    if (day - last).days < settings.label_delay_max_days or not landed:
        return None
    # every label of the reference's events has arrived by now: arrivals of the days
    # from its first day on, up to the end of ``day``
    arrived = table.known_at(day + dt.timedelta(days=1), settings.lake_dir, first, (day - first).days + 1)
    return table.target(reference[table.key], arrived).astype("int8").to_numpy()


def _fit_on_first_need(store: ModelStore, version: str, settings: Settings) -> monitors.FittedMonitors:
    registered = store.client().get_model_version(store.model_name, version)
    tags = registered.tags
    missing = [t for t in ("as_of", "training_set_hash", "decision_threshold") if t not in tags]
    if missing:
        raise FileNotFoundError(
            f"model version {version} has no monitors and no {', '.join(missing)} tag to "
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
            "drift reference is that training window; re-materialize training_set and model"
        )
    fitted = monitors.fit_monitors(
        reference,
        threshold,
        monitors.MonitoredColumns.of(specs),
        drift_reference=pd.read_parquet(training_set),
        false_alarm_rate=settings.drift_false_alarm_rate,
        folds=settings.drift_threshold_folds,
        performance_false_alarm_rate=settings.retrain_false_alarm_rate,
        chunk_days=problem_spec(settings).monitoring.chunk_days,
    )
    return _store(store, version, fitted, settings, run_id)


def _store(
    store: ModelStore, version: str, fitted: monitors.FittedMonitors, settings: Settings, run_id: str = ""
) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        saved, digest = monitors.save(fitted, Path(tmp))
        store.log_artifact(version, saved, monitors.MONITORS_DIR)
    # the tag moves last: until it does, the version keeps its previous monitors (load() reads
    # the file the tag names and checks its bytes against it)
    store.tag_version(
        version,
        {
            MONITORS_LABELS_TAG: fitted.labels_complete_on or "as known at training",
            monitors.MONITORS_HASH_TAG: digest,
        },
    )
    artifact = f"{monitors.MONITORS_DIR}/{saved.name}"
    return f"runs:/{run_id}/{artifact}"
