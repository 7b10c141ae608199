"""MLflow tracking and registry behind one small object: where runs are tracked, where
artifacts go, which registered model the project means, its aliases (never stages).

Reads and registry moves go through an ``MlflowClient`` bound to this store's URIs.
MLflow's fluent logging API (``start_run``, ``log_model``) only reads the process-wide
tracking URI, so that is set for the span of a run, and nowhere else."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous_champion"


def sqlite_uri(mlflow_dir: Path) -> str:
    return f"sqlite:///{Path(mlflow_dir).resolve() / 'mlflow.db'}"


@dataclasses.dataclass(frozen=True)
class ModelStore:
    tracking_uri: str
    artifact_root: str
    experiment_name: str = "fraud_model"
    model_name: str = "fraud_model"

    @classmethod
    def local(cls, mlflow_dir: Path, **names: str) -> ModelStore:
        """SQLite tracking + registry and file artifacts under ``mlflow_dir`` (absolute URIs:
        MLflow's default is relative to the current directory)."""
        return cls(sqlite_uri(mlflow_dir), (Path(mlflow_dir) / "artifacts").resolve().as_uri(), **names)

    @classmethod
    def server(cls, url: str, **names: str) -> ModelStore:
        """A tracking server that proxies artifacts (``mlflow server --serve-artifacts``): the
        client speaks HTTP only; the experiment takes the server's default artifact root."""
        return cls(url, "", **names)

    def _ensure_local_dir(self) -> None:
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    def client(self):
        from mlflow import MlflowClient

        self._ensure_local_dir()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        client = self.client()
        found = client.get_experiment_by_name(self.experiment_name)
        if found is not None:
            return found.experiment_id
        return client.create_experiment(self.experiment_name, artifact_location=self.artifact_root or None)

    @contextlib.contextmanager
    def start_run(self, run_name: str, tags: dict[str, str]):
        """An MLflow run in this store's experiment; yields (the mlflow module, the run)."""
        import mlflow

        experiment_id = self.experiment_id()
        previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
                yield mlflow, run
        finally:
            mlflow.set_tracking_uri(previous[0])
            mlflow.set_registry_uri(previous[1])

    def version_by_alias(self, alias: str):
        """The model version behind an alias, or None when the alias is not set."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(self.model_name, alias)
        except MlflowException as exc:
            # only "no such alias / model" means None: an unreachable or failing server must not
            # read as an empty registry (a first champion promoted without a comparison, a rollout
            # dropped as if a person had aborted it)
            if exc.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"):
                return None
            raise

    def alias_version(self, alias: str) -> str | None:
        found = self.version_by_alias(alias)
        return str(found.version) if found is not None else None

    def model_uri(self, version: str | int) -> str:
        return f"models:/{self.model_name}/{version}"

    def load_model(self, version: str):
        """The LightGBM model of a version, loaded from its artifact location (no global URI)."""
        import tempfile

        import mlflow.artifacts
        import mlflow.lightgbm

        uri = self.client().get_model_version_download_uri(self.model_name, str(version))
        if not uri.startswith("mlflow-artifacts:"):
            return mlflow.lightgbm.load_model(uri)
        # a server's proxied artifacts: MLflow resolves them against the process-wide tracking
        # URI, which this store never sets; download through this store's server instead
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=tmp, tracking_uri=self.tracking_uri
            )
            return mlflow.lightgbm.load_model(local)

    def download(self, version: str, artifact_path: str, dst: Path) -> Path:
        """An artifact of a version's run, downloaded into ``dst``."""
        import mlflow.artifacts

        run_id = self.client().get_model_version(self.model_name, str(version)).run_id
        dst.mkdir(parents=True, exist_ok=True)
        return Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=artifact_path, dst_path=str(dst), tracking_uri=self.tracking_uri
            )
        )

    def log_artifact(self, version: str, local_path: Path, artifact_path: str) -> None:
        run_id = self.client().get_model_version(self.model_name, str(version)).run_id
        self.client().log_artifact(run_id, str(local_path), artifact_path)

    def tag_version(self, version: str, tags: dict[str, object]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(self.model_name, str(version), key, str(value))

    def set_alias(self, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(self.model_name, alias, str(version))

    def delete_alias(self, alias: str) -> None:
        self.client().delete_registered_model_alias(self.model_name, alias)
