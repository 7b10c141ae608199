"""The external systems as Dagster resources, one module: the lake, the warehouse, the
Feast repo and MLflow. Each carries its paths (and the concurrency pool its writers share)
and hands out the core object that does the work. ``resources_for(settings)`` builds the
set from one Settings object; tests and the CLI call it with their own."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import dagster as dg

from ml_assets.core import engines
from ml_assets.core.features.store import FeatureRepo
from ml_assets.core.ingest import VolumeRule
from ml_assets.core.model_store import ModelStore
from ml_assets.core.settings import Settings
from ml_assets.core.warehouse import PostgresWarehouse, Warehouse


class LakeResource(dg.ConfigurableResource):
    """Partitioned Parquet: the landing zone (exports), the lake, and quarantine."""

    lake_dir: str
    landing_dir: str
    quarantine_dir: str
    volume_max_ratio: float
    volume_history_days: int
    volume_min_rows: int

    def volume_rule(self) -> VolumeRule:
        return VolumeRule(self.volume_max_ratio, self.volume_history_days, self.volume_min_rows)


class WarehouseResource(dg.ConfigurableResource):
    """The prediction log and the monitoring tables: the DuckDB file at ``path``, or the
    Postgres database at ``url`` (cluster profile)."""

    path: str = ""
    url: str = ""
    # DuckDB takes one writer at a time: every writer runs in this pool (limit 1, dagster.yaml)
    pool: ClassVar[str] = "warehouse"

    def warehouse(self) -> Warehouse | PostgresWarehouse:
        return PostgresWarehouse(self.url) if self.url else Warehouse(Path(self.path))


class FeastResource(dg.ConfigurableResource):
    """The Feast repo (definitions) over a data directory (registry, online store, sources)."""

    repo_dir: str
    data_dir: str
    registry_url: str = ""  # cluster profile: the SQL registry ...
    redis_connection: str = ""  # ... and the Redis online store
    project: str = ""  # the Feast project (the problem's name)
    # Feast's registry and SQLite online store take one writer at a time
    pool: ClassVar[str] = "feast"

    def repo(self) -> FeatureRepo:
        return FeatureRepo(
            Path(self.repo_dir),
            Path(self.data_dir),
            self.registry_url or None,
            self.redis_connection or None,
            self.project or None,
        )


# every pool the assets name, with its limit (dagster.yaml's default_limit, written down per pool)
POOL_LIMITS = {WarehouseResource.pool: 1, FeastResource.pool: 1}


def create_pool_slots(instance: dg.DagsterInstance) -> None:
    """Write each pool's slot rows once, before any run. Left to the first runs, each run that
    is first to use a pool creates its rows from ``default_limit`` at the same time; measured on
    Postgres, one of them dies on the unique key (``concurrency_limits_concurrency_key_key``).
    On SQLite the slot claim itself can still double-grant; core/file_lock.py covers that."""
    for pool, limit in POOL_LIMITS.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)


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
    store, repo, tables = (
        engines.model_store(settings),
        engines.feature_repo(settings),
        engines.warehouse(settings),
    )
    return {
        "settings": settings,
        "lake": LakeResource(
            lake_dir=str(settings.lake_dir),
            landing_dir=str(settings.landing_dir),
            quarantine_dir=str(settings.quarantine_dir),
            volume_max_ratio=settings.ingest_volume_max_ratio,
            volume_history_days=settings.ingest_volume_history_days,
            volume_min_rows=settings.ingest_volume_min_rows,
        ),
        "warehouse": WarehouseResource(url=tables.url)
        if isinstance(tables, PostgresWarehouse)
        else WarehouseResource(path=str(tables.path)),
        "feast": FeastResource(
            repo_dir=str(repo.repo_dir),
            data_dir=str(repo.data_dir),
            registry_url=repo.registry_url or "",
            redis_connection=repo.redis_connection or "",
            project=repo.project or "",
        ),
        "mlflow": MLflowResource(
            tracking_uri=store.tracking_uri,
            artifact_root=store.artifact_root,
            experiment_name=store.experiment_name,
            model_name=store.model_name,
        ),
    }
