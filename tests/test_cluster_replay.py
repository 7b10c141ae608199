"""The replay (test size) end to end in the cluster profile: a Dagster instance on Postgres,
the Feast SQL registry and Redis online store, an MLflow server, the warehouse on Postgres.
Nothing of the embedded engines may appear under the data folder."""

import os

import dagster as dg
import pytest
from clusterhelpers import cluster_settings, flush_redis, needs, redis_client
from conftest import short_features
from replayhelpers import TEST_SIZES

from ml_assets.core import engines
from ml_assets.defs.keys import key
from ml_assets.serving.process import free_port

pytestmark = [needs("postgres", "redis"), pytest.mark.cluster, pytest.mark.slow]
DAYS = 3
# a short feature lookback and training window: this test is about the engines, not the model,
# and the warm-up days were most of it (21 of 24 days with a 14-day window). A 3-day lookback with
# a 10-day window failed in model_monitors (NannyML: "Too many bins for data range")
LOOKBACK = 7
WINDOW = {"training_window_days": 8, "validation_days": 4}  # two 2-day blocks for drift thresholds
WARM = LOOKBACK + WINDOW["training_window_days"]


def test_the_replay_runs_end_to_end_on_the_cluster_engines(tmp_path):

    from ml_assets import cluster_services, mlflow_server, process_group
    from ml_assets.core.model_store import CHAMPION
    from ml_assets.replay import replay

    settings = cluster_settings(
        tmp_path / "data",
        redis_db=12,
        mlflow_server_url=f"http://127.0.0.1:{free_port()}",
        **short_features(LOOKBACK),
        **(TEST_SIZES | WINDOW),
    )
    flush_redis(settings)
    server = mlflow_server.start(settings, tmp_path / "mlflow.log")
    home = tmp_path / "home"
    os.environ["ML_ASSETS_DAGSTER_POSTGRES_URL"] = settings.database_url("dagster")
    try:
        cluster_services.render_dagster_yaml(settings, home)
        cluster_services.init_instance(home)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            rows = replay(settings, WARM + DAYS, instance=instance)
            runs = instance.get_runs()
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            # every day is its own partition, in the warm-up's runs of several days as in the daily runs
            ingested = instance.get_materialized_partitions(key("raw_transactions"))
        assert len(rows) == DAYS and all(r.estimated_auc is not None for r in rows)
        assert ingested == {settings.day(i).isoformat() for i in range(WARM + DAYS)}
        assert runs and all(r.is_success for r in runs)
        logged = engines.warehouse(settings).query(
            "SELECT partition_date, count(*) AS n FROM prediction_log WHERE source = 'batch' "
            "GROUP BY partition_date"
        )
        assert len(logged) == DAYS and (logged["n"] == settings.rows_per_day).all()
        assert engines.model_store(settings).alias_version(CHAMPION) is not None
        assert redis_client(settings).dbsize() > 0  # the daily cycle loaded online features into Redis
        # the online service on the same engines: Redis features, the champion from the server,
        # its prediction log in Postgres (flushed on SIGTERM)
        served = _score_online(settings, WARM + DAYS - 1)
        assert served["model_version"] == engines.model_store(settings).alias_version(CHAMPION)
        assert served["missing_views"] == []
        online = engines.warehouse(settings).query(
            "SELECT count(*) AS n FROM prediction_log WHERE source = 'online' AND transaction_id = ?",
            [served["transaction_id"]],
        )
        assert online["n"].iloc[0] == 1
        # no embedded engine was touched
        data = settings.data_dir
        assert not settings.warehouse_path.exists() and not settings.mlflow_dir.exists()
        assert (
            not (data / "feast" / "registry.db").exists()
            and not (data / "feast" / "online_store.db").exists()
        )
    finally:
        del os.environ["ML_ASSETS_DAGSTER_POSTGRES_URL"]
        process_group.stop(server)
        flush_redis(settings)
        engines.drop_databases(settings)


def _score_online(settings, day_index: int) -> dict:
    import requests

    from ml_assets.core import lake
    from ml_assets.serving.process import ServiceProcess, request_body

    day = lake.read_partition(settings.lake_dir, "raw_transactions", settings.day(day_index))
    # a customer and a merchant of that day: both have online rows from its daily cycle
    body = request_body(next(day.head(1).itertuples()), transaction_id="cluster-online-1")
    with ServiceProcess(settings) as service:
        service.wait_ready()
        answer = requests.post(f"{service.url}/v1/score", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
    return answer.json()
