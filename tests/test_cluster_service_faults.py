"""Cluster faults (issue 23) under the running service: Redis, the online store, stopped and
restarted; then the MLflow server stopped during a training run and the service's reload polls.
Redis: Decided behaviour: while it is down, scoring answers 503 naming the online store (no
request's fault, and no 500), /readyz answers 503 (a balancer routes elsewhere), /healthz stays
200 (the process is fine: no restart wanted); once Redis is back the same process answers again,
with the same scores. MLflow: the training run fails visibly, naming the server; the service keeps
serving its champion and stays ready. A Redis of the test's own on a free port, so stopping it
disturbs no one."""

import subprocess
import time

import pytest
import requests
from clusterhelpers import cluster_settings, needs
from lakehelpers import build_offline
from servicehelpers import SERVED_WORLD, Service, free_port, transaction

from ml_assets.core import engines, lake

pytestmark = [needs("postgres"), pytest.mark.cluster, pytest.mark.slow]
DAYS = 44


def _redis(port: int, folder) -> subprocess.Popen:
    # an RDB snapshot on shutdown, loaded at start: a restarted Redis keeps the features
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "3600 1", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    import redis

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port).ping():
                return process
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"redis-server did not answer on {port}")


def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@pytest.mark.skipif(subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0,
                    reason="redis-server is not installed")  # fmt: skip
def test_the_service_answers_503_while_redis_is_down_and_recovers_without_a_restart(tmp_path):
    import dagster as dg

    from ml_assets.cluster_services import start_mlflow_server, stop
    from ml_assets.definitions import build_definitions

    redis_port = free_port()
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis_process = _redis(redis_port, redis_dir)
    settings = cluster_settings(
        tmp_path / "data",
        mlflow_server_url=f"http://127.0.0.1:{free_port()}",
        **SERVED_WORLD,
    ).model_copy(update={"redis_connection": f"127.0.0.1:{redis_port},db=0"})
    server = start_mlflow_server(settings, tmp_path / "mlflow.log")
    service = None
    try:
        build_offline(settings, DAYS)
        repo = engines.feature_repo(settings)
        repo.apply()
        (tmp_path / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
            config = {"ops": {"training_set": {"config": {"as_of": str(settings.day(DAYS))}}}}
            job = build_definitions(settings).resolve_job_def("train_and_promote")
            assert job.execute_in_process(instance=instance, run_config=config).success
        last = settings.day(DAYS - 1)
        for view in repo.specs.FEATURE_VIEWS:
            repo.load_online_day(view.name, last)
        tx = transaction(next(lake.read_partition(settings.lake_dir, "raw_transactions", last).itertuples()))

        service = Service(settings, free_port())
        service.wait_ready(timeout=120)
        before = requests.post(f"{service.url}/v1/score", json=tx, timeout=10)
        assert before.status_code == 200 and not before.json()["unknown_entity"]

        redis_process.terminate()  # SIGTERM: Redis saves its snapshot and exits
        redis_process.wait(timeout=30)
        for path, body in (("/v1/score", tx), ("/v1/score/batch", {"transactions": [tx]})):
            down = requests.post(f"{service.url}{path}", json=body, timeout=30)
            assert down.status_code == 503, (path, down.status_code, down.text)
            assert "online feature store is unreachable" in down.json()["detail"]
        ready = requests.get(f"{service.url}/readyz", timeout=30)
        assert ready.status_code == 503 and "unreachable" in ready.json()["detail"]
        assert requests.get(f"{service.url}/healthz", timeout=10).status_code == 200

        redis_process = _redis(redis_port, redis_dir)
        _until(
            lambda: requests.get(f"{service.url}/readyz", timeout=30).status_code == 200, 60, "ready again"
        )
        after = requests.post(f"{service.url}/v1/score", json=tx, timeout=10)
        assert after.status_code == 200 and after.json()["score"] == before.json()["score"]
        assert service.proc.poll() is None  # the same process, never restarted

        stop(server)  # the MLflow server goes away: a training run, and the service's polls, meet it
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail in seconds, not after minutes of backoff
            with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
                failed = job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
        assert not failed.success
        errors = " ".join(str(e.event_specific_data.error) for e in failed.all_events if e.is_step_failure)
        assert settings.mlflow_server_url.removeprefix("http://") in errors, errors[-2000:]
        time.sleep(2)  # several of the service's alias polls (every 0.5 s here) meet the dead server
        still = requests.post(f"{service.url}/v1/score", json=tx, timeout=10)
        assert still.status_code == 200
        assert (still.json()["score"], still.json()["model_version"]) == (
            after.json()["score"],
            after.json()["model_version"],
        )
        assert requests.get(f"{service.url}/readyz", timeout=30).status_code == 200
    finally:
        if service is not None:
            service.stop()
        redis_process.terminate()
        stop(server)
        engines.drop_databases(settings)
