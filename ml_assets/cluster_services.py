"""The processes the cluster profile runs beside the loopback services (``make cluster-up``):
an MLflow tracking server on Postgres that proxies artifacts (``mlflow_server``), and Celery
workers for Dagster's steps. Each is a command built from Settings, started on 127.0.0.1 and
stopped by its pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ml_assets import TELEMETRY_OFF, mlflow_server
from ml_assets.core import engines
from ml_assets.core.settings import PROJECT_ROOT, Settings


def render_dagster_yaml(s: Settings, dagster_home: Path) -> Path:
    """The cluster instance config (deploy/cluster/dagster.yaml) in ``dagster_home``; the
    database URL stays an environment variable (ML_ASSETS_DAGSTER_POSTGRES_URL, set from
    ``s.database_url("dagster")`` by ``cluster_environment``), so no secret lands in a file."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    target.write_text((PROJECT_ROOT / "deploy" / "cluster" / "dagster.yaml").read_text())
    return target


def cluster_environment(s: Settings) -> dict[str, str]:
    """What every cluster process (webserver, daemon, workers, tests) needs in its environment."""
    names = (
        "profile", "postgres_url", "postgres_database_prefix", "redis_connection", "celery_broker_url",
        "mlflow_server_url", "data_dir",
    )  # fmt: skip
    chosen = {f"ML_ASSETS_{n.upper()}": str(getattr(s, n)) for n in names}
    # MLflow's password is not here: ``mlflow_server.ensure_secrets`` puts it in the environment
    return {
        **TELEMETRY_OFF,
        **chosen,
        "ML_ASSETS_DAGSTER_POSTGRES_URL": s.database_url("dagster"),
        "MLFLOW_TRACKING_USERNAME": os.environ.get("MLFLOW_TRACKING_USERNAME", mlflow_server.PLATFORM_USER),
    }


def init_instance(dagster_home: Path) -> None:
    """Create the instance's schema and the pools' slot rows once, before any run."""
    import dagster as dg

    from ml_assets.defs.resources import create_pool_slots

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        create_pool_slots(instance)


def cluster_up(s: Settings, dagster_home: Path, workers: int = 2, setup_only: bool = False) -> dict[str, str]:
    """The databases and the cluster instance in ``dagster_home``; unless ``setup_only``, also
    the MLflow server and ``workers`` Celery workers, left running (pids and logs in
    ``<data_dir>/cluster/``). Returns the environment to export."""
    created = engines.create_databases(s)
    render_dagster_yaml(s, dagster_home)
    env = cluster_environment(s) | {"DAGSTER_HOME": str(dagster_home)}
    os.environ["ML_ASSETS_DAGSTER_POSTGRES_URL"] = env["ML_ASSETS_DAGSTER_POSTGRES_URL"]
    init_instance(dagster_home)
    print(f"databases created: {created or 'none'}; Dagster instance on Postgres in {dagster_home}")
    if setup_only:
        return env
    run_dir = s.data_dir / "cluster"
    process = mlflow_server.start(s, run_dir / "mlflow-server.log")
    (run_dir / "mlflow-server.pid").write_text(str(process.pid))
    print(f"MLflow server {s.mlflow_server_url} (basic auth), pid {process.pid}")
    config = render_celery_yaml(s, run_dir / "celery.yaml")
    for i in range(workers):
        name = f"ml-assets-{i + 1}"
        worker = start_celery_worker(config, name, {**os.environ, **env}, run_dir / f"{name}.log")
        (run_dir / f"{name}.pid").write_text(str(worker.pid))
        print(f"Celery worker {name}, pid {worker.pid}, log {run_dir / f'{name}.log'}")
    return env


def cluster_down(s: Settings) -> None:
    for pid_file in (s.data_dir / "cluster").glob("*.pid"):
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)
        except ProcessLookupError:
            pass
        pid_file.unlink()


def render_celery_yaml(s: Settings, path: Path) -> Path:
    """The workers' side of the executor config (dagster-celery reads ``execution.config``)."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"execution": {"config": engines.celery_config(s)}}))
    return path


def celery_worker_command(config_yaml: Path, name: str, concurrency: int = 1) -> list[str]:
    """A dagster-celery worker (``celery -A dagster_celery.app worker`` underneath): it runs the
    steps that runs on the shared instance submit to the ``dagster`` queue."""
    dagster_celery = str(Path(sys.executable).parent / "dagster-celery")
    return [
        dagster_celery, "worker", "start", "-A", "dagster_celery.app", "-y", str(config_yaml),
        "-n", name, "--", "--concurrency", str(concurrency), "--pool", "prefork",
    ]  # fmt: skip


def start_celery_worker(
    config_yaml: Path, name: str, env: dict[str, str], log_path: Path
) -> subprocess.Popen:
    """A worker in its own process group; dagster-celery calls ``celery`` by name, so this
    interpreter's bin directory goes first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            celery_worker_command(config_yaml, name),
            env={**env, "PATH": os.pathsep.join([bin_dir, env.get("PATH", "")]), "WORKER_NAME": name},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
