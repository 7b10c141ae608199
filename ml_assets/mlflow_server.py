"""The cluster profile's MLflow tracking server, with MLflow's own basic-auth app: an anonymous
or wrongly authenticated request is refused (401), so only holders of the platform's
credentials can write the models and monitors that the service and the workers load.

Credentials are MLflow's own environment variables and never Settings values (Settings become
Dagster resource config, which the UI shows): the server reads ``MLFLOW_AUTH_ADMIN_PASSWORD``
(its admin's first password) and ``MLFLOW_FLASK_SERVER_SECRET_KEY``; every client, the Dagster
steps, the workers and the service, reads ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``
on each request. A deployment gives them from its secret store (deploy/k8s: the secret
``ml-assets-mlflow-env``); on loopback, ``ensure_secrets`` generates them once into a file
only its owner can read."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from ml_assets import TELEMETRY_OFF
from ml_assets.core import engines
from ml_assets.core.settings import Settings
from ml_assets.process_group import stop

PLATFORM_USER = "ml-assets"
# MLflow's job executor (its GenAI jobs: scorers, prompt optimisation, trace roll-ups) is not used
# by the platform; left on, the server starts eight more processes, Huey consumers that poll for
# jobs (measured: 13.8 s of CPU to start against 7.1 s, then 0.46 of a core while idle, against 0)
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
ADMIN_USER = "admin"
SECRET_NAMES = ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY", "MLFLOW_TRACKING_PASSWORD")


def auth_config(s: Settings) -> str:
    """MLflow's basic_auth.ini for these settings: no secret in it (the admin's password comes
    from the environment)."""
    return "\n".join(
        [
            "[mlflow]",
            # an authenticated user reads what it did not create; only a resource's creator (the
            # platform user) and the admin write it
            "default_permission = READ",
            f"database_uri = {s.database_url('mlflow_auth')}",
            f"admin_username = {ADMIN_USER}",
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
            # each request otherwise re-checks a password hash (werkzeug's scrypt: ~90 ms of CPU
            # here); one server worker sees every password change at once, so it is never stale
            "auth_cache_ttl_seconds = 60",
            "",
        ]
    )


def server_command(s: Settings, host: str | None = None) -> list[str]:
    """``host``: where to listen when it is not the URL's host (0.0.0.0 in a container)."""
    url = urlparse(s.mlflow_server_url)
    return [
        sys.executable, "-m", "mlflow", "server",
        "--app-name", "basic-auth",
        "--backend-store-uri", s.database_url("mlflow"),
        # clients never see this path: they upload and download through the server (HTTP only)
        "--artifacts-destination", str(s.data_dir / "mlflow-server-artifacts"),
        "--serve-artifacts",
        "--host", host or url.hostname or "127.0.0.1",
        "--port", str(url.port or 5001),
        "--workers", "1",
    ]  # fmt: skip


def ensure_secrets(s: Settings) -> Path | None:
    """The three secrets in this process's environment (inherited by every child it starts):
    those already set are kept; the rest are read from ``<data_dir>/cluster/mlflow-secrets.env``,
    generated there once (mode 0600) when missing. Returns that file when it was used."""
    missing = [name for name in SECRET_NAMES if not os.environ.get(name)]
    os.environ.setdefault("MLFLOW_TRACKING_USERNAME", PLATFORM_USER)
    if not missing:
        return None
    path = secrets_path(s)
    stored = _read_env_file(path)
    if any(name not in stored for name in missing):
        stored |= {name: secrets.token_urlsafe(24) for name in missing if name not in stored}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in sorted(stored.items())))
    for name in missing:
        os.environ[name] = stored[name]
    return path


def secrets_path(s: Settings) -> Path:
    return s.data_dir / "cluster" / "mlflow-secrets.env"


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def start(
    s: Settings, log_path: Path | None, timeout: float = 120, host: str | None = None
) -> subprocess.Popen:
    """Create the databases if needed, start the server with its auth app (its output to
    ``log_path``, or this process's own when None), wait for its /health, and make sure the
    platform user exists."""
    engines.create_databases(s)
    ensure_secrets(s)
    config = s.data_dir / "cluster" / "mlflow-basic-auth.ini"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(auth_config(s))
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115 (closed below)
    try:
        process = subprocess.Popen(
            server_command(s, host),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **TELEMETRY_OFF, **SERVER_ENV, "MLFLOW_AUTH_CONFIG_PATH": str(config)},
            start_new_session=True,  # its gunicorn/uvicorn children stop with the group
        )
    finally:
        if log is not None:
            log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited with {process.returncode}; see {log_path or 'its output'}"
            )
        try:
            with urllib.request.urlopen(f"{s.mlflow_server_url}/health", timeout=2) as answer:
                if answer.status == 200:
                    ensure_platform_user(s.mlflow_server_url)
                    return process
        except OSError:
            time.sleep(0.5)
    stop(process)
    raise TimeoutError(f"mlflow server not healthy after {timeout:.0f} s; see {log_path or 'its output'}")


def ensure_platform_user(url: str) -> None:
    """The user the platform's processes authenticate as, created by the admin once (its
    password is then whatever was set first, as MLflow does for its admin)."""
    env = os.environ
    create_user(url, env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"], exist_ok=True)


def create_user(url: str, username: str, password: str, exist_ok: bool = False) -> None:
    """A plain REST call as the admin: MLflow's ``AuthServiceClient`` takes the caller's
    credentials from MLFLOW_TRACKING_USERNAME/_PASSWORD, which hold the platform user's here."""
    env = os.environ
    admin = f"{env.get('MLFLOW_AUTH_ADMIN_USERNAME', ADMIN_USER)}:{env['MLFLOW_AUTH_ADMIN_PASSWORD']}"
    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/users/create",
        data=json.dumps({"username": username, "password": password}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(admin.encode()).decode(),
        },
    )
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as exc:
        if not (exist_ok and "RESOURCE_ALREADY_EXISTS" in exc.read().decode(errors="replace")):
            refused = f"the MLflow server refused to create user {username!r}: HTTP {exc.code}"
            raise RuntimeError(refused) from exc
