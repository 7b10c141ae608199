"""MLflow behind a small ConfigurableResource: tracking and registry in SQLite under
``data/mlflow`` with absolute URIs (MLflow's default is relative to the current
directory), artifacts under ``data/mlflow/artifacts``, every run tagged with the Dagster
run id."""

from __future__ import annotations

import contextlib
from pathlib import Path

import dagster as dg

from ml_assets.settings import get_settings

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous_champion"


def sqlite_uri(mlflow_dir: Path) -> str:
    return f"sqlite:///{Path(mlflow_dir).resolve() / 'mlflow.db'}"


class MLflowResource(dg.ConfigurableResource):
    """Where models are tracked and registered. Unset URIs mean the project's settings,
    resolved when used (so ML_ASSETS_DATA_DIR is honoured); set them for a tracking server."""

    tracking_uri: str | None = None
    artifact_root: str | None = None
    experiment_name: str = "fraud_model"
    model_name: str = "fraud_model"

    @classmethod
    def from_settings(cls, settings=None) -> MLflowResource:
        s = settings or get_settings()
        return cls(tracking_uri=sqlite_uri(s.mlflow_dir), artifact_root=(s.mlflow_dir / "artifacts").resolve().as_uri())

    @property
    def uri(self) -> str:
        return self.tracking_uri or sqlite_uri(get_settings().mlflow_dir)

    def configure(self):
        """Point the mlflow module at this store (tracking and registry) and return it."""
        import mlflow

        if self.uri.startswith("sqlite:///"):
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        return mlflow

    def client(self):
        from mlflow import MlflowClient

        self.configure()
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def experiment_id(self) -> str:
        mlflow = self.configure()
        found = mlflow.get_experiment_by_name(self.experiment_name)
        if found is not None:
            return found.experiment_id
        artifacts = self.artifact_root or (get_settings().mlflow_dir / "artifacts").resolve().as_uri()
        return mlflow.create_experiment(self.experiment_name, artifact_location=artifacts)

    @contextlib.contextmanager
    def start_run(self, dagster_run_id: str, run_name: str, tags: dict | None = None):
        mlflow = self.configure()
        with mlflow.start_run(
            experiment_id=self.experiment_id(), run_name=run_name,
            tags={"dagster_run_id": dagster_run_id, **(tags or {})},
        ) as run:
            yield mlflow, run

    def version_by_alias(self, alias: str):
        """The model version behind an alias, or None when the alias is not set."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None

    def model_uri(self, version: str | int) -> str:
        return f"models:/{self.model_name}/{version}"


defs = dg.Definitions(resources={"mlflow": MLflowResource()})
