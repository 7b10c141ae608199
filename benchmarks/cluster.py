"""The cluster profile's online store against the embedded one, on the same lake and in the
same run: a day's online load (entity rows/s) and the service's online read of one
transaction's features (p50/p99), SQLite vs Redis (loopback).

    .venv/bin/python -m benchmarks.cluster      (needs the loopback Redis and Postgres)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import append_report, settings_at

DAYS = 10
READS = 3000


def _load_rate(repo, s) -> float:
    from ml_assets.core import lake

    rows = sum(
        len(lake.read_partition(s.lake_dir, v.source_table, s.day(DAYS)))
        for v in repo.specs.FEATURE_VIEWS
        if v.name == "customer_activity"
    )
    repo.load_online_day("customer_activity", s.day(DAYS - 1))  # warm: the keys exist, as in a daily run
    started = time.perf_counter()
    repo.load_online_day("customer_activity", s.day(DAYS))
    return rows / (time.perf_counter() - started)


def _read_times(repo, s, rows: list[dict]) -> list[float]:
    from ml_assets.core.features.online_read import OnlineFeatureReader

    reader = OnlineFeatureReader(repo.store(), repo.specs)
    for view in ("customer_profile", "merchant_profile", "merchant_risk"):
        repo.load_online_day(view, s.day(DAYS))
    times = []
    for row in rows:
        started = time.perf_counter()
        reader.read([row])
        times.append(time.perf_counter() - started)
    return times[len(times) // 10 :]  # the first calls warm caches


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import redis
    from lakehelpers import build_offline

    from ml_assets.core import engines, lake

    with tempfile.TemporaryDirectory() as tmp:
        embedded = settings_at(Path(tmp), rows_per_day=10_000, n_customers=20_000, n_merchants=2_000)
        cluster = embedded.model_copy(
            update={
                "profile": "cluster",
                "postgres_database_prefix": "mla_bench",
                "redis_connection": "127.0.0.1:6379,db=13",
            }
        )
        engines.drop_databases(cluster)
        engines.create_databases(cluster)
        redis.Redis(db=13).flushdb()
        try:
            build_offline(embedded, DAYS + 1)
            day = lake.read_partition(embedded.lake_dir, "raw_transactions", embedded.day(DAYS))
            rows = [
                {"customer_id": int(t.customer_id), "merchant_id": int(t.merchant_id),
                 "amount": float(t.amount), "channel": t.channel, "hour_of_event_timestamp": 12.0}
                for t in day.head(READS).itertuples()
            ]  # fmt: skip
            repos = {"SQLite (embedded, bulk loader)": engines.feature_repo(embedded)}
            repos["Redis (cluster, Feast writer)"] = engines.feature_repo(cluster)
            results = {}
            for name, repo in repos.items():
                repo.apply()
                settings = embedded if name.startswith("SQLite") else cluster
                results[name] = (_load_rate(repo, settings), _read_times(repo, settings, rows))
        finally:
            redis.Redis(db=13).flushdb()
            engines.drop_databases(cluster)
    (base_name, (base_rate, base_times)), (other_name, (rate, times)) = results.items()
    p = lambda ts, q: statistics.quantiles(ts, n=100)[q - 1] * 1000  # noqa: E731
    table = [
        [base_name, f"{base_rate:,.0f} entity rows/s", f"{p(base_times, 50):.2f} ms",
         f"{p(base_times, 99):.2f} ms", "1.0"],
        [other_name, f"{rate:,.0f} entity rows/s", f"{p(times, 50):.2f} ms", f"{p(times, 99):.2f} ms",
         f"load {rate / base_rate:.2f}x, read p50 {p(times, 50) / p(base_times, 50):.2f}x"],
    ]  # fmt: skip
    append_report(
        "Online store by profile (same lake, same run)",
        ["online store", "daily load, customer_activity (20k customers)", "read p50", "read p99", "ratio"],
        table,
        f"Read: the service's reader (`OnlineFeatureReader`), one transaction's four views, {READS:,} reads "
        "after a tenth for warm-up; Redis on loopback. Not measured here: two Celery workers vs one on a "
        "daily cycle, and the service's p99 on the cluster profile.",
    )


if __name__ == "__main__":
    main()
