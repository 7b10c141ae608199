"""Cluster profile: an MLflow tracking server on Postgres with proxied artifacts. An alias
moved by one process is seen over HTTP by another, and by the online service's watcher,
which hot-reloads the new champion (its artifacts come through the server)."""

import numpy as np
import pytest
from clusterhelpers import cluster_settings, in_another_process, needs

from ml_assets.core import engines
from ml_assets.serving.process import free_port

pytestmark = [needs("postgres"), pytest.mark.cluster]


class Server:
    """One MLflow server (and its databases) for the module: each start runs MLflow's migrations
    and the auth app's on Postgres, the longest part of these tests. A test may stop it and start
    it again at the same URL (``restart``)."""

    def __init__(self, settings, log):
        from ml_assets import mlflow_server

        self.settings, self.log = settings, log
        self.process = mlflow_server.start(settings, log)

    def stop(self) -> None:
        from ml_assets.process_group import stop

        stop(self.process)

    def restart(self) -> None:
        from ml_assets import mlflow_server

        self.process = mlflow_server.start(self.settings, self.log)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow")
    settings = cluster_settings(tmp / "data", mlflow_server_url=f"http://127.0.0.1:{free_port()}")
    server = Server(settings, tmp / "mlflow-server.log")
    try:
        yield server
    finally:
        server.stop()
        engines.drop_databases(settings)


@pytest.fixture
def server(running):
    return running.settings


def _register(store, seed: int) -> str:
    import lightgbm as lgb
    import mlflow.lightgbm

    rng = np.random.default_rng(seed)
    import pandas as pd

    x = pd.DataFrame(
        rng.normal(size=(400, 4)), columns=list("abcd")
    )  # LightGBM's sklearn API wants a frame here
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1, random_state=seed).fit(x, x.iloc[:, seed % 4] > 0)
    with store.start_run(run_name=f"seed {seed}", tags={}) as (mlflow, _):
        # requirements given, as the training asset gives them: MLflow otherwise infers them in a
        # subprocess that imports the model's flavour (seconds of CPU a model)
        info = mlflow.lightgbm.log_model(
            model,
            name="model",
            registered_model_name=store.model_name,
            pip_requirements=[f"lightgbm=={lgb.__version__}"],
        )
    version = str(info.registered_model_version)
    store.tag_version(version, {"decision_threshold": 0.5})
    return version


def test_alias_moved_by_one_process_is_seen_over_http_and_hot_reloaded(server):
    from ml_assets.core.model_store import CHAMPION
    from ml_assets.core.serving import ModelWatcher

    store = engines.model_store(server)
    assert store.tracking_uri.startswith("http://127.0.0.1:")
    first, second = _register(store, 1), _register(store, 2)
    in_another_process(
        server,
        "from ml_assets.core import engines\n"
        f"engines.model_store(settings).set_alias('champion', '{first}')\nresult = 1",
    )
    watcher = ModelWatcher(store, n_features=4)
    assert watcher.poll() and watcher.current.version == first
    # a second process reads the move over HTTP and makes the next one (one interpreter start)
    seen = in_another_process(
        server,
        "from ml_assets.core import engines\nstore = engines.model_store(settings)\n"
        f"result = store.alias_version('champion')\nstore.set_alias('champion', '{second}')",
    )
    assert seen == first
    assert store.alias_version(CHAMPION) == second
    assert watcher.poll() and watcher.current.version == second
    scores = watcher.current.predict(np.random.default_rng(0).normal(size=(3, 4)))
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    # the artifacts went through the server: nothing was written to a local MLflow store
    assert not server.mlflow_dir.exists()
    assert any((server.data_dir / "mlflow-server-artifacts").rglob("MLmodel"))


def test_the_server_runs_no_job_consumers(running):
    """MLflow's job executor is off (mlflow_server.SERVER_ENV): the server's process group holds
    its web workers, no Huey consumer polling for jobs the platform never submits."""
    import psutil

    children = psutil.Process(running.process.pid).children(recursive=True)
    commands = [" ".join(c.cmdline()) for c in children if c.is_running()]
    assert commands, "the server started no worker"
    assert not [c for c in commands if "huey" in c], commands


def test_secrets_missing_from_the_environment_are_generated_once_into_a_file_only_its_owner_reads(
    tmp_path, monkeypatch, capsys
):
    import os

    from ml_assets import mlflow_server

    settings = cluster_settings(tmp_path / "data")
    monkeypatch.setenv("MLFLOW_FLASK_SERVER_SECRET_KEY", "given")
    for name in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    path = mlflow_server.ensure_secrets(settings)
    assert path == mlflow_server.secrets_path(settings) and oct(path.stat().st_mode & 0o777) == "0o600"
    generated = {n: os.environ[n] for n in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_TRACKING_PASSWORD")}
    assert len(set(generated.values())) == 2 and all(len(v) >= 24 for v in generated.values())
    assert "given" not in path.read_text()  # what the environment gave stays there
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == mlflow_server.PLATFORM_USER
    for name in generated:  # a second `cluster up` in a fresh shell reads the same ones
        monkeypatch.delenv(name)
    mlflow_server.ensure_secrets(settings)
    assert {n: os.environ[n] for n in generated} == generated
    # `ml-assets cluster env` names the file to source, never a secret
    from ml_assets.cli import main

    main(["cluster", "env"], settings)
    printed = capsys.readouterr().out
    assert f". {path}; set +a" in printed and "MLFLOW_TRACKING_USERNAME=ml-assets" in printed
    assert not any(secret in printed for secret in generated.values())


def test_only_the_platform_user_reads_and_writes_the_registry_and_no_setting_holds_its_password(
    server, monkeypatch
):
    """Issue 29: the cluster's MLflow server runs MLflow's basic-auth app. Without credentials or
    with a wrong password a client is refused (401), models and their artifacts alike; another
    authenticated user reads but cannot move an alias (403); the platform's password is in the
    environment only, never in the settings or the Dagster resources built from them."""
    import os
    import secrets
    import urllib.error
    import urllib.request

    from mlflow.exceptions import MlflowException

    from ml_assets import mlflow_server
    from ml_assets.defs.resources import resources_for

    store = engines.model_store(server)
    version = _register(store, 1)
    assert store.client().get_model_version(store.model_name, version).version == version
    password = os.environ["MLFLOW_TRACKING_PASSWORD"]
    assert password not in repr(resources_for(server)) and password not in repr(server.environment())

    with pytest.raises(MlflowException, match="401"):
        with monkeypatch.context() as anonymous:
            anonymous.delenv("MLFLOW_TRACKING_USERNAME")
            anonymous.delenv("MLFLOW_TRACKING_PASSWORD")
            store.client().get_model_version(store.model_name, version)
    with pytest.raises(urllib.error.HTTPError, match="401"):  # the artifacts the service would load
        urllib.request.urlopen(f"{server.mlflow_server_url}/api/2.0/mlflow-artifacts/artifacts", timeout=10)
    with pytest.raises(MlflowException, match="401"):
        with monkeypatch.context() as wrong:
            wrong.setenv("MLFLOW_TRACKING_PASSWORD", password + "x")
            store.client().get_model_version(store.model_name, version)

    analyst = secrets.token_urlsafe(12)
    mlflow_server.create_user(server.mlflow_server_url, "analyst", analyst)
    with monkeypatch.context() as other:
        other.setenv("MLFLOW_TRACKING_USERNAME", "analyst")
        other.setenv("MLFLOW_TRACKING_PASSWORD", analyst)
        assert store.client().get_model_version(store.model_name, version).version == version
        champion = store.alias_version("champion")  # whatever an earlier test of the module left
        with pytest.raises(MlflowException, match="403|PERMISSION_DENIED"):
            store.set_alias("champion", version)
    assert store.alias_version("champion") == champion


def test_the_watcher_keeps_serving_while_the_server_is_down_and_reloads_once_it_is_back(
    running, monkeypatch, caplog
):
    """Issue 23, cluster faults: the MLflow server stopped during the service's reload poll. Each
    failed poll is logged and the champion it holds keeps answering; once the server is back, the
    next alias move is picked up without a restart."""
    import logging
    import time

    from ml_assets.core.model_store import CHAMPION
    from ml_assets.core.serving import ModelWatcher

    # one attempt per call, as the service would see it with a short retry budget (MLflow's default
    # retries a refused connection with backoff for minutes, on the watcher's own thread)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    store = engines.model_store(running.settings)
    first, second = _register(store, 3), _register(store, 4)
    store.set_alias(CHAMPION, first)
    watcher = ModelWatcher(store, n_features=4)
    assert watcher.poll() and watcher.current.version == first
    x = np.random.default_rng(0).normal(size=(3, 4))
    expected = watcher.current.predict(x)

    watcher.start(0.2)
    try:
        running.stop()
        with caplog.at_level(logging.ERROR):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "still serving" not in caplog.text:
                np.testing.assert_array_equal(watcher.current.predict(x), expected)  # answers all along
                time.sleep(0.1)
        assert f"still serving {first}" in caplog.text and watcher.current.version == first

        running.restart()  # the same URL: the watcher's next poll reaches it
        store.set_alias(CHAMPION, second)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and watcher.current.version != second:
            time.sleep(0.2)
        assert watcher.current.version == second
    finally:
        watcher.stop()
