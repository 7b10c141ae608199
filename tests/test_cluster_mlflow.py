"""Cluster profile: an MLflow tracking server on Postgres with proxied artifacts. An alias
moved by one process is seen over HTTP by another, and by the online service's watcher,
which hot-reloads the new champion (its artifacts come through the server)."""

import numpy as np
import pytest
from clusterhelpers import cluster_settings, in_another_process, needs

from ml_assets.core import engines
from ml_assets.serving.process import free_port

pytestmark = [needs("postgres"), pytest.mark.cluster]


@pytest.fixture
def server(tmp_path):
    from ml_assets.cluster_services import start_mlflow_server, stop

    settings = cluster_settings(tmp_path / "data", mlflow_server_url=f"http://127.0.0.1:{free_port()}")
    process = start_mlflow_server(settings, tmp_path / "mlflow-server.log")
    try:
        yield settings
    finally:
        stop(process)
        engines.drop_databases(settings)


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
        info = mlflow.lightgbm.log_model(model, name="model", registered_model_name=store.model_name)
    version = str(info.registered_model_version)
    store.tag_version(version, {"decision_threshold": 0.5})
    return version


def test_alias_moved_by_one_process_is_seen_over_http_and_hot_reloaded(server):
    from ml_assets.core.model_store import CHAMPION
    from ml_assets.core.serving import ModelWatcher

    store = engines.model_store(server)
    assert store.tracking_uri.startswith("http://127.0.0.1:")
    first, second = _register(store, 1), _register(store, 2)
    move = (
        "from ml_assets.core import engines\n"
        "engines.model_store(settings).set_alias('champion', '{v}')\nresult = 1"
    )
    in_another_process(server, move.format(v=first))
    watcher = ModelWatcher(store, n_features=4)
    assert watcher.poll() and watcher.current.version == first
    seen = in_another_process(
        server,
        "from ml_assets.core import engines\n"
        "result = engines.model_store(settings).alias_version('champion')",
    )
    assert seen == first
    in_another_process(server, move.format(v=second))
    assert store.alias_version(CHAMPION) == second
    assert watcher.poll() and watcher.current.version == second
    scores = watcher.current.predict(np.random.default_rng(0).normal(size=(3, 4)))
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    # the artifacts went through the server: nothing was written to a local MLflow store
    assert not server.mlflow_dir.exists()
    assert any((server.data_dir / "mlflow-server-artifacts").rglob("MLmodel"))
