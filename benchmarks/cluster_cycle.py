"""The daily cycle on the cluster profile's Celery executor at the default size: two workers
against one, in the same run, on the same instance and the same day (a re-run replaces the
day's partitions, so every run does the same work).

The world: a Dagster instance on Postgres, the MLflow server, the Feast SQL registry and Redis,
the warehouse on Postgres, warmed up (lake, features, a champion) in process. Then for each
worker count: start the workers, one untimed run (each worker's first step imports the code),
``TIMED`` timed runs through ``dg.execute_job`` with the profile's celery executor, stop them.

    .venv/bin/python -m benchmarks.cluster_cycle      (needs the loopback Postgres, Redis, RabbitMQ)
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, append_report

TIMED = 2
PREFIX = "mla_bench_cycle"
REDIS_DB = 13


def daily_cycle():
    """The code location's daily cycle, rebuilt from the environment's settings (the workers
    reconstruct it from this function's module path)."""
    from ml_assets.definitions import build_definitions

    return build_definitions().resolve_job_def("daily_cycle")


def _workers(s, count: int, config: Path, env: dict, logs: Path) -> list:
    from celery import Celery

    from ml_assets.cluster_services import start_celery_worker

    names = [f"mla-bench-{os.getpid()}-{count}-{i}" for i in range(count)]
    procs = [start_celery_worker(config, name, env, logs / f"{name}.log") for name in names]
    app = Celery(broker=s.celery_broker_url)
    deadline = time.monotonic() + 120
    while not set(names) <= {n.split("@")[0] for reply in app.control.ping(timeout=1.0) for n in reply}:
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers not up; see {logs}")
    return procs


def _stop(procs: list) -> None:
    from ml_assets.process_group import stop

    for p in procs:
        stop(p)


def _run_day(instance, day: str) -> float:
    import dagster as dg

    started = time.perf_counter()
    result = dg.execute_job(
        dg.reconstructable(daily_cycle),
        instance=instance,
        tags={"dagster/partition": day},
        raise_on_error=False,
    )
    seconds = time.perf_counter() - started
    if not result.success:
        raise RuntimeError(f"daily_cycle {day} failed: run {result.run_id}")
    return seconds


def main() -> None:
    import dagster as dg
    import redis

    from ml_assets import cluster_services, mlflow_server, process_group
    from ml_assets.core import engines
    from ml_assets.core.features import aggregates
    from ml_assets.core.problem import card_fraud
    from ml_assets.core.settings import Settings
    from ml_assets.replay import Replay
    from ml_assets.serving.process import free_port
    from ml_assets.simulator.landing import simulate_to_landing

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s = Settings(
            data_dir=root / "data",
            profile="cluster",
            postgres_database_prefix=PREFIX,
            redis_connection=f"127.0.0.1:6379,db={REDIS_DB}",
            mlflow_server_url=f"http://127.0.0.1:{free_port()}",
        )
        engines.drop_databases(s)
        redis.Redis(db=REDIS_DB).flushdb()
        home = root / "home"
        env = {**os.environ, **s.environment(), **cluster_services.cluster_environment(s)}
        env |= {"DAGSTER_HOME": str(home), "PYTHONPATH": str(ROOT)}
        os.environ.update({k: v for k, v in env.items() if k.startswith(("ML_ASSETS_", "DAGSTER_"))})
        server = mlflow_server.start(s, root / "mlflow.log")
        times: dict[int, list[float]] = {}
        try:
            cluster_services.render_dagster_yaml(s, home)
            cluster_services.init_instance(home)
            warm = aggregates.warm_up_days(card_fraud(), s) + s.training_window_days
            simulate_to_landing(s, range(warm + 1))
            day = s.day(warm).isoformat()
            config = cluster_services.render_celery_yaml(s, root / "celery.yaml")
            with dg.DagsterInstance.from_config(str(home)) as instance:
                started = time.monotonic()
                Replay(s, instance).warm_up(warm)
                print(f"[bench] warm-up ({warm} days, in process) {time.monotonic() - started:.0f} s")
                for count in (1, 2):
                    procs = _workers(s, count, config, env, root)
                    try:
                        first = _run_day(instance, day)
                        times[count] = [_run_day(instance, day) for _ in range(TIMED)]
                        print(f"[bench] {count} worker(s): first {first:.1f} s, timed {times[count]}")
                    finally:
                        _stop(procs)
        finally:
            process_group.stop(server)
            redis.Redis(db=REDIS_DB).flushdb()
            engines.drop_databases(s)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    append_report(
        "Daily cycle on Celery workers, cluster profile (default size, same run)",
        ["workers (concurrency 1 each)", "daily cycle wall time (median)", "runs", "ratio to one worker"],
        [
            ["1", f"{one:.1f} s", " / ".join(f"{t:.1f}" for t in times[1]), "1.0"],
            ["2", f"{two:.1f} s", " / ".join(f"{t:.1f}" for t in times[2]), f"{two / one:.2f}x"],
        ],
        f"One day ({s.rows_per_day:,} transactions, {s.n_customers:,} customers) re-run on the same "
        "instance: the run's coordinator in this process, the steps on the workers (dagster-celery, "
        "RabbitMQ), each worker warmed by one untimed run. The pools `feast` and `warehouse` (limit 1) "
        "serialize the online loads and the warehouse writes whatever the worker count; the workers, "
        "the coordinator, Postgres and the MLflow server share the machine's cores.",
    )


if __name__ == "__main__":
    main()
