"""The online scoring service on the cluster profile (Redis online store, champion from the
MLflow server, prediction log on Postgres) against the embedded one (SQLite, MLflow files,
DuckDB), in the same run on the same lake: sequential single requests and batches of 100
(p50/p99), measured twice per profile in alternation (A B A B) so both see the same machine.

    .venv/bin/python -m benchmarks.cluster_serving     (needs the loopback Postgres and Redis)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import append_report
from benchmarks.serving import SINGLE, build_world, sample_transactions, sequential_latencies, start_service

PREFIX = "mla_bench_serve"
REDIS_DB = 13
ROUNDS = 2


def main() -> None:
    import redis

    from ml_assets import mlflow_server, process_group
    from ml_assets.core import engines
    from ml_assets.serving.process import free_port

    cluster_overrides = {
        "profile": "cluster",
        "postgres_database_prefix": PREFIX,
        "redis_connection": f"127.0.0.1:6379,db={REDIS_DB}",
        "mlflow_server_url": f"http://127.0.0.1:{free_port()}",
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        embedded = build_world(root)  # builds the lake both profiles read
        cluster = embedded.model_copy(update=cluster_overrides)
        engines.drop_databases(cluster)
        redis.Redis(db=REDIS_DB).flushdb()
        server = mlflow_server.start(cluster, root / "mlflow.log")
        samples: dict[str, dict[str, list[float]]] = {}
        try:
            build_world(root, **cluster_overrides)
            txs = sample_transactions(embedded, 3000)
            for _ in range(ROUNDS):
                for name, s in (("embedded", embedded), ("cluster", cluster)):
                    service, cold = start_service(s)
                    try:
                        single, batches = sequential_latencies(service.port, txs)
                    finally:
                        service.stop()
                    got = samples.setdefault(name, {"single": [], "batch": [], "cold": []})
                    got["single"] += single
                    got["batch"] += batches
                    got["cold"].append(cold)
        finally:
            process_group.stop(server)
            redis.Redis(db=REDIS_DB).flushdb()
            engines.drop_databases(cluster)

    def ms(name: str, what: str, q: float) -> float:
        return float(np.quantile(samples[name][what], q) * 1000)

    rows = []
    for name, engines_used in (
        ("embedded", "SQLite online store, MLflow files, DuckDB prediction log"),
        ("cluster", "Redis online store, MLflow server, Postgres prediction log"),
    ):
        ratio = (
            "1.0"
            if name == "embedded"
            else f"p50 {ms(name, 'single', 0.5) / ms('embedded', 'single', 0.5):.2f}x, "
            f"p99 {ms(name, 'single', 0.99) / ms('embedded', 'single', 0.99):.2f}x; "
            f"batch p99 {ms(name, 'batch', 0.99) / ms('embedded', 'batch', 0.99):.2f}x"
        )
        rows.append(
            [
                f"{name} ({engines_used})",
                f"{ms(name, 'single', 0.5):.2f} / {ms(name, 'single', 0.99):.2f} ms",
                f"{ms(name, 'batch', 0.5):.1f} / {ms(name, 'batch', 0.99):.1f} ms",
                " / ".join(f"{c:.1f} s" for c in samples[name]["cold"]),
                ratio,
            ]
        )
    append_report(
        "Online scoring service by profile (one uvicorn worker, same lake, same run)",
        ["profile", "POST /v1/score p50 / p99", "batch of 100 p50 / p99", "cold start to ready", "ratio"],
        rows,
        f"{ROUNDS} rounds per profile in alternation, each {SINGLE:,} sequential single requests and "
        "200 batches after 200 warm-up requests, from another process on loopback; every service and "
        "store on this machine's 2 cores.",
    )


if __name__ == "__main__":
    main()
