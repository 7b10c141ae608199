"""Cluster faults (issues 23 and 29) under the running service: Redis, the online store, stopped
and restarted; the MLflow server stopped for 30 s in the middle of a rollout; the MLflow server
stopped during a training run and the service's reload polls.
Redis: Decided behaviour: while it is down, scoring answers 503 naming the online store (no
request's fault, and no 500), /readyz answers 503 (a balancer routes elsewhere), /healthz stays
200 (the process is fine: no restart wanted); once Redis is back the same process answers again,
with the same scores. MLflow: the training run fails visibly, naming the server; the service keeps
serving its champion and stays ready. A Redis of the test's own on a free port, so stopping it
disturbs no one."""

import dataclasses
import subprocess
import threading
import time

import pytest
import requests
from clusterhelpers import cluster_settings, needs
from lakehelpers import build_offline
from servicehelpers import SERVED_WORLD, Service, free_port, transaction

from ml_assets.core import engines, lake

pytestmark = [
    needs("postgres"),
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.skipif(
        subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0,
        reason="redis-server is not installed",
    ),
]
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


@dataclasses.dataclass
class World:
    """A cluster world of the module: a Redis and an MLflow server of its own, a champion."""

    settings: object
    redis_port: int
    redis_dir: object
    redis_process: subprocess.Popen
    server: subprocess.Popen | None
    job: object
    config: dict
    transactions: list = dataclasses.field(default_factory=list)

    def mlflow_up(self) -> None:
        from ml_assets import mlflow_server

        if self.server is None or self.server.poll() is not None:
            self.server = mlflow_server.start(self.settings, self.settings.data_dir.parent / "mlflow.log")

    def mlflow_down(self) -> None:
        from ml_assets.process_group import stop

        if self.server is not None:
            stop(self.server)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import dagster as dg

    from ml_assets.definitions import build_definitions

    tmp_path = tmp_path_factory.mktemp("cluster-faults")
    redis_port = free_port()
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis_process = _redis(redis_port, redis_dir)
    settings = cluster_settings(
        tmp_path / "data",
        mlflow_server_url=f"http://127.0.0.1:{free_port()}",
        **SERVED_WORLD,
    ).model_copy(update={"redis_connection": f"127.0.0.1:{redis_port},db=0"})
    w = World(settings, redis_port, redis_dir, redis_process, None, None, {})
    try:
        w.mlflow_up()
        build_offline(settings, DAYS)
        repo = engines.feature_repo(settings)
        repo.apply()
        (tmp_path / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
            w.config = {"ops": {"training_set": {"config": {"as_of": str(settings.day(DAYS))}}}}
            w.job = build_definitions(settings).resolve_job_def("train_and_promote")
            assert w.job.execute_in_process(instance=instance, run_config=w.config).success
        last = settings.day(DAYS - 1)
        for view in repo.specs.FEATURE_VIEWS:
            repo.load_online_day(view.name, last)
        rows = lake.read_partition(settings.lake_dir, "raw_transactions", last)
        w.transactions = [transaction(r) for r in rows.itertuples()]
        yield w
    finally:
        w.redis_process.terminate()
        w.mlflow_down()
        engines.drop_databases(settings)


def test_the_service_answers_503_while_redis_is_down_and_recovers_without_a_restart(world, tmp_path):
    import dagster as dg

    settings, tx, job, config = world.settings, world.transactions[0], world.job, world.config
    world.mlflow_up()
    service = None
    try:
        service = Service(settings, free_port())
        service.wait_ready(timeout=120)
        before = requests.post(f"{service.url}/v1/score", json=tx, timeout=10)
        assert before.status_code == 200 and not before.json()["unknown_entity"]

        world.redis_process.terminate()  # SIGTERM: Redis saves its snapshot and exits
        world.redis_process.wait(timeout=30)
        for path, body in (("/v1/score", tx), ("/v1/score/batch", {"transactions": [tx]})):
            down = requests.post(f"{service.url}{path}", json=body, timeout=30)
            assert down.status_code == 503, (path, down.status_code, down.text)
            assert "online feature store is unreachable" in down.json()["detail"]
        ready = requests.get(f"{service.url}/readyz", timeout=30)
        assert ready.status_code == 503 and "unreachable" in ready.json()["detail"]
        assert requests.get(f"{service.url}/healthz", timeout=10).status_code == 200

        world.redis_process = _redis(world.redis_port, world.redis_dir)
        _until(
            lambda: requests.get(f"{service.url}/readyz", timeout=30).status_code == 200, 60, "ready again"
        )
        after = requests.post(f"{service.url}/v1/score", json=tx, timeout=10)
        assert after.status_code == 200 and after.json()["score"] == before.json()["score"]
        assert service.proc.poll() is None  # the same process, never restarted

        world.mlflow_down()  # the MLflow server goes away: a training run, and the service's polls, meet it
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail in seconds, not after minutes of backoff
            with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
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


OUTAGE_SECONDS = 30


def _served_champions(url: str) -> list[str]:
    """The versions /metrics says serve the champion alias (model_info at 1)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{url}/metrics", timeout=10).text
    return [
        s.labels["model_version"]
        for family in text_string_to_metric_families(text)
        if family.name == "ml_assets_serving_model_info"
        for s in family.samples
        if s.labels.get("alias") == "champion" and s.value == 1
    ]


def test_a_rollout_survives_the_mlflow_server_down_for_30_s_and_every_request_is_answered(world):
    """Issue 29: an equally good challenger in its rollout; the MLflow server stopped for 30 s
    once the canary is live. The service answers every request throughout (scoring never waits
    on the registry); the steps it passes meanwhile, and the promotion, reach the registry once
    the server is back (MLflow's client retries with backoff, on the controller's write thread),
    and the rollout ends promoted, once, as if nothing had happened."""
    from ml_assets.core.model_store import CHALLENGER, CHAMPION
    from ml_assets.core.registry import rollout as registry
    from ml_assets.rollout_demo import train_challenger

    settings = world.settings
    world.mlflow_up()
    store = engines.model_store(settings)
    champion = store.alias_version(CHAMPION)
    # steps of 8 s: the later steps and the promotion fall inside the outage
    service = Service(settings, free_port(), {"ML_ASSETS_ROLLOUT_MIN_STEP_SECONDS": "8"})
    answers: list[int] = []
    stop_sending = threading.Event()

    def send() -> None:
        session = requests.Session()
        while not stop_sending.is_set():
            body = world.transactions[len(answers) % len(world.transactions)]
            try:
                answers.append(session.post(f"{service.url}/v1/score", json=body, timeout=10).status_code)
            except requests.RequestException as exc:
                answers.append(repr(exc))
            time.sleep(0.005)

    def rollout() -> dict:
        return requests.get(f"{service.url}/v1/rollout", timeout=10).json()

    sender = threading.Thread(target=send, daemon=True)
    try:
        service.wait_ready(timeout=120)
        challenger = train_challenger(settings, False, 17, "mlflow outage")
        _until(lambda: rollout()["challenger"] == challenger, 30, "the rollout starts")
        sender.start()
        _until(lambda: (rollout()["step"] or 0) >= 1, 120, "the canary is live")
        world.mlflow_down()
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            time.sleep(1)
        during = rollout()
        world.mlflow_up()
        _until(lambda: challenger in rollout()["ended"], 180, "the rollout ends")
        # complete() moves the aliases, tags the version, then drops the challenger alias: the last
        _until(lambda: store.alias_version(CHALLENGER) is None, 180, "the registry completes the rollout")
        stop_sending.set()
        sender.join(timeout=30)

        failed = [a for a in answers if a != 200]
        assert len(answers) > 500 and not failed, (len(answers), failed[:5])
        assert rollout()["ended"][challenger] == registry.PROMOTED, rollout()
        # the controller went on judging while the registry was away (a step passed, or the end)
        assert during["step"] != 1 or challenger in during["ended"], during
        tags = store.client().get_model_version(store.model_name, challenger).tags
        assert tags["rollout_status"] == registry.PROMOTED, tags
        assert store.alias_version(CHAMPION) == challenger
        assert store.alias_version("previous_champion") == champion
        log = service.log_path.read_text()
        assert "the registry move" not in log  # no move was given up
        # its metrics in process, whatever the parent set (this one imported Feast, which sets
        # PROMETHEUS_MULTIPROC_DIR): the old champion's series is gone, not left at 1
        assert "multi-process mode" not in log
        _until(lambda: _served_champions(service.url) == [challenger], 30, "one champion in /metrics")
    finally:
        stop_sending.set()
        service.stop()
