"""The external systems as Dagster resources, one module: the lake, the warehouse, the
Feast repo and MLflow. Each carries its paths (and the concurrency pool its writers share)
and hands out the core object that does the work. ``resources_for(settings)`` builds the
set from one Settings object; tests and the CLI call it with their own."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import dagster as dg

from ml_assets.core.features.store import FeatureRepo
from ml_assets.core.model_store import ModelStore
from ml_assets.core.settings import Settings
from ml_assets.core.warehouse import Warehouse


class LakeResource(dg.ConfigurableResource):
    """Partitioned Parquet: the landing zone (exports), the lake, and quarantine."""

    lake_dir: str
    landing_dir: str
    quarantine_dir: str


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file holding the prediction log and the monitoring tables."""

    path: str
    # DuckDB takes one writer at a time: every writer runs in this pool (limit 1, dagster.yaml)
    pool: ClassVar[str] = "warehouse"

    def warehouse(self) -> Warehouse:
        return Warehouse(Path(self.path))


class FeastResource(dg.ConfigurableResource):
    """The Feast repo (definitions) over a data directory (registry, online store, sources)."""

    repo_dir: str
    data_dir: str
    # Feast's registry and SQLite online store take one writer at a time
    pool: ClassVar[str] = "feast"

    def repo(self) -> FeatureRepo:
        return FeatureRepo(Path(self.repo_dir), Path(self.data_dir))


class MLflowResource(dg.ConfigurableResource):
    """Where models are tracked and registered; set the URIs for a tracking server."""

    tracking_uri: str
    artifact_root: str
    experiment_name: str = "fraud_model"
    model_name: str = "fraud_model"

    def store(self) -> ModelStore:
        return ModelStore(self.tracking_uri, self.artifact_root, self.experiment_name, self.model_name)


def resources_for(settings: Settings) -> dict[str, object]:
    """Every resource the definitions use, from one Settings (which also travels as the
    ``settings`` resource: sizes, windows and thresholds)."""
    store = ModelStore.local(settings.mlflow_dir)
    return {
        "settings": settings,
        "lake": LakeResource(
            lake_dir=str(settings.lake_dir),
            landing_dir=str(settings.landing_dir),
            quarantine_dir=str(settings.quarantine_dir),
        ),
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "feast": FeastResource(repo_dir=str(settings.feature_repo_dir), data_dir=str(settings.data_dir)),
        "mlflow": MLflowResource(tracking_uri=store.tracking_uri, artifact_root=store.artifact_root),
    }
