"""Benchmarks of the foundation: simulator throughput, training-frame retrieval through
Feast vs a raw DuckDB ASOF JOIN on the same data (100k and 1M entity rows), and online
materialization throughput.

    .venv/bin/python -m benchmarks.features
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import append_report, measure, settings_at


def simulate_rows_per_second(rows: int) -> float:
    from ml_assets.simulator.world import Simulator, SimulatorConfig

    sim = Simulator(SimulatorConfig(rows_per_day=rows))
    sim.transactions(0)  # warm-up (world drawn once)
    started = time.perf_counter()
    n = len(sim.transactions(1))
    return n / (time.perf_counter() - started)


def _repo(s):
    from ml_assets.core.features.store import FeatureRepo

    return FeatureRepo(s.feature_repo_dir, s.data_dir)


def _entities(s, days: int):
    from ml_assets.core.features.contract import entity_frame

    frame = entity_frame(s.lake_dir, [s.day(i) for i in range(1, days + 1)])
    return frame[["customer_id", "merchant_id", "event_timestamp"]]


def feast_join(s, days: int) -> int:
    repo = _repo(s)
    refs = [f"{v.name}:{f}" for v in repo.specs.FEATURE_VIEWS for f in v.features]
    return len(repo.store().get_historical_features(entity_df=_entities(s, days), features=refs).to_df())


def duckdb_asof_join(s, days: int) -> int:
    import duckdb

    from ml_assets.core import lake

    entities = _entities(s, days)
    con = duckdb.connect()
    con.register("entities", entities)
    query = "SELECT * FROM entities e"
    for i, v in enumerate(_repo(s).specs.FEATURE_VIEWS):
        key = "customer_id" if v.entity == "customer" else "merchant_id"
        ttl = f"INTERVAL '{int(v.ttl.total_seconds())} seconds'"
        cols = ", ".join(
            f"CASE WHEN q.event_timestamp - f{i}.event_timestamp <= {ttl} THEN f{i}.{c} END AS {c}"
            for c in v.features
        )
        query = (
            f"SELECT q.*, {cols} FROM ({query}) q "
            f"ASOF LEFT JOIN read_parquet('{lake.table_glob(s.lake_dir, v.source_table)}') f{i} "
            f"ON q.{key} = f{i}.{key} AND q.event_timestamp >= f{i}.event_timestamp"
        )
    return len(con.execute(query).df())


def materialize_rows_per_second(s, day_index: int, bulk: bool) -> float:
    from ml_assets.core import lake

    rows = len(lake.read_partition(s.lake_dir, "customer_activity_source", s.day(day_index)))
    repo = _repo(s)
    load = repo.load_online_day if bulk else repo.materialize_day
    load("customer_activity", s.day(day_index - 1))  # warm: the rows exist, as in a daily run
    started = time.perf_counter()
    load("customer_activity", s.day(day_index))
    return rows / (time.perf_counter() - started)


def _join_rows(s, days: int, entity_rows: int) -> list[list]:
    t_duck, rss_duck, n_duck = measure(duckdb_asof_join, s, days)
    t_feast, rss_feast, n_feast = measure(feast_join, s, days)
    assert n_duck == n_feast == entity_rows, (n_duck, n_feast)
    what = f"training frame, {entity_rows:,} entity rows"
    ratio = f"{t_feast / t_duck:.1f}x time, {rss_feast / rss_duck:.1f}x RSS"
    return [
        [what, "DuckDB ASOF JOIN (baseline)", f"{t_duck:.1f} s", f"{rss_duck:,.0f} MiB", "1.0"],
        [what, "Feast get_historical_features", f"{t_feast:.1f} s", f"{rss_feast:,.0f} MiB", ratio],
    ]


def main(sizes=(100_000, 1_000_000), only: str | None = None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from lakehelpers import build_offline

    rows = [
        ["simulator", f"{r:,} rows/day", f"{simulate_rows_per_second(r):,.0f} rows/s", "", ""]
        for r in (10_000, 1_000_000)
    ]
    days = 10
    for entity_rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            s = settings_at(
                Path(tmp), rows_per_day=entity_rows // days, n_customers=20_000, n_merchants=2_000
            )
            build_offline(s, days + 1)
            _repo(s).apply()
            if only != "online":
                rows += _join_rows(s, days, entity_rows)
            if entity_rows == sizes[0]:
                _, _, stock = measure(materialize_rows_per_second, s, days, False)
                _, _, bulk = measure(materialize_rows_per_second, s, days, True)
                how = "customer_activity, 20k customers x 12 features"
                rows.append(
                    [
                        "online materialization",
                        f"{how}: Feast materialize (baseline)",
                        f"{stock:,.0f} entity rows/s",
                        "",
                        "1.0",
                    ]
                )
                rows.append(
                    [
                        "online materialization",
                        f"{how}: bulk loader",
                        f"{bulk:,.0f} entity rows/s",
                        "",
                        f"{bulk / stock:.1f}x throughput",
                    ]
                )
        if only == "online":
            break
    append_report(
        "Features",
        ["what", "how", "time / throughput", "peak RSS", "ratio to baseline"],
        rows,
        "Four feature views joined (TTL 1 day). Each join runs in a fresh process; RSS is its peak.",
    )


if __name__ == "__main__":
    main(only=sys.argv[1] if len(sys.argv) > 1 else None)
