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

from benchmarks.common import append_report, measure, use_data_dir

VIEWS = ("customer_profile", "customer_activity", "merchant_profile", "merchant_risk")


def simulate_rows_per_second(rows: int) -> float:
    from ml_assets.defs.ingest.simulator import Simulator, SimulatorConfig

    sim = Simulator(SimulatorConfig(rows_per_day=rows))
    sim.transactions(0)  # warm-up (world drawn once)
    started = time.perf_counter()
    n = len(sim.transactions(1))
    return n / (time.perf_counter() - started)


def _entities(days: int):
    from ml_assets.defs.training.dataset import entity_frame
    from ml_assets.settings import get_settings

    s = get_settings()
    return entity_frame([s.day(i) for i in range(1, days + 1)], s)[["customer_id", "merchant_id", "event_timestamp"]]


def feast_join(data_dir: str, settings: dict, days: int) -> int:
    use_data_dir(Path(data_dir), **settings)
    from ml_assets.defs.features.store import feature_store, load_specs

    refs = [f"{v.name}:{f}" for v in load_specs().FEATURE_VIEWS for f in v.features]
    return len(feature_store().get_historical_features(entity_df=_entities(days), features=refs).to_df())


def duckdb_asof_join(data_dir: str, settings: dict, days: int) -> int:
    use_data_dir(Path(data_dir), **settings)
    import duckdb

    from ml_assets import lake
    from ml_assets.defs.features.store import load_specs
    from ml_assets.settings import get_settings

    s = get_settings()
    entities = _entities(days)
    con = duckdb.connect()
    con.register("entities", entities)
    query = "SELECT * FROM entities e"
    for i, v in enumerate(load_specs().FEATURE_VIEWS):
        key = "customer_id" if v.entity == "customer" else "merchant_id"
        cols = ", ".join(
            f"CASE WHEN e.event_timestamp - f{i}.event_timestamp <= INTERVAL '{int(v.ttl.total_seconds())} seconds' "
            f"THEN f{i}.{c} END AS {c}" for c in v.features
        )
        query = (
            f"SELECT q.*, {cols.replace('e.event_timestamp', 'q.event_timestamp')} FROM ({query}) q "
            f"ASOF LEFT JOIN read_parquet('{lake.table_glob(s.lake_dir, v.source_table)}') f{i} "
            f"ON q.{key} = f{i}.{key} AND q.event_timestamp >= f{i}.event_timestamp"
        )
    return len(con.execute(query).df())


def materialize_rows_per_second(data_dir: str, settings: dict, day_index: int) -> float:
    use_data_dir(Path(data_dir), **settings)
    from ml_assets import lake
    from ml_assets.defs.features.store import materialize_day
    from ml_assets.settings import get_settings

    s = get_settings()
    rows = len(lake.read_partition(s.lake_dir, "customer_activity_source", s.day(day_index)))
    started = time.perf_counter()
    materialize_day("customer_activity", s.day(day_index), s)
    return rows / (time.perf_counter() - started)


def main(sizes=(100_000, 1_000_000)) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from lakehelpers import build_offline

    rows = [["simulator", f"{r:,} rows/day", f"{simulate_rows_per_second(r):,.0f} rows/s", "", ""] for r in (10_000, 1_000_000)]
    days = 10
    for entity_rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            settings = {"rows_per_day": entity_rows // days, "n_customers": 20_000, "n_merchants": 2_000}
            use_data_dir(Path(tmp), **settings)
            from ml_assets.defs.features.store import apply_repo
            from ml_assets.settings import get_settings

            build_offline(get_settings(), days + 1)
            apply_repo(get_settings())
            t_duck, rss_duck, n_duck = measure(duckdb_asof_join, tmp, settings, days)
            t_feast, rss_feast, n_feast = measure(feast_join, tmp, settings, days)
            assert n_duck == n_feast == entity_rows, (n_duck, n_feast)
            rows.append([f"training frame, {entity_rows:,} entity rows", "DuckDB ASOF JOIN (baseline)",
                         f"{t_duck:.1f} s", f"{rss_duck:,.0f} MiB", "1.0"])
            rows.append([f"training frame, {entity_rows:,} entity rows", "Feast get_historical_features",
                         f"{t_feast:.1f} s", f"{rss_feast:,.0f} MiB", f"{t_feast / t_duck:.1f}x time, {rss_feast / rss_duck:.1f}x RSS"])
            if entity_rows == sizes[0]:
                _, _, rps = measure(materialize_rows_per_second, tmp, settings, days)
                rows.append(["online materialization", "customer_activity, 20k customers x 12 features", f"{rps:,.0f} entity rows/s", "", ""])
    append_report("Features", ["what", "how", "time / throughput", "peak RSS", "ratio to baseline"], rows,
                  "Four feature views joined (TTL 1 day). Each join runs in a fresh process; RSS is that process's peak.")


if __name__ == "__main__":
    main()
