"""The engines behind one switch, ``Settings.profile``: every caller (the Dagster resources,
the service, the CLI, the replay) asks here for the feature repo, the model store and the
warehouse, and never learns which profile it runs on.

- embedded: files under ``data_dir`` (Feast file registry + SQLite online store, MLflow's
  SQLite store, the DuckDB warehouse); nothing to start.
- cluster: the Feast SQL registry on Postgres and the Redis online store, an MLflow tracking
  server (HTTP only, proxied artifacts), the warehouse on Postgres. The offline store stays
  DuckDB over the lake in both (see docs/cluster.md for why)."""

from __future__ import annotations

import contextlib

from ml_assets.core.features.store import FeatureRepo
from ml_assets.core.model_store import ModelStore
from ml_assets.core.problem import problem_spec
from ml_assets.core.settings import Settings
from ml_assets.core.warehouse import PostgresWarehouse, Warehouse, libpq_url

# one Postgres database per system, so each can move to its own server later
DATABASES = ("dagster", "feast", "mlflow", "mlflow_auth", "warehouse")


def feature_repo(s: Settings) -> FeatureRepo:
    # each problem is its own Feast project (they may share the cluster's registry)
    if s.profile == "cluster":
        return FeatureRepo(
            s.feature_repo_dir, s.data_dir, s.database_url("feast"), s.redis_connection, project=s.problem
        )
    return FeatureRepo(s.feature_repo_dir, s.data_dir, project=s.problem)


def model_store(s: Settings) -> ModelStore:
    # each problem registers its own model (and tracks in its own experiment)
    name = problem_spec(s).registered_model_name
    if s.profile == "cluster":
        return ModelStore.server(s.mlflow_server_url, experiment_name=name, model_name=name)
    return ModelStore.local(s.mlflow_dir, experiment_name=name, model_name=name)


def warehouse(s: Settings) -> Warehouse | PostgresWarehouse:
    if s.profile == "cluster":
        return PostgresWarehouse(s.database_url("warehouse"))
    return Warehouse(s.warehouse_path)


def celery_config(s: Settings) -> dict:
    """dagster-celery's executor config; the workers read the same block (``execution.config``
    of the YAML ``ml-assets cluster up`` writes for them), so both sides agree on the broker."""
    return {
        "broker": s.celery_broker_url,
        "backend": "rpc://",  # results travel back over the broker: no extra store to run
        "config_source": {
            # one step at a time per worker process: a long step never holds a queued one hostage
            "worker_prefetch_multiplier": 1,
            # a step's message is acked when the step ends, not when it starts: if a whole worker
            # dies (host lost, SIGKILL to its group) the broker hands the step to another worker
            # instead of the run waiting for a result that never comes. A worker's *process* dying
            # while its parent lives still fails the step (WorkerLostError): Celery acks it then.
            "task_acks_late": True,
        },
    }


@contextlib.contextmanager
def _server_cursor(s: Settings):
    """A cursor on the server's maintenance database, outside transactions (CREATE and DROP
    DATABASE cannot run inside one)."""
    import psycopg2

    con = psycopg2.connect(libpq_url(f"{s.postgres_url}/postgres"))
    con.autocommit = True
    try:
        with con.cursor() as cur:
            yield cur
    finally:
        con.close()


def create_databases(s: Settings) -> list[str]:
    """Create the profile's Postgres databases that do not exist yet; returns their names."""
    created = []
    with _server_cursor(s) as cur:
        for system in DATABASES:
            name = s.database_name(system)
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    return created


def drop_databases(s: Settings) -> None:
    """Drop the profile's databases (tests on a throw-away prefix)."""
    with _server_cursor(s) as cur:
        for system in DATABASES:
            cur.execute(f'DROP DATABASE IF EXISTS "{s.database_name(system)}" WITH (FORCE)')
